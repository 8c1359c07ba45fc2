"""The engine's scoring model and per-user state, on small hand-made arrays (no store)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from credence.core.errors import ParameterError
from credence.core.scale import SCORE_MIN, points
from credence.engine.model import ScoringModel
from credence.engine.state import repayment_arrays, spending_arrays, user_arrays
from credence.scoring.factors import (
    SUB_FACTORS,
    CapacityReference,
    RepaymentArrays,
    SpendingArrays,
    UserArrays,
)
from credence.scoring.policy import COMPONENT_NAMES, DEFAULT_POLICY_PATH, assemble_scores, read_policy

DAY = 86_400
NOW = 1_700_000_000
POLICY = read_policy(DEFAULT_POLICY_PATH)


def with_sharing(name: str) -> ScoringModel:
    return ScoringModel.from_policy(replace(POLICY, diffusion=replace(POLICY.diffusion, sharing=name)))


USERS = UserArrays.build(created=[NOW - 900 * DAY] * 3, id_verified=[True, True, False])
# Users 0 and 1 repay on time; user 1 also defaults and pays a bill late; user 2 has a pending loan.
REPAYMENTS = RepaymentArrays.build(
    user=[0, 0, 1, 1, 1, 2],
    due=[NOW - k * 30 * DAY for k in (1, 2, 1, 2, 3, 0)],
    status=["on_time", "on_time", "on_time", "defaulted", "on_time", "pending"],
)
SPENDING = SpendingArrays.build(
    user=[0, 1, 1], at=[NOW - 5 * DAY] * 3, is_bill=[True, True, True], on_time=[1.0, 0.0, 1.0]
)


def shared_base(model: ScoringModel, repayments: RepaymentArrays, spending: SpendingArrays) -> np.ndarray:
    parts = model.individual(
        USERS, repayments, spending, now=NOW, reference=CapacityReference.from_users(USERS)
    )
    return parts.base


def test_bonus_only_shares_the_base_without_adverse_events() -> None:
    clean = RepaymentArrays.build(
        user=REPAYMENTS.user[[0, 1, 2, 4, 5]],
        due=REPAYMENTS.due[[0, 1, 2, 4, 5]],
        status=REPAYMENTS.status[[0, 1, 2, 4, 5]],
    )
    paid_on_time = SpendingArrays.build(
        user=[0, 1], at=[NOW - 5 * DAY] * 2, is_bill=[True, True], on_time=[1.0, 1.0]
    )
    bonus_only = with_sharing("bonus_only")
    np.testing.assert_array_equal(
        shared_base(bonus_only, REPAYMENTS, SPENDING), shared_base(bonus_only, clean, paid_on_time)
    )
    symmetric = with_sharing("symmetric")
    shared = shared_base(symmetric, REPAYMENTS, SPENDING)
    assert shared[1] < shared_base(symmetric, clean, paid_on_time)[1]
    parts = symmetric.individual(
        USERS, REPAYMENTS, SPENDING, now=NOW, reference=CapacityReference.from_users(USERS)
    )
    np.testing.assert_array_equal(shared, np.clip(parts.components @ symmetric.base_weights, 0.0, 1.0))


def test_scores_points_and_reasons_follow_the_scale() -> None:
    model = ScoringModel.from_policy(POLICY)
    rng = np.random.default_rng(3)
    components = rng.random((50, len(COMPONENT_NAMES)))
    scores = model.scores(components)
    np.testing.assert_array_equal(scores, assemble_scores(components, POLICY.weight_vector()))
    for row in range(components.shape[0]):
        parts = model.component_points(components[row])
        assert [p.name for p in parts] == list(COMPONENT_NAMES)
        assert [p.points for p in parts] == [
            points(POLICY.weights[name], components[row, k]) for k, name in enumerate(COMPONENT_NAMES)
        ]
        assert round(SCORE_MIN + sum(p.points for p in parts)) == scores[row]
    sub_values = rng.random(len(SUB_FACTORS))
    reasons = model.reasons(sub_values, 0.25, top=6)
    assert len(reasons) == 6
    assert [r.points for r in reasons] == sorted((r.points for r in reasons), reverse=True)
    network = [r for r in reasons if r.code == "NW_CONNECTIONS"]
    assert [r.points for r in network] == [points(POLICY.weights["connections"], 0.75)]
    assert all(r.code != "NW_CONNECTIONS" for r in model.reasons(sub_values, 1.0, top=6))


def test_a_policy_without_individual_weight_is_refused() -> None:
    weights = dict.fromkeys(COMPONENT_NAMES, 0.0) | {"connections": 1.0}
    with pytest.raises(ParameterError, match="individual weights"):
        ScoringModel.from_policy(replace(POLICY, weights=weights))


def test_frames_become_arrays_by_row() -> None:
    repayments = pd.DataFrame(
        {
            "user": ["b", "a"],
            "due": [NOW, NOW - DAY],
            "status": ["late", "on_time"],
            "amount": [10.0, 20.0],
            "paid": pd.array([NOW + DAY, None], dtype="Int64"),
        }
    )
    arrays = repayment_arrays(repayments, np.array([1, 0]))
    assert arrays.user.tolist() == [1, 0]
    assert arrays.status.tolist() == [2, 1]
    assert arrays.paid[0] == NOW + DAY and np.isnan(arrays.paid[1])
    assert len(repayment_arrays(repayments.iloc[:0], np.zeros(0, dtype=np.int64))) == 0
    assert len(spending_arrays(pd.DataFrame({"user": []}), np.zeros(0, dtype=np.int64))) == 0
    users = pd.DataFrame(
        {
            "created": [NOW],
            "phone_verified": [True],
            "id_verified": [False],
            "face_verified": [True],
            "education_verified": [False],
            "employer_verified": [False],
            "declared_income": [1200.0],
            "verified_income": [None],
            "verified_assets": [5000.0],
        }
    )
    built = user_arrays(users)
    assert built.face_verified.tolist() == [True] and np.isnan(built.verified_income[0])
    built.id_verified[0] = True  # a copy the engine may write into
    assert users["id_verified"].tolist() == [False]
