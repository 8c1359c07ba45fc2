"""The change journal: every incremental snapshot names the change that produced it, on both stores.

Oracles are what each test did: the kind of change, whose records, by which ids. The
snapshots a change produced are found independently, as the snapshots that appeared in
the store while it ran (``snapshots_after``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from credence.cli.main import main
from credence.core.errors import ValidationError
from credence.engine import ScoringEngine
from credence.graph.model import score_records
from credence.graph.sqlite import SQLiteStore
from credence.graph.subject import generate_subject_export
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, iso, live_population

POPULATION = generate_population(n_users=600, seed=71)
NOW = int(POPULATION.now)
DAY = 86_400


def _users(store: Any, *ids: str) -> None:
    store.upsert_users(pd.DataFrame({"id": list(ids), "created": [0] * len(ids)}))


def _snapshot(*users: str) -> Any:
    return score_records(list(users), "m1", 5, np.full(len(users), 650), np.full((len(users), 5), 0.5))


# -- the store -------------------------------------------------------------------------


def test_snapshots_inside_a_change_point_to_it_and_others_do_not(store: Any) -> None:
    _users(store, "a", "b", "c")
    store.write_score_records(_snapshot("a", "b"))
    with store.change("link_added", {"a": ["b"], "b": ["a"]}, actor="app-key", at=1_000):
        store.write_score_records(_snapshot("a", "b"))
    with store.change("consent_withdrawn", {"c": []}, at=2_000):
        pass  # no snapshot: the entry is still written, and nothing points to it
    store.write_score_records(_snapshot("a"))
    causes = store.snapshot_changes("a")
    assert len(causes) == len(store.score_history("a")) == 3
    assert causes[0] is None and causes[2] is None
    first = causes[1]
    assert (first.kind, first.at, first.actor) == ("link_added", 1_000, "app-key")
    assert first.records_of("a") == ("b",) and first.others("a") == ("b",) and first.concerns("b")
    assert store.snapshot_changes("b")[1].id == first.id
    assert store.snapshot_changes("c") == []


def test_a_failed_change_leaves_neither_entry_nor_stamp(store: Any) -> None:
    _users(store, "a")
    store.write_score_records(_snapshot("a"))
    before = store.latest_snapshot_seq()

    def fail_after_the_snapshot() -> None:
        with store.change("flag", {"a": []}, actor="ana"):
            store.write_score_records(_snapshot("a"))
            raise RuntimeError("the change failed after its snapshot")

    with pytest.raises(RuntimeError):
        fail_after_the_snapshot()
    assert store.latest_snapshot_seq() == before
    assert store.snapshot_changes("a") == [None]
    # The next change starts clean: its snapshot points to it, not to the rolled-back one.
    with store.change("unflag", {"a": []}, actor="ana"):
        store.write_score_records(_snapshot("a"))
    assert [None if c is None else c.kind for c in store.snapshot_changes("a")] == [None, "unflag"]


@pytest.mark.parametrize(
    ("kind", "people", "column"),
    [
        ("rumour", {"a": []}, "kind"),
        ("flag", {}, "people"),
        ("flag", {"": []}, "id"),
        ("flag", {"a": [""]}, "records"),
    ],
)
def test_a_bad_change_is_refused_before_anything_is_written(
    store: Any, kind: str, people: dict[str, list[str]], column: str
) -> None:
    _users(store, "a")
    with pytest.raises(ValidationError) as error, store.change(kind, people):
        store.write_score_records(_snapshot("a"))
    assert error.value.column == column
    assert store.score_history("a").empty


def test_erasure_leaves_only_a_pseudonym_in_the_journal(store: Any) -> None:
    _users(store, "ann", "bob")
    with store.change("link_added", {"ann": ["bob"], "bob": ["ann"]}):
        store.write_score_records(_snapshot("ann", "bob"))
    pseudonym = store.erase_user("bob", actor="admin")
    (cause,) = store.snapshot_changes("ann")
    assert cause.records_of("ann") == (pseudonym,) and cause.others("ann") == (pseudonym,)
    assert "bob" not in json.dumps(dict(cause.people))
    # A later snapshot that takes the erased one's place (SQLite reuses the largest row id) has no old cause.
    _users(store, "cat")
    store.write_score_records(_snapshot("cat"))
    assert store.snapshot_changes("cat") == [None]


# -- the engine --------------------------------------------------------------------------


@pytest.fixture
def engine(store: Any) -> ScoringEngine:
    store.load(POPULATION.dataset())
    engine = ScoringEngine(store, now=NOW)
    engine.recompute()
    return engine


def _produced(engine: ScoringEngine, action: Any) -> tuple[pd.DataFrame, Any]:
    """The snapshots ``action`` wrote, read from the change feed, and what it returned."""
    seq = engine.store.latest_snapshot_seq()
    result = action()
    written, _ = engine.store.snapshots_after(seq)
    return written, result


def _cause_of_latest(engine: ScoringEngine, user: str) -> Any:
    step = engine.explain_change(user).steps[-1]
    return step


def _networked(engine: ScoringEngine, user: str) -> bool:
    """Whether the user's connections component is above the prior: their network moves it."""
    summary = engine.network(user)
    return summary.component > summary.prior + 1e-9


