"""The GraphStore contract: every test runs on SQLite and on a real Neo4j."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from credence.core.errors import (
    ConflictError,
    NotFoundError,
    ParameterError,
    StoreError,
    UnknownReferenceError,
    ValidationError,
)
from credence.graph.model import COMPONENTS, epoch_now, parse_dataset
from credence.graph.store import AdverseNotice, AuditDraft, AuditEntry, GraphStore, RecomputeRecord

NOW = 1_760_000_000  # 2025-10-09


def users(*ids: str, **columns: Any) -> pd.DataFrame:
    return pd.DataFrame({"id": list(ids), "created": [NOW - 1000] * len(ids), **columns})


def links(*triples: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": [t[0] for t in triples],
            "target": [t[1] for t in triples],
            "weight": [t[2] for t in triples],
            "created": [NOW - 10] * len(triples),
        }
    )


def distrust(*rows: tuple[str, str, float, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rater": [r[0] for r in rows],
            "rated": [r[1] for r in rows],
            "weight": [r[2] for r in rows],
            "created": [r[3] for r in rows],
        }
    )


#: The populated store's distrust: (rater, rated, weight, created).
DISTRUST = (("dee", "ann", 4.0, NOW - 20), ("bob", "cy", 10.0, NOW - 30), ("ann", "dee", 1.0, NOW - 40))


def plain(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Columns as lists with None for every kind of missing value (NaN != NaN)."""
    return {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame}


def dump(store: GraphStore) -> dict[str, Any]:
    """Everything observable in a store, for exact before/after comparisons."""
    snap = store.export_graph()
    return {
        "stats": store.stats().as_dict(),
        "ids": snap.ids.tolist(),
        "adjacency": snap.adjacency.toarray().tolist(),
        "users": plain(snap.users),
        "quarantined": snap.quarantined.tolist(),
        "distrust_matrix": snap.distrust.toarray().tolist(),
        "distrust": plain(store.distrust()),
        "repayments": plain(store.repayments()),
        "spending": plain(store.spending()),
        "scores": plain(store.latest_scores()),
        "models": store.model_weights(),
        "consent": {user: store.consent_history(user) for user in snap.ids.tolist()},
        "notices": {user: store.notices(user) for user in snap.ids.tolist()},
        "reviews": store.reviews(),
        "disputes": store.disputes(),
    }


@pytest.fixture
def populated(store: GraphStore) -> GraphStore:
    store.load(
        parse_dataset(
            users=users("ann", "bob", "cy", "dee", declared_income=[1000.0, None, 5.5, 0.0]),
            links=links(("ann", "bob", 2.0), ("bob", "cy", 1.0), ("cy", "ann", 0.5)),
            repayments=pd.DataFrame(
                {
                    "id": ["r1", "r2", "r3"],
                    "user": ["ann", "ann", "bob"],
                    "due": [NOW - 5000, NOW - 200_000, NOW - 5000],
                    "paid": [NOW - 5000, None, NOW - 4000],
                    "amount": [100.0, 50.0, 20.0],
                    "status": ["on_time", "missed", "on_time"],
                }
            ),
            spending=pd.DataFrame(
                {
                    "id": ["s1", "s2"],
                    "user": ["cy", "cy"],
                    "at": [NOW - 100, NOW - 50],
                    "amount": [9.5, 80.0],
                    "category": ["purchase", "bill"],
                    "on_time": [None, True],
                }
            ),
            distrust=distrust(*DISTRUST),
            now=NOW,
        )
    )
    return store


def test_is_a_graph_store(store: GraphStore) -> None:
    assert isinstance(store, GraphStore)
    assert store.stats().users == 0


def test_users_round_trip(populated: GraphStore) -> None:
    ann = populated.get_user("ann")
    assert ann.id == "ann"
    assert ann.created == NOW - 1000
    assert ann.declared_income == 1000.0
    assert ann.verified_income is None
    assert ann.consent_network is True
    assert ann.verification_level == 0
    frame = populated.get_users(["cy", "ann"])
    assert frame["id"].tolist() == ["cy", "ann"]
    assert frame["declared_income"].tolist() == [5.5, 1000.0]
    assert np.isnan(populated.get_users(["bob"])["declared_income"].iloc[0])
    assert populated.has_users(["ann", "zed", "dee"]).tolist() == [True, False, True]


def test_unknown_user_is_not_found(populated: GraphStore) -> None:
    with pytest.raises(NotFoundError) as info:
        populated.get_user("zed")
    assert info.value.key == "zed"
    with pytest.raises(NotFoundError):
        populated.get_users(["ann", "zed"])
    with pytest.raises(NotFoundError):
        populated.neighbors("zed")


def test_user_upsert_is_idempotent_and_updates(populated: GraphStore) -> None:
    before = dump(populated)
    populated.upsert_users(users("ann", "bob", "cy", "dee", declared_income=[1000.0, None, 5.5, 0.0]))
    assert dump(populated) == before
    populated.upsert_users(users("ann", id_verified=[True], verified_assets=[42.0]))
    ann = populated.get_user("ann")
    assert ann.id_verified is True
    assert ann.verified_assets == 42.0
    assert ann.declared_income is None  # an upsert replaces the whole record
    assert populated.stats().users == 4


def test_links_are_undirected(populated: GraphStore) -> None:
    assert populated.neighbors("ann")[["user", "weight"]].to_dict("records") == [
        {"user": "bob", "weight": 2.0},
        {"user": "cy", "weight": 0.5},
    ]
    assert populated.neighbors("cy")["user"].tolist() == ["ann", "bob"]
    assert populated.neighbors("dee").empty
    assert populated.stats().links == 3


def test_link_upsert_updates_weight_either_orientation(populated: GraphStore) -> None:
    populated.upsert_links(links(("bob", "ann", 7.0)))
    assert populated.stats().links == 3
    assert populated.neighbors("ann").set_index("user").loc["bob", "weight"] == 7.0
    before = dump(populated)
    populated.upsert_links(links(("bob", "ann", 7.0)))
    assert dump(populated) == before


def test_remove_link(populated: GraphStore) -> None:
    assert populated.remove_link("cy", "ann") is True
    assert populated.remove_link("ann", "cy") is False
    assert populated.neighbors("ann")["user"].tolist() == ["bob"]
    assert populated.stats().links == 2
    with pytest.raises(NotFoundError):
        populated.remove_link("ann", "zed")


def test_events_round_trip(populated: GraphStore) -> None:
    ann = populated.repayments("ann")
    assert ann["id"].tolist() == ["r2", "r1"]  # sorted by due
    assert ann["paid"].isna().tolist() == [True, False]
    assert ann["status"].tolist() == ["missed", "on_time"]
    assert populated.repayments("dee").empty
    assert len(populated.repayments()) == 3
    cy = populated.spending("cy")
    assert cy["category"].tolist() == ["purchase", "bill"]
    assert cy["on_time"].isna().tolist() == [True, False]
    assert bool(cy["on_time"].iloc[1]) is True
    assert str(cy["on_time"].dtype) == "boolean"


def test_event_upsert_by_id(populated: GraphStore) -> None:
    populated.add_repayments(
        pd.DataFrame(
            {
                "id": ["r2"],
                "user": ["ann"],
                "due": [NOW - 200_000],
                "paid": [NOW - 100],
                "amount": [50.0],
                "status": ["late"],
            }
        )
    )
    assert populated.stats().repayments == 3
    assert populated.repayments("ann").set_index("id").loc["r2", "status"] == "late"


def test_consent(populated: GraphStore) -> None:
    populated.set_consent("bob", False)
    assert populated.get_user("bob").consent_network is False
    assert populated.stats().consenting == 3
    populated.set_consent("bob", True)
    assert populated.get_user("bob").consent_network is True
    with pytest.raises(NotFoundError):
        populated.set_consent("zed", True)
    with pytest.raises(ValidationError):
        populated.set_consent("bob", "maybe")  # type: ignore[arg-type]


def test_consent_history_records_each_change_with_time_and_actor(populated: GraphStore) -> None:
    assert populated.consent_history("bob") == []
    first = populated.set_consent("bob", False, actor="app-key", at=NOW - 50)
    assert populated.set_consent("bob", False, actor="app-key", at=NOW - 40) is None  # no change, no record
    second = populated.set_consent("bob", True, actor="cli", at=NOW - 30)
    history = populated.consent_history("bob")
    assert [(c.consent, c.at, c.actor, c.user) for c in history] == [
        (False, NOW - 50, "app-key", "bob"),
        (True, NOW - 30, "cli", "bob"),
    ]
    assert history == [first, second] and first is not None and first.id < second.id  # type: ignore[union-attr]
    assert populated.get_user("bob").consent_network is True  # the latest change is in force
    assert populated.consent_history("ann") == []
    clock = populated.set_consent("ann", False)
    assert clock is not None and abs(clock.at - time.time()) < 60 and clock.actor == "system"
    with pytest.raises(NotFoundError):
        populated.consent_history("zed")
    before = dump(populated)
    with pytest.raises(ValidationError):
        populated.set_consent("cy", False, actor="   ")  # an actor is required
    assert dump(populated) == before and populated.get_user("cy").consent_network is True


def _notice(user: str, at: int, tier: str = "credit_line") -> AdverseNotice:
    return AdverseNotice(user=user, at=at, tier=tier, tier_min=600, score_before=612, score_after=587,
                         model_version="m1", reasons=(("CH_DEFAULTS", "A default on record", 31.5),
                                                      ("NW_CONNECTIONS", "Few connections", 4.25)))  # fmt: skip


