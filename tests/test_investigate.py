"""credence.analysis.investigate on hand-made graphs whose answers are known without the engine's push."""

from __future__ import annotations

import pandas as pd
import pytest

from credence.analysis.investigate import cluster_inflation, default_impact, suspicious_clusters
from credence.core.errors import NotFoundError, ParameterError
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore

YEAR = 365 * 86_400
NOW = 10 * YEAR


def _store(policy_links: list[tuple[str, str, float]], good: set[str], users: list[str]) -> SQLiteStore:
    store = SQLiteStore(":memory:")
    flags = [u in good for u in users]
    store.upsert_users(pd.DataFrame({"id": users, "created": 0, "id_verified": flags, "face_verified": flags,
                                     "verified_income": [9e3 if f else None for f in flags]}))  # fmt: skip
    a, b, w = zip(*policy_links, strict=True)
    store.upsert_links(pd.DataFrame({"source": list(a), "target": list(b), "weight": list(w)}))
    return store


def _ring_with_target() -> tuple[SQLiteStore, list[str]]:
    """A well-verified 5-clique of heavy links, two members also linked to the thin user ``t``;
    a separate chain of ordinary users x0 - x1 - ... - x5."""
    ring = [f"r{i}" for i in range(5)]
    chain = [f"x{i}" for i in range(6)]
    links = [(a, b, 5.0) for i, a in enumerate(ring) for b in ring[i + 1 :]]
    links += [(r, "t", 1.0) for r in ring[:2]]
    links += [(chain[i], chain[i + 1], 1.0) for i in range(5)]
    return _store(links, set(ring), [*ring, "t", *chain]), ring


def _engine(store: SQLiteStore) -> ScoringEngine:
    engine = ScoringEngine(store, now=NOW)
    engine.recompute(write=False)
    return engine


def test_inflation_is_the_drop_a_real_quarantine_produces() -> None:
    store, ring = _ring_with_target()
    engine = _engine(store)
    before = engine.scores().set_index("user")["score"]
    found = cluster_inflation(engine, ring, top=3)
    # The outsider t is propped up by the ring; the chain is untouched.
    assert found.outsiders_raised == 1 and found.top_outsiders[0].user == "t"
    assert found.outsider_points == before["t"] - found.top_outsiders[0].after > 0
    for member in ring:
        engine.flag_user(member, analyst="test", reason="ring")
    after = engine.scores().set_index("user")["score"]
    drops = {u: int(before[u] - after[u]) for u in before.index if after[u] < before[u]}
    assert found.points == sum(drops.values())
    assert found.member_points == sum(v for u, v in drops.items() if u in ring)
    assert found.users_raised == len(drops)
    assert all(not u.startswith("x") for u in drops)


def test_suspicious_clusters_find_the_ring_with_its_evidence() -> None:
    store, ring = _ring_with_target()
    engine = _engine(store)
    found = suspicious_clusters(engine, k=2)
    assert found[0].rank == 1 and set(found[0].users) == set(ring)
    evidence = found[0].evidence
    assert (evidence.size, evidence.internal_links, evidence.attack_links, evidence.outside_neighbours) == (
        5,
        10,
        2,
        1,
    )
    assert evidence.thin_fraction == 1.0  # no repayments on record at all
    assert found[0].inflation is not None and found[0].inflation.outsider_points > 0
    assert found[0].as_dict()["inflation"]["top_outsiders"][0]["user"] == "t"
    assert suspicious_clusters(engine, k=2, inflation=False)[0].inflation is None


def test_default_impact_hits_the_user_then_the_friends() -> None:
    store, ring = _ring_with_target()
    engine = _engine(store)
    changes = default_impact(engine, "r0", amount=800.0)
    assert changes[0].user == "r0" and changes[0].after < changes[0].before
    drops = [c.before - c.after for c in changes[1:]]
    assert drops == sorted(drops, reverse=True) and all(d > 0 for d in drops)
    assert {c.user for c in changes} <= set(ring) | {"t"}
    assert engine.scores().set_index("user")["score"]["r0"] == changes[0].before  # nothing applied


def test_bad_arguments() -> None:
    store, ring = _ring_with_target()
    engine = _engine(store)
    with pytest.raises(ParameterError, match="k"):
        suspicious_clusters(engine, k=0)
    with pytest.raises(ParameterError, match="top"):
        cluster_inflation(engine, ring, top=-1)
    with pytest.raises(NotFoundError):
        cluster_inflation(engine, ["ghost"])
    with pytest.raises(NotFoundError):
        default_impact(engine, "ghost")


def test_analyses_run_beside_the_worker_thread() -> None:
    """A long analysis on the analysis thread never holds up the worker thread's store work."""
    import asyncio
    import threading

    from credence.api.service import CredenceService

    store, _ = _ring_with_target()
    service = CredenceService(store=store, engine=_engine(store))
    release = threading.Event()

    def long_analysis() -> str:
        assert release.wait(timeout=30)
        return threading.current_thread().name

    async def scenario() -> tuple[str, str, int]:
        analysis = asyncio.ensure_future(service.analyze(long_analysis))
        worker = await service.run(lambda: threading.current_thread().name)
        links = await service.run(lambda: len(store.links()))  # the store answers meanwhile
        assert not analysis.done()
        release.set()
        return await analysis, worker, links

    try:
        analysis_thread, worker_thread, links = asyncio.run(scenario())
    finally:
        release.set()
        service.close()
    assert analysis_thread.startswith("credence-analysis") and worker_thread.startswith("credence-engine")
    assert links == 10 + 2 + 5  # the clique, the two links to t, the chain