def _friend_pair(engine: ScoringEngine) -> tuple[str, str, str]:
    """(user, friend, other friend), all three with a network that moves their score."""
    for user in POPULATION.users["id"].astype(str):
        if not _networked(engine, user):
            continue
        friends = [f for f, _ in sorted(engine.friends(user), key=lambda fw: -fw[1]) if _networked(engine, f)]
        if len(friends) >= 2:
            return user, friends[0], friends[1]
    raise AssertionError("the population has nobody networked with two networked friends")


def test_every_kind_of_change_names_itself_in_each_snapshot_it_produced(engine: ScoringEngine) -> None:
    user, friend, other = _friend_pair(engine)
    stranger = next(u for u in POPULATION.users["id"].astype(str) if u not in {user, friend, other}
                    and u not in {f for f, _ in engine.friends(user)})  # fmt: skip
    late = pd.DataFrame({"id": ["j-r1", "j-r2"], "user": [user, user], "due": [NOW - 40 * DAY] * 2,
                         "paid": [None, NOW - 20 * DAY], "amount": [900.0, 400.0], "status": ["missed", "late"]})  # fmt: skip
    actions = [
        # (what the test does, kind, the people whose own data it is -> their records)
        (lambda: engine.record_repayments(late), "repayments", {user: ("j-r1", "j-r2")}),
        (lambda: engine.add_link(user, stranger, weight=2.0), "link_added", {user: (stranger,), stranger: (user,)}),
        (lambda: engine.set_consent(friend, False, actor="person"), "consent_withdrawn", {friend: ()}),
        (lambda: engine.flag_user(other, analyst="ana", reason="ring"), "flag", {other: ()}),
        (lambda: engine.remove_link(user, stranger), "link_removed", {user: (stranger,), stranger: (user,)}),
        (lambda: engine.open_dispute(user, kind="repayment", record="j-r1", reason="paid", opened_by="app"),
         "dispute_opened", {user: ("j-r1",)}),
        (lambda: engine.record_repayments(late.iloc[[1]].assign(status="on_time", paid=NOW - 41 * DAY)),
         "repayments", {user: ("j-r2",)}),
    ]  # fmt: skip
    for action, kind, people in actions:
        written, _ = _produced(engine, action)
        assert not written.empty, kind
        for who in written["user"].astype(str).unique():
            step = _cause_of_latest(engine, who)
            assert step.kind == "change" and step.cause is not None, (kind, who)
            assert step.cause.kind == kind and dict(step.cause.people) == people, (kind, who)
            assert step.own == (who in people), (kind, who)
            assert step.cause.records_of(who) == people.get(who, ())
    # The first batch was new; the last re-recorded j-r2 by its id: a correction.
    causes = [c for c in engine.store.snapshot_changes(user) if c is not None and c.kind == "repayments"]
    assert [c.corrected for c in causes] == [(), ("j-r2",)]
    dispute = engine.store.disputes(user=user)[-1]
    written, _ = _produced(engine, lambda: engine.resolve_dispute(dispute.id, outcome="upheld",
                                                                 resolution="bank confirmed", analyst="ana"))  # fmt: skip
    steps = {who: _cause_of_latest(engine, who) for who in written["user"].astype(str)}
    assert {(s.cause.kind, s.cause.actor) for s in steps.values()} <= {("dispute_upheld", "ana")}
    assert steps[user].own and steps[user].cause.records_of(user) == ("j-r1",)


