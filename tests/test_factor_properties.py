"""Property tests of the individual components and the assembled score.

The product requirements checked here, on arbitrary valid inputs:

1. every sub-factor and component is a finite number in [0, 1];
2. an on-time repayment never lowers the payer's base (the weighted sum of their
   four individual components) nor their assembled score, network component
   included; nobody else's base moves;
3. a default never raises the payer's base nor their score;
4. the points lost over all sub-factors add up to ``600 * sum_k w_k (1 - c_k)``;
5. ``adverse_reasons`` names at most ``top`` (default 4) reasons, the largest
   losses, sorted, each costing points.

Scores use the default policy (``credence/scoring/policies/default.toml``). Examples are
generated independently of ``tests/test_factors.py``, over a wider range: events
decades old and in the future, zero and huge amounts, many events per user, an
explicit capacity reference, arbitrary formula constants.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.errors import ParameterError
from credence.scoring.diffusion import network_component
from credence.scoring.factors import (
    COMPONENTS,
    SUB_FACTORS,
    CapacityReference,
    FactorParams,
    FactorResult,
    RepaymentArrays,
    SpendingArrays,
    UserArrays,
    adverse_reasons,
    compute_factors,
)
from credence.scoring.policy import COMPONENT_NAMES, DEFAULT_POLICY_PATH, assemble_scores, read_policy

DAY = 86_400
NOW = 1_700_000_000
J = len(SUB_FACTORS)
PENDING, ON_TIME, LATE, MISSED, DEFAULTED = range(5)

POLICY = read_policy(DEFAULT_POLICY_PATH)
WEIGHTS = POLICY.weight_vector()  # COMPONENT_NAMES order: the four individual ones, then connections
W4 = WEIGHTS[: len(COMPONENTS)]
# sub-factor weight s_kj and component weight w_k of every column, from the table (not the module)
S = np.array([sf.weight for sf in SUB_FACTORS])
W_OF = np.array([POLICY.weights[sf.component] for sf in SUB_FACTORS])

PROPERTY = settings(max_examples=80, deadline=None)

Population = tuple[UserArrays, RepaymentArrays, SpendingArrays]


def test_policy_and_factor_components_line_up() -> None:
    assert COMPONENT_NAMES[: len(COMPONENTS)] == COMPONENTS
    assert COMPONENT_NAMES[len(COMPONENTS) :] == ("connections",)
    assert W4.tolist() == [0.35, 0.25, 0.20, 0.15]


# --------------------------------------------------------------------------- strategies

TIMES = st.integers(NOW - 40 * 365 * DAY, NOW + 400 * DAY)
AMOUNTS = st.one_of(
    st.just(np.nan),
    st.just(0.0),
    st.floats(0.0, 1e12, allow_subnormal=False),
    st.sampled_from([100.0, 5000.0]),
)
FLAGS = ("phone_verified", "id_verified", "face_verified", "education_verified", "employer_verified")


def _column(draw: st.DrawFn, element: st.SearchStrategy[Any], size: int) -> list[Any]:
    return draw(st.lists(element, min_size=size, max_size=size))


@st.composite
def populations(draw: st.DrawFn, max_users: int = 6) -> Population:
    n = draw(st.integers(1, max_users))
    users = UserArrays.build(
        created=np.array(_column(draw, TIMES, n), dtype=np.int64),
        **{flag: np.array(_column(draw, st.booleans(), n), dtype=bool) for flag in FLAGS},
        declared_income=np.array(_column(draw, AMOUNTS, n)),
        verified_income=np.array(_column(draw, AMOUNTS, n)),
        verified_assets=np.array(_column(draw, AMOUNTS, n)),
    )
    m = draw(st.integers(0, 30))
    repayments = RepaymentArrays.build(
        user=np.array(_column(draw, st.integers(0, n - 1), m), dtype=np.int64),
        due=np.array(_column(draw, TIMES, m), dtype=np.int64),
        status=np.array(_column(draw, st.integers(PENDING, DEFAULTED), m), dtype=np.int8),
        amount=np.array(_column(draw, st.floats(0.01, 1e6), m)),
    )
    k = draw(st.integers(0, 30))
    bills = np.array(_column(draw, st.booleans(), k), dtype=bool)
    paid_on_time = np.array(_column(draw, st.sampled_from([0.0, 1.0]), k))
    spending = SpendingArrays.build(
        user=np.array(_column(draw, st.integers(0, n - 1), k), dtype=np.int64),
        at=np.array(_column(draw, TIMES, k), dtype=np.int64),
        amount=np.array(_column(draw, st.floats(0.01, 1e9), k)),
        is_bill=bills,
        on_time=np.where(bills, paid_on_time, np.nan),
    )
    return users, repayments, spending


def _positive(hi: float = 1e4) -> st.SearchStrategy[float]:
    return st.floats(0.01, hi)


PARAMS = st.one_of(
    st.none(),
    st.builds(
        lambda severities, **kw: FactorParams(
            ch_late_severity=severities[0],
            ch_missed_severity=severities[1],
            ch_default_severity=severities[2],
            **kw,
        ),
        severities=st.lists(st.floats(0, 5), min_size=3, max_size=3).map(sorted),
        ch_half_life_days=_positive(),
        ch_prior_on_time=_positive(50),
        ch_prior_late=_positive(50),
        ch_default_half_life_days=_positive(),
        ch_default_keep=st.floats(0, 1),
        ch_delinquency_window_days=_positive(),
        ch_delinquency_keep=st.floats(0, 1),
        ch_length_full_days=_positive(),
        ch_length_unit_days=_positive(),
        ch_count_half=_positive(50),
        fc_floor=st.floats(0, 1),
        bh_half_life_days=_positive(),
        bh_prior_on_time=_positive(50),
        bh_prior_late=_positive(50),
        bh_months=st.integers(2, 24),
        bh_month_days=st.floats(1, 60),
        bh_age_full_days=_positive(),
        bh_age_unit_days=_positive(),
        bh_activity_half_life_days=_positive(),
        bh_activity_half_count=_positive(50),
    ),
)


@st.composite
def references(draw: st.DrawFn) -> CapacityReference | None:
    if draw(st.booleans()):
        return None
    sizes = st.integers(0, 8)
    amounts = st.floats(0.0, 1e9)

    def sorted_array(k: int) -> np.ndarray:
        return np.sort(np.array(_column(draw, amounts, k)))

    return CapacityReference(sorted_array(draw(sizes)), sorted_array(draw(sizes)), sorted_array(draw(sizes)))


@st.composite
def graphs(draw: st.DrawFn, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric weighted adjacency over ``n`` users and a participation mask."""
    upper = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            if draw(st.booleans()):
                upper[i, j] = draw(st.floats(0.1, 10.0))
    participating = np.array(_column(draw, st.booleans(), n), dtype=bool)
    return upper + upper.T, participating