def test_adverse_notices_round_trip_and_refuse_unknown_users(populated: GraphStore) -> None:
    assert populated.notices("ann") == []
    assert (
        populated.record_notices([_notice("ann", NOW), _notice("ann", NOW + 5, "deposit_free_rental")]) == 2
    )
    assert populated.record_notices([]) == 0
    stored = populated.notices("ann")
    assert [(n.tier, n.at, n.score_after, n.restore_points, n.reasons) for n in stored] == [
        ("credit_line", NOW, 587, 13, (("CH_DEFAULTS", "A default on record", 31.5), ("NW_CONNECTIONS", "Few connections", 4.25))),
        ("deposit_free_rental", NOW + 5, 587, 13, (("CH_DEFAULTS", "A default on record", 31.5), ("NW_CONNECTIONS", "Few connections", 4.25))),
    ]  # fmt: skip
    assert stored[0].id < stored[1].id and all(n.user == "ann" for n in stored)
    before = dump(populated)
    with pytest.raises(NotFoundError):
        populated.record_notices([_notice("bob", NOW), _notice("zed", NOW)])  # one unknown: none written
    assert dump(populated) == before
    with pytest.raises(NotFoundError):
        populated.notices("zed")
    with pytest.raises(Abort):
        failing_unit(populated, lambda: populated.record_notices([_notice("cy", NOW)]))
    assert populated.notices("cy") == []


def test_human_reviews_open_resolve_and_queue(populated: GraphStore) -> None:
    first = populated.request_review("ann", tier="credit_line", reason="I repaid that loan", requested_by="app",
                                     due=NOW + 30 * 86_400, at=NOW)  # fmt: skip
    assert first.open and first.user == "ann" and first.due == NOW + 30 * 86_400
    with pytest.raises(ConflictError):  # one open review per user and tier
        populated.request_review("ann", tier="credit_line", reason="again", requested_by="app", due=NOW)
    other = populated.request_review("bob", tier="deposit_free_rental", reason="why?", requested_by="app",
                                     due=NOW + 10, at=NOW + 1)  # fmt: skip
    assert [r.id for r in populated.reviews(open_only=True)] == [first.id, other.id]  # oldest first
    done = populated.resolve_review(first.id, outcome="overturned", resolution="the default was a bank error",
                                    analyst="ana", at=NOW + 5)  # fmt: skip
    assert not done.open and (done.outcome, done.resolved_by, done.resolved_at) == (
        "overturned",
        "ana",
        NOW + 5,
    )
    assert populated.reviews(user="ann") == [done]
    assert [r.id for r in populated.reviews(open_only=True)] == [other.id]
    with pytest.raises(ConflictError):
        populated.resolve_review(first.id, outcome="upheld", resolution="x", analyst="ana")
    before = dump(populated)
    with pytest.raises(NotFoundError):
        populated.resolve_review(999_999, outcome="upheld", resolution="x", analyst="ana")
    with pytest.raises(ValidationError):
        populated.resolve_review(other.id, outcome="maybe", resolution="x", analyst="ana")
    with pytest.raises(ValidationError):
        populated.request_review("cy", tier="credit_line", reason="  ", requested_by="app", due=NOW)
    with pytest.raises(NotFoundError):
        populated.request_review("zed", tier="credit_line", reason="x", requested_by="app", due=NOW)
    with pytest.raises(NotFoundError):
        populated.reviews(user="zed")
    assert dump(populated) == before
    with pytest.raises(Abort):
        failing_unit(populated, lambda: populated.request_review("cy", tier="credit_line", reason="x",
                                                                 requested_by="app", due=NOW))  # fmt: skip
    assert populated.reviews(user="cy") == []
    # A request again once the first is resolved.
    assert populated.request_review(
        "ann", tier="credit_line", reason="new facts", requested_by="app", due=NOW
    ).open


def test_disputes_open_resolve_page_and_queue(populated: GraphStore) -> None:
    first = populated.open_dispute("ann", kind="repayment", record=" r2 ", detail='{"status": "missed"}',
                                   adverse=True, reason="I paid it", opened_by="app", due=NOW + 30 * 86_400,
                                   at=NOW)  # fmt: skip
    assert (first.open, first.user, first.kind, first.record, first.adverse) == (
        True,
        "ann",
        "repayment",
        "r2",
        True,
    )
    assert populated.dispute(first.id) == first
    with pytest.raises(ConflictError):  # one open dispute per record
        populated.open_dispute("ann", kind="repayment", record="r2", detail="{}", adverse=True, reason="again",
                               opened_by="app", due=NOW)  # fmt: skip
    link = populated.open_dispute("bob", kind="link", record="cy", detail="{}", adverse=False, reason="not my friend",
                                  opened_by="app", due=NOW + 10, at=NOW + 1)  # fmt: skip
    third = populated.open_dispute("ann", kind="flag", record="7", detail="{}", adverse=True, reason="not fraud",
                                   opened_by="app", due=NOW + 10, at=NOW + 2)  # fmt: skip
    assert [d.id for d in populated.disputes(open_only=True)] == [first.id, link.id, third.id]  # oldest first
    assert [d.id for d in populated.disputes(after=first.id, limit=1)] == [link.id]
    assert [d.id for d in populated.disputes(user="ann")] == [first.id, third.id]
    done = populated.resolve_dispute(first.id, outcome="upheld", resolution="the bank confirms payment",
                                     analyst="ana", correction='{"status": "on_time"}', at=NOW + 5)  # fmt: skip
    assert (done.open, done.outcome, done.resolved_by, done.resolved_at, done.removed) == (
        False, "upheld", "ana", NOW + 5, False)  # fmt: skip
    assert done.correction == '{"status": "on_time"}' and populated.dispute(first.id) == done
    rejected = populated.resolve_dispute(
        link.id, outcome="rejected", resolution="both confirmed it", analyst="ana"
    )
    assert not rejected.removed and rejected.correction is None
    assert [d.id for d in populated.disputes(open_only=True)] == [third.id]
    with pytest.raises(ConflictError):
        populated.resolve_dispute(first.id, outcome="rejected", resolution="x", analyst="ana")
    before = dump(populated)
    with pytest.raises(NotFoundError):
        populated.resolve_dispute(999_999, outcome="upheld", resolution="x", analyst="ana")
    with pytest.raises(NotFoundError):
        populated.dispute(999_999)
    with pytest.raises(ValidationError, match="outcome"):
        populated.resolve_dispute(third.id, outcome="maybe", resolution="x", analyst="ana")
    with pytest.raises(ValidationError, match="kind"):
        populated.open_dispute("cy", kind="loan", record="x", detail="{}", adverse=True, reason="x",
                               opened_by="app", due=NOW)  # fmt: skip
    with pytest.raises(ValidationError, match="reason"):
        populated.open_dispute("cy", kind="link", record="ann", detail="{}", adverse=True, reason=" ",
                               opened_by="app", due=NOW)  # fmt: skip
    with pytest.raises(NotFoundError):
        populated.open_dispute("zed", kind="link", record="ann", detail="{}", adverse=True, reason="x",
                               opened_by="app", due=NOW)  # fmt: skip
    with pytest.raises(NotFoundError):
        populated.disputes(user="zed")
    assert dump(populated) == before
    with pytest.raises(Abort):
        failing_unit(populated, lambda: populated.open_dispute("cy", kind="link", record="ann", detail="{}",
                                                               adverse=True, reason="x", opened_by="app",
                                                               due=NOW))  # fmt: skip
    assert populated.disputes(user="cy") == []
    # A dispute of the same record again once the first is resolved.
    assert populated.open_dispute("ann", kind="repayment", record="r2", detail="{}", adverse=True,
                                  reason="new facts", opened_by="app", due=NOW).open  # fmt: skip


def test_a_consent_change_rolls_back_with_its_unit(populated: GraphStore) -> None:
    with pytest.raises(Abort):
        failing_unit(populated, lambda: populated.set_consent("dee", False, actor="app-key", at=NOW))
    assert populated.consent_history("dee") == [] and populated.get_user("dee").consent_network is True


def test_flags_with_history(populated: GraphStore) -> None:
    flag = populated.flag_user("bob", analyst="ana", reason="ring suspect", at=NOW)
    assert flag.active and flag.user == "bob"
    assert populated.quarantined().tolist() == ["bob"]
    with pytest.raises(ConflictError):
        populated.flag_user("bob", analyst="ana", reason="again")
    cleared = populated.unflag_user("bob", analyst="lead", reason="false positive", at=NOW + 5)
    assert not cleared.active and cleared.cleared_by == "lead" and cleared.cleared_at == NOW + 5
    assert populated.quarantined().tolist() == []
    with pytest.raises(ConflictError):
        populated.unflag_user("bob", analyst="lead", reason="again")
    populated.flag_user("bob", analyst="ana", reason="second look", at=NOW + 10)
    history = populated.flags("bob")
    assert [f.reason for f in history] == ["ring suspect", "second look"]
    assert [f.active for f in history] == [False, True]
    assert populated.stats().flags == 2 and populated.stats().quarantined == 1
    with pytest.raises(NotFoundError):
        populated.flag_user("zed", analyst="ana", reason="x")
    with pytest.raises(ValidationError):
        populated.flag_user("ann", analyst=" ", reason="x")


