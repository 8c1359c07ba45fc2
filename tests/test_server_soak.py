"""The server as a system of record: a bounded concurrent soak against a real `credence serve`.

Writers (app), analysts (flags, unflags, audited evidence reads) and readers hit one
server process for a few seconds over loopback. Then, with the server stopped:

* no request failed on the server's side (every answer is data or the client's own error);
* every acknowledged write is in the store, exactly once;
* the audit log holds exactly one entry per audited operation that was answered;
* the scores the server served equal the stored latest snapshots, and a full recompute
  at the same evaluation time and prior agrees with them (within one point where a raw
  score sits on a rounding boundary).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from credence.engine import ScoringEngine
from credence.seeds.synthetic import generate_population
from tests.api_server import iso
from tests.serve_process import ServerProcess, issue_key, post

USERS = 1_500
SECONDS = 8.0
MAX_OPS_PER_CLIENT = 400
DAY = 86_400
SERVER_SIDE = {"INTERNAL_SERVER_ERROR", "STORE_UNAVAILABLE", "NO_CODE"}

REPAY = """mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }"""
LINK = """mutation($a: String!, $b: String!, $w: Float!) { addLink(a: $a, b: $b, weight: $w) { changes { userId } } }"""
UNLINK = """mutation($a: String!, $b: String!) { removeLink(a: $a, b: $b) { changes { userId } } }"""
FLAG = """mutation($u: String!, $r: String!) { flagUser(user: $u, reason: $r) { changes { userId } } }"""
UNFLAG = """mutation($u: String!, $r: String!) { unflagUser(user: $u, reason: $r) { changes { userId } } }"""
EVIDENCE = """query($u: String!) { user(id: $u) { network { contributors(first: 5) { total } } } }"""
READ = """query($u: String!) { user(id: $u) { score } }"""
PRIOR = """query($u: String!) { user(id: $u) { network { prior } } }"""
PAGE = """query($after: String) { users(first: 100, after: $after) { edges { node { userId score } }
    pageInfo { hasNextPage endCursor } } }"""


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    repayments: list[str] = field(default_factory=list)
    audited: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, code: str, detail: Any) -> None:
        with self.lock:
            self.outcomes[(kind, code)] += 1
            if code in SERVER_SIDE or code.startswith("HTTP"):
                self.failures.append(f"{kind}: {code}: {str(detail)[:300]}")


@pytest.fixture(params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServerProcess, Any, dict[str, str], Any]]:
    population = generate_population(n_users=USERS, seed=12)
    env = {**os.environ, "CREDENCE_HOME": str(tmp_path), "CREDENCE_API_KEYS": str(tmp_path / "keys.toml")}
    if request.param == "sqlite":
        from credence.graph.sqlite import SQLiteStore

        db = tmp_path / "credence.db"
        with SQLiteStore(db) as store:
            store.load(population.dataset())
            ScoringEngine(store, now=population.now).recompute()
        args = ["--db", str(db)]

        def open_store() -> Any:
            return SQLiteStore(db)
    else:
        from credence.graph.neo4j_store import Neo4jStore

        uri = request.getfixturevalue("neo4j_uri")
        with Neo4jStore(uri) as store:
            store.clear()
            store.load(population.dataset())
            ScoringEngine(store, now=population.now).recompute()
        args = ["--neo4j-uri", uri]

        def open_store() -> Any:
            return Neo4jStore(uri)

    keys = {role: issue_key(env, f"soak-{role}", role) for role in ("app", "analyst", "admin")}
    server = ServerProcess(args=args, env=env, log_path=tmp_path / "serve.log")
    server.start()
    try:
        yield server, population, keys, open_store
    finally:
        server.stop()


def writer(
    server: ServerProcess, key: str, users: list[str], now: int, seed: int, tally: Tally, stop: float
) -> None:
    rng = random.Random(seed)
    with httpx.Client(timeout=60) as client:
        for i in range(MAX_OPS_PER_CLIENT):
            if time.monotonic() > stop:
                return
            roll = rng.random()
            if roll < 0.7:
                rid = f"soak-{seed}-{i}"
                status = rng.choice(["on_time", "on_time", "late", "defaulted"])
                due = now - rng.randint(2, 300) * DAY
                repayment = {
                    "id": rid,
                    "user": rng.choice(users),
                    "due": iso(due),
                    "amount": 500.0,
                    "status": status,
                }
                if status != "defaulted":
                    repayment["paid"] = iso(due + (0 if status == "on_time" else 20 * DAY))
                code, detail = post(client, server.url, key, REPAY, i=repayment)
                tally.record("repayment", code, detail)
                if code == "ok":
                    with tally.lock:
                        tally.repayments.append(rid)
            elif roll < 0.85:
                a, b = rng.sample(users, 2)
                tally.record("link", *post(client, server.url, key, LINK, a=a, b=b, w=1.5))
            else:
                a, b = rng.sample(users, 2)
                code, detail = post(client, server.url, key, UNLINK, a=a, b=b)
                tally.record("unlink", "ok" if code == "NOT_FOUND" else code, detail)  # no such link: fine


def analyst(server: ServerProcess, key: str, pool: list[str], seed: int, tally: Tally, stop: float) -> None:
    rng = random.Random(seed)
    flagged: list[str] = []
    with httpx.Client(timeout=60) as client:
        for i in range(MAX_OPS_PER_CLIENT):
            if time.monotonic() > stop:
                return
            if flagged and (rng.random() < 0.4 or len(flagged) == len(pool)):
                user = flagged.pop(rng.randrange(len(flagged)))
                code, detail = post(client, server.url, key, UNFLAG, u=user, r=f"cleared {i}")
                tally.record("unflag", code, detail)
                if code == "ok":
                    with tally.lock:
                        tally.audited["unflag"] += 1
                else:
                    flagged.append(user)
            elif rng.random() < 0.5:
                user = rng.choice([u for u in pool if u not in flagged])
                code, detail = post(client, server.url, key, FLAG, u=user, r=f"soak {i}")
                tally.record("flag", code, detail)
                if code == "ok":
                    flagged.append(user)
                    with tally.lock:
                        tally.audited["flag"] += 1
            else:
                code, detail = post(client, server.url, key, EVIDENCE, u=rng.choice(pool))
                tally.record("evidence", code, detail)
                if code == "ok":
                    with tally.lock:
                        tally.audited["read:network.contributors"] += 1


def reader(server: ServerProcess, key: str, users: list[str], seed: int, tally: Tally, stop: float) -> None:
    rng = random.Random(seed)
    with httpx.Client(timeout=60) as client:
        for _ in range(MAX_OPS_PER_CLIENT):
            if time.monotonic() > stop:
                return
            tally.record("read", *post(client, server.url, key, READ, u=rng.choice(users)))


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
def test_a_concurrent_soak_fails_nothing_loses_nothing_and_serves_what_is_stored(served: Any) -> None:
    server, population, keys, open_store = served
    users = population.users["id"].astype(str).tolist()
    now = int(population.now)
    tally = Tally()
    stop = time.monotonic() + SECONDS
    pools = [users[0:40], users[40:80]]  # each analyst flags only its own users: no CONFLICT races
    threads = [
        threading.Thread(target=writer, args=(server, keys["app"], users, now, s, tally, stop))
        for s in (1, 2, 3)
    ]
    threads += [
        threading.Thread(target=analyst, args=(server, keys["analyst"], pools[k], 10 + k, tally, stop))
        for k in (0, 1)
    ]
    threads += [
        threading.Thread(target=reader, args=(server, keys["app"], users, 20 + k, tally, stop))
        for k in (0, 1, 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 120)
    assert not any(thread.is_alive() for thread in threads)
    print(dict(tally.outcomes))
    assert tally.failures == [], (
        "\n".join(tally.failures[:20]) + "\n--- server log ---\n" + server.log()[-4000:]
    )
    bad = {k: n for k, n in tally.outcomes.items() if k[1] != "ok"}
    assert bad == {}, bad
    assert tally.outcomes[("repayment", "ok")] >= 5 and tally.audited["flag"] >= 2  # the soak did work

    served_now = served_scores(server, keys["app"])
    health = httpx.get(f"{server.base}/healthz", timeout=10).json()
    with httpx.Client(timeout=60) as client:
        code, data = post(client, server.url, keys["app"], PRIOR, u=users[0])
    assert code == "ok", data
    prior = float(data["user"]["network"]["prior"])
    server.stop()

    with open_store() as store:
        stored_ids = store.repayments()["id"].astype(str)
        counts = stored_ids.value_counts()
        assert set(tally.repayments) <= set(counts.index), "acknowledged repayments missing from the store"
        assert int(counts.loc[tally.repayments].max()) == 1
        log = store.audit_log(first=10_000, actor="soak-analyst")
        actions = Counter(entry.action for entry in log)
        assert actions == Counter(tally.audited), (actions, tally.audited)
        latest = store.latest_scores().set_index("user")["score"].astype(int).to_dict()
        assert served_now == {user: latest[user] for user in served_now}, (
            "served scores differ from the stored ones"
        )
        fresh = ScoringEngine(store, now=int(health["computed_at"]))
        fresh.recompute(write=False, prior=prior)
        view = fresh.view()
        recomputed = dict(zip(view.ids.tolist(), view.scores.tolist(), strict=True))
    gap = np.array([abs(recomputed[user] - score) for user, score in served_now.items()])
    assert gap.max() <= 1 and (gap == 0).mean() > 0.99, np.bincount(gap)
