"""The demo's API keys: issued once under $CREDENCE_HOME, never at the expense of anyone else's.

``credence demo --serve`` (and so ``scripts/run``) needs a key per role to print. The
key file (``api-keys.toml``) may also hold keys other people issued with ``credence
api-key new``; the demo only ever appends to it. The secrets it issued are kept in
``demo-api-keys.txt`` (0600) so that a second run prints the same keys.

Examples
--------
>>> import tempfile
>>> home = Path(tempfile.mkdtemp())
>>> keys, shown = ensure_demo_keys(home)
>>> [line.split(" ")[0] for line in shown.read_text().splitlines()]
['demo-app', 'demo-analyst', 'demo-admin']
>>> ensure_demo_keys(home) == (keys, shown) and demo_secret(shown, "app").startswith("cred_app_")
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from credence.api.keys import issue_api_key, read_api_keys, write_private_text

__all__ = ["DEMO_ROLES", "demo_secret", "ensure_demo_keys"]

DEMO_ROLES = ("app", "analyst", "admin")


def ensure_demo_keys(home: Path) -> tuple[Path, Path]:
    """The demo's key file and secrets file under ``home``, issuing the keys it lacks.

    The key file may hold keys somebody else issued: the demo never deletes or rewrites
    an entry. A demo key is reused when its secret is on record and still valid; when
    the secrets file is gone, fresh demo keys are added under new names
    (``demo-app-2``, ...) and the old entries are left to whoever holds their secrets.
    """
    keys_path = home / "api-keys.toml"
    secrets_path = home / "demo-api-keys.txt"
    keys = read_api_keys(keys_path) if keys_path.exists() else None
    names = {key.name for key in keys.keys} if keys is not None else set()
    shown = _demo_lines(secrets_path)
    lines: list[str] = []
    for role in DEMO_ROLES:
        reusable = [
            line
            for line in shown
            if line.role == role and keys is not None and (found := keys.authenticate(line.secret)) is not None
            and found.name == line.name and found.role == role
        ]  # fmt: skip
        if reusable:
            lines.append(reusable[0].text)
            continue
        name = next(
            n for n in (f"demo-{role}", *(f"demo-{role}-{i}" for i in range(2, 10_000))) if n not in names
        )
        names.add(name)
        lines.append(f"{name} ({role}): {issue_api_key(keys_path, name=name, role=role)}")
    if [line.text for line in shown] != lines:
        write_private_text(secrets_path, "\n".join(lines) + "\n")
    return keys_path, secrets_path


@dataclass(frozen=True)
class _DemoLine:
    name: str
    role: str
    secret: str

    @property
    def text(self) -> str:
        return f"{self.name} ({self.role}): {self.secret}"


def _demo_lines(secrets_path: Path) -> list[_DemoLine]:
    """The demo keys on record: ``name (role): secret`` lines of the secrets file."""
    if not secrets_path.exists():
        return []
    found = []
    for line in secrets_path.read_text(encoding="utf-8").splitlines():
        head, _, secret = line.rpartition(": ")
        name, _, role = head.partition(" (")
        if secret and role.endswith(")"):
            found.append(_DemoLine(name=name, role=role[:-1], secret=secret))
    return found


def demo_secret(secrets_path: Path, role: str) -> str:
    """The secret of the demo key of ``role`` on record (``<key>`` when there is none)."""
    return next((line.secret for line in _demo_lines(secrets_path) if line.role == role), "<key>")
