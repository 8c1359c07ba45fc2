"""Why a score changed: the decomposition adds up exactly (property-tested), in the engine, the CLI and GraphQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.cli.main import main
from credence.core.errors import ValidationError
from credence.engine import ScoringEngine
from credence.engine.why import explain_score_change
from credence.graph.sqlite import SQLiteStore
from credence.scoring.policy import COMPONENT_NAMES, DEFAULT_POLICY_PATH, read_policy
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, iso, live_population

POLICY = read_policy(DEFAULT_POLICY_PATH)
POPULATION = generate_population(n_users=600, seed=44)
IDS = POPULATION.users["id"].astype(str).tolist()
DAY = 86_400

_unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
_weights = st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=5, max_size=5).map(
    lambda raw: dict(zip(COMPONENT_NAMES, [w / sum(raw) for w in raw], strict=True))
)


def _snapshot(version: str, weights: dict[str, float], values: list[float], at: int) -> dict[str, Any]:
    raw = 350 + sum(600 * weights[name] * value for name, value in zip(COMPONENT_NAMES, values, strict=True))
    return {"model_version": version, "computed_at": at, "score": round(raw),
            **dict(zip(COMPONENT_NAMES, values, strict=True))}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(_unit, min_size=5, max_size=5), after=st.lists(_unit, min_size=5, max_size=5),
    weights_a=_weights, weights_b=_weights, same_model=st.booleans(),
)  # fmt: skip
def test_the_parts_add_up_to_the_point_change(
    before: list[float],
    after: list[float],
    weights_a: dict[str, float],
    weights_b: dict[str, float],
    same_model: bool,
) -> None:
    weights_b = weights_a if same_model else weights_b
    history = pd.DataFrame([_snapshot("m-a", weights_a, before, 0),
                            _snapshot("m-a" if same_model else "m-b", weights_b, after, 60)])  # fmt: skip
    recorded = {"m-a": weights_a, "m-b": weights_b}
    change = explain_score_change(history, recorded, POLICY, user="u", before=0, after=1)
    parts = sum(c.value_points + c.weight_points for c in change.components) + change.rounding
    assert parts == pytest.approx(change.change, abs=1e-9)
    assert change.change == history["score"].iloc[1] - history["score"].iloc[0]
    assert abs(change.rounding) <= 1.0 + 1e-9  # two roundings of at most half a point each
    for c, a, b, name in zip(change.components, before, after, COMPONENT_NAMES, strict=True):
        assert c.points_after - c.points_before == pytest.approx(c.value_points + c.weight_points, abs=1e-9)
        assert c.points_before == pytest.approx(600 * weights_a[name] * a, abs=1e-9)
        assert c.points_after == pytest.approx(600 * weights_b[name] * b, abs=1e-9)
        if same_model:
            assert c.weight_points == 0.0


def test_positions_out_of_range_or_reversed_are_refused() -> None:
    history = pd.DataFrame([_snapshot("m", dict(POLICY.weights), [0.5] * 5, 0)] * 2)
    for before, after in ((0, 2), (-1, 1), (1, 0)):
        with pytest.raises(ValidationError, match=r"positions run|later than"):
            explain_score_change(history, {}, POLICY, user="u", before=before, after=after)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScoringEngine]:
    store = SQLiteStore(tmp_path_factory.mktemp("why") / "why.db")
    store.load(POPULATION.dataset())
    engine = ScoringEngine(store, now=int(POPULATION.now))
    engine.recompute()
    yield engine
    store.close()


def test_a_default_shows_as_credit_history_points(engine: ScoringEngine) -> None:
    user = next(u for u in IDS if engine.score_of(u) >= 600)
    engine.record_repayments(pd.DataFrame({"id": ["why-d1"], "user": [user], "due": [int(POPULATION.now) - 40 * DAY],
                                           "paid": [None], "amount": [5_000.0], "status": ["defaulted"]}))  # fmt: skip
    change = engine.explain_change(user)
    history = engine.store.score_history(user)
    assert (change.before_position, change.after_position) == (len(history) - 2, len(history) - 1)
    assert change.change == int(history["score"].iloc[-1]) - int(history["score"].iloc[-2]) < 0
    by_name = {c.name: c for c in change.components}
    assert by_name["credit_history"].value_points < 0
    assert sum(
        c.value_points + c.weight_points for c in change.components
    ) + change.rounding == pytest.approx(change.change, abs=1e-9)
    since = engine.explain_change(user, since=int(history["computed_at"].iloc[0]) - 1)
    assert since.before_position == 0


def test_the_steps_name_recomputes_and_changes_and_add_up(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "steps.db")
    store.load(POPULATION.dataset())
    now = int(POPULATION.now)
    engine = ScoringEngine(store, now=now)
    engine.recompute()
    user = next(u for u in IDS if engine.score_of(u) >= 600)
    engine.record_repayments(pd.DataFrame({"id": ["step-d1"], "user": [user], "due": [now - 40 * DAY],
                                           "paid": [None], "amount": [5_000.0], "status": ["defaulted"]}))  # fmt: skip
    engine.recompute(now=now + 400 * DAY)  # a year on: the default has aged
    change = engine.explain_change(user, before=0)
    history = store.score_history(user)
    store.close()
    # What the test did, in order: a change at the same evaluation time, then a recompute a year on.
    assert [step.kind for step in change.steps] == ["change", "recompute"]
    assert [step.position for step in change.steps] == [1, 2] and len(history) == 3
    assert change.steps[0].change == int(history["score"].iloc[1]) - int(history["score"].iloc[0]) < 0
    assert sum(step.change for step in change.steps) == change.change
    for step in change.steps:
        assert sum(c.value_points + c.weight_points for c in step.components) == pytest.approx(
            sum(c.points_after - c.points_before for c in step.components), abs=1e-9
        )


def test_why_on_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    runner = CliRunner()
    pop = tmp_path / "pop"
    assert runner.invoke(main, ["seed", str(pop), "--users", "800", "--sybils-per-region", "50", "--rings", "2",
                                "--quiet"]).exit_code == 0  # fmt: skip
    assert runner.invoke(main, ["load", str(pop), "--db", str(db), "--quiet"]).exit_code == 0
    assert runner.invoke(main, ["score", "--db", str(db)]).exit_code == 0
    with SQLiteStore(db) as store:
        user = str(store.get_all_users()["id"].iloc[5])
    result = runner.invoke(main, ["update", "consent", user, "no", "--db", str(db)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["why", user, "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    with SQLiteStore(db) as store:
        history = store.score_history(user)
    assert data["after_position"] == len(history) - 1
    assert data["change"] == int(history["score"].iloc[-1]) - int(
        history["score"].iloc[data["before_position"]]
    )
    text = runner.invoke(main, ["why", user, "--db", str(db)])
    assert text.exit_code == 0 and "connections" in text.output and "rounding" in text.output
    assert "step to snapshot" in text.output and "a change" in text.output
    missing = runner.invoke(main, ["why", "nobody", "--db", str(db)])
    assert missing.exit_code != 0 and "nobody" in missing.output


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_population(request, tmp_path_factory.mktemp(f"why-{request.param}"), POPULATION.dataset(),
                         POPULATION.now) as server:  # fmt: skip
        yield server


CHANGE = """query($u: String!, $from: String, $to: String) { scoreChange(user: $u, from: $from, to: $to) {
    userId change beforeScore afterScore beforeCursor afterCursor beforeModelVersion afterComputedAt rounding
    tiersLost tiersGained components { name pointsBefore pointsAfter valuePoints weightPoints }
    steps { cursor kind change } stepsTotal } }"""


def test_score_change_over_graphql(api: LiveApi) -> None:
    user = next(u for u in IDS if api.engine.score_of(u) >= 600)
    api.run("app", "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }",
            i={"id": "why-api", "user": user, "due": iso(POPULATION.now - 30 * DAY), "amount": 4000.0,
               "status": "defaulted"})  # fmt: skip
    got = api.run("app", CHANGE, u=user)["scoreChange"]
    history = api.store.score_history(user)
    weights = api.store.model_weights().get(str(history["model_version"].iloc[-1])) or dict(
        api.engine.policy.weights
    )
    last, previous = history.iloc[-1], history.iloc[-2]
    assert (got["beforeScore"], got["afterScore"]) == (int(previous["score"]), int(last["score"]))
    assert got["change"] == got["afterScore"] - got["beforeScore"]
    for c in got["components"]:
        assert c["pointsAfter"] == pytest.approx(600 * weights[c["name"]] * float(last[c["name"]]), abs=1e-9)
    total = sum(c["valuePoints"] + c["weightPoints"] for c in got["components"]) + got["rounding"]
    assert total == pytest.approx(got["change"], abs=1e-9)
    assert got["afterComputedAt"] == iso(int(last["computed_at"]))
    # The same pair named by the cursors it answered with, and the whole history at once.
    again = api.run("app", CHANGE, u=user, **{"from": got["beforeCursor"], "to": got["afterCursor"]})[
        "scoreChange"
    ]
    assert again == got
    oldest = api.run("app", "query($u: String!) { user(id: $u) { history(last: 1) { edges { cursor } } } }",
                     u=user)["user"]["history"]["edges"][0]["cursor"]  # fmt: skip
    whole = api.run("app", CHANGE, u=user, **{"from": oldest})["scoreChange"]
    assert whole["change"] == int(last["score"]) - int(history["score"].iloc[0])
    assert whole["stepsTotal"] == len(history) - 1 and [s["kind"] for s in whole["steps"]][-1] == "change"
    assert sum(s["change"] for s in whole["steps"]) == whole["change"]
    reversed_ = api.error("app", CHANGE, u=user, **{"from": got["afterCursor"], "to": oldest})
    assert reversed_["extensions"]["code"] == "BAD_USER_INPUT", reversed_
    bad = api.error("app", CHANGE, u=user, **{"from": "not-a-cursor"})
    assert bad["extensions"]["code"] == "BAD_USER_INPUT" and bad["extensions"]["column"] == "from", bad
    unknown = api.error("app", CHANGE, u="nobody-here")
    assert unknown["extensions"]["code"] == "NOT_FOUND", unknown