def test_quarantined_among_some_users(populated: GraphStore) -> None:
    populated.flag_user("dee", analyst="ana", reason="ring suspect", at=NOW)
    populated.flag_user("bob", analyst="ana", reason="ring suspect", at=NOW)
    populated.flag_user("cy", analyst="ana", reason="mistake", at=NOW)
    populated.unflag_user("cy", analyst="lead", reason="false positive", at=NOW + 5)
    assert populated.quarantined().tolist() == ["bob", "dee"]
    # Only the asked ids, sorted, whatever the order and repeats; unknown ids are not flagged.
    assert populated.quarantined(among=["dee", "cy", "ann", "dee", "zed"]).tolist() == ["dee"]
    assert populated.quarantined(among=["dee", "bob"]).tolist() == ["bob", "dee"]
    assert populated.quarantined(among=[]).tolist() == []
    with pytest.raises(ValidationError):
        populated.quarantined(among=[" "])


def score_rows(user: str, at: int, score: int, version: str = "m1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": [user],
            "model_version": [version],
            "computed_at": [at],
            "score": [score],
            **{c: [0.5] for c in COMPONENTS},
        }
    )


def test_score_history(populated: GraphStore) -> None:
    assert populated.latest_score_time() is None
    assert populated.write_scores(score_rows("ann", NOW, 600)) == 1
    assert populated.latest_score_time() == (NOW, "m1")
    populated.write_scores(pd.concat([score_rows("ann", NOW + 60, 640, "m2"), score_rows("bob", NOW, 500)]))
    assert populated.latest_score_time() == (NOW, "m1")  # the last row written: bob at NOW, model m1
    history = populated.score_history("ann")
    assert history["score"].tolist() == [600, 640]
    assert history["model_version"].tolist() == ["m1", "m2"]
    latest = populated.latest_scores()
    assert latest["user"].tolist() == ["ann", "bob"]
    assert latest["score"].tolist() == [640, 500]
    assert populated.score_history("cy").empty
    before = dump(populated)
    with pytest.raises(UnknownReferenceError):
        populated.write_scores(pd.concat([score_rows("cy", NOW, 700), score_rows("zed", NOW, 700)]))
    with pytest.raises(ValidationError):
        populated.write_scores(score_rows("cy", NOW, 100))
    assert dump(populated) == before


MODEL_A = {
    "credit_history": 0.35,
    "fulfilment_capacity": 0.25,
    "behaviour": 0.2,
    "identity": 0.15,
    "connections": 0.05,
}
MODEL_B = {
    "credit_history": 0.4,
    "fulfilment_capacity": 0.2,
    "behaviour": 0.2,
    "identity": 0.1,
    "connections": 0.1,
}


def test_the_snapshot_feed_returns_each_committed_snapshot_once_in_commit_order(
    populated: GraphStore,
) -> None:
    assert populated.latest_snapshot_seq() == 0
    empty, last = populated.snapshots_after(0)
    assert empty.empty and last == 0
    populated.write_scores(pd.concat([score_rows("ann", NOW, 600), score_rows("bob", NOW, 610)]))
    populated.write_scores(score_rows("cy", NOW, 620))
    feed, last = populated.snapshots_after(0)
    assert feed["user"].tolist() == ["ann", "bob", "cy"]
    assert feed["score"].tolist() == [600, 610, 620]
    assert feed["seq"].is_monotonic_increasing and feed["seq"].is_unique and last == int(feed["seq"].iloc[-1])
    assert populated.latest_snapshot_seq() == last
    first, cut = populated.snapshots_after(0, limit=2)
    assert first["user"].tolist() == ["ann", "bob"] and cut == int(first["seq"].iloc[-1])
    rest, _ = populated.snapshots_after(cut)
    assert rest["user"].tolist() == ["cy"]

    def rolled_back() -> None:
        with populated.transaction():
            populated.write_scores(score_rows("ann", NOW, 700))
            populated.write_scores(score_rows("zed", NOW, 700))  # rolls the unit back

    with pytest.raises(UnknownReferenceError):
        rolled_back()
    assert populated.snapshots_after(last)[0].empty  # nothing uncommitted shows in the feed
    populated.write_scores(score_rows("ann", NOW + 1, 630))
    new, newest = populated.snapshots_after(last)
    assert new["user"].tolist() == ["ann"] and new["score"].tolist() == [630] and newest > last
    for bad in (-1, True, 1.5):
        with pytest.raises(ParameterError):
            populated.snapshots_after(bad)  # type: ignore[arg-type]


def test_model_weights_are_recorded_with_the_scores_they_price(populated: GraphStore) -> None:
    assert populated.model_weights() == {}
    populated.write_scores(score_rows("ann", NOW, 600, "m1"))  # no weights given: nothing recorded
    assert populated.model_weights() == {}
    populated.write_scores(score_rows("ann", NOW + 1, 610, "m1"), model_weights=MODEL_A)
    populated.write_scores(score_rows("bob", NOW + 2, 620, "m1"), model_weights=dict(MODEL_A))  # same again
    populated.write_scores(score_rows("cy", NOW + 3, 630, "m2"), model_weights=MODEL_B)
    assert populated.model_weights() == {"m1": MODEL_A, "m2": MODEL_B}
    before = dump(populated)
    # A changed model under an old version is refused, and the snapshots with it.
    with pytest.raises(ConflictError) as info:
        populated.write_scores(score_rows("ann", NOW + 4, 640, "m1"), model_weights=MODEL_B)
    assert "'m1'" in str(info.value)
    for bad in (
        {"credit_history": 1.0},
        {**MODEL_A, "identity": -0.1},
        {**MODEL_A, "identity": float("nan")},
    ):
        with pytest.raises(ParameterError):
            populated.write_scores(score_rows("ann", NOW + 5, 650, "m3"), model_weights=bad)
    assert dump(populated) == before
    assert populated.model_weights() == {"m1": MODEL_A, "m2": MODEL_B}
    populated.clear()
    assert populated.model_weights() == {}


def test_export_graph(populated: GraphStore) -> None:
    populated.flag_user("cy", analyst="ana", reason="x", at=NOW)
    snap = populated.export_graph()
    assert snap.n_users == 4 and snap.n_links == 3
    idx = dict(zip(snap.ids.tolist(), range(4), strict=True))
    dense = snap.adjacency.toarray()
    assert np.array_equal(dense, dense.T)
    assert dense[idx["ann"], idx["bob"]] == 2.0
    assert dense[idx["cy"], idx["ann"]] == 0.5
    assert dense[idx["dee"]].sum() == 0
    assert snap.quarantined.tolist() == [i == "cy" for i in snap.ids]
    assert snap.users["id"].tolist() == snap.ids.tolist()
    assert snap.users.set_index("id").loc["ann", "declared_income"] == 1000.0
    assert snap.index_of(["dee", "nobody"]).tolist() == [idx["dee"], -1]


def test_load_refers_to_stored_users(populated: GraphStore) -> None:
    populated.load(parse_dataset(users=users("eve"), links=links(("eve", "dee", 1.0)), now=NOW))
    assert populated.neighbors("dee")["user"].tolist() == ["eve"]


