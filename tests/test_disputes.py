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
from tests.api_server import LiveApi, iso, live_population

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
        repayments=POPULATION.repayments[POPULATION.repayments["id"].astype(str) != event].reset_index(
            drop=True
        ),
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
    opened = engine.open_dispute(
        user, kind="repayment", record=event, reason="not mine", opened_by="app"
    ).dispute
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
        if str(u) != user
        and engine.store.repayments(str(u)).set_index("id").loc[str(i), "status"] == "missed"
    )
    row = engine.store.repayments(other_user).set_index("id").loc[other_event]
    corrected = repayment_records([{"id": other_event, "user": other_user, "due": int(row["due"]),
                                    "paid": int(row["due"]), "amount": float(row["amount"]), "status": "on_time"}])  # fmt: skip
    second = engine.open_dispute(other_user, kind="repayment", record=other_event, reason="paid on the day",
                                 opened_by="app").dispute  # fmt: skip
    with pytest.raises(ValidationError, match="only an upheld dispute"):
        engine.resolve_dispute(
            second.id, outcome="rejected", resolution="x", analyst="ana", correction=corrected
        )
    wrong = repayment_records(
        [{"id": "other-id", "user": other_user, "due": 0, "amount": 1.0, "status": "pending"}]
    )
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
    counting = replace(
        read_policy(DEFAULT_POLICY_PATH), disputes=DisputeRules(adverse_counts_while_open=True)
    )
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
    outcome = engine.open_dispute(
        user, kind="link", record=other, reason="I do not know them", opened_by="app"
    )
    assert outcome.dispute.adverse and json.loads(outcome.dispute.detail)["other"] == other
    for change in expected.changes:
        assert abs(engine.score_of(change.user) - change.after) <= 1
    assert engine.score_of(user) == expected.score_of(user)
    assert len(engine.store.neighbors(user)) and other in set(
        engine.store.neighbors(user)["user"].astype(str)
    )
    restarted = ScoringEngine(engine.store, policy=symmetric)
    assert restarted.restore() is not None
    assert (
        abs(restarted.scores().set_index("user")["score"] - engine.scores().set_index("user")["score"]).max()
        == 0
    )
    engine.resolve_dispute(
        outcome.dispute.id, outcome="upheld", resolution="no such friendship", analyst="ana"
    )
    assert other not in set(engine.store.neighbors(user)["user"].astype(str))
    assert engine.score_of(user) == expected.score_of(user)
    engine.store.close()


def test_a_disputed_flag_keeps_its_quarantine_until_upheld(engine: ScoringEngine) -> None:
    user = str(engine.store.links()["source"].iloc[0])
    engine.flag_user(user, analyst="ana", reason="ring suspect")
    flag = engine.store.flags(user)[-1]
    outcome = engine.open_dispute(
        user, kind="flag", record=str(flag.id), reason="not a ring", opened_by="app"
    )
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
    assert (
        engine.store.stats().as_dict(),
        engine.store.latest_snapshot_seq(),
        engine.store.disputes(),
    ) == state


def test_a_dispute_whose_unit_fails_leaves_nothing(engine: ScoringEngine) -> None:
    user, event = _adverse_repayment(engine)
    before = engine.score_of(user)

    class Fault(Exception):
        pass

    def open_then_fail() -> None:
        with engine.unit():
            engine.open_dispute(user, kind="repayment", record=event, reason="x", opened_by="app")
            raise Fault  # the commit never happens

    with pytest.raises(Fault):
        open_then_fail()
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
    explained = runner.invoke(main, ["explain", user, "--db", db, "--now", str(NOW)])
    assert (
        f"under dispute: repayment {event}" in explained.output and "left out while open" in explained.output
    )
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


# --------------------------------------------------------------------------- GraphQL


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_population(request, tmp_path_factory.mktemp(f"disputes-{request.param}"), POPULATION.dataset(),
                         POPULATION.now) as server:  # fmt: skip
        yield server


