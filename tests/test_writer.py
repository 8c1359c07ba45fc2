"""The API's writer on a real SQLite store and engine: grouped commits, each client all or nothing.

Oracles are the store itself (what it holds after the group) and a second engine
recomputed from it; nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credence.api.writer import MutationWriter
from credence.core.errors import StoreError, UnknownReferenceError, ValidationError
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.graph.store import AuditDraft
from credence.seeds.synthetic import generate_population

DAY = 86_400
POPULATION = generate_population(n_users=800, seed=21)
USERS = POPULATION.users["id"].astype(str).tolist()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[ScoringEngine]:
    store = SQLiteStore(tmp_path / "credence.db")
    store.load(POPULATION.dataset())
    engine = ScoringEngine(store, now=POPULATION.now)
    engine.recompute()
    yield engine
    store.close()


def repayment(rid: str, user: str, status: str = "on_time") -> pd.DataFrame:
    due = POPULATION.now - 30 * DAY
    return pd.DataFrame({"id": [rid], "user": [user], "due": [due], "paid": [due if status == "on_time" else None],
                         "amount": [400.0], "status": [status]})  # fmt: skip


def audit(detail: str) -> list[AuditDraft]:
    return [AuditDraft(actor="tester", role="app", action="test:write", subject=None, detail=detail)]


async def submit_all(writer: MutationWriter, calls: list[tuple[Any, list[AuditDraft]]]) -> list[Any]:
    return await asyncio.gather(
        *(writer.submit(call, drafts) for call, drafts in calls), return_exceptions=True
    )


def test_concurrent_changes_commit_in_groups_and_a_bad_one_fails_alone(engine: ScoringEngine) -> None:
    store = engine.store
    writer = MutationWriter(engine=engine, store=store)
    gate = threading.Event()
    # Hold the writer on a first job so that the next ones queue up and form one group.
    calls: list[tuple[Any, list[AuditDraft]]] = [(gate.wait, [])]
    good = [f"w-{i}" for i in range(30)]
    for i, rid in enumerate(good):
        calls.append(((lambda r=rid, u=USERS[i]: engine.record_repayments(repayment(r, u))), audit(rid)))
        if i == 10:  # a repayment of nobody, and a bad status, in the middle of the group
            calls.append(((lambda: engine.record_repayments(repayment("ghost", "nobody"))), audit("ghost")))
            calls.append(
                ((lambda: engine.record_repayments(repayment("bad", USERS[0], "lost"))), audit("bad"))
            )

    async def scenario() -> list[Any]:
        results = asyncio.ensure_future(submit_all(writer, calls))
        await asyncio.sleep(0.3)
        gate.set()
        return await results

    results = asyncio.run(scenario())
    writer.stop()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert [type(e) for e in errors] == [UnknownReferenceError, ValidationError]
    assert writer.groups < writer.jobs  # grouped: fewer commits than changes
    stored = set(store.repayments()["id"].astype(str))
    assert set(good) <= stored and not {"ghost", "bad"} & stored
    details = [entry.detail for entry in store.audit_log(first=1_000, actor="tester")]
    assert sorted(details) == sorted(good)  # one audit entry per stored change, none for the refused
    served = engine.view().scores
    latest = store.latest_scores().set_index("user").loc[engine.view().ids.tolist(), "score"].to_numpy()
    assert (served == latest).all()


def test_a_failed_commit_fails_every_change_of_the_group_and_stores_nothing(engine: ScoringEngine) -> None:
    store = engine.store
    writer = MutationWriter(engine=engine, store=store)
    before = len(store.repayments())
    gate = threading.Event()

    def fails_after_writing() -> None:
        engine.record_repayments(repayment("doomed-2", USERS[2]))
        raise OSError("disk gone")  # an infrastructure failure after memory changed

    calls: list[tuple[Any, list[AuditDraft]]] = [(gate.wait, [])]
    calls.append(((lambda: engine.record_repayments(repayment("doomed-1", USERS[1]))), audit("doomed-1")))
    calls.append((fails_after_writing, audit("doomed-2")))

    async def scenario() -> list[Any]:
        results = asyncio.ensure_future(submit_all(writer, calls))
        await asyncio.sleep(0.3)
        gate.set()
        return await results

    results = asyncio.run(scenario())
    assert isinstance(results[1], StoreError) and results[1].retry_after  # grouped with the failure: retry
    assert isinstance(results[2], OSError)  # the failing change hears its own error
    assert len(store.repayments()) == before
    assert store.audit_log(first=10, actor="tester") == []
    assert engine.stale_since is not None  # memory went ahead of the store: changes are refused...
    with pytest.raises(StoreError):
        engine.record_repayments(repayment("later", USERS[3]))

    # ...until the writer rebuilds the engine from the store, before its next group.
    async def later() -> Any:
        return await writer.submit(
            lambda: engine.record_repayments(repayment("later", USERS[3])), audit("later")
        )

    changes = asyncio.run(later())
    writer.stop()
    assert engine.stale_since is None and changes
    assert "later" in set(store.repayments()["id"].astype(str))
    fresh = ScoringEngine(store)
    assert fresh.restore() is not None
    assert (fresh.view().scores == engine.view().scores).all()
