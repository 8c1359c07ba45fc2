"""`credence api-key new | list | revoke | rotate`, and a running server that picks changes up.

The CLI runs as a user runs it (subprocesses); the server is a real `credence serve`
process, asked over HTTP with httpx. The expectations come from the commands' own
outputs (the secrets they print), never from the code under test.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population
from tests.serve_process import ServerProcess

CLI = [sys.executable, "-m", "credence.cli"]
QUERY = {"query": "{ scoreStats { count } }"}


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "api-key", *args], env=env, capture_output=True, text=True, check=check)


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "CREDENCE_HOME": str(tmp), "CREDENCE_API_KEYS": str(tmp / "keys.toml")}


def test_list_revoke_and_rotate_from_the_command_line(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = _cli(env, "new", "mobile", "--role", "app").stdout.strip()
    _cli(env, "new", "fraud-desk", "--role", "analyst")
    listed = _cli(env, "list").stdout
    rows = [line.split("\t") for line in listed.strip().splitlines()]
    assert rows[0] == ["name", "role", "created", "status"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("mobile", "app", "active"),
        ("fraud-desk", "analyst", "active"),
    ]
    text = (tmp_path / "keys.toml").read_text()
    assert first not in listed and first not in text  # secrets are never stored or listed
    assert "sha256" not in listed
    assert stat.S_IMODE((tmp_path / "keys.toml").stat().st_mode) == 0o600

    rotated = _cli(env, "rotate", "mobile", "--grace", "60").stdout.strip()
    assert rotated.startswith("cred_app_") and rotated != first
    assert "previous secret valid until" in _cli(env, "list").stdout
    _cli(env, "revoke", "mobile")
    assert "mobile\tapp\t" in _cli(env, "list").stdout and "\trevoked" in _cli(env, "list").stdout
    again = _cli(env, "revoke", "mobile", check=False)
    assert again.returncode != 0 and "revoked" in again.stderr
    unknown = _cli(env, "rotate", "nobody", check=False)
    assert unknown.returncode != 0 and "nobody" in unknown.stderr
    taken = _cli(env, "new", "mobile", "--role", "app", check=False)
    assert taken.returncode != 0 and "exists" in taken.stderr
    assert stat.S_IMODE((tmp_path / "keys.toml").stat().st_mode) == 0o600


def test_concurrent_commands_lose_no_key(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with ThreadPoolExecutor(max_workers=8) as pool:
        secrets = list(
            pool.map(lambda i: _cli(env, "new", f"k{i}", "--role", "app").stdout.strip(), range(8))
        )
    names = {line.split("\t")[0] for line in _cli(env, "list").stdout.strip().splitlines()[1:]}
    assert names == {f"k{i}" for i in range(8)} and len(set(secrets)) == 8


def _status(url: str, secret: str) -> str:
    body = httpx.post(url, json=QUERY, headers={"Authorization": f"Bearer {secret}"}, timeout=30).json()
    return "ok" if "errors" not in body else str(body["errors"][0]["extensions"]["code"])


def _eventually(url: str, secret: str, expected: str, within: float = 5.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if _status(url, secret) == expected:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{secret[:12]}... did not become {expected} within {within} s")


@pytest.mark.slow
def test_a_running_server_takes_new_revoked_and_rotated_keys_without_a_restart(tmp_path: Path) -> None:
    population = generate_population(n_users=600, seed=4)
    db = tmp_path / "credence.db"
    with SQLiteStore(db) as store:
        store.load(population.dataset())
        ScoringEngine(store, now=population.now).recompute()
    env = _env(tmp_path)
    admin = _cli(env, "new", "ops", "--role", "admin").stdout.strip()
    server = ServerProcess(args=["--db", str(db)], env=env, log_path=tmp_path / "serve.log")
    server.start()
    try:
        assert _status(server.url, admin) == "ok"
        late = _cli(env, "new", "late-app", "--role", "app").stdout.strip()
        issued_after = _eventually(server.url, late, "ok")
        _cli(env, "revoke", "late-app")
        revoked_after = _eventually(server.url, late, "UNAUTHENTICATED")

        graceful = _cli(env, "rotate", "ops", "--grace", "300").stdout.strip()
        _eventually(server.url, graceful, "ok")
        assert _status(server.url, admin) == "ok"  # the old secret, within its grace
        final = _cli(env, "rotate", "ops").stdout.strip()
        _eventually(server.url, graceful, "UNAUTHENTICATED")
        assert _status(server.url, admin) == "UNAUTHENTICATED" and _status(server.url, final) == "ok"

        # A key file broken by hand leaves the keys in force; fixed, it is read again.
        keys = tmp_path / "keys.toml"
        good = keys.read_text()
        keys.write_text(good + "\n[[keys]]\nname = 'broken'\n")
        time.sleep(1.5)
        assert _status(server.url, final) == "ok"
        keys.write_text(good)
    finally:
        server.stop()
    print(f"new key usable after {issued_after:.2f} s, revoked after {revoked_after:.2f} s")
    assert final not in server.log() and graceful not in server.log()
    assert "cannot be used; the previous keys stay in force" in server.log()