def test_a_neighbour_is_told_it_was_the_network_and_by_whom(engine: ScoringEngine) -> None:
    user, friend, _ = _friend_pair(engine)
    # A default would not do: under bonus_only it moves the defaulter alone. A quarantine moves the friends.
    written, _ = _produced(engine, lambda: engine.flag_user(user, analyst="ana", reason="ring"))
    assert friend in set(written["user"].astype(str)), "a quarantine should move a friend's network value"
    step = _cause_of_latest(engine, friend)
    assert step.own is False and step.cause.others(friend) == (user,) and step.cause.records_of(friend) == ()
    assert step.cause.kind == "flag" and step.cause.actor == "ana"
    # The friend's own export names the cause but not the person behind it.
    exported = generate_subject_export(engine.store, friend)["score_history"][-1]["cause"]
    assert exported == {"kind": "flag", "at": exported["at"], "own": False, "records": [], "corrected": []}
    assert user not in json.dumps(exported)
    assert generate_subject_export(engine.store, user)["score_history"][-1]["cause"]["own"] is True
    moved = {c.name: c.value_points for c in step.components}
    assert moved["connections"] != 0 and all(v == 0 for name, v in moved.items() if name != "connections")


def test_erasure_is_a_change_named_by_pseudonym(engine: ScoringEngine) -> None:
    user, friend, _ = _friend_pair(engine)
    erasure = engine.erase_user(friend, actor="dpo")
    step = _cause_of_latest(engine, user)
    assert step.cause is not None and step.cause.kind == "erasure" and step.own is False
    assert step.cause.others(user) == (erasure.pseudonym,) and step.cause.actor == "dpo"


def test_a_bad_change_journals_nothing(engine: ScoringEngine) -> None:
    user = str(POPULATION.users["id"].iloc[0])
    seq = engine.store.latest_snapshot_seq()
    bad = pd.DataFrame({"id": ["j-bad"], "user": [user], "due": [NOW], "paid": [None], "amount": [-5.0],
                        "status": ["paid"]})  # fmt: skip
    with pytest.raises(ValidationError):
        engine.record_repayments(bad)
    with pytest.raises(ValidationError):
        engine.record_repayments(pd.DataFrame({"user": [user]}))  # no id column: the store's error
    assert engine.store.latest_snapshot_seq() == seq
    assert engine.explain_change(user).steps == () or engine.explain_change(user).steps[-1].cause is None


# -- the CLI and GraphQL ---------------------------------------------------------------------


def test_why_names_the_cause_on_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with SQLiteStore(db) as store:
        store.load(POPULATION.dataset())
        engine = ScoringEngine(store, now=NOW)
        engine.recompute()
        user, friend, _ = _friend_pair(engine)
    runner = CliRunner()
    result = runner.invoke(main, ["update", "unlink", user, friend, "--db", str(db)])
    assert result.exit_code == 0, result.output
    text = runner.invoke(main, ["why", user, "--db", str(db)])
    assert text.exit_code == 0, text.output
    assert f"link_removed (own) [{friend}]" in text.output
    data = json.loads(runner.invoke(main, ["why", friend, "--db", str(db), "--json"]).output)
    last = data["steps"][-1]
    assert last["cause"]["kind"] == "link_removed" and last["own"] is True
    assert last["cause"]["people"] == {user: [friend], friend: [user]}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_population(request, tmp_path_factory.mktemp(f"journal-{request.param}"), POPULATION.dataset(),
                         POPULATION.now) as server:  # fmt: skip
        yield server


