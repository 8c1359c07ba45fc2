"""The demo's API keys never cost anyone else theirs, and secrets are private from birth."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from credence.api.keys import issue_api_key, read_api_keys
from credence.cli.demo_keys import demo_secret, ensure_demo_keys


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(keys_path: Path) -> list[str]:
    return [key.name for key in read_api_keys(keys_path).keys]


def test_first_run_issues_one_key_per_role_privately_and_a_second_run_reuses_them(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: a plain open() would make the files world-readable
    try:
        keys, shown = ensure_demo_keys(tmp_path)
    finally:
        os.umask(old)
    assert names(keys) == ["demo-app", "demo-analyst", "demo-admin"]
    assert mode(keys) == 0o600 and mode(shown) == 0o600
    before = (keys.read_bytes(), shown.read_bytes())
    assert ensure_demo_keys(tmp_path) == (keys, shown)
    assert (keys.read_bytes(), shown.read_bytes()) == before
    for role in ("app", "analyst", "admin"):
        found = read_api_keys(keys).authenticate(demo_secret(shown, role))
        assert found is not None and found.role == role


def test_a_key_file_of_someone_elses_keys_is_only_appended_to(tmp_path: Path) -> None:
    keys = tmp_path / "api-keys.toml"
    mine = issue_api_key(keys, name="payments-app", role="app")
    theirs = issue_api_key(keys, name="demo-app", role="admin")  # a name the demo would like
    original = keys.read_bytes()
    keys_path, shown = ensure_demo_keys(tmp_path)
    assert keys_path == keys
    assert keys.read_bytes().startswith(original)  # nothing deleted or rewritten
    registry = read_api_keys(keys)
    assert registry.authenticate(mine) is not None and registry.authenticate(theirs) is not None
    assert names(keys) == ["payments-app", "demo-app", "demo-app-2", "demo-analyst", "demo-admin"]
    assert registry.authenticate(demo_secret(shown, "app")).name == "demo-app-2"  # type: ignore[union-attr]


def test_lost_demo_secrets_get_fresh_demo_keys_and_delete_nothing(tmp_path: Path) -> None:
    keys, shown = ensure_demo_keys(tmp_path)
    old_secret = demo_secret(shown, "analyst")
    shown.unlink()
    ensure_demo_keys(tmp_path)
    registry = read_api_keys(keys)
    assert registry.authenticate(old_secret) is not None  # whoever holds it can still use it
    assert names(keys)[3:] == ["demo-app-2", "demo-analyst-2", "demo-admin-2"]
    assert registry.authenticate(demo_secret(shown, "analyst")).name == "demo-analyst-2"  # type: ignore[union-attr]
