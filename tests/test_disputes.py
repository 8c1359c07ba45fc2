"""Disputes: a disputed adverse record stops counting while open, resolutions apply, every step is stored.

The expectations come from another path: a fresh engine recomputing from a store that
was loaded without the disputed record (or with its correction), at the same
evaluation time and prior, and a restart that rebuilds memory from the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from credence.core.errors import ConflictError, NotFoundError, ValidationError
from credence.engine import ScoringEngine
from credence.graph.model import repayment_records
from credence.graph.sqlite import SQLiteStore
from credence.scoring.policy import DEFAULT_POLICY_PATH, DisputeRules, read_policy
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, live_population

POPULATION = generate_population(n_users=600, seed=73)
NOW = int(POPULATION.now)
ADVERSE = ("late", "missed", "defaulted")


def _engine(path: Path, dataset: Any, **options: Any) -> ScoringEngine:
    store = SQLiteStore(path)
    store.load(dataset)
    engine = ScoringEngine(store, now=NOW, **options)
    engine.recompute()
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[ScoringEngine]:
    engine = _engine(tmp_path / "disputes.db", POPULATION.dataset())
    yield engine
    engine.store.close()


def _oracle(tmp_path: Path, engine: ScoringEngine, dataset: Any, name: str) -> pd.Series:
    """Every score recomputed from scratch on ``dataset`` at the engine's time and prior."""
    record = engine.store.latest_recompute()
    assert record is not None
    other = SQLiteStore(tmp_path / f"{name}.db")
    other.load(dataset)
    fresh = ScoringEngine(other, now=NOW)
    fresh.recompute(write=False, prior=record.prior)
    scores = fresh.scores().set_index("user")["score"]
    other.close()
    return scores


def _adverse_repayment(engine: ScoringEngine) -> tuple[str, str]:
    """(user, repayment id) of a defaulted (else missed) repayment that is not its payer's first."""
    repayments = engine.store.repayments().sort_values(["user", "due", "id"])
    later = repayments[repayments.duplicated("user", keep="first")]
    for status in ("defaulted", "missed"):
        found = later[later["status"] == status]
        if len(found):
            return str(found["user"].iloc[0]), str(found["id"].iloc[0])
    pytest.fail("no adverse repayment in the population")


def _without(event: str) -> Any:
    return replace(
        POPULATION.dataset(),
        repayments=POPULATION.repayments[POPULATION.repayments["id"].astype(str) != event].reset_index(drop=True),
    )


def test_an_open_dispute_of_an_adverse_repayment_stops_it_counting_and_a_rejection_restores_it(
    engine: ScoringEngine, tmp_path: Path
) -> None:
    user, event = _adverse_repayment(engine)
    before = engine.scores().set_index("user")["score"]
    outcome = engine.open_dispute(user, kind="repayment", record=event, reason="I paid it", opened_by="app")
    dispute = outcome.dispute
    assert dispute.open and dispute.adverse and dispute.due == dispute.opened_at + 30 * 86_400
    assert json.loads(dispute.detail)["status"] in ADVERSE and json.loads(dispute.detail)["id"] == event
    served = engine.scores().set_index("user")["score"]
    expected = _oracle(tmp_path, engine, _without(event), "without")
    assert served[user] == expected[user] and served[user] > before[user]
    assert (served - expected).abs().max() <= 1  # the network around them, within the diffusion's tolerance
    assert {c.user for c in outcome.changes if c.moved} >= {user}
    # Stored, so a restart serves the same and a fresh recompute still leaves the record out.
    restarted = ScoringEngine(engine.store)
    assert restarted.restore() is not None and restarted.score_of(user) == served[user]
    again = ScoringEngine(engine.store, now=NOW)
    again.recompute(write=False, prior=engine.store.latest_recompute().prior)  # type: ignore[union-attr]
    assert again.score_of(user) == served[user]
    with pytest.raises(ConflictError):
        engine.open_dispute(user, kind="repayment", record=event, reason="again", opened_by="app")
    rejected = engine.resolve_dispute(dispute.id, outcome="rejected", resolution="the lender's records show it",
                                      analyst="ana")  # fmt: skip
    assert rejected.dispute.outcome == "rejected" and not rejected.dispute.open
    assert engine.score_of(user) == before[user]
    with pytest.raises(ConflictError):
        engine.resolve_dispute(dispute.id, outcome="upheld", resolution="x", analyst="ana")


