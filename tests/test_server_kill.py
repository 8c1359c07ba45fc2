"""kill -9 of a real `credence serve` in the middle of writes, then a restart on the same store.

Writers record repayments as fast as the server takes them; the server is killed with
SIGKILL at a random moment and started again. Then:

* every repayment the server acknowledged is in the store and in what it serves;
* nothing is half-applied: every stored event has the snapshots it produced. The
  oracle is a full recompute at the recorded evaluation time and prior, whose four
  individual components are exact functions of the stored events: they must equal
  the stored latest snapshots (and the network component within the bound recompute_gaps states);
* the restarted server serves exactly the stored latest scores.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from credence.engine import ScoringEngine
from credence.seeds.synthetic import generate_population
from tests.api_server import iso
from tests.serve_process import ServerProcess, issue_key, post, recompute_gaps

USERS = 1_200
DAY = 86_400
REPAY = """mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }"""
PAGE = """query($after: String) { users(first: 100, after: $after) { edges { node { userId score } }
    pageInfo { hasNextPage endCursor } } }"""


def write_until_killed(server: ServerProcess, key: str, users: list[str], now: int, seed: int,
                       acked: list[str], sent: list[str], lock: threading.Lock) -> None:  # fmt: skip
    rng = random.Random(seed)
    with httpx.Client(timeout=10) as client:
        for i in range(10_000):
            rid = f"kill-{seed}-{i}"
            due = now - rng.randint(2, 200) * DAY
            status = rng.choice(["on_time", "late", "defaulted"])
            body = {"id": rid, "user": rng.choice(users), "due": iso(due), "amount": 250.0, "status": status}
            if status != "defaulted":
                body["paid"] = iso(due + (0 if status == "on_time" else 15 * DAY))
            with lock:
                sent.append(rid)
            try:
                code, _ = post(client, server.url, key, REPAY, i=body)
            except httpx.HTTPError:
                return  # the server is gone
            if code != "ok":
                return
            with lock:
                acked.append(rid)


def served_scores(server: ServerProcess, key: str) -> dict[str, int]:
    scores: dict[str, int] = {}
    after = None
    with httpx.Client(timeout=60) as client:
        while True:
            code, data = post(client, server.url, key, PAGE, after=after)
            assert code == "ok", data
            page = data["users"]
            scores.update({edge["node"]["userId"]: edge["node"]["score"] for edge in page["edges"]})
            if not page["pageInfo"]["hasNextPage"]:
                return scores
            after = page["pageInfo"]["endCursor"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "run"), [("sqlite", 0), ("sqlite", 1), pytest.param("neo4j", 2, marks=pytest.mark.neo4j)]
)
def test_kill_9_mid_write_loses_no_acknowledged_write_and_half_applies_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, run: int
) -> None:
    population = generate_population(n_users=USERS, seed=30 + run)
    if backend == "sqlite":
        from credence.graph.sqlite import SQLiteStore

        db = tmp_path / "credence.db"
        args = ["--db", str(db)]

        def open_store() -> Any:
            return SQLiteStore(db)
    else:
        from credence.graph.neo4j_store import Neo4jStore

        uri = request.getfixturevalue("neo4j_uri")
        args = ["--neo4j-uri", uri]

        def open_store() -> Any:
            return Neo4jStore(uri)

    with open_store() as store:
        store.clear(forget_erasures=True)
        store.load(population.dataset())
        ScoringEngine(store, now=population.now).recompute()
    env = {**os.environ, "CREDENCE_HOME": str(tmp_path), "CREDENCE_API_KEYS": str(tmp_path / "keys.toml")}
    key = issue_key(env, "kill-app", "app")
    server = ServerProcess(args=args, env=env, log_path=tmp_path / "serve.log")
    server.start()
    users = population.users["id"].astype(str).tolist()
    acked: list[str] = []
    sent: list[str] = []
    lock = threading.Lock()
    writers = [
        threading.Thread(target=write_until_killed,
                         args=(server, key, users, int(population.now), 100 * run + k, acked, sent, lock))
        for k in range(4)
    ]  # fmt: skip
    for thread in writers:
        thread.start()
    time.sleep(random.Random(run).uniform(2.0, 4.0))
    server.kill9()
    for thread in writers:
        thread.join(timeout=60)
    assert acked, "nothing was acknowledged before the kill: the test did not test anything"

    server.start()  # the same store, the same port
    try:
        served = served_scores(server, key)
    finally:
        server.stop()

    with open_store() as store:
        stored_ids = set(store.repayments()["id"].astype(str))
        assert set(acked) <= stored_ids, f"{len(set(acked) - stored_ids)} acknowledged repayments lost"
        latest = store.latest_scores().set_index("user")
        assert served == {user: int(latest.loc[user, "score"]) for user in served}
        individual_gap, network_gap, bound = recompute_gaps(store, latest)
    print(f"acked {len(acked)}, sent {len(sent)}, stored of sent {len(stored_ids & set(sent))}; "
          f"gaps {individual_gap:.2e} / {network_gap:.2e}")  # fmt: skip
    assert individual_gap <= 1e-9, "a stored event lacks the snapshot it produced"
    assert network_gap <= bound
