"""The GraphiQL page, served with its assets from the package: no CDN, works offline.

``scripts/setup`` installs GraphiQL, React and graphql-ws from the npm registry at the
versions ``web/package-lock.json`` locks (``npm ci``) and copies the browser bundles the
page needs, with Credence's own page script (``web/graphiql/credence-graphiql.js``),
into ``credence/api/static/graphiql`` (:func:`install_assets`). The server answers a
browser's GET of ``/graphql`` with :func:`render_page` and serves the files under
``/graphql/static/``. Without the assets the page says how to install them.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

__all__ = ["ASSETS", "STATIC_DIR", "STATIC_PATH", "assets_missing", "install_assets", "render_page"]

#: Where the installed assets live (inside the package, so a wheel can carry them).
STATIC_DIR = Path(__file__).with_name("static") / "graphiql"
#: The URL path they are served under.
STATIC_PATH = "/graphql/static"

#: Served name -> path under ``web/`` (``node_modules`` after ``npm ci``).
ASSETS = {
    "react.production.min.js": "node_modules/react/umd/react.production.min.js",
    "react-dom.production.min.js": "node_modules/react-dom/umd/react-dom.production.min.js",
    "graphiql.min.js": "node_modules/graphiql/graphiql.min.js",
    "graphiql.min.css": "node_modules/graphiql/graphiql.min.css",
    "graphql-ws.min.js": "node_modules/graphql-ws/umd/graphql-ws.min.js",
    "credence-graphiql.js": "graphiql/credence-graphiql.js",
}


def install_assets(web: Path, target: Path = STATIC_DIR) -> list[Path]:
    """Copy the page's assets from ``web`` (after ``npm ci``) into ``target``; the files written.

    Raises
    ------
    FileNotFoundError
        Naming the asset that is missing (``npm ci`` did not run, or a version moved).
    """
    missing = [str(web / source) for source in ASSETS.values() if not (web / source).is_file()]
    if missing:
        raise FileNotFoundError(f"GraphiQL assets missing (run npm ci in {web}): {', '.join(missing)}")
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(web / source, target / name)) for name, source in ASSETS.items()]


def assets_missing(directory: Path = STATIC_DIR) -> list[str]:
    """The asset names not installed in ``directory`` (empty when the page can work)."""
    return [name for name in ASSETS if not (directory / name).is_file()]


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credence GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}/graphiql.min.css">
<style>
  html, body {{ height: 100%; margin: 0; }}
  body {{ display: flex; flex-direction: column; font-family: system-ui, sans-serif; }}
  #credence-bar {{ display: flex; gap: .5rem; align-items: center; padding: .4rem .8rem; border-bottom: 1px solid #ddd; }}
  #credence-key {{ flex: 1; max-width: 36rem; font-family: monospace; }}
  #graphiql {{ flex: 1; min-height: 0; }}
</style>
</head>
<body data-endpoint="{endpoint}">
<div id="credence-bar">
  <label for="credence-key">API key</label>
  <input id="credence-key" type="password" autocomplete="off" placeholder="cred_... (kept in this tab only)">
</div>
<div id="graphiql">Loading GraphiQL...</div>
<script src="{static}/react.production.min.js"></script>
<script src="{static}/react-dom.production.min.js"></script>
<script src="{static}/graphiql.min.js"></script>
<script src="{static}/graphql-ws.min.js"></script>
<script src="{static}/credence-graphiql.js"></script>
</body>
</html>
"""

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Credence GraphiQL</title></head>
<body><h1>GraphiQL is not installed</h1>
<p>Its assets are installed from npm by <code>bash scripts/setup</code> (they are never loaded from a CDN).
Missing: {missing}.</p></body></html>
"""


def render_page(endpoint: str = "/graphql", directory: Path = STATIC_DIR) -> str:
    """The HTML of the GraphiQL page (or of the page saying which assets are missing).

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