def test_upheld_removes_or_corrects_the_record(engine: ScoringEngine, tmp_path: Path) -> None:
    user, event = _adverse_repayment(engine)
    opened = engine.open_dispute(user, kind="repayment", record=event, reason="not mine", opened_by="app").dispute
    removed = engine.resolve_dispute(opened.id, outcome="upheld", resolution="identity theft", analyst="ana")
    assert removed.dispute.removed
    expected = _oracle(tmp_path, engine, _without(event), "removed")
    assert engine.score_of(user) == expected[user]
    fresh = ScoringEngine(engine.store, now=NOW)
    fresh.recompute(write=False, prior=engine.store.latest_recompute().prior)  # type: ignore[union-attr]
    assert fresh.score_of(user) == expected[user]  # removed for good, not only while open

    # Corrected: the event stands with the corrected values.
    other_user, other_event = next(
        (str(u), str(i))
        for u, i in engine.store.repayments()[["user", "id"]].values
        if str(u) != user and engine.store.repayments(str(u)).set_index("id").loc[str(i), "status"] == "missed"
    )
    row = engine.store.repayments(other_user).set_index("id").loc[other_event]
    corrected = repayment_records([{"id": other_event, "user": other_user, "due": int(row["due"]),
                                    "paid": int(row["due"]), "amount": float(row["amount"]), "status": "on_time"}])  # fmt: skip
    second = engine.open_dispute(other_user, kind="repayment", record=other_event, reason="paid on the day",
                                 opened_by="app").dispute  # fmt: skip
    with pytest.raises(ValidationError, match="only an upheld dispute"):
        engine.resolve_dispute(second.id, outcome="rejected", resolution="x", analyst="ana", correction=corrected)
    wrong = repayment_records([{"id": "other-id", "user": other_user, "due": 0, "amount": 1.0, "status": "pending"}])
    with pytest.raises(ValidationError, match="must keep the disputed record's id"):
        engine.resolve_dispute(second.id, outcome="upheld", resolution="x", analyst="ana", correction=wrong)
    assert engine.store.dispute(second.id).open  # the refusals wrote nothing
    done = engine.resolve_dispute(second.id, outcome="upheld", resolution="bank confirms", analyst="ana",
                                  correction=corrected)  # fmt: skip
    assert json.loads(done.dispute.correction or "{}")["status"] == "on_time"
    assert engine.store.repayments(other_user).set_index("id").loc[other_event, "status"] == "on_time"
    repayments = POPULATION.repayments.copy()
    at = repayments["id"].astype(str) == other_event
    repayments.loc[at, ["paid", "status"]] = [int(row["due"]), "on_time"]
    repayments = repayments[repayments["id"].astype(str) != event].reset_index(drop=True)
    expected = _oracle(tmp_path, engine, replace(POPULATION.dataset(), repayments=repayments), "corrected")
    assert engine.score_of(other_user) == expected[other_user]


def test_a_record_that_is_not_adverse_or_a_policy_that_counts_it_moves_nothing(tmp_path: Path) -> None:
    counting = replace(read_policy(DEFAULT_POLICY_PATH), disputes=DisputeRules(adverse_counts_while_open=True))
    engine = _engine(tmp_path / "counting.db", POPULATION.dataset(), policy=counting)
    repayments = engine.store.repayments()
    user, event = repayments[repayments["status"].isin(ADVERSE)][["user", "id"]].astype(str).values[0]
    before = engine.scores()
    outcome = engine.open_dispute(user, kind="repayment", record=event, reason="x", opened_by="app")
    assert outcome.dispute.adverse and outcome.changes == ()
    pd.testing.assert_frame_equal(engine.scores(), before)
    good_user, good = repayments[repayments["status"] == "on_time"][["user", "id"]].astype(str).values[0]
    plain = _engine(tmp_path / "plain.db", POPULATION.dataset())
    on_time = plain.open_dispute(good_user, kind="repayment", record=good, reason="x", opened_by="app")
    assert not on_time.dispute.adverse and on_time.changes == ()
    plain.store.close()
    engine.store.close()


def _adverse_link(engine: ScoringEngine) -> tuple[str, str]:
    """A link whose removal raises one end's score (what-if, independent of the dispute code)."""
    links = engine.store.links()
    for a, b in links[["source", "target"]].astype(str).values:
        for user, other in ((a, b), (b, a)):
            after = engine.what_if(remove_links=[(user, other)]).score_of(user)
            if after is not None and after > engine.score_of(user):
                return user, other
    pytest.fail("no link lowers anyone's score in this population")


def test_a_disputed_adverse_link_is_suspended_for_both_ends_and_upheld_removes_it(
    tmp_path: Path,
) -> None:
    symmetric = replace(read_policy(DEFAULT_POLICY_PATH),
                        diffusion=replace(read_policy(DEFAULT_POLICY_PATH).diffusion, sharing="symmetric"))  # fmt: skip
    engine = _engine(tmp_path / "links.db", POPULATION.dataset(), policy=symmetric)
    user, other = _adverse_link(engine)
    expected = engine.what_if(remove_links=[(user, other)])
    outcome = engine.open_dispute(user, kind="link", record=other, reason="I do not know them", opened_by="app")
    assert outcome.dispute.adverse and json.loads(outcome.dispute.detail)["other"] == other
    for change in expected.changes:
        assert abs(engine.score_of(change.user) - change.after) <= 1
    assert engine.score_of(user) == expected.score_of(user)
    assert len(engine.store.neighbors(user)) and other in set(engine.store.neighbors(user)["user"].astype(str))
    restarted = ScoringEngine(engine.store, policy=symmetric)
    assert restarted.restore() is not None
    assert abs(restarted.scores().set_index("user")["score"] - engine.scores().set_index("user")["score"]).max() == 0
    engine.resolve_dispute(outcome.dispute.id, outcome="upheld", resolution="no such friendship", analyst="ana")
    assert other not in set(engine.store.neighbors(user)["user"].astype(str))
    assert engine.score_of(user) == expected.score_of(user)
    engine.store.close()