CAUSES = """query($u: String!) { scoreChange(user: $u) { steps { kind
    cause { kind at own records corrected peopleCount people actor } } } }"""


def _network_moved_friend(api: LiveApi, user: str) -> str | None:
    """A friend of ``user`` whose latest snapshot a repayment of ``user`` produced, if any."""
    for friend, _ in sorted(api.engine.friends(user), key=lambda fw: -fw[1]):
        steps = api.run("analyst", CAUSES, u=friend)["scoreChange"]["steps"]
        cause = steps[-1]["cause"] if steps else None
        if cause is not None and cause["kind"] == "repayments" and cause["people"] == [user]:
            return str(friend)
    return None


def test_score_change_serves_the_cause_and_hides_others_from_the_app(api: LiveApi) -> None:
    # Paid on time, so that the payer's shared base rises and moves a friend too: a friend
    # gets a snapshot when their score moves or drifts by SNAPSHOT_DRIFT_POINTS, so payers
    # are tried until one moves a friend that much.
    candidates = [u for u in POPULATION.users["id"].astype(str) if _networked(api.engine, u)]
    user = friend = None
    for i, payer in enumerate(candidates[:20]):
        api.run("app", "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }",
                i={"id": f"j-api-{i}", "user": payer, "due": iso(NOW - 30 * DAY), "paid": iso(NOW - 31 * DAY),
                   "amount": 40_000.0, "status": "on_time"})  # fmt: skip
        friend = _network_moved_friend(api, payer)
        if friend is not None:
            user, record = payer, f"j-api-{i}"
            break
    assert user is not None and friend is not None, "no repayment of 20 payers moved a friend by 0.01 points"
    own = api.run("app", CAUSES, u=user)["scoreChange"]["steps"][-1]
    assert own["kind"] == "change"
    assert own["cause"] == {"kind": "repayments", "at": own["cause"]["at"], "own": True, "records": [record],
                            "corrected": [], "peopleCount": 0, "people": None, "actor": None}  # fmt: skip
    network = api.run("app", CAUSES, u=friend)["scoreChange"]["steps"][-1]["cause"]
    assert network["own"] is False and network["records"] == [] and network["peopleCount"] == 1
    assert network["people"] is None  # an app sees that the network moved, not who
    seen = api.run("analyst", CAUSES, u=friend)["scoreChange"]["steps"][-1]["cause"]
    assert seen["people"] == [user]
    audit = api.run("admin", "query($s: String) { auditLog(first: 50, subject: $s) { entries { action actor } } }",
                    s=friend)["auditLog"]["entries"]  # fmt: skip
    assert {"action": "read:scoreChange", "actor": "test-analyst"} in [{"action": e["action"], "actor": e["actor"]}
                                                                   for e in audit]  # fmt: skip


def test_concurrent_mutations_each_journal_their_own_cause(api: LiveApi) -> None:
    """Eight clients at once: the server groups their writes, yet each snapshot names its own client's change."""
    payers = [u for u in POPULATION.users["id"].astype(str) if _networked(api.engine, u)][-16:]
    mutation = "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }"

    def pay(payer: str) -> str:
        api.run("app", mutation, i={"id": f"j-c-{payer}", "user": payer, "due": iso(NOW - 10 * DAY),
                                    "paid": iso(NOW - 11 * DAY), "amount": 700.0, "status": "on_time"})  # fmt: skip
        return payer

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = list(pool.map(pay, payers))
    assert done == payers
    for payer in payers:
        causes = api.store.snapshot_changes(payer)
        own = [c for c in causes if c is not None and c.concerns(payer) and c.kind == "repayments"]
        assert [c.records_of(payer) for c in own][-1:] == [(f"j-c-{payer}",)], payer
        assert all(
            dict(c.people) == {payer: (f"j-c-{payer}",)}
            for c in own
            if c.records_of(payer)[0].startswith("j-c-")
        )
