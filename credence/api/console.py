"""The analyst console at ``/console``, served with its assets from the package: no CDN, works offline.

The console is a page of Credence's own script (``web/console/credence-console.js``,
JSDoc-checked by ``tsc --checkJs``) and stylesheet, with the graph library
cytoscape.js from the npm registry at the version ``web/package-lock.json`` locks.
``scripts/setup`` copies them into ``credence/api/static/console``
(:func:`install_assets`); the server answers ``GET /console`` with :func:`render_page`
and serves the files under ``/console/static/``. The page talks to the same
``/graphql`` endpoint with the same API keys as any client (the key is typed in and
kept in the tab's ``sessionStorage``); it has no backend of its own. Without the
assets the page says how to install them.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

__all__ = [
    "ASSETS",
    "CONSOLE_PATH",
    "STATIC_DIR",
    "STATIC_PATH",
    "assets_missing",
    "install_assets",
    "render_page",
]

#: Where the installed assets live (inside the package, so a wheel can carry them).
STATIC_DIR = Path(__file__).with_name("static") / "console"
#: The console's URL path.
CONSOLE_PATH = "/console"
#: The URL path its assets are served under.
STATIC_PATH = "/console/static"

#: Served name -> path under ``web/`` (``node_modules`` after ``npm ci``).
ASSETS = {
    "cytoscape.min.js": "node_modules/cytoscape/dist/cytoscape.min.js",
    "credence-console.js": "console/credence-console.js",
    "credence-console.css": "console/credence-console.css",
}


def install_assets(web: Path, target: Path = STATIC_DIR) -> list[Path]:
    """Copy the console's assets from ``web`` (after ``npm ci``) into ``target``; the files written.

    Raises
    ------
    FileNotFoundError
        Naming the asset that is missing (``npm ci`` did not run, or a version moved).
    """
    missing = [str(web / source) for source in ASSETS.values() if not (web / source).is_file()]
    if missing:
        raise FileNotFoundError(f"console assets missing (run npm ci in {web}): {', '.join(missing)}")
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(web / source, target / name)) for name, source in ASSETS.items()]


def assets_missing(directory: Path = STATIC_DIR) -> list[str]:
    """The asset names not installed in ``directory`` (empty when the console can work)."""
    return [name for name in ASSETS if not (directory / name).is_file()]


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credence console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}/credence-console.css">
</head>
<body data-endpoint="{endpoint}">
<header id="bar">
  <strong>Credence console</strong>
  <span id="who" aria-live="polite"></span>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<main id="app"><p id="loading">Loading the console...</p></main>
<script src="{static}/cytoscape.min.js"></script>
<script src="{static}/credence-console.js"></script>
</body>
</html>
"""

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Credence console</title></head>
<body><h1>The console is not installed</h1>
<p>Its assets are installed from npm by <code>bash scripts/setup</code> (they are never loaded from a CDN).
Missing: {missing}.</p></body></html>
"""


def render_page(endpoint: str = "/graphql", directory: Path = STATIC_DIR) -> str:
    """The HTML of the console (or of the page saying which assets are missing).

    Examples
    --------
    >>> import tempfile
    >>> "not installed" in render_page(directory=Path(tempfile.mkdtemp()))
    True
    """
    missing = assets_missing(directory)
    if missing:
        return _MISSING.format(missing=html.escape(", ".join(missing)))
    return _PAGE.format(static=STATIC_PATH, endpoint=html.escape(endpoint, quote=True))
