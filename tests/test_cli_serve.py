"""`credence serve` as a real process: keys from a file, scores from the store, several workers."""

from __future__ import annotations

import json
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
def test_several_workers_take_writes_and_read_them_back(
    scored_db: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """Writes through any of three workers land once; a read sent with the write's token sees it."""
    db, ids = scored_db
    env = _env(tmp_path)
    secret = _issue(env, "cli-admin", "admin")
    headers = {"Authorization": f"Bearer {secret}"}
    mutation = (
        "mutation($u: String!, $c: Boolean!) { setConsent(user: $u, consent: $c) { changes { userId } } }"
    )
    read = "query($id: String!) { user(id: $id) { consentNetwork score } }"
    roles: set[str] = set()
    expected: dict[str, bool] = {}
    newest = 0
    with _server("--db", str(db), "--workers", "3", env=env) as url:
        for round_ in range(24):
            user, consent = ids[round_ % 6], round_ % 4 < 2
            # A new connection each time: the kernel hands it to any worker.
            write = httpx.post(url, json={"query": mutation, "variables": {"u": user, "c": consent}},
                               headers=headers, timeout=30)  # fmt: skip
            body = write.json()
            assert "errors" not in body, body
            expected[user] = consent
            token = body["extensions"]["generation"]
            newest = max(newest, token)
            back = httpx.post(url, json={"query": read, "variables": {"id": user}},
                              headers={**headers, "X-Credence-Generation": str(token)}, timeout=30)  # fmt: skip
            roles.add(back.headers.get("x-credence-worker", "primary"))
            assert back.json()["data"]["user"]["consentNetwork"] is consent, (round_, back.json())
            assert back.json()["extensions"]["generation"] >= token
        served = {
            user: httpx.post(
                url,
                json={"query": read, "variables": {"id": user}},
                headers={**headers, "X-Credence-Generation": str(newest)},
                timeout=30,
            ).json()["data"]["user"]["score"]
            for user in expected
        }
        # Evidence only the writer's exact engine may answer, over GET too: never answered by a follower.
        evidence = f'{{ user(id: "{ids[0]}") {{ network {{ contributors(first: 3) {{ total }} }} }} }}'
        answers = [httpx.get(url, params={"query": evidence}, headers=headers, timeout=30) for _ in range(10)]
    assert {a.headers.get("x-credence-worker", "primary") for a in answers} == {"primary"}
    assert len({json.dumps(a.json()["data"]) for a in answers}) == 1 and "errors" not in answers[0].json()
    # Reads were answered by followers too (not only by the writer), and the store holds every write once.
    assert "follower" in roles
    with SQLiteStore(db) as store:
        for user, consent in expected.items():
            assert store.get_user(user).consent_network is consent
            history = store.score_history(user)
            assert int(history["score"].iloc[-1]) == served[user], (user, history.tail(4))


@pytest.mark.slow
def test_read_only_serves_and_refuses_writes(scored_db: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, ids = scored_db
    env = _env(tmp_path)
    headers = {"Authorization": f"Bearer {_issue(env, 'cli-admin', 'admin')}"}
    with SQLiteStore(db) as store:
        consent = store.get_user(ids[7]).consent_network
    with _server("--db", str(db), "--read-only", env=env) as url:
        read = httpx.post(
            url, json={"query": QUERY, "variables": {"id": ids[7]}}, headers=headers, timeout=30
        ).json()
        write = httpx.post(url, json={"query": "mutation($u: String!, $c: Boolean!) { setConsent(user: $u, consent: $c) { changes { userId } } }",
                                      "variables": {"u": ids[7], "c": not consent}}, headers=headers, timeout=30).json()  # fmt: skip
    assert 350 <= read["data"]["user"]["score"] <= 950
    assert write["errors"][0]["extensions"]["code"] == "READ_ONLY"
    with SQLiteStore(db) as store:
        assert store.get_user(ids[7]).consent_network is consent


def test_serve_without_a_key_file_is_a_usage_error(tmp_path: Path) -> None:
    env = _env(tmp_path)
    out = subprocess.run(
        [*CLI, "serve", "--db", str(tmp_path / "x.db")], env=env, capture_output=True, text=True
    )
    assert out.returncode == 2 and "api-key new" in out.stderr