def test_a_disputed_flag_keeps_its_quarantine_until_upheld(engine: ScoringEngine) -> None:
    user = str(engine.store.links()["source"].iloc[0])
    engine.flag_user(user, analyst="ana", reason="ring suspect")
    flag = engine.store.flags(user)[-1]
    outcome = engine.open_dispute(user, kind="flag", record=str(flag.id), reason="not a ring", opened_by="app")
    assert outcome.changes == () and engine.store.quarantined().tolist() == [user]
    done = engine.resolve_dispute(outcome.dispute.id, outcome="upheld", resolution="a family", analyst="bo")
    assert engine.store.quarantined().tolist() == [] and not engine.store.flags(user)[-1].active
    assert engine.store.flags(user)[-1].cleared_by == "bo" and done.dispute.resolution == "a family"
    with pytest.raises(ValidationError, match="not an active flag"):
        engine.open_dispute(user, kind="flag", record=str(flag.id), reason="x", opened_by="app")


def test_bad_disputes_are_refused_and_write_nothing(engine: ScoringEngine) -> None:
    repayments = engine.store.repayments()
    user, event = repayments[["user", "id"]].astype(str).values[0]
    stranger = next(u for u in repayments["user"].astype(str) if u != user)
    state = (engine.store.stats().as_dict(), engine.store.latest_snapshot_seq(), engine.store.disputes())
    with pytest.raises(NotFoundError):
        engine.open_dispute("nobody", kind="repayment", record=event, reason="x", opened_by="app")
    with pytest.raises(NotFoundError):  # someone else's record
        engine.open_dispute(stranger, kind="repayment", record=event, reason="x", opened_by="app")
    with pytest.raises(NotFoundError):
        engine.open_dispute(user, kind="link", record="nobody-at-all", reason="x", opened_by="app")
    with pytest.raises(ValidationError, match="kind"):
        engine.open_dispute(user, kind="loan", record=event, reason="x", opened_by="app")
    with pytest.raises(ValidationError, match="reason"):
        engine.open_dispute(user, kind="repayment", record=event, reason="  ", opened_by="app")
    with pytest.raises(NotFoundError):
        engine.resolve_dispute(12345, outcome="upheld", resolution="x", analyst="ana")
    assert (engine.store.stats().as_dict(), engine.store.latest_snapshot_seq(), engine.store.disputes()) == state


def test_a_dispute_whose_unit_fails_leaves_nothing(engine: ScoringEngine) -> None:
    user, event = _adverse_repayment(engine)
    before = engine.score_of(user)

    class Fault(Exception):
        pass

    with pytest.raises(Fault):
        with engine.unit():
            engine.open_dispute(user, kind="repayment", record=event, reason="x", opened_by="app")
            raise Fault
    assert engine.store.disputes() == []
    assert engine.restore() is not None and engine.score_of(user) == before


def test_dispute_on_the_command_line(engine: ScoringEngine) -> None:
    from credence.cli.main import main

    user, event = _adverse_repayment(engine)
    db = str(engine.store.path)
    before = engine.score_of(user)
    engine.store.close()
    runner = CliRunner()
    opened = runner.invoke(main, ["dispute", "open", user, "--kind", "repayment", "--record", event,
                                  "--reason", "paid in cash", "--db", db])  # fmt: skip
    assert opened.exit_code == 0, opened.output
    assert "adverse" in opened.output and "[open]" in opened.output
    listed = runner.invoke(main, ["dispute", "list", "--json", "--db", db])
    queue = json.loads(listed.output)
    assert [(d["user"], d["record"], d["overdue"]) for d in queue] == [(user, event, False)]
    bad = runner.invoke(main, ["dispute", "resolve", str(queue[0]["id"]), "--outcome", "maybe", "--reason", "x",
                               "--analyst", "ana", "--db", db])  # fmt: skip
    assert bad.exit_code == 2
    done = runner.invoke(main, ["dispute", "resolve", str(queue[0]["id"]), "--outcome", "upheld",
                                "--reason", "receipt shown", "--analyst", "ana", "--db", db])  # fmt: skip
    assert done.exit_code == 0 and "upheld by ana" in done.output, done.output
    again = runner.invoke(main, ["dispute", "resolve", str(queue[0]["id"]), "--outcome", "rejected",
                                 "--reason", "x", "--analyst", "ana", "--db", db])  # fmt: skip
    assert again.exit_code == 6
    store = SQLiteStore(db)
    latest = store.latest_scores().set_index("user")["score"]
    log = [e.action for e in store.audit_log(subject=user)]
    store.close()
    assert latest[user] > before and log[-2:] == ["dispute:open", "dispute:resolve"]
    assert runner.invoke(main, ["dispute", "list", "--db", db]).output.strip() == "no disputes"
