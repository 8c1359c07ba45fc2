"""A follower engine kept current by the writer's committed snapshots, on one SQLite file.

The oracle is the writer engine itself: after any sequence of changes, the follower
serves the same scores, reasons, consent and quarantine for every user, and components
within the drift that makes a snapshot (:data:`credence.engine.events.SNAPSHOT_DRIFT_POINTS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credence.engine import ScoringEngine
from credence.engine.events import SNAPSHOT_DRIFT_POINTS
from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population

DAY = 86_400


def writer_and_follower(tmp_path: Path, *, seed: int) -> tuple[Any, list[str], ScoringEngine, ScoringEngine,
                                                               SQLiteStore, SQLiteStore, int]:  # fmt: skip
    """A scored population on one SQLite file: a writer engine and a follower engine, each with its own store.

    Returns the population, its user ids, the two engines, their stores and the newest
    snapshot's sequence number when the follower restored.
    """
    population = generate_population(n_users=900, seed=seed)
    users = population.users["id"].astype(str).tolist()
    db = tmp_path / "credence.db"
    with SQLiteStore(db) as setup:
        setup.load(population.dataset())
    writer_store, follower_store = SQLiteStore(db), SQLiteStore(db)
    writer = ScoringEngine(writer_store, now=population.now)
    writer.recompute()
    follower = ScoringEngine(follower_store)
    assert follower.restore() is not None
    seq = follower_store.latest_snapshot_seq()
    return population, users, writer, follower, writer_store, follower_store, seq


def test_a_follower_serves_what_the_writer_serves(tmp_path: Path) -> None:
    population, users, writer, follower, writer_store, follower_store, seq = writer_and_follower(
        tmp_path, seed=17
    )

    due = population.now - 40 * DAY
    writer.record_repayments(pd.DataFrame({"id": ["f-1", "f-2"], "user": [users[1], users[2]], "due": [due, due],
                                           "paid": [due, None], "amount": [500.0, 900.0],
                                           "status": ["on_time", "defaulted"]}))  # fmt: skip
    writer.flag_user(users[3], analyst="ana", reason="ring")
    writer.set_consent(users[4], False)
    writer.add_link(users[5], users[6], weight=3.0)
    writer.upsert_users(pd.DataFrame({"id": ["newcomer"], "created": [population.now - 5 * DAY],
                                      "id_verified": [True]}))  # fmt: skip

    feed, last = follower_store.snapshots_after(seq)
    assert len(feed) > 0 and last > seq
    changes = follower.follow(feed)
    assert {change.user for change in changes} >= {users[1], users[2], "newcomer"}

    mine, theirs = writer.view(), follower.view()
    order = [theirs.row(user) for user in mine.ids.tolist()]
    assert np.array_equal(mine.scores, theirs.scores[order])
    assert np.array_equal(mine.consent, theirs.consent[order])
    assert np.array_equal(mine.quarantined, theirs.quarantined[order])
    for user in (users[1], users[2], users[3], users[4], users[7], "newcomer"):
        (a,), (b,) = writer.summaries([user]), follower.summaries([user])
        assert a is not None and b is not None
        assert (a.score, a.reasons, a.consent, a.quarantined) == (
            b.score,
            b.reasons,
            b.consent,
            b.quarantined,
        )
        # The follower has the stored components, which trail the writer's memory by less
        # than the drift that makes a snapshot.
        assert [c.name for c in a.components] == [c.name for c in b.components]
        drift = sum(abs(x.points - y.points) for x, y in zip(a.components, b.components, strict=True))
        assert drift < SNAPSHOT_DRIFT_POINTS, (user, drift)
    assert follower.follow(follower_store.snapshots_after(last)[0]) == []  # nothing new: nothing moves
    writer_store.close()
    follower_store.close()


def test_a_feed_with_several_snapshots_of_a_user_takes_the_newest(tmp_path: Path) -> None:
    population, users, writer, follower, writer_store, follower_store, seq = writer_and_follower(
        tmp_path, seed=5
    )
    due = population.now - 30 * DAY
    for i, status in enumerate(["defaulted", "on_time", "missed"]):
        writer.record_repayments(pd.DataFrame({"id": [f"r-{i}"], "user": [users[8]], "due": [due],
                                               "paid": [due if status == "on_time" else None],
                                               "amount": [300.0], "status": [status]}))  # fmt: skip
    writer.flag_user(users[9], analyst="ana", reason="ring")
    writer.unflag_user(users[9], analyst="lead", reason="cleared")
    writer.flag_user(users[10], analyst="ana", reason="ring")

    feed, _ = follower_store.snapshots_after(seq)
    assert (feed["user"].astype(str) == users[8]).sum() == 3  # one snapshot per repayment
    follower.follow(feed)
    for user in (users[8], users[9], users[10]):
        (a,), (b,) = writer.summaries([user]), follower.summaries([user])
        assert a is not None and b is not None
        assert (a.score, a.reasons, a.quarantined) == (b.score, b.reasons, b.quarantined), user
    assert (
        follower.summaries([users[10]])[0].quarantined and not follower.summaries([users[9]])[0].quarantined
    )
    writer_store.close()
    follower_store.close()
