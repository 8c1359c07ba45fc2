"""Score histories priced with the model that produced each snapshot, through a live server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credence.graph.model import COMPONENTS
from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
from credence.seeds.synthetic import generate_population
from tests.api_server import live_api

OLD_MODEL = {
    "credit_history": 0.5,
    "fulfilment_capacity": 0.2,
    "behaviour": 0.1,
    "identity": 0.1,
    "connections": 0.1,
}
VALUES = {
    "credit_history": 0.8,
    "fulfilment_capacity": 0.4,
    "behaviour": 0.6,
    "identity": 0.2,
    "connections": 0.5,
}

QUERY = """query($u: String!) { user(id: $u) { history(first: 10) { edges { node {
    modelVersion computedAt score components { name value weight points } } } } } }"""


def snapshot(user: str, version: str, at: int) -> pd.DataFrame:
    # The score the old model gave, written by hand: 350 + 600 * sum(w * c).
    score = round(350 + 600 * sum(OLD_MODEL[c] * VALUES[c] for c in COMPONENTS))
    return pd.DataFrame({"user": [user], "model_version": [version], "computed_at": [at], "score": [score],
                         **{c: [VALUES[c]] for c in COMPONENTS}})  # fmt: skip


def test_old_snapshots_are_priced_with_their_own_models_weights(store: Any, tmp_path: Path) -> None:
    population = generate_population(n_users=1000, seed=3)
    store.load(population.dataset())
    user = str(population.users["id"].iloc[0])
    # Two older snapshots: one of a recorded old model, one of a version nobody recorded.
    store.write_scores(snapshot(user, "old-model", population.now - 200), model_weights=OLD_MODEL)
    store.write_scores(snapshot(user, "legacy", population.now - 100))
    current = read_policy(DEFAULT_POLICY_PATH)
    with live_api(store, population.now, tmp_path) as api:
        edges = api.run("app", QUERY, u=user)["user"]["history"]["edges"]
    by_version = {edge["node"]["modelVersion"]: edge["node"] for edge in edges}
    assert set(by_version) == {"old-model", "legacy", current.version}
    for version, weights in (("old-model", OLD_MODEL), ("legacy", current.weights)):
        node = by_version[version]
        for component in node["components"]:
            name = component["name"]
            assert component["value"] == pytest.approx(VALUES[name])
            assert component["weight"] == pytest.approx(weights[name])
            assert component["points"] == pytest.approx(600 * weights[name] * VALUES[name])
    old = by_version["old-model"]
    assert 350 + sum(c["points"] for c in old["components"]) == pytest.approx(old["score"], abs=0.5)
    # The engine recorded the model in force when the live server scored everyone.
    assert store.model_weights()[current.version] == dict(current.weights)
