"""Per-request DataLoaders under cancellation, on a real service (SQLite store, engine, worker thread).

graphql-core cancels the fields next to one that failed. Two fields of one request that
load the same key share one DataLoader future; cancelling one of them must not cancel the
other's answer (it surfaced as a CancelledError, an HTTP 500, in the fuzz run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from credence.api.config import ApiConfig
from credence.api.context import Context
from credence.api.keys import ApiKeys
from credence.api.loaders import load_history, load_network, load_summary
from credence.api.service import CredenceService
from credence.engine import NetworkSummary, ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population


@pytest.fixture(scope="module")
def service() -> Iterator[CredenceService]:
    population = generate_population(n_users=1000, seed=5)
    store = SQLiteStore(":memory:")
    store.load(population.dataset())
    engine = ScoringEngine(store, now=population.now)
    engine.recompute()
    service = CredenceService(store=store, engine=engine)
    yield service
    service.executor.shutdown(wait=True)
    service.analysis_executor.shutdown(wait=True)
    store.close()


@pytest.mark.parametrize("load", [load_network, load_summary, load_history])
def test_cancelling_one_field_leaves_a_shared_load_to_the_others(
    service: CredenceService, load: object
) -> None:
    user = str(service.engine.view().ids[7])

    async def scenario() -> object:
        ctx = Context(service=service, config=ApiConfig(keys=ApiKeys()), key=None)
        doomed = asyncio.ensure_future(load(ctx, user))  # type: ignore[operator]
        survivor = asyncio.ensure_future(load(ctx, user))  # type: ignore[operator]
        await asyncio.sleep(0)  # both now wait on the same DataLoader future
        doomed.cancel()
        result = await survivor
        assert doomed.cancelled()
        return result

    result = asyncio.run(scenario())
    if load is load_network:
        assert isinstance(result, NetworkSummary) and result.user == user
    elif load is load_summary:
        assert result.user == user  # type: ignore[attr-defined]
    else:
        assert len(result) >= 1  # type: ignore[arg-type]