# --------------------------------------------------------------------------- helpers


def _factors(
    pop: Population, params: FactorParams | None = None, reference: CapacityReference | None = None
) -> FactorResult:
    users, repayments, spending = pop
    return compute_factors(users, repayments, spending, now=NOW, params=params, reference=reference)


def _with_repayment(repayments: RepaymentArrays, user: int, due: int, status: int) -> RepaymentArrays:
    return RepaymentArrays.build(
        user=np.append(repayments.user, user),
        due=np.append(repayments.due, due),
        status=np.append(repayments.status, np.int8(status)),
        amount=np.append(repayments.amount, 1.0),
    )


def _scores(individual: np.ndarray, connections: np.ndarray) -> np.ndarray:
    return assemble_scores(np.column_stack([individual, connections]), WEIGHTS)


def _network(individual: np.ndarray, adjacency: np.ndarray, participating: np.ndarray) -> np.ndarray:
    """The connections component from the base ``b`` (the four components' weighted mix, in [0, 1])."""
    base = np.clip(individual @ W4 / W4.sum(), 0.0, 1.0)
    d = POLICY.diffusion
    if not participating.any():
        return np.full(base.size, 0.5)  # nobody in the network: a fixed neutral value
    return network_component(
        adjacency,
        base,
        damping=d.damping,
        shrinkage=d.shrinkage,
        sharing=d.sharing,
        participating=participating,
        tol=d.tol,
    ).value


# --------------------------------------------------------------------------- 1. unit interval


@PROPERTY
@given(pop=populations(), params=PARAMS, reference=references())
def test_every_value_is_in_the_unit_interval(
    pop: Population, params: FactorParams | None, reference: CapacityReference | None
) -> None:
    r = _factors(pop, params, reference)
    n = len(pop[0])
    assert r.sub_values.shape == (n, J)
    assert r.components.shape == (n, len(COMPONENTS))
    for values in (r.sub_values, r.components):
        assert np.isfinite(values).all()
        assert (values >= 0.0).all()
        assert (values <= 1.0).all()
    # and the assembled score stays in range for any connections value
    scores = _scores(r.components, np.full(n, 0.5))
    assert ((scores >= 350) & (scores <= 950)).all()