BAD_LOADS = {
    "unknown user in link": dict(users=users("eve"), links=links(("eve", "nobody", 1.0))),
    "self link": dict(users=users("eve"), links=links(("eve", "eve", 1.0))),
    "duplicate link": dict(users=users("eve"), links=links(("eve", "ann", 1.0), ("ann", "eve", 2.0))),
    "negative weight": dict(users=users("eve"), links=links(("eve", "ann", -1.0))),
    "negative amount": dict(
        users=users("eve"),
        repayments=pd.DataFrame(
            {
                "id": ["r9"],
                "user": ["eve"],
                "due": [NOW - 10],
                "paid": [NOW - 10],
                "amount": [-5.0],
                "status": ["on_time"],
            }
        ),
    ),
    "impossible date": dict(users=pd.DataFrame({"id": ["eve"], "created": ["2023-02-30"]})),
    "future date": dict(users=pd.DataFrame({"id": ["eve"], "created": [NOW + 10**7]})),
    "wrong type": dict(users=users("eve"), links=links(("eve", "ann", "heavy"))),  # type: ignore[arg-type]
    "malformed row": dict(users=pd.DataFrame({"id": ["eve", None], "created": [NOW, NOW]})),
    "unknown event user": dict(
        spending=pd.DataFrame(
            {"id": ["s9"], "user": ["nobody"], "at": [NOW], "amount": [1.0], "category": ["purchase"]}
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LOADS))
def test_bad_load_changes_nothing(populated: GraphStore, case: str) -> None:
    before = dump(populated)
    with pytest.raises(ValidationError) as info:
        populated.load(parse_dataset(**BAD_LOADS[case], now=NOW))
    assert info.value.row is not None
    assert dump(populated) == before


def test_unknown_reference_names_row(populated: GraphStore) -> None:
    with pytest.raises(UnknownReferenceError) as info:
        populated.upsert_links(links(("ann", "dee", 1.0), ("dee", "nobody", 1.0)))
    err = info.value
    assert (err.entity, err.row, err.column, err.value) == ("link", 2, "target", "nobody")


def test_clear(populated: GraphStore) -> None:
    assert populated.stats().distrust == len(DISTRUST)
    populated.clear()
    assert all(v == 0 for v in populated.stats().as_dict().values())
    assert populated.distrust().empty
    assert populated.export_graph().distrust.shape == (0, 0)


# --------------------------------------------------------------------------- distrust


def distrust_matrix(frame: pd.DataFrame, ids: list[str]) -> sp.csr_matrix:
    """The export's distrust matrix built independently from a distrust frame, with scipy."""
    position = {user: k for k, user in enumerate(ids)}
    rows = [position[user] for user in frame["rater"]]
    cols = [position[user] for user in frame["rated"]]
    return sp.csr_matrix((frame["weight"].to_numpy(dtype=float), (rows, cols)), shape=(len(ids), len(ids)))


def same_matrix(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return a.shape == b.shape and (a != b).nnz == 0


def test_distrust_round_trip_through_load_read_and_export(populated: GraphStore) -> None:
    stored = populated.distrust()
    assert list(stored.columns) == ["rater", "rated", "weight", "created"]
    assert stored.dtypes.astype(str).tolist() == ["string", "string", "float64", "int64"]
    assert [tuple(row) for row in stored.itertuples(index=False)] == sorted(DISTRUST)
    assert populated.stats().distrust == 3
    # one user's distrust: what they give and what they receive, sorted by rater, rated
    assert [tuple(row) for row in populated.distrust("ann").itertuples(index=False)] == [
        ("ann", "dee", 1.0, NOW - 40),
        ("dee", "ann", 4.0, NOW - 20),
    ]
    assert populated.distrust("cy")["rater"].tolist() == ["bob"]
    with pytest.raises(NotFoundError):
        populated.distrust("zed")
    # distrust is not friendship: the friend graph is unchanged by it
    assert populated.neighbors("dee").empty
    snap = populated.export_graph()
    assert snap.n_links == 3 and snap.n_distrust == 3
    assert snap.distrust.has_sorted_indices
    assert same_matrix(snap.distrust, distrust_matrix(stored, snap.ids.tolist()))
    idx = dict(zip(snap.ids.tolist(), range(4), strict=True))
    assert snap.distrust[idx["dee"], idx["ann"]] == 4.0
    assert snap.distrust[idx["ann"], idx["dee"]] == 1.0  # directed: both ways are separate entries
    assert snap.distrust[idx["cy"], idx["bob"]] == 0.0


def test_upsert_distrust_adds_and_a_repeated_pair_replaces(populated: GraphStore) -> None:
    report = populated.upsert_distrust(distrust(("cy", "bob", 2.5, NOW - 5), ("dee", "ann", 7.0, NOW - 1)))
    assert report.written["distrust"] == 2
    stored = populated.distrust()
    assert populated.stats().distrust == 4  # one new pair (cy -> bob), one replaced (dee -> ann)
    by_pair = {(r.rater, r.rated): (r.weight, r.created) for r in stored.itertuples(index=False)}
    assert by_pair[("dee", "ann")] == (7.0, NOW - 1)  # weight and time both replaced
    assert by_pair[("cy", "bob")] == (2.5, NOW - 5)
    assert by_pair[("bob", "cy")] == (10.0, NOW - 30)  # the other direction is another pair
    # an earlier rating replaces too: the last write wins, not the latest time
    populated.upsert_distrust(distrust(("dee", "ann", 1.5, NOW - 100)))
    assert populated.distrust("dee").set_index("rater").loc["dee", "weight"] == 1.5
    # the same write again changes nothing
    before = dump(populated)
    populated.upsert_distrust(distrust(("dee", "ann", 1.5, NOW - 100)))
    assert dump(populated) == before
    snap = populated.export_graph()
    assert same_matrix(snap.distrust, distrust_matrix(populated.distrust(), snap.ids.tolist()))


def test_distrust_of_new_users_in_one_load(store: GraphStore) -> None:
    """Users only in distrust (no links) are stored with their distrust, in one load."""
    store.load(
        parse_dataset(
            users=users("a", "b", "c"),
            distrust=distrust(("a", "b", 3.0, NOW - 10), ("c", "b", 9.0, NOW - 9)),
            now=NOW,
        )
    )
    assert store.stats().links == 0 and store.stats().distrust == 2
    assert store.distrust("b")["rater"].tolist() == ["a", "c"]
    snap = store.export_graph()
    assert snap.adjacency.nnz == 0
    assert same_matrix(snap.distrust, distrust_matrix(store.distrust(), snap.ids.tolist()))


BAD_DISTRUST = {
    "self-rating": (distrust(("ann", "bob", 2.0, NOW), ("cy", "cy", 2.0, NOW)), 2, "rated"),
    "zero weight": (distrust(("ann", "bob", 0.0, NOW)), 1, "weight"),
    "negative weight": (distrust(("ann", "bob", 2.0, NOW), ("ann", "cy", -3.0, NOW)), 2, "weight"),
    "NaN weight": (distrust(("ann", "bob", float("nan"), NOW)), 1, "weight"),
    "infinite weight": (distrust(("ann", "bob", float("inf"), NOW)), 1, "weight"),
    "text weight": (distrust(("ann", "bob", "strong", NOW)), 1, "weight"),  # type: ignore[arg-type]
    "unknown rater": (distrust(("ann", "bob", 1.0, NOW), ("nobody", "bob", 1.0, NOW)), 2, "rater"),
    "unknown rated": (distrust(("ann", "nobody", 1.0, NOW)), 1, "rated"),
    "bad time": (distrust(("ann", "bob", 1.0, "yesterday")), 1, "created"),  # type: ignore[arg-type]
    "impossible date": (distrust(("ann", "bob", 1.0, "2023-02-30")), 1, "created"),  # type: ignore[arg-type]
    "future time": (distrust(("ann", "bob", 1.0, NOW + 10**10)), 1, "created"),
    "before 1970": (distrust(("ann", "bob", 1.0, -5)), 1, "created"),
    "missing rated": (distrust(("ann", None, 1.0, NOW)), 1, "rated"),  # type: ignore[arg-type]
    "repeated pair": (distrust(("ann", "bob", 1.0, NOW), ("ann", "bob", 2.0, NOW)), 2, "rated"),
}


@pytest.mark.parametrize("case", sorted(BAD_DISTRUST))
@pytest.mark.parametrize("how", ["upsert", "load"])
def test_bad_distrust_changes_nothing(populated: GraphStore, case: str, how: str) -> None:
    frame, row, column = BAD_DISTRUST[case]
    before = dump(populated)

    def write() -> None:
        if how == "upsert":
            populated.upsert_distrust(frame)
        else:  # beside valid users and links: the whole load is refused
            populated.load(
                parse_dataset(users=users("eve"), links=links(("eve", "ann", 1.0)), distrust=frame, now=NOW)
            )

    with pytest.raises(ValidationError) as info:
        write()
    err = info.value
    assert (err.entity, err.row, err.column) == ("distrust", row, column)
    assert isinstance(err, UnknownReferenceError) == case.startswith("unknown")
    assert dump(populated) == before


def test_distrust_rolls_back_with_a_failing_unit(populated: GraphStore) -> None:
    before = dump(populated)

    def body() -> None:
        populated.upsert_users(users("eve"))
        populated.upsert_distrust(distrust(("eve", "ann", 5.0, NOW), ("dee", "ann", 9.0, NOW)))
        assert populated.stats().distrust == 4  # this thread sees its own writes
        assert populated.export_graph().n_distrust == 4

    with pytest.raises(Abort):
        failing_unit(populated, body)
    assert dump(populated) == before


def test_generated_population_round_trip(store: GraphStore) -> None:
    from credence.seeds.synthetic import generate_population

    pop = generate_population(n_users=600, sybils_per_region=60, rings=3, seed=7)
    report = store.load(
        parse_dataset(users=pop.users, links=pop.links, repayments=pop.repayments, spending=pop.spending)
    )
    assert report.written["links"] == len(pop.links)
    snap = store.export_graph()
    assert snap.n_users == 600 and snap.n_links == len(pop.links)
    # Independent check: degree sums from the generator's frame.
    idx = pd.Series(np.arange(600), index=snap.ids)
    expected = np.zeros(600)
    np.add.at(expected, idx[pop.links["source"]].to_numpy(), pop.links["weight"].to_numpy())
    np.add.at(expected, idx[pop.links["target"]].to_numpy(), pop.links["weight"].to_numpy())
    assert np.allclose(np.asarray(snap.adjacency.sum(axis=1)).ravel(), expected)
    assert store.stats().repayments == len(pop.repayments)
    assert len(store.spending()) == len(pop.spending)


def test_bulk_reads(populated: GraphStore) -> None:
    everyone = populated.get_all_users()
    assert everyone["id"].tolist() == ["ann", "bob", "cy", "dee"]
    assert list(everyone.columns) == list(populated.get_users(["ann"]).columns)
    assert plain(populated.links()) == {
        "source": ["ann", "ann", "bob"],
        "target": ["bob", "cy", "cy"],
        "weight": [2.0, 0.5, 1.0],
        "created": [NOW - 10] * 3,
    }


def test_bulk_paths_give_the_same_store(store: GraphStore, tmp_path: Any) -> None:
    """The bulk fast paths (index rebuilds, node-id addressing, CREATE into empty
    labels) and the incremental upsert path must leave identical stores."""
    from credence.graph.sqlite import SQLiteStore
    from credence.seeds.synthetic import generate_population

    pop = generate_population(n_users=500, sybils_per_region=40, rings=2, seed=3)
    frames = dict(users=pop.users, links=pop.links, repayments=pop.repayments, spending=pop.spending)
    for attribute in (
        "reindex_threshold",
        "node_id_threshold",
        "single_transaction_rows",
        "bulk_read_threshold",
    ):
        if hasattr(store, attribute):
            setattr(store, attribute, 1)  # force every bulk path, even on small data
    store.load(parse_dataset(**frames))
    half = len(pop.links) // 2
    with SQLiteStore(tmp_path / "reference.db") as reference:
        reference.reindex_threshold = 10**9  # the plain, row-by-row path
        reference.bulk_read_threshold = 10**9  # in-process reads
        reference.load(parse_dataset(users=pop.users, links=pop.links.iloc[:half]))
        reference.load(
            parse_dataset(links=pop.links.iloc[half:], repayments=pop.repayments, spending=pop.spending)
        )
        assert dump(store) == dump(reference)


@pytest.mark.slow
def test_writes_after_a_bulk_export_are_seen_by_the_next_export(store: GraphStore) -> None:
    """Regression: the Arrow export once ran ADBC's own SQLite copy in-process, which broke
    the store's locks (later reads were stale or failed with 'disk I/O error')."""
    if hasattr(store, "bulk_read_threshold"):
        store.bulk_read_threshold = 1
    store.load(parse_dataset(users=pd.DataFrame({"id": ["ann", "bob"], "created": [NOW, NOW]})))
    assert store.export_graph().n_users == 2
    store.upsert_users(pd.DataFrame({"id": ["cy"], "created": [NOW]}))
    store.upsert_links(pd.DataFrame({"source": ["ann"], "target": ["cy"], "weight": [1.0], "created": [NOW]}))
    exported = store.export_graph()
    assert exported.ids.tolist() == ["ann", "bob", "cy"]
    assert exported.n_links == 1
    assert store.get_all_users()["id"].tolist() == ["ann", "bob", "cy"]
    assert len(store.links()) == 1


# -- audit log ------------------------------------------------------------------


def whole_log(store: GraphStore) -> list[AuditEntry]:
    return store.audit_log(first=10_000)


def reopen(store: GraphStore) -> GraphStore:
    """A second, independent connection to the same store (another writer)."""
    from credence.graph.neo4j_store import Neo4jStore
    from credence.graph.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    assert isinstance(store, Neo4jStore)
    return Neo4jStore(store.uri, database=store.database)


def test_audit_record_and_read_back(store: GraphStore) -> None:
    assert store.record_audit([]) == []
    assert whole_log(store) == []
    drafts = [
        AuditDraft(
            actor=" ana ",
            role="analyst",
            action="read:network.contributors",
            subject=" ann ",
            detail="  first look ",
            at=NOW,
        ),
        AuditDraft(
            actor="ana",
            role="analyst",
            action="read:network.neighbours",
            subject="nobody-stored",
            at=np.int64(NOW + 1),  # type: ignore[arg-type]  # numpy ints are accepted too
        ),
        AuditDraft(actor="root", role="admin", action="read:audit", at=0),
    ]
    recorded = store.record_audit(drafts)
    # Stripped text; subject None stays None; detail defaults to ""; the subject need not exist.
    expected = [
        ("ana", "analyst", "read:network.contributors", "ann", "first look", NOW),
        ("ana", "analyst", "read:network.neighbours", "nobody-stored", "", NOW + 1),
        ("root", "admin", "read:audit", None, "", 0),
    ]
    assert [(e.actor, e.role, e.action, e.subject, e.detail, e.at) for e in recorded] == expected
    assert all(type(e.at) is int and type(e.id) is int for e in recorded)
    ids = [e.id for e in recorded]
    assert ids == sorted(set(ids)) and ids[0] >= 1
    assert whole_log(store) == recorded
    # A later batch gets larger ids; a missing ``at`` is the clock at the time of writing.
    before = epoch_now()
    (later,) = store.record_audit([AuditDraft(actor="bo", role="analyst", action="read:x")])
    assert before <= later.at <= epoch_now()
    assert later.id > ids[-1]
    assert whole_log(store) == [*recorded, later]
    assert store.stats().users == 0  # the log is not linked to users


def test_audit_paging_covers_every_entry_once(store: GraphStore) -> None:
    recorded: list[AuditEntry] = []
    for size in (1, 5, 17):  # 23 entries in three transactions
        recorded += store.record_audit(
            [
                AuditDraft(actor="ana", role="analyst", action=f"read:{size}.{i}", at=NOW + i)
                for i in range(size)
            ]
        )
    assert len(recorded) == 23
    pages: list[list[AuditEntry]] = []
    after = None
    while True:
        page = store.audit_log(first=5, after=after)
        if not page:
            break
        pages.append(page)
        after = page[-1].id
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]  # 23 = 4 * 5 + 3
    assert [e for p in pages for e in p] == recorded
    # ``after`` is exclusive and need not be an id that exists.
    assert store.audit_log(first=2, after=recorded[9].id) == recorded[10:12]
    assert store.audit_log(after=recorded[-1].id) == []
    assert store.audit_log(after=recorded[-1].id + 1000) == []
    assert store.audit_log(first=1) == recorded[:1]
    assert store.audit_log() == recorded  # default page of 100 holds all 23


def test_audit_filters(store: GraphStore) -> None:
    drafts = [
        AuditDraft(actor=actor, role="analyst", action=action, subject=subject, at=NOW + k)
        for k, (actor, subject, action) in enumerate(
            (actor, subject, action)
            for actor in ("ana", "bo")
            for subject in ("ann", "bob", None)
            for action in ("read:a", "read:b")
        )
    ]
    recorded = store.record_audit(drafts)
    assert len(recorded) == 12
    cases: list[dict[str, str]] = [
        {"actor": "ana"},
        {"actor": "bo"},
        {"subject": "ann"},
        {"subject": "bob"},
        {"action": "read:b"},
        {"actor": "bo", "subject": "ann"},
        {"actor": "ana", "subject": "bob", "action": "read:a"},
        {"actor": " ana ", "subject": " ann "},  # filters are stripped like the stored text
        {"actor": "nobody"},
        {"subject": "zed"},
    ]
    for filters in cases:
        want = {k: v.strip() for k, v in filters.items()}
        expected = [e for e in recorded if all(getattr(e, k) == v for k, v in want.items())]
        assert store.audit_log(**filters) == expected, filters  # type: ignore[arg-type]
    # Hand counts: 12 = 2 actors x 3 subjects x 2 actions.
    assert len(store.audit_log(actor="ana")) == 6
    assert len(store.audit_log(subject="ann")) == 4
    assert len(store.audit_log(actor="bo", subject="bob", action="read:b")) == 1
    # Filtered keyset paging: two entries at a time through bo's six.
    seen: list[AuditEntry] = []
    after = None
    while page := store.audit_log(first=2, after=after, actor="bo"):
        seen += page
        after = page[-1].id
    assert seen == [e for e in recorded if e.actor == "bo"]


def test_audit_paging_backward_covers_every_entry_once(store: GraphStore) -> None:
    recorded: list[AuditEntry] = []
    for size in (4, 19):  # 23 entries in two transactions
        recorded += store.record_audit(
            [AuditDraft(actor="ana" if i % 3 else "bo", role="analyst", action=f"read:{size}.{i}", at=NOW + i)
             for i in range(size)]
        )  # fmt: skip
    ids = [e.id for e in recorded]
    # Backward from the end, five at a time: each page is the five entries just before the
    # previous page's first, returned oldest first; together the log exactly once.
    pages: list[list[AuditEntry]] = []
    before = None
    while page := store.audit_log(last=5, before=before):
        assert [e.id for e in page] == sorted(e.id for e in page)
        pages.append(page)
        before = page[0].id
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [e for p in reversed(pages) for e in p] == recorded
    # The same page boundaries as forward paging from the other end, reversed.
    forward = [store.audit_log(first=3, after=None)]
    while page := store.audit_log(first=5, after=forward[-1][-1].id):
        forward.append(page)
    assert forward == list(reversed(pages))
    # ``before`` is exclusive and need not exist; the window (after, before) is sliced from either end.
    assert store.audit_log(last=2, before=ids[10]) == recorded[8:10]
    assert store.audit_log(last=100, before=ids[-1] + 1000) == recorded
    assert store.audit_log(last=3, before=ids[0]) == [] == store.audit_log(before=0)
    assert store.audit_log(first=2, after=ids[3], before=ids[9]) == recorded[4:6]
    assert store.audit_log(last=2, after=ids[3], before=ids[9]) == recorded[7:9]
    assert store.audit_log(last=50, after=ids[3], before=ids[9]) == recorded[4:9]
    assert store.audit_log(after=ids[9], before=ids[3]) == [] == store.audit_log(after=ids[5], before=ids[6])
    assert store.audit_log(before=ids[5]) == recorded[:5]  # the default page is still the oldest
    assert store.audit_log(last=1) == recorded[-1:]
    # Filtered backward paging: two entries at a time through bo's.
    seen: list[AuditEntry] = []
    before = None
    while page := store.audit_log(last=2, before=before, actor="bo"):
        seen = page + seen
        before = page[0].id
    assert seen == [e for e in recorded if e.actor == "bo"] and len(seen) == 2 + 7
    with pytest.raises(ParameterError) as info:
        store.audit_log(first=2, last=2)
    assert info.value.name == "last"


def _good(**changes: Any) -> AuditDraft:
    fields: dict[str, Any] = dict(actor="ana", role="analyst", action="read:x", subject="ann", at=NOW)
    return AuditDraft(**{**fields, **changes})


BAD_AUDITS: dict[str, tuple[AuditDraft | Any, str | None, Any]] = {
    # case: (the bad second entry, the column named, the value named)
    "empty actor": (_good(actor=""), "actor", ""),
    "blank role": (_good(role="   "), "role", "   "),
    "missing action": (_good(action=None), "action", None),
    "empty subject": (_good(subject=""), "subject", ""),
    "non-string subject": (_good(subject=42), "subject", 42),
    "too long subject": (_good(subject="u" * 129), "subject", "u" * 129),
    "negative at": (_good(at=-1), "at", -1),
    "float at": (_good(at=1.5), "at", 1.5),
    "bool at": (_good(at=True), "at", True),
    "huge at": (_good(at=2**63), "at", 2**63),
    "too long actor": (_good(actor="a" * 201), "actor", "a" * 40),
    "non-string detail": (_good(detail=None), "detail", None),
    "not a draft": ({"actor": "ana"}, None, "dict"),
}


@pytest.mark.parametrize("case", sorted(BAD_AUDITS))
def test_bad_audit_entry_changes_nothing(store: GraphStore, case: str) -> None:
    store.record_audit([_good(detail="already there")])
    before = whole_log(store)
    bad, column, value = BAD_AUDITS[case]
    with pytest.raises(ValidationError) as info:
        store.record_audit([_good(detail="would be written"), bad])  # valid entry first
    err = info.value
    assert (err.entity, err.row, err.column, err.value) == ("audit", 2, column, value)
    assert whole_log(store) == before
    (nxt,) = store.record_audit([_good()])  # the store still takes writes afterwards
    assert whole_log(store) == [*before, nxt] and nxt.id > before[-1].id


BAD_AUDIT_QUERIES: dict[str, dict[str, Any]] = {
    "first=0": {"first": 0},
    "first negative": {"first": -3},
    "first too big": {"first": 10_001},
    "first not int": {"first": 2.0},
    "first bool": {"first": True},
    "after negative": {"after": -1},
    "after string": {"after": "5"},
    "last=0": {"last": 0},
    "last too big": {"last": 10_001},
    "last bool": {"last": True},
    "before negative": {"before": -1},
    "before string": {"before": "5"},
    "before too big": {"before": 2**63},
    "empty actor": {"actor": ""},
    "blank subject": {"subject": "  "},
    "non-string action": {"action": 7},
}


@pytest.mark.parametrize("case", sorted(BAD_AUDIT_QUERIES))
def test_bad_audit_query_is_a_parameter_error(store: GraphStore, case: str) -> None:
    store.record_audit([_good()])
    before = whole_log(store)
    params = BAD_AUDIT_QUERIES[case]
    with pytest.raises(ParameterError) as info:
        store.audit_log(**params)
    ((name, value),) = params.items()
    assert (info.value.name, info.value.value) == (name, value)
    assert whole_log(store) == before
    assert len(store.audit_log(first=10_000)) == len(store.audit_log(first=1)) == 1  # bounds are inclusive


def test_bad_audit_batch_argument(store: GraphStore) -> None:
    with pytest.raises(ParameterError):
        store.record_audit(_good())  # type: ignore[arg-type]  # one draft, not a sequence
    assert whole_log(store) == []


def test_audit_log_is_separate_from_the_graph(populated: GraphStore) -> None:
    graph_before = dump(populated)
    (entry,) = populated.record_audit([_good(subject="ann")])
    assert dump(populated) == graph_before  # recording touches no user, link or event
    populated.upsert_users(users("ann", declared_income=[1.0]))
    populated.flag_user("ann", analyst="ana", reason="x", at=NOW)
    assert whole_log(populated) == [entry]  # and user changes do not touch the log


def test_clear_empties_audit_log_without_reusing_ids(store: GraphStore) -> None:
    old = store.record_audit([_good(), _good(subject=None)])
    store.clear()
    assert whole_log(store) == []
    (new,) = store.record_audit([_good()])
    assert new.id > old[-1].id
    assert whole_log(store) == [new]


def test_concurrent_audit_writers_get_distinct_ids(store: GraphStore) -> None:
    """Two connections recording at once: every entry lands once, each with its own id."""
    other = reopen(store)
    results: dict[str, list[AuditEntry]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def write(writer: GraphStore, name: str) -> None:
        try:
            for k in range(15):
                results[name] += writer.record_audit([_good(actor=name, detail=f"{k}.{i}") for i in range(4)])
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for s, n in ((store, "a"), (other, "b"))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    assert errors == []
    everything = results["a"] + results["b"]
    assert len(everything) == 2 * 15 * 4
    assert len({e.id for e in everything}) == len(everything)
    for name in ("a", "b"):  # each writer saw its own ids increase
        ids = [e.id for e in results[name]]
        assert ids == sorted(ids)
    assert whole_log(store) == sorted(everything, key=lambda e: e.id)


# -- units of work ----------------------------------------------------------------


def elsewhere(function: Any) -> Any:
    """Run ``function`` on another thread (which has no unit of work open) and return its result."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:  # re-raised on the calling thread
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


class Abort(Exception):
    """Raised at the end of a unit of work to make it roll back."""


def failing_unit(store: GraphStore, body: Any) -> None:
    """Run ``body()`` in a unit of work, then raise Abort (so the unit rolls back)."""
    with store.transaction():
        body()
        raise Abort


def every_kind_of_write(store: GraphStore, tag: str = "") -> None:
    """One call of every write method, on the populated store's users."""
    store.upsert_users(users(f"eve{tag}", f"fay{tag}"))
    store.upsert_links(links((f"eve{tag}", "ann", 3.0), ("bob", "dee", 1.5)))
    store.add_repayments(
        pd.DataFrame(
            {
                "id": [f"r9{tag}"],
                "user": [f"eve{tag}"],
                "due": [NOW - 100],
                "paid": [NOW - 100],
                "amount": [5.0],
                "status": ["on_time"],
            }
        )
    )
    store.add_spending(
        pd.DataFrame(
            {
                "id": [f"s9{tag}"],
                "user": ["dee"],
                "at": [NOW - 100],
                "amount": [1.0],
                "category": ["purchase"],
                "on_time": [None],
            }
        )
    )
    assert store.remove_link("cy", "ann") is True
    store.set_consent("bob", False)
    store.flag_user("cy", analyst="ana", reason="ring", at=NOW)
    store.unflag_user("cy", analyst="lead", reason="cleared", at=NOW + 1)
    store.flag_user("dee", analyst="ana", reason="ring", at=NOW + 2)
    store.write_scores(score_rows("ann", NOW, 600), model_weights=MODEL_A)
    store.upsert_distrust(distrust((f"eve{tag}", "dee", 6.0, NOW - 3), ("dee", "ann", 8.0, NOW - 2)))
    store.record_audit([_good(detail=f"unit{tag}")])
    store.record_recompute(NOW, 0.5, "m1")


def everything(store: GraphStore) -> dict[str, Any]:
    return {
        **dump(store),
        "audit": [(e.actor, e.action, e.detail) for e in whole_log(store)],
        "recompute": store.latest_recompute(),
        "flags": [(f.reason, f.active) for f in store.flags("cy")],
    }


def test_a_unit_of_work_commits_every_write_at_once(populated: GraphStore) -> None:
    before = everything(populated)
    with populated.transaction() as unit:
        assert unit is populated
        every_kind_of_write(populated)
        # This thread sees its own writes; another thread sees none of them yet.
        assert populated.stats().users == 6
        assert populated.neighbors("eve")["user"].tolist() == ["ann"]
        assert populated.quarantined().tolist() == ["dee"]
        assert populated.latest_recompute() is not None
        assert whole_log(populated)[-1].detail == "unit"
        assert populated.export_graph().n_users == 6
        assert populated.has_users(["eve", "zed"]).tolist() == [True, False]
        assert elsewhere(lambda: everything(populated)) == before
    after = everything(populated)
    assert after != before
    assert elsewhere(lambda: everything(populated)) == after
    assert after["stats"]["users"] == 6 and after["stats"]["quarantined"] == 1
    assert after["recompute"] == RecomputeRecord(computed_at=NOW, prior=0.5, model_version="m1")
    assert populated.get_user("bob").consent_network is False
    assert populated.model_weights() == {"m1": MODEL_A}


def test_a_unit_of_work_that_raises_leaves_nothing(populated: GraphStore) -> None:
    populated.record_recompute(NOW - 60, 0.4, "m0")
    before = everything(populated)

    def body() -> None:
        every_kind_of_write(populated)
        populated.clear()  # even a clear() inside is undone
        assert populated.stats().users == 0

    with pytest.raises(Abort):
        failing_unit(populated, body)
    assert everything(populated) == before
    # The store is fine afterwards: the same writes in a unit that succeeds.
    with populated.transaction():
        every_kind_of_write(populated)
    assert everything(populated)["stats"]["users"] == 6


def test_writes_inside_a_unit_never_commit_early(populated: GraphStore) -> None:
    before = everything(populated)

    def body() -> None:
        populated.upsert_users(users("eve"))
        assert elsewhere(lambda: populated.has_users(["eve"]).tolist()) == [False]
        with populated.transaction():  # nested: a savepoint, no commit
            populated.record_audit([_good(detail="inner")])
            with populated.savepoint():
                populated.record_recompute(NOW, 0.5, "m1")
        assert elsewhere(lambda: len(whole_log(populated))) == 0
        assert elsewhere(populated.latest_recompute) is None
        assert [e.detail for e in whole_log(populated)] == ["inner"]

    with pytest.raises(Abort):
        failing_unit(populated, body)
    assert everything(populated) == before


def test_big_loads_inside_a_unit_are_one_transaction(store: GraphStore) -> None:
    for attribute in ("single_transaction_rows", "reindex_threshold", "node_id_threshold"):
        if hasattr(store, attribute):
            setattr(store, attribute, 1)  # the batch-commit and bulk paths, on small data

    def body() -> None:
        store.load(parse_dataset(users=users("a", "b", "c"), links=links(("a", "b", 1.0), ("b", "c", 1.0))))
        assert store.stats().links == 2

    with pytest.raises(Abort):
        failing_unit(store, body)
    assert store.stats().as_dict() == {k: 0 for k in store.stats().as_dict()}


#: A write refused for its input inside a unit: (call, error). Each leaves the unit usable.
REFUSED_WRITES: dict[str, tuple[Any, type[Exception]]] = {
    "bad user row": (lambda s: s.upsert_users(users("zz", created=[-5])), ValidationError),
    "unknown link user": (lambda s: s.upsert_links(links(("ann", "nobody", 1.0))), UnknownReferenceError),
    "remove unknown": (lambda s: s.remove_link("ann", "nobody"), NotFoundError),
    "consent unknown": (lambda s: s.set_consent("nobody", True), NotFoundError),
    "consent without actor": (lambda s: s.set_consent("bob", False, actor=""), ValidationError),
    "flag twice": (lambda s: s.flag_user("bob", analyst="ana", reason="again"), ConflictError),
    "unflag unflagged": (lambda s: s.unflag_user("cy", analyst="ana", reason="x"), ConflictError),
    # m0 is new, m1 conflicts: nothing of the batch may be written, m0's weights neither.
    "changed model": (
        lambda s: s.write_scores(
            pd.concat([score_rows("ann", NOW, 600, "m0"), score_rows("ann", NOW, 600, "m1")]),
            model_weights=MODEL_B,
        ),
        ConflictError,
    ),
    "bad audit": (lambda s: s.record_audit([_good(), _good(actor="")]), ValidationError),
    "bad distrust row": (
        lambda s: s.upsert_distrust(distrust(("ann", "bob", 1.0, NOW), ("bob", "bob", 1.0, NOW))),
        ValidationError,
    ),
    "unknown distrust user": (
        lambda s: s.upsert_distrust(distrust(("ann", "bob", 1.0, NOW), ("ann", "nobody", 1.0, NOW))),
        UnknownReferenceError,
    ),
    "bad recompute": (lambda s: s.record_recompute(NOW, 1.5, "m1"), ValidationError),
}


@pytest.mark.parametrize("case", sorted(REFUSED_WRITES))
def test_a_refused_write_inside_a_unit_leaves_the_rest_to_commit(populated: GraphStore, case: str) -> None:
    """Both stores: every write method checks its input before its first write (Neo4j has
    no savepoints), so a refusal changes nothing and the unit still commits the rest."""
    populated.flag_user("bob", analyst="ana", reason="ring", at=NOW)
    populated.write_scores(score_rows("bob", NOW, 500, "m1"), model_weights=MODEL_A)
    call, error = REFUSED_WRITES[case]
    with populated.transaction():
        populated.upsert_users(users("eve"))
        before = everything(populated)
        with pytest.raises(error):
            call(populated)
        assert everything(populated) == before
        populated.record_audit([_good(detail="after the refusal")])
    assert populated.has_users(["eve"]).tolist() == [True]
    assert [e.detail for e in whole_log(populated)] == ["after the refusal"]
    assert populated.model_weights() == {"m1": MODEL_A}


def test_a_savepoint_that_fails_after_writing(populated: GraphStore) -> None:
    """SQLite rolls the savepoint back alone; Neo4j (no savepoints) can only roll the unit back."""

    def failing_part() -> None:
        with populated.savepoint():
            populated.upsert_users(users("eve"))
            populated.record_audit([_good(detail="in the savepoint")])
            populated.flag_user("ann", analyst="ana", reason="x", at=NOW)
            populated.flag_user("ann", analyst="ana", reason="twice", at=NOW)  # ConflictError

    before = everything(populated)
    if populated.supports_savepoints:
        with populated.transaction():
            populated.record_audit([_good(detail="kept")])
            with pytest.raises(ConflictError):
                failing_part()
            assert populated.has_users(["eve"]).tolist() == [False]
            populated.upsert_users(users("fay"))
        assert populated.has_users(["eve", "fay"]).tolist() == [False, True]
        assert [e.detail for e in whole_log(populated)] == ["kept"]
        assert populated.quarantined().tolist() == []
    else:

        def doomed_unit() -> None:
            with populated.transaction():
                populated.record_audit([_good(detail="lost")])
                with pytest.raises(ConflictError):
                    failing_part()
                with pytest.raises(StoreError):  # a rollback-only unit takes no more writes
                    populated.upsert_users(users("fay"))

        with pytest.raises(StoreError) as info:
            doomed_unit()
        assert info.value.code == "STORE_UNAVAILABLE"
        assert "rolled back" in str(info.value)
        assert everything(populated) == before


def test_a_savepoint_outside_a_unit_is_a_transaction(populated: GraphStore) -> None:
    before = everything(populated)

    def savepoint_alone() -> None:
        with populated.savepoint():
            populated.upsert_users(users("eve"))
            populated.unflag_user("ann", analyst="ana", reason="never flagged")

    with pytest.raises(ConflictError):
        savepoint_alone()
    assert everything(populated) == before
    with populated.savepoint():
        populated.upsert_users(users("eve"))
    assert populated.has_users(["eve"]).tolist() == [True]


def test_units_on_two_threads_are_separate(populated: GraphStore) -> None:
    """A unit belongs to the thread that opened it: another thread's writes are their own."""
    with pytest.raises(Abort):
        failing_unit(populated, lambda: populated.upsert_users(users("eve")))
    elsewhere(lambda: populated.record_audit([_good(detail="other thread")]))
    with populated.transaction():
        populated.upsert_users(users("fay"))
    assert populated.has_users(["eve", "fay"]).tolist() == [False, True]
    assert [e.detail for e in whole_log(populated)] == ["other thread"]


def test_a_closed_store_refuses_use(store: GraphStore) -> None:
    other = reopen(store)
    other.upsert_users(users("ann"))
    other.close()
    for use in (
        lambda: other.get_user("ann"),
        lambda: other.upsert_users(users("bob")),
        lambda: other.record_audit([_good()]),
        other.stats,
        other.latest_recompute,
    ):
        with pytest.raises(StoreError):
            use()
    with pytest.raises(StoreError), other.transaction():
        pass
    assert store.has_users(["ann", "bob"]).tolist() == [True, False]


# -- the engine's evaluation state ------------------------------------------------------


def test_recompute_records(populated: GraphStore) -> None:
    assert populated.latest_recompute() is None
    first = populated.record_recompute(NOW, 0.52, "m1")
    assert first == RecomputeRecord(computed_at=NOW, prior=0.52, model_version="m1")
    assert populated.latest_recompute() == first
    # The latest is the last recorded, even with an earlier evaluation time.
    second = populated.record_recompute(np.int64(NOW - 10), 1, " m2 ")  # type: ignore[arg-type]
    assert second == RecomputeRecord(computed_at=NOW - 10, prior=1.0, model_version="m2")
    latest = populated.latest_recompute()
    assert latest == second
    assert latest is not None and type(latest.computed_at) is int and type(latest.prior) is float
    with pytest.raises(AttributeError):
        latest.prior = 0.3  # type: ignore[misc]
    for bad in (
        (-1, 0.5, "m"),
        (True, 0.5, "m"),
        (1.5, 0.5, "m"),
        (NOW, -0.1, "m"),
        (NOW, float("nan"), "m"),
        (NOW, "0.5", "m"),
        (NOW, 0.5, " "),
        (NOW, 0.5, None),
    ):
        with pytest.raises(ValidationError) as info:
            populated.record_recompute(*bad)
        assert info.value.entity == "recompute"
    assert populated.latest_recompute() == second
    # A unit of work that fails takes its recompute record with it.

    def body() -> None:
        populated.write_scores(score_rows("ann", NOW + 60, 610, "m3"))
        populated.record_recompute(NOW + 60, 0.6, "m3")
        assert populated.latest_recompute() == RecomputeRecord(
            computed_at=NOW + 60, prior=0.6, model_version="m3"
        )
        assert populated.latest_score_time() == (NOW + 60, "m3")

    with pytest.raises(Abort):
        failing_unit(populated, body)
    assert populated.latest_recompute() == second
    assert populated.latest_score_time() is None
    # Another connection (a restarted server) reads the same state.
    other = reopen(populated)
    try:
        assert other.latest_recompute() == second
    finally:
        other.close()
    populated.clear()
    assert populated.latest_recompute() is None


# --------------------------------------------------------------------------- records (the few rows of one change)

RECORD_REPAYMENTS = [
    {"id": "r2", "user": "ann", "due": NOW - 200_000, "paid": NOW - 100, "amount": 50.0, "status": "late"},
    {"id": "r9", "user": "dee", "due": NOW - 9000, "paid": None, "amount": 7.0, "status": "missed"},
]
RECORD_SPENDING = [
    {"id": "s9", "user": "ann", "at": NOW - 70, "amount": 3.0, "category": "bill", "on_time": False},
    {"id": "s1", "user": "cy", "at": NOW - 100, "amount": 19.5, "category": "purchase", "on_time": None},
]
RECORD_LINKS = [
    {"source": "dee", "target": "ann", "weight": 4.0, "created": NOW - 20},
    {"source": "bob", "target": "ann", "weight": 3.0, "created": NOW - 5},
]


def _by_frames(store: GraphStore) -> None:
    frame = pd.DataFrame(RECORD_REPAYMENTS)
    frame["paid"] = frame["paid"].astype("Int64")
    store.add_repayments(frame)
    spending = pd.DataFrame(RECORD_SPENDING)
    spending["on_time"] = spending["on_time"].astype("boolean")
    store.add_spending(spending)
    store.upsert_links(pd.DataFrame(RECORD_LINKS))


def _by_records(store: GraphStore) -> None:
    from credence.graph.model import link_records, repayment_records, spending_records

    assert store.add_records(repayment_records(RECORD_REPAYMENTS, now=NOW)).written["repayments"] == 2
    store.add_records(spending_records(RECORD_SPENDING, now=NOW))
    store.add_records(link_records(RECORD_LINKS, now=NOW))


def _seen_then_undone(store: GraphStore, write: Any, look: Any) -> Any:
    """What ``look(store)`` sees after ``write(store)`` in a unit of work that is then rolled back."""
    seen = []

    def unit() -> None:
        with store.transaction():
            write(store)
            seen.append(look(store))
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        unit()
    return seen[0]


def test_records_store_what_the_frames_store(populated: GraphStore) -> None:
    # The oracle: the same rows through the frame path (parse_dataset, load), undone after.
    expected = _seen_then_undone(populated, _by_frames, dump)
    before = dump(populated)
    _by_records(populated)
    assert dump(populated) == expected != before


def test_records_naming_an_unknown_user_write_nothing(populated: GraphStore) -> None:
    from credence.graph.model import link_records, repayment_records

    before = dump(populated)
    rows = [RECORD_REPAYMENTS[0], {**RECORD_REPAYMENTS[1], "user": "zed"}]
    with pytest.raises(UnknownReferenceError, match=r"repayment row 2, column 'user' \(value 'zed'\)"):
        populated.add_records(repayment_records(rows, now=NOW))
    with pytest.raises(UnknownReferenceError, match=r"link row 1, column 'target' \(value 'zed'\)"):
        populated.add_records(link_records([{"source": "ann", "target": "zed"}], now=NOW))
    assert dump(populated) == before


def test_events_of_are_each_users_stored_events(populated: GraphStore) -> None:
    from credence.graph.model import Records

    _by_records(populated)
    users = ["cy", "ann", "dee", "bob"]
    repayments, spending = populated.events_of(users)
    expected_r = sum((Records.from_frame("repayments", populated.repayments(u)) for u in users),
                     Records("repayments", ()))  # fmt: skip
    expected_s = sum(
        (Records.from_frame("spending", populated.spending(u)) for u in users), Records("spending", ())
    )
    assert repayments == expected_r and len(repayments) == 4
    assert spending == expected_s and len(spending) == 3
    assert [type(v) for v in spending.rows[-1]] == [str, str, int, float, str, bool]
    with pytest.raises(NotFoundError):
        populated.events_of(["ann", "zed"])


def test_score_records_write_what_a_score_frame_writes(populated: GraphStore) -> None:
    from credence.graph.model import score_records

    scores = np.array([650, 351])
    components = np.array([[0.5, 0.25, 0.75, 1.0, 0.5], [0.0, 0.0, 0.0, 0.0, 0.0]])
    weights = {c: 0.2 for c in COMPONENTS}
    frame = pd.DataFrame({"user": ["ann", "bob"], "model_version": "m1", "computed_at": NOW, "score": scores,
                          **{c: components[:, k] for k, c in enumerate(COMPONENTS)}})  # fmt: skip
    expected = _seen_then_undone(
        populated,
        lambda store: store.write_scores(frame, model_weights=weights),
        lambda store: (dump(store), store.score_history("ann")),
    )
    records = score_records(["ann", "bob"], "m1", NOW, scores, components)
    assert populated.write_score_records(records, model_weights=weights) == 2
    assert dump(populated) == expected[0]
    pd.testing.assert_frame_equal(populated.score_history("ann"), expected[1])
    before = dump(populated)
    with pytest.raises(UnknownReferenceError, match="score row 2"):
        populated.write_score_records(score_records(["ann", "zed"], "m1", NOW, scores, components))
    with pytest.raises(ConflictError):
        populated.write_score_records(records, model_weights={**weights, "identity": 0.3})
    assert dump(populated) == before


def test_event_owners_name_each_stored_events_user(populated: GraphStore) -> None:
    assert populated.event_owners("repayments", ["r1", "r3", "nope", "r1"]) == {"r1": "ann", "r3": "bob"}
    assert populated.event_owners("spending", ["s2", "r1"]) == {"s2": "cy"}
    assert populated.event_owners("repayments", []) == {}
    from credence.core.errors import ParameterError

    with pytest.raises(ParameterError):
        populated.event_owners("flags; DROP TABLE users", ["r1"])


def test_an_event_id_cannot_move_to_another_user(populated: GraphStore) -> None:
    from credence.core.errors import ConflictError
    from credence.engine import ScoringEngine

    engine = ScoringEngine(populated, now=NOW)
    engine.recompute()
    before = dump(populated)
    moved = {"id": ["r3"], "user": ["ann"], "due": [NOW - 5000], "paid": [NOW - 4000], "amount": [20.0],
             "status": ["on_time"]}  # fmt: skip
    with pytest.raises(ConflictError, match="'r3' is stored for user 'bob', not 'ann'"):
        engine.record_repayments(pd.DataFrame(moved))
    assert dump(populated) == before
    # The same id for the same user updates it.
    engine.record_repayments(pd.DataFrame({**moved, "user": ["bob"], "amount": [25.0]}))
    assert populated.repayments("bob").set_index("id").loc["r3", "amount"] == 25.0


def test_erasure_removes_everything_about_a_person_and_keeps_a_tombstone(populated: GraphStore) -> None:
    populated.flag_user("bob", analyst="ana", reason="ring suspect", at=NOW)
    populated.write_scores(score_rows("bob", NOW, 500, "m1"), model_weights=MODEL_A)
    populated.set_consent("bob", False, actor="app", at=NOW)
    populated.record_notices([_notice("bob", NOW)])
    populated.request_review("bob", tier="credit_line", reason="x", requested_by="app", due=NOW)
    populated.open_dispute("bob", kind="repayment", record="r3", detail="{}", adverse=True, reason="x",
                           opened_by="app", due=NOW)  # fmt: skip
    about_bob = populated.open_dispute("cy", kind="link", record="bob", detail='{"other": "bob"}', adverse=True,
                                       reason="who is bob?", opened_by="app", due=NOW)  # fmt: skip
    populated.record_audit(
        [_good(subject="bob", detail="read bob's friends"), _good(subject="ann", detail="keep")]
    )
    populated.upsert_distrust(
        pd.DataFrame({"rater": ["bob", "cy"], "rated": ["cy", "bob"], "weight": [3.0, 2.0]})
    )
    entries_before = len(whole_log(populated))
    other_before = {u: dump_user(populated, u) for u in ("ann", "cy", "dee")}
    pseudonym = populated.erase_user("bob", actor="admin-key")
    assert pseudonym.startswith("erased:") and "bob" not in pseudonym
    assert populated.has_users(["bob"]).tolist() == [False]
    assert populated.is_erased("bob") and not populated.is_erased("ann")
    with pytest.raises(NotFoundError):
        populated.get_user("bob")
    assert "bob" not in set(populated.links()["source"]) | set(populated.links()["target"])
    assert "bob" not in set(populated.repayments()["user"].astype(str))
    assert (
        "bob" not in set(populated.latest_scores()["user"].astype(str))
        and populated.quarantined().tolist() == []
    )
    assert populated.reviews() == []
    assert [(d.id, d.user, d.record, d.detail) for d in populated.disputes()] == [
        (about_bob.id, "cy", pseudonym, "[erased]")
    ]
    distrust = populated.distrust()
    assert len(distrust) and "bob" not in set(distrust["rater"].astype(str)) | set(
        distrust["rated"].astype(str)
    )
    assert populated.stats().distrust == len(distrust)  # no orphan row left behind either
    log = whole_log(populated)
    assert len(log) == entries_before + 1  # entries keep their place; one more says what happened
    assert all(e.subject != "bob" and "bob" not in e.detail for e in log)
    assert [e.action for e in log if e.subject == pseudonym][-1] == "erase"
    assert {u: dump_user(populated, u) for u in ("ann", "cy", "dee")} == {
        u: {**d, "neighbors": [n for n in d["neighbors"] if n != "bob"]} for u, d in other_before.items()
    }
    with pytest.raises(ConflictError, match="erased"):  # the same id cannot come back silently
        populated.upsert_users(users("bob"))
    with pytest.raises(NotFoundError):
        populated.erase_user("bob", actor="admin-key")


def test_an_erasure_in_a_failing_unit_erases_nothing(populated: GraphStore) -> None:
    before = dump(populated)
    log = len(whole_log(populated))
    with pytest.raises(Abort):
        failing_unit(populated, lambda: populated.erase_user("cy", actor="admin-key"))
    assert dump(populated) == before and len(whole_log(populated)) == log and not populated.is_erased("cy")


def dump_user(store: GraphStore, user: str) -> dict[str, Any]:
    return {"user": store.get_user(user), "repayments": plain(store.repayments(user)),
            "neighbors": store.neighbors(user)["user"].astype(str).tolist()}  # fmt: skip