OPEN = """mutation($u: String!, $k: DisputeKind!, $r: String!, $why: String!) {
  disputeRecord(user: $u, kind: $k, record: $r, reason: $why) {
    dispute { id userId kind record adverse open overdue due openedAt openedBy detail }
    changes { userId before after } } }"""
RESOLVE = """mutation($id: Int!, $o: DisputeOutcome!, $why: String!, $c: RepaymentInput) {
  resolveDispute(id: $id, outcome: $o, reason: $why, correctedRepayment: $c) {
    dispute { id open outcome resolution resolvedBy correction } changes { userId before after } } }"""
QUEUE = """query($first: Int, $after: String, $open: Boolean) {
  disputes(first: $first, after: $after, openOnly: $open) {
    edges { cursor node { id userId record overdue } } endCursor hasNextPage } }"""


def test_dispute_record_and_resolve_over_graphql(api: LiveApi) -> None:
    user, event = _adverse_repayment(api.engine)
    before = api.engine.score_of(user)
    opened = api.run("app", OPEN, u=user, k="repayment", r=event, why="I paid it in cash")["disputeRecord"]
    dispute = opened["dispute"]
    assert (dispute["userId"], dispute["record"], dispute["adverse"], dispute["open"], dispute["overdue"]) == (
        user, event, True, True, False)  # fmt: skip
    assert json.loads(dispute["detail"])["id"] == event and dispute["openedBy"] == "test-app"
    own = [c for c in opened["changes"] if c["userId"] == user]
    assert own and own[0]["before"] == before and own[0]["after"] == api.engine.score_of(user) > before
    stored = api.store.latest_scores().set_index("user")["score"]
    assert stored[user] == api.engine.score_of(user)  # "applied" means stored
    seen = api.run("app", "query($u: String!) { user(id: $u) { underDispute disputes { id open } } }", u=user)
    assert seen["user"] == {"underDispute": True, "disputes": [{"id": dispute["id"], "open": True}]}
    assert (
        api.error("analyst", OPEN, u=user, k="repayment", r=event, why="x")["extensions"]["code"]
        == "FORBIDDEN"
    )
    assert (
        api.error("app", OPEN, u=user, k="repayment", r=event, why="again")["extensions"]["code"]
        == "CONFLICT"
    )
    assert api.error("app", QUEUE)["extensions"]["code"] == "FORBIDDEN"  # the queue is evidence
    queue = api.run("analyst", QUEUE, first=10)["disputes"]
    assert [e["node"]["id"] for e in queue["edges"]] == [dispute["id"]] and not queue["hasNextPage"]
    assert (
        api.error("app", RESOLVE, id=dispute["id"], o="upheld", why="x")["extensions"]["code"] == "FORBIDDEN"
    )
    done = api.run("analyst", RESOLVE, id=dispute["id"], o="rejected", why="the lender shows it unpaid")[
        "resolveDispute"
    ]
    assert done["dispute"]["open"] is False and done["dispute"]["outcome"] == "rejected"
    assert api.engine.score_of(user) == before
    assert api.run("analyst", QUEUE)["disputes"]["edges"] == []
    assert api.run("analyst", QUEUE, open=False)["disputes"]["edges"][0]["node"]["id"] == dispute["id"]
    log = api.run("admin", "query($s: String!) { auditLog(subject: $s, first: 100) { entries { action detail } } }",
                  s=user)["auditLog"]["entries"]  # fmt: skip
    actions = [e["action"] for e in log]
    assert actions.index("dispute:open") < actions.index("dispute:resolve")
    reads = api.run("admin", '{ auditLog(actor: "test-analyst", last: 100) { entries { action } } }')
    assert "read:disputes" in [e["action"] for e in reads["auditLog"]["entries"]]  # the queue's reads
    again = api.error("analyst", RESOLVE, id=dispute["id"], o="upheld", why="x")
    assert again["extensions"]["code"] == "CONFLICT"
    export = api.run("app", "query($u: String!) { user(id: $u) { subjectExport } }", u=user)["user"][
        "subjectExport"
    ]
    assert [d["record"] for d in export["disputes"]] == [event] and export["disputes"][0][
        "outcome"
    ] == "rejected"


