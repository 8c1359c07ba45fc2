"""`credence serve` as a real process: keys from a file, scores from the store, read-only workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population

CLI = [sys.executable, "-m", "credence.cli"]
QUERY = "query($id: String!) { user(id: $id) { score band reasons { code } } }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(*args: str, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"credence serve exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).json()["status"] == "ok":
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError("credence serve did not come up in 180 s")
            time.sleep(0.3)
        yield f"{base}/graphql"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture(scope="module")
def scored_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    tmp = tmp_path_factory.mktemp("serve")
    population = generate_population(n_users=400, seed=3, sybils_per_region=20, rings=1)
    db = tmp / "credence.db"
    with SQLiteStore(db) as store:
        store.load(population.dataset())
    return db, population.users["id"].astype(str).tolist()


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "CREDENCE_HOME": str(tmp), "CREDENCE_API_KEYS": str(tmp / "keys.toml")}


def _issue(env: dict[str, str], name: str, role: str) -> str:
    out = subprocess.run([*CLI, "api-key", "new", name, "--role", role], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    return out.stdout.strip()


@pytest.mark.slow
def test_serve_scores_the_store_and_answers_with_keys(
    scored_db: tuple[Path, list[str]], tmp_path: Path
) -> None:
    db, ids = scored_db
    env = _env(tmp_path)
    secret = _issue(env, "cli-app", "app")
    assert (
        "cli-app" in (tmp_path / "keys.toml").read_text()
        and secret not in (tmp_path / "keys.toml").read_text()
    )
    with _server("--db", str(db), "--no-graphiql", env=env) as url:
        reply = httpx.post(url, json={"query": QUERY, "variables": {"id": ids[0]}},
                           headers={"Authorization": f"Bearer {secret}"}, timeout=30).json()  # fmt: skip
        assert httpx.get(url, timeout=10).status_code != 200  # GraphiQL off
        anonymous = httpx.post(url, json={"query": QUERY, "variables": {"id": ids[0]}}, timeout=30).json()
    with SQLiteStore(db) as store:
        stored = store.score_history(ids[0])
    # The server scored the store (no snapshots yet) and serves what it wrote.
    assert reply["data"]["user"]["score"] == int(stored["score"].iloc[-1])
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.slow
def test_restart_serves_the_stored_scores_without_rewriting(
    scored_db: tuple[Path, list[str]], tmp_path: Path
) -> None:
    db, ids = scored_db
    env = _env(tmp_path)
    secret = _issue(env, "cli-app", "app")
    with SQLiteStore(db) as store:
        snapshots = store.stats().score_snapshots
    with _server("--db", str(db), env=env) as url:
        reply = httpx.post(url, json={"query": QUERY, "variables": {"id": ids[5]}},
                           headers={"Authorization": f"Bearer {secret}"}, timeout=30).json()  # fmt: skip
    with SQLiteStore(db) as store:
        assert store.stats().score_snapshots == snapshots
        assert reply["data"]["user"]["score"] == int(store.score_history(ids[5])["score"].iloc[-1])


@pytest.mark.slow
def test_several_workers_serve_read_only(scored_db: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, ids = scored_db
    env = _env(tmp_path)
    secret = _issue(env, "cli-admin", "admin")
    headers = {"Authorization": f"Bearer {secret}"}
    with _server("--db", str(db), "--workers", "2", env=env) as url:
        read = httpx.post(
            url, json={"query": QUERY, "variables": {"id": ids[1]}}, headers=headers, timeout=30
        ).json()
        write = httpx.post(url, json={"query": "mutation($u: String!) { setConsent(user: $u, consent: false) { changes { userId } } }",
                                      "variables": {"u": ids[1]}}, headers=headers, timeout=30).json()  # fmt: skip
    assert 350 <= read["data"]["user"]["score"] <= 950
    assert write["errors"][0]["extensions"]["code"] == "READ_ONLY"
    with SQLiteStore(db) as store:
        assert store.get_user(ids[1]).consent_network is True


def test_serve_without_a_key_file_is_a_usage_error(tmp_path: Path) -> None:
    env = _env(tmp_path)
    out = subprocess.run(
        [*CLI, "serve", "--db", str(tmp_path / "x.db")], env=env, capture_output=True, text=True
    )
    assert out.returncode == 2 and "api-key new" in out.stderr
