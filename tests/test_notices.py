"""Adverse-action notices: stored with the snapshot that crossed a benefit tier, on both stores, served to the person.

The tiers a change crossed are worked out here from the policy file's text and the
stored score history, not with the engine's helpers.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.scoring.policy import DEFAULT_POLICY_PATH
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, epoch, iso, live_population

POPULATION = generate_population(n_users=600, seed=52)
IDS = POPULATION.users["id"].astype(str).tolist()
NOW = int(POPULATION.now)
DAY = 86_400
TIERS = sorted(((t["name"], t["min"]) for t in tomllib.loads(DEFAULT_POLICY_PATH.read_text())["benefits"]),
               key=lambda tier: tier[1])  # fmt: skip


def _crossed(before: int, after: int) -> list[tuple[str, int]]:
    return [(name, low) for name, low in TIERS if after < low <= before]


def _defaults(user: str, tag: str, count: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{tag}-{i}" for i in range(count)], "user": [user] * count,
                         "due": [NOW - (30 + i) * DAY for i in range(count)], "paid": [None] * count,
                         "amount": [9_000.0] * count, "status": ["defaulted"] * count})  # fmt: skip


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[ScoringEngine]:
    store = SQLiteStore(tmp_path / "notices.db")
    store.load(POPULATION.dataset())
    engine = ScoringEngine(store, now=NOW)
    engine.recompute()
    yield engine
    store.close()


def _near_the_line(engine: ScoringEngine, low: int = 600) -> str:
    scores = engine.scores().set_index("user")["score"]
    return str(scores[(scores >= low) & (scores < low + 25)].index[0])


def test_a_change_that_crosses_a_tier_stores_a_notice_with_its_reasons(engine: ScoringEngine) -> None:
    user = _near_the_line(engine)
    changes = engine.record_repayments(_defaults(user, "nt"))
    history = engine.store.score_history(user)
    before, after = int(history["score"].iloc[-2]), int(history["score"].iloc[-1])
    assert any(c.user == user for c in changes) and after < before
    expected = _crossed(before, after)
    assert expected, f"{before} -> {after} crossed no tier; pick a larger drop"
    notices = engine.store.notices(user)
    assert [(n.tier, n.tier_min) for n in notices] == expected
    for notice in notices:
        assert (notice.score_before, notice.score_after) == (before, after)
        assert notice.restore_points == notice.tier_min - after > 0
        assert 1 <= len(notice.reasons) <= 4
        assert [p for _, _, p in notice.reasons] == sorted((p for _, _, p in notice.reasons), reverse=True)
        assert notice.model_version == engine.policy.version
    assert [r.code for r in engine.explain(user, contributors=0).reasons] == [
        c for c, _, _ in notices[0].reasons
    ]


def test_no_notice_without_a_tier_lost(engine: ScoringEngine) -> None:
    scores = engine.scores().set_index("user")["score"]
    user = str(scores[scores >= 720].index[0])
    engine.record_repayments(pd.DataFrame({"id": ["nt-ok"], "user": [user], "due": [NOW - 20 * DAY],
                                           "paid": [NOW - 21 * DAY], "amount": [50.0], "status": ["on_time"]}))  # fmt: skip
    assert engine.store.notices(user) == []


def test_a_recompute_that_lowers_a_score_past_a_tier_notices_it(engine: ScoringEngine) -> None:
    user = _near_the_line(engine)
    engine.store.add_repayments(_defaults(user, "nr"))  # behind the engine's back: only a recompute sees it
    before = int(engine.scores().set_index("user")["score"][user])
    engine.recompute()
    after = int(engine.scores().set_index("user")["score"][user])
    assert [(n.tier, n.score_before, n.score_after) for n in engine.store.notices(user)] == [
        (name, before, after) for name, _ in _crossed(before, after)
    ]


def test_notices_on_the_command_line(engine: ScoringEngine, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from credence.cli.main import main

    user = _near_the_line(engine)
    engine.record_repayments(_defaults(user, "nc"))
    db = str(engine.store.path)
    result = CliRunner().invoke(main, ["notices", user, "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [n["tier"] for n in data] == [n.tier for n in engine.store.notices(user)]
    assert all(n["restore_points"] == n["tier_min"] - n["score_after"] for n in data)
    text = CliRunner().invoke(main, ["notices", user, "--db", db])
    assert text.exit_code == 0 and "points to restore" in text.output


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_population(request, tmp_path_factory.mktemp(f"notices-{request.param}"), POPULATION.dataset(),
                         POPULATION.now) as server:  # fmt: skip
        yield server


def test_the_person_reads_their_notices_over_graphql(api: LiveApi) -> None:
    scores = api.engine.scores().set_index("user")["score"]
    user = str(scores[(scores >= 600) & (scores < 625)].index[0])
    repay = "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId before after } } }"
    for i in range(4):
        api.run("app", repay, i={"id": f"ng-{i}", "user": user, "due": iso(NOW - (30 + i) * DAY), "amount": 9000.0,
                                 "status": "defaulted"})  # fmt: skip
    history = api.store.score_history(user)
    scores_seen = history["score"].astype(int).tolist()
    expected = [
        tier for b, a in zip(scores_seen[-5:-1], scores_seen[-4:], strict=True) for tier, _ in _crossed(b, a)
    ]
    got = api.run("app", """query($u: String!) { user(id: $u) { notices { at tier tierMin scoreBefore scoreAfter
        restorePoints reasons { code points } } subjectExport } }""", u=user)["user"]  # fmt: skip
    assert [n["tier"] for n in got["notices"]] == expected and expected
    for n in got["notices"]:
        assert n["restorePoints"] == n["tierMin"] - n["scoreAfter"] and epoch(n["at"]) > 0
    assert [n["tier"] for n in got["subjectExport"]["notices"]] == expected
    forbidden = api.error("analyst", "query($u: String!) { user(id: $u) { notices { tier } } }", u=user)
    assert forbidden["extensions"]["code"] == "FORBIDDEN"


REQUEST = "mutation($u: String!, $t: String!, $r: String!) { requestReview(user: $u, tier: $t, reason: $r) { id userId tier open requestedAt due requestedBy } }"
RESOLVE = "mutation($id: Int!, $o: ReviewOutcome!, $r: String!) { resolveReview(id: $id, outcome: $o, reason: $r) { id open outcome resolution resolvedBy resolvedAt } }"
QUEUE = "query($all: Boolean!) { reviews(openOnly: $all) { id userId tier due open } }"


def test_a_person_asks_for_human_review_and_an_analyst_resolves_it(api: LiveApi) -> None:
    scores = api.engine.scores().set_index("user")["score"]
    denied = str(scores[scores < 580].index[0])
    granted = str(scores[scores >= 660].index[0])
    before = len(api.store.reviews())
    review = api.run("app", REQUEST, u=denied, t="credit_line", r="I repaid that loan in March")[
        "requestReview"
    ]
    assert review["open"] and review["userId"] == denied and review["requestedBy"] == "test-app"
    assert epoch(review["due"]) - epoch(review["requestedAt"]) == 30 * DAY
    for user, tier, code in ((denied, "credit_line", "CONFLICT"), (granted, "credit_line", "BAD_USER_INPUT"),
                             (denied, "platinum", "BAD_USER_INPUT"), ("nobody-here", "credit_line", "NOT_FOUND")):  # fmt: skip
        error = api.error("app", REQUEST, u=user, t=tier, r="again")
        assert error["extensions"]["code"] == code, (user, tier, error)
    assert len(api.store.reviews()) == before + 1
    queue = api.run("analyst", QUEUE, all=True)["reviews"]
    assert review["id"] in [r["id"] for r in queue] and [r["id"] for r in queue] == sorted(
        r["id"] for r in queue
    )
    assert api.error("app", QUEUE, all=True)["extensions"]["code"] == "FORBIDDEN"
    done = api.run("analyst", RESOLVE, id=review["id"], o="overturned", r="a bank error, confirmed")[
        "resolveReview"
    ]
    assert (done["open"], done["outcome"], done["resolvedBy"]) == (False, "overturned", "test-analyst")
    assert (
        api.error("analyst", RESOLVE, id=review["id"], o="upheld", r="x")["extensions"]["code"] == "CONFLICT"
    )
    assert api.error("analyst", RESOLVE, id=10**9, o="upheld", r="x")["extensions"]["code"] == "NOT_FOUND"
    assert api.error("app", RESOLVE, id=review["id"], o="upheld", r="x")["extensions"]["code"] == "FORBIDDEN"
    assert review["id"] not in [r["id"] for r in api.run("analyst", QUEUE, all=True)["reviews"]]
    assert review["id"] in [r["id"] for r in api.run("analyst", QUEUE, all=False)["reviews"]]
    entries = api.store.audit_log(first=10_000, subject=denied)
    assert [(e.actor, e.action) for e in entries if e.action.startswith("review:")] == [
        ("test-app", "review:request"), ("test-analyst", "review:resolve"),
    ]  # fmt: skip
    export = api.run("app", "query($u: String!) { user(id: $u) { subjectExport } }", u=denied)["user"][
        "subjectExport"
    ]
    assert [(r["tier"], r["outcome"]) for r in export["reviews"]] == [("credit_line", "overturned")]


def test_reviews_on_the_command_line(engine: ScoringEngine) -> None:
    from click.testing import CliRunner

    from credence.cli.main import main

    db = str(engine.store.path)
    scores = engine.scores().set_index("user")["score"]
    user = str(scores[scores < 580].index[0])
    runner = CliRunner()
    made = runner.invoke(main, ["review", "request", user, "--tier", "credit_line", "--reason", "please look",
                                "--db", db, "--now", str(NOW)])  # fmt: skip
    assert made.exit_code == 0 and "[open]" in made.output, made.output
    queue = json.loads(runner.invoke(main, ["review", "list", "--json", "--db", db]).output)
    assert [(r["user"], r["tier"], r["requested_by"]) for r in queue] == [(user, "credit_line", "cli")]
    done = runner.invoke(main, ["review", "resolve", str(queue[0]["id"]), "--outcome", "upheld", "--reason",
                                "the record is right", "--analyst", "ana", "--db", db])  # fmt: skip
    assert done.exit_code == 0 and "upheld by ana" in done.output, done.output
    assert runner.invoke(main, ["review", "list", "--db", db]).output.strip() == "no reviews"
    again = runner.invoke(main, ["review", "resolve", str(queue[0]["id"]), "--outcome", "upheld", "--reason", "x",
                                 "--analyst", "ana", "--db", db])  # fmt: skip
    assert again.exit_code != 0 and "already resolved" in again.output