def test_a_dispute_upheld_with_a_correction_over_graphql(api: LiveApi) -> None:
    repayments = api.store.repayments()
    missed = repayments[repayments["status"] == "missed"]
    user, event = str(missed["user"].iloc[-1]), str(missed["id"].iloc[-1])
    row = api.store.repayments(user).set_index("id").loc[event]
    dispute = api.run("app", OPEN, u=user, k="repayment", r=event, why="paid on the day")["disputeRecord"][
        "dispute"
    ]
    fix = {"id": event, "user": user, "due": iso(int(row["due"])), "paid": iso(int(row["due"])),
           "amount": float(row["amount"]), "status": "on_time"}  # fmt: skip
    wrong = api.error("analyst", RESOLVE, id=dispute["id"], o="upheld", why="x", c={**fix, "id": "not-it"})
    assert wrong["extensions"]["code"] == "BAD_USER_INPUT" and "must keep" in wrong["message"]
    assert api.store.dispute(dispute["id"]).open  # refused: nothing written
    done = api.run("analyst", RESOLVE, id=dispute["id"], o="upheld", why="bank statement", c=fix)[
        "resolveDispute"
    ]
    assert json.loads(done["dispute"]["correction"])["status"] == "on_time"
    assert api.store.repayments(user).set_index("id").loc[event, "status"] == "on_time"
    stored = api.store.latest_scores().set_index("user")["score"]
    assert stored[user] == api.engine.score_of(user)


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"u": "nobody", "k": "repayment", "r": "r1", "why": "x"}, "NOT_FOUND"),
        ({"k": "link", "r": "not-a-friend-of-anyone", "why": "x"}, "NOT_FOUND"),
        ({"k": "repayment", "r": "r1", "why": "   "}, "BAD_USER_INPUT"),
        ({"k": "loan", "r": "r1", "why": "x"}, "BAD_USER_INPUT"),
        ({"k": "flag", "r": "99999", "why": "x"}, "NOT_FOUND"),
    ],
)
def test_bad_disputes_over_graphql_write_nothing(api: LiveApi, variables: dict[str, Any], code: str) -> None:
    user = str(POPULATION.users["id"].iloc[3])
    before = (api.store.stats().as_dict(), api.store.latest_snapshot_seq(), api.store.disputes())
    error = api.error("app", OPEN, **{"u": user, **variables})
    assert error["extensions"]["code"] == code, error
    assert (api.store.stats().as_dict(), api.store.latest_snapshot_seq(), api.store.disputes()) == before