# --------------------------------------------------------------------------- 2. on-time repayments


@PROPERTY
@given(
    pop=populations(),
    who=st.integers(0, 5),
    due=TIMES,
    params=PARAMS,
    reference=references(),
    connections=st.floats(0.0, 1.0),
)
def test_an_on_time_repayment_never_lowers_base_or_score(
    pop: Population,
    who: int,
    due: int,
    params: FactorParams | None,
    reference: CapacityReference | None,
    connections: float,
) -> None:
    users, repayments, spending = pop
    who %= len(users)
    before = _factors(pop, params, reference).components
    after = _factors((users, _with_repayment(repayments, who, due, ON_TIME), spending), params, reference)
    base_before, base_after = before @ W4, after.components @ W4
    assert base_after[who] >= base_before[who] - 1e-12
    others = np.arange(len(users)) != who
    np.testing.assert_array_equal(after.components[others], before[others])
    fixed = np.full(len(users), connections)
    assert _scores(after.components, fixed)[who] >= _scores(before, fixed)[who]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), pop=populations(max_users=5), due=TIMES, status=st.sampled_from([ON_TIME, DEFAULTED]))
def test_the_full_score_with_the_network_moves_the_right_way(
    data: st.DataObject, pop: Population, due: int, status: int
) -> None:
    # the payer's own network component depends on their base too (walks that return to
    # them, and the neutral prior mu = mean base): it must move the same way
    users, repayments, spending = pop
    n = len(users)
    who = data.draw(st.integers(0, n - 1), label="who")
    adjacency, participating = data.draw(graphs(n), label="graph")
    before = _factors(pop).components
    after = _factors((users, _with_repayment(repayments, who, due, status), spending)).components
    score_before = _scores(before, _network(before, adjacency, participating))[who]
    score_after = _scores(after, _network(after, adjacency, participating))[who]
    if status == ON_TIME:
        assert score_after >= score_before
    else:
        assert score_after <= score_before


# --------------------------------------------------------------------------- 3. defaults


@PROPERTY
@given(
    pop=populations(),
    who=st.integers(0, 5),
    due=TIMES,
    params=PARAMS,
    reference=references(),
    connections=st.floats(0.0, 1.0),
)
def test_a_default_never_raises_base_or_score(
    pop: Population,
    who: int,
    due: int,
    params: FactorParams | None,
    reference: CapacityReference | None,
    connections: float,
) -> None:
    users, repayments, spending = pop
    who %= len(users)
    before = _factors(pop, params, reference).components
    after = _factors((users, _with_repayment(repayments, who, due, DEFAULTED), spending), params, reference)
    assert (after.components @ W4)[who] <= (before @ W4)[who] + 1e-12
    others = np.arange(len(users)) != who
    np.testing.assert_array_equal(after.components[others], before[others])
    fixed = np.full(len(users), connections)
    assert _scores(after.components, fixed)[who] <= _scores(before, fixed)[who]


@PROPERTY
@given(pop=populations(), pick=st.integers(0, 10**6), params=PARAMS)
def test_declaring_a_repayment_defaulted_never_raises_the_score(
    pop: Population, pick: int, params: FactorParams | None
) -> None:
    # a repayment of any status (a missed one, typically) is declared defaulted; FactorParams
    # guarantees late <= missed <= defaulted severity (test_unordered_severities_are_refused)
    users, repayments, spending = pop
    if len(repayments) == 0:
        return
    i = pick % len(repayments)
    status = repayments.status.copy()
    status[i] = DEFAULTED
    worse = dataclasses.replace(repayments, status=status)
    who = int(repayments.user[i])
    before = _factors(pop, params).components
    after = _factors((users, worse, spending), params).components
    assert (after @ W4)[who] <= (before @ W4)[who] + 1e-12
    fixed = np.full(len(users), 0.5)
    assert _scores(after, fixed)[who] <= _scores(before, fixed)[who]