def test_the_dispute_queue_pages_oldest_first(api: LiveApi) -> None:
    links = api.store.links()
    opened = []
    for a, b in links[["source", "target"]].astype(str).values[:5]:
        opened.append(api.run("app", OPEN, u=a, k="link", r=b, why="who?")["disputeRecord"]["dispute"]["id"])
    pages, after = [], None
    while True:
        page = api.run("analyst", QUEUE, first=2, after=after)["disputes"]
        pages.append([e["node"]["id"] for e in page["edges"]])
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    listed = [i for p in pages for i in p]
    assert listed[-5:] == opened and listed == sorted(listed) and all(len(p) <= 2 for p in pages)
    bad = api.error("analyst", QUEUE, after="bm90LWEtY3Vyc29y")
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"
    for dispute_id in opened:  # leave the queue as it was for the other tests
        api.run("admin", RESOLVE, id=dispute_id, o="rejected", why="confirmed by both")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_dispute_publishes_its_score_changes(api: LiveApi) -> None:
    import asyncio
    import gc

    from gql import Client, GraphQLRequest
    from gql.transport.websockets import WebsocketsTransport

    repayments = api.store.repayments().sort_values(["user", "due", "id"])
    later = repayments[repayments.duplicated("user", keep="first") & (repayments["status"] == "defaulted")]
    user, event = str(later["user"].iloc[-1]), str(later["id"].iloc[-1])

    async def scenario() -> dict[str, Any]:
        transport = WebsocketsTransport(url=api.url.replace("http://", "ws://"),
                                        headers={"Authorization": f"Bearer {api.secrets['app']}"},
                                        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])  # fmt: skip
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            subscription = session.subscribe(GraphQLRequest(
                "subscription($u: String) { scoreChanged(userId: $u) { userId before after } }",
                variable_values={"u": user}))  # fmt: skip

            async def first_event() -> dict[str, Any]:
                async for event in subscription:
                    return event  # type: ignore[no-any-return]
                raise AssertionError("subscription ended")

            waiter = asyncio.ensure_future(first_event())
            await asyncio.sleep(0.5)  # let the subscription register
            await asyncio.to_thread(api.run, "app", OPEN, u=user, k="repayment", r=event, why="not mine")
            return await asyncio.wait_for(waiter, timeout=30)

    try:
        pushed = asyncio.run(scenario())["scoreChanged"]
    finally:
        gc.collect()
    assert pushed["userId"] == user and pushed["after"] == api.engine.score_of(user) > pushed["before"]
    dispute = api.store.disputes(user=user, open_only=True)[0]
    api.run("analyst", RESOLVE, id=dispute.id, o="rejected", why="the lender's ledger shows it")


PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  disputes(first: $first, after: $after, last: $last, before: $before, openOnly: false) {
    edges { cursor node { id } } startCursor endCursor hasPreviousPage hasNextPage } }"""


def test_the_dispute_queue_pages_both_ways(api: LiveApi) -> None:
    repayments = api.store.repayments()
    adverse = repayments[repayments["status"].isin(["defaulted", "missed", "late"])].drop_duplicates("user")
    for user, event in list(zip(adverse["user"].astype(str), adverse["id"].astype(str), strict=True))[:5]:
        code, _ = api.outcome("app", OPEN, u=user, k="repayment", r=event, why="not mine")
        assert code in ("ok", "CONFLICT")  # CONFLICT: another test disputed it already
    ids = [d.id for d in api.store.disputes()]  # the oracle: the store's own order
    assert len(ids) >= 5

    def page(**args: Any) -> dict[str, Any]:
        return api.run("analyst", PAGE, **args)["disputes"]  # type: ignore[no-any-return]

    newest = page(last=2)
    assert [e["node"]["id"] for e in newest["edges"]] == ids[-2:]
    assert newest["hasPreviousPage"] is True and newest["hasNextPage"] is False
    before = page(last=2, before=newest["startCursor"])
    assert [e["node"]["id"] for e in before["edges"]] == ids[-4:-2] and before["hasNextPage"] is True
    oldest = page(first=2)
    assert [e["node"]["id"] for e in oldest["edges"]] == ids[:2]
    assert oldest["hasPreviousPage"] is False and oldest["hasNextPage"] is True
    following = page(first=2, after=oldest["endCursor"])
    assert [e["node"]["id"] for e in following["edges"]] == ids[2:4] and following["hasPreviousPage"] is True
    window = page(first=10, after=oldest["endCursor"], before=newest["startCursor"])
    assert [e["node"]["id"] for e in window["edges"]] == ids[2:-2]
    both = api.error("analyst", PAGE, first=1, last=1)
    assert both["extensions"]["code"] == "BAD_USER_INPUT", both
    bad = api.error("analyst", PAGE, last=1, before="not-a-cursor")
    assert bad["extensions"]["code"] == "BAD_USER_INPUT", bad