@PROPERTY
@given(pop=populations(), pick=st.integers(0, 10**6), params=PARAMS)
def test_paying_a_pending_repayment_on_time_never_lowers_the_score(
    pop: Population, pick: int, params: FactorParams | None
) -> None:
    users, repayments, spending = pop
    pending = np.flatnonzero(repayments.status == PENDING)
    if pending.size == 0:
        return
    i = int(pending[pick % pending.size])
    status = repayments.status.copy()
    status[i] = ON_TIME
    paid = dataclasses.replace(repayments, status=status)
    who = int(repayments.user[i])
    before = _factors(pop, params).components
    after = _factors((users, paid, spending), params).components
    assert (after @ W4)[who] >= (before @ W4)[who] - 1e-12
    fixed = np.full(len(users), 0.5)
    assert _scores(after, fixed)[who] >= _scores(before, fixed)[who]


def test_unordered_severities_are_refused() -> None:
    # Counterexample (default weights, connections 0.5): a user whose only repayment, due 120
    # days ago, is missed scores 519; with FactorParams(ch_default_severity=0, ch_default_keep=1)
    # the same repayment declared defaulted scored 527, before FactorParams required
    # ch_late_severity <= ch_missed_severity <= ch_default_severity.
    with pytest.raises(ParameterError):
        FactorParams(ch_missed_severity=1.0, ch_default_severity=0.0)


# --------------------------------------------------------------------------- 4. points lost


@PROPERTY
@given(pop=populations(), params=PARAMS, reference=references())
def test_points_lost_add_up_exactly(
    pop: Population, params: FactorParams | None, reference: CapacityReference | None
) -> None:
    r = _factors(pop, params, reference)
    reasons = adverse_reasons(r.sub_values, POLICY.weights, top=J)
    expected = 600.0 * ((1.0 - r.components) @ W4)
    np.testing.assert_allclose(reasons.points.sum(axis=1), expected, rtol=0, atol=1e-9)
    # and each named loss is 600 * w_k * s_kj * (1 - f_kj), from the table
    for row in range(len(pop[0])):
        for j, pts in zip(reasons.index[row], reasons.points[row], strict=True):
            if j >= 0:
                assert pts == pytest.approx(600.0 * W_OF[j] * S[j] * (1.0 - r.sub_values[row, j]), abs=1e-9)
    # with the connections component the gap to 950 is the points lost plus 600 w_c (1 - c)
    connections = np.full(len(pop[0]), 0.25)
    raw = 350.0 + 600.0 * (np.column_stack([r.components, connections]) @ WEIGHTS)
    np.testing.assert_allclose(
        950.0 - raw, reasons.points.sum(axis=1) + 600.0 * WEIGHTS[-1] * 0.75, rtol=0, atol=1e-9
    )


# --------------------------------------------------------------------------- 5. the top reasons


@PROPERTY
@given(pop=populations(), params=PARAMS, top=st.one_of(st.none(), st.integers(1, J + 3)))
def test_adverse_reasons_are_the_largest_losses(
    pop: Population, params: FactorParams | None, top: int | None
) -> None:
    r = _factors(pop, params)
    reasons = (
        adverse_reasons(r.sub_values, POLICY.weights)
        if top is None
        else adverse_reasons(r.sub_values, POLICY.weights, top=top)
    )
    limit = 4 if top is None else top
    lost = 600.0 * W_OF * S * (1.0 - r.sub_values)  # every loss, computed here from the table
    assert reasons.index.shape == reasons.points.shape == (len(pop[0]), limit)
    for row in range(len(pop[0])):
        explained = reasons.explain(row)
        assert len(explained) <= min(limit, J)
        points = [pts for _, _, pts in explained]
        assert all(p > 0 for p in points)
        assert points == sorted(points, reverse=True)
        codes = [code for code, _, _ in explained]
        assert len(set(codes)) == len(codes)
        assert codes == reasons.codes(row)
        # exactly the largest positive losses: their number, and nothing left out costs more
        positive = np.sort(lost[row][lost[row] > 0])[::-1]
        assert len(points) == min(limit, positive.size)
        np.testing.assert_allclose(points, positive[: len(points)], rtol=0, atol=1e-9)
        named = {SUB_FACTORS[j].code for j in reasons.index[row] if j >= 0}
        left_out = [lost[row, j] for j in range(J) if SUB_FACTORS[j].code not in named]
        if points and left_out:
            assert max(left_out) <= points[-1] + 1e-9
        # text is the table's
        for code, text, _ in explained:
            assert text == next(sf.text for sf in SUB_FACTORS if sf.code == code)
