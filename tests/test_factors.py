"""The individual score components (credence/scoring/factors.py).

Known answers are worked out by hand in the comments, with the default
:class:`FactorParams`: recency half-life 365 days, Beta prior 2 on-time / 1 late,
default half-life 730 days keeping 0.25 per fresh default, delinquency window 365
days keeping 0.5 per unit of severity (late 0.5, missed 1, defaulted 1), history
length log(1 + t/90) / log(1 + 1825/90), on-time count 1 - 2**(-N/3), capacity floor
0.2, 12 months of 365/12 days, account age log(1 + t/90) / log(1 + 1095/90),
activity half-life 90 days and half-count 3.

Sub-factor weights (see SUB_FACTORS):
credit_history  0.30 rate, 0.25 no defaults, 0.10 no recent delinquency, 0.15 length, 0.20 count
capacity        0.40 verified income, 0.20 income level, 0.40 verified assets
behaviour       0.40 bill rate, 0.20 regularity, 0.20 account age, 0.20 activity
identity        0.30 ID, 0.30 face, 0.20 phone, 0.10 education, 0.10 employer
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.errors import ParameterError
from credence.scoring.factors import (
    COMPONENTS,
    DEFAULT_COMPONENT_WEIGHTS,
    REPAYMENT_STATUSES,
    SUB_FACTORS,
    CapacityReference,
    FactorParams,
    RepaymentArrays,
    SpendingArrays,
    UserArrays,
    adverse_reasons,
    component_slice,
    compute_factors,
    sub_factor_index,
)

DAY = 86_400
NOW = 1_700_000_000
MONTH = 365 / 12  # days
J = len(SUB_FACTORS)
ON_TIME, LATE, MISSED, DEFAULTED = 1, 2, 3, 4


def _users(n: int, **cols: Any) -> UserArrays:
    return UserArrays.build(created=cols.pop("created", np.full(n, NOW)), **cols)


def _ch(rep: RepaymentArrays, n: int = 1) -> np.ndarray:
    return compute_factors(_users(n), rep, SpendingArrays.empty(), now=NOW).component("credit_history")


def _sub(result: Any, code: str, row: int = 0) -> float:
    return float(result.sub_factor(code)[row])


def _length(days: float, full: float = 1825.0) -> float:
    return math.log(1 + days / 90) / math.log(1 + full / 90)


# --------------------------------------------------------------------------- structure


def test_sub_factor_table_is_consistent() -> None:
    assert COMPONENTS == ("credit_history", "fulfilment_capacity", "behaviour", "identity")
    for name in COMPONENTS:
        members = SUB_FACTORS[component_slice(name)]
        assert all(sf.component == name for sf in members)
        assert math.fsum(sf.weight for sf in members) == pytest.approx(1.0, abs=1e-12)
        assert all(sf.weight > 0 for sf in members)
    prefixes = {"credit_history": "CH_", "fulfilment_capacity": "FC_", "behaviour": "BH_", "identity": "ID_"}
    assert all(sf.code.startswith(prefixes[sf.component]) for sf in SUB_FACTORS)
    assert len({sf.code for sf in SUB_FACTORS}) == J
    assert sub_factor_index("CH_ON_TIME_RATE") == 0
    with pytest.raises(ParameterError):
        sub_factor_index("NOPE")
    with pytest.raises(ParameterError):
        component_slice("connections")


def test_statuses_match_the_data_model() -> None:
    from credence.graph.model import REPAYMENT_STATUSES as MODEL_STATUSES

    assert REPAYMENT_STATUSES == MODEL_STATUSES


def test_no_history_is_neutral_low() -> None:
    # rate = prior mean 2/3; no defaults 1; no recent delinquency 1; length 0; count 0:
    # 0.30 * 2/3 + 0.25 + 0.10 = 0.55
    r = compute_factors(_users(1), RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    assert r.component("credit_history")[0] == pytest.approx(0.55, abs=1e-12)
    assert _sub(r, "CH_ON_TIME_RATE") == pytest.approx(2 / 3)
    assert _sub(r, "CH_HISTORY_LENGTH") == 0.0
    assert _sub(r, "CH_ON_TIME_COUNT") == 0.0


def test_one_on_time_repayment_a_year_ago() -> None:
    rep = RepaymentArrays.build(user=[0], due=[NOW - 365 * DAY], status=["on_time"])
    r = compute_factors(_users(1), rep, SpendingArrays.empty(), now=NOW)
    # weight 2**-1 = 0.5: rate = (2 + 0.5) / (3 + 0.5) = 5/7 = 0.714286
    assert _sub(r, "CH_ON_TIME_RATE") == pytest.approx(5 / 7)
    # length: log(1 + 365/90) / log(1 + 1825/90) = 1.620488 / 3.057663 = 0.529976
    assert _sub(r, "CH_HISTORY_LENGTH") == pytest.approx(0.529976, abs=1e-6)
    # count: 1 - 2**(-1/3) = 0.206299
    assert _sub(r, "CH_ON_TIME_COUNT") == pytest.approx(0.206299, abs=1e-6)
    assert _sub(r, "CH_NO_DEFAULTS") == 1.0
    assert _sub(r, "CH_NO_RECENT_DELINQUENCY") == 1.0
    # 0.3 * 0.714286 + 0.25 + 0.10 + 0.15 * 0.529976 + 0.2 * 0.206299
    # = 0.214286 + 0.35 + 0.079496 + 0.041260 = 0.685042
    assert r.component("credit_history")[0] == pytest.approx(0.685042, abs=1e-6)


def test_a_default_two_years_ago() -> None:
    rep = RepaymentArrays.build(user=[0], due=[NOW - 730 * DAY], status=["defaulted"])
    r = compute_factors(_users(1), rep, SpendingArrays.empty(), now=NOW)
    # rate weight 2**-2 = 0.25 (a failure): rate = 2 / 3.25 = 0.615385
    assert _sub(r, "CH_ON_TIME_RATE") == pytest.approx(2 / 3.25)
    # default weight 2**(-730/730) = 0.5: 0.25**0.5 = 0.5
    assert _sub(r, "CH_NO_DEFAULTS") == pytest.approx(0.5)
    # older than the 365-day window: no recent delinquency
    assert _sub(r, "CH_NO_RECENT_DELINQUENCY") == 1.0
    # a default neither starts the history nor counts as on time
    assert _sub(r, "CH_HISTORY_LENGTH") == 0.0
    assert _sub(r, "CH_ON_TIME_COUNT") == 0.0
    # 0.3 * 0.615385 + 0.25 * 0.5 + 0.10 = 0.184615 + 0.125 + 0.1 = 0.409615
    assert r.component("credit_history")[0] == pytest.approx(0.409615, abs=1e-6)


def test_a_fresh_default_and_a_recent_late_payment() -> None:
    rep = RepaymentArrays.build(user=[0, 1], due=[NOW, NOW - 73 * DAY], status=["defaulted", "late"])
    r = compute_factors(_users(2), rep, SpendingArrays.empty(), now=NOW)
    # user 0, default due today: rate 2 / 4 = 0.5, no defaults 0.25**1 = 0.25,
    # recent: severity 1 * (1 - 0) -> 0.5**1 = 0.5
    # CH = 0.3 * 0.5 + 0.25 * 0.25 + 0.1 * 0.5 = 0.15 + 0.0625 + 0.05 = 0.2625
    assert r.component("credit_history")[0] == pytest.approx(0.2625)
    # user 1, late 73 days ago (0.2 of the window, 0.2 of a half-life):
    # rate = 2 / (3 + 2**-0.2) = 2 / 3.870551 = 0.516722
    # recent: severity 0.5 * (1 - 0.2) = 0.4 -> 0.5**0.4 = 0.757858
    # CH = 0.3 * 0.516722 + 0.25 + 0.1 * 0.757858 = 0.155017 + 0.25 + 0.075786 = 0.480802
    assert _sub(r, "CH_ON_TIME_RATE", 1) == pytest.approx(0.516722, abs=1e-6)
    assert _sub(r, "CH_NO_RECENT_DELINQUENCY", 1) == pytest.approx(0.757858, abs=1e-6)
    assert r.component("credit_history")[1] == pytest.approx(0.480802, abs=1e-6)


def test_missed_counts_fully_in_the_window() -> None:
    rep = RepaymentArrays.build(
        user=[0, 0], due=[NOW - 10 * DAY, NOW - 10 * DAY], status=["missed", "missed"]
    )
    r = compute_factors(_users(1), rep, SpendingArrays.empty(), now=NOW)
    # severity 2 * (1 - 10/365) = 1.945205 -> 0.5**1.945205 = 0.259956
    assert _sub(r, "CH_NO_RECENT_DELINQUENCY") == pytest.approx(0.5 ** (2 * (1 - 10 / 365)))
    assert _sub(r, "CH_NO_DEFAULTS") == 1.0


def test_pending_events_do_not_count() -> None:
    rep = RepaymentArrays.build(
        user=[0, 0], due=[NOW + 30 * DAY, NOW - 400 * DAY], status=["pending", "pending"]
    )
    assert _ch(rep)[0] == pytest.approx(0.55)


def test_history_length_saturates_at_five_years() -> None:
    rep = RepaymentArrays.build(
        user=[0, 0, 1, 2],
        due=[NOW - 100 * DAY, NOW - 2000 * DAY, NOW - 1825 * DAY, NOW - 900 * DAY],
        status=["on_time", "on_time", "on_time", "on_time"],
    )
    r = compute_factors(_users(3), rep, SpendingArrays.empty(), now=NOW)
    length = r.sub_factor("CH_HISTORY_LENGTH")
    # from the FIRST on-time repayment: 2000 days > 1825 -> 1; exactly 1825 -> 1
    assert length[0] == 1.0
    assert length[1] == pytest.approx(1.0)
    # 900 days: log(11) / log(21.277778) = 2.397895 / 3.057663 = 0.784225
    assert length[2] == pytest.approx(0.784225, abs=1e-6)
    # two on-time: 1 - 2**(-2/3) = 0.370039
    assert r.sub_factor("CH_ON_TIME_COUNT")[0] == pytest.approx(0.370039, abs=1e-6)


def test_events_after_now_count_as_now() -> None:
    rep = RepaymentArrays.build(user=[0], due=[NOW + 5 * DAY], status=["on_time"])
    r = compute_factors(_users(1), rep, SpendingArrays.empty(), now=NOW)
    # weight 1, not 2**(5/365): rate (2 + 1) / (3 + 1) = 0.75; length 0
    assert _sub(r, "CH_ON_TIME_RATE") == pytest.approx(0.75)
    assert _sub(r, "CH_HISTORY_LENGTH") == 0.0


# --------------------------------------------------------------------------- capacity


def test_capacity_percentiles_against_the_population() -> None:
    users = _users(
        4,
        verified_income=[100.0, 200.0, 300.0, np.nan],
        declared_income=[np.nan, 999.0, np.nan, 500.0],
        verified_assets=[np.nan, 50.0, np.nan, np.nan],
    )
    r = compute_factors(users, RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    # verified incomes 100, 200, 300: mid-rank CDF 1/6, 3/6, 5/6 -> 0.2 + 0.8 F
    np.testing.assert_allclose(r.sub_factor("FC_VERIFIED_INCOME"), [1 / 3, 0.6, 0.2 + 0.8 * 5 / 6, 0.0])
    # best known income (verified wins over declared): 100, 200, 300, 500 -> F 1/8, 3/8, 5/8, 7/8
    np.testing.assert_allclose(r.sub_factor("FC_INCOME_LEVEL"), [0.3, 0.5, 0.7, 0.9])
    # one verified asset: F = 1/2 -> 0.6
    np.testing.assert_allclose(r.sub_factor("FC_VERIFIED_ASSETS"), [0.0, 0.6, 0.0, 0.0])
    # user 0: 0.4/3 + 0.2*0.3 = 0.193333; user 1: 0.24 + 0.1 + 0.24 = 0.58;
    # user 2: 0.4 * 0.866667 + 0.2 * 0.7 = 0.486667; user 3 (declared only): 0.2 * 0.9 = 0.18
    np.testing.assert_allclose(
        r.component("fulfilment_capacity"), [0.193333, 0.58, 0.486667, 0.18], atol=1e-6
    )


def test_capacity_ties_and_unknowns() -> None:
    users = _users(3, verified_income=[100.0, 100.0, np.nan])
    r = compute_factors(users, RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    # tie: F = (0 + 2) / 4 = 0.5 -> 0.6 for both; unknown -> 0
    np.testing.assert_allclose(r.sub_factor("FC_VERIFIED_INCOME"), [0.6, 0.6, 0.0])
    # nobody knows anything: all zero, no warnings
    r = compute_factors(_users(2), RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    assert (r.component("fulfilment_capacity") == 0).all()


def test_capacity_against_a_fixed_reference() -> None:
    pop = _users(5, verified_income=[10.0, 20.0, 30.0, 40.0, 50.0], verified_assets=[1.0, 2, 3, 4, 5])
    full = compute_factors(pop, RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    ref = CapacityReference.from_users(pop)
    one = _users(1, verified_income=[30.0], verified_assets=[4.0])
    alone = compute_factors(one, RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW, reference=ref)
    assert alone.sub_factor("FC_VERIFIED_INCOME")[0] == full.sub_factor("FC_VERIFIED_INCOME")[2]
    assert alone.sub_factor("FC_VERIFIED_ASSETS")[0] == full.sub_factor("FC_VERIFIED_ASSETS")[3]
    with pytest.raises(ParameterError, match="sorted"):
        CapacityReference(np.array([2.0, 1.0]), np.zeros(0), np.zeros(0))


# --------------------------------------------------------------------------- behaviour


def test_behaviour_known_answers() -> None:
    months = np.arange(12)
    at0 = NOW - ((months + 0.5) * MONTH * DAY).astype(np.int64)  # mid-month, last 12 months
    six = at0[::2]  # every other month
    spend = SpendingArrays.build(
        user=np.concatenate([np.zeros(12, np.int64), [1], [2, 2], np.full(6, 3)]),
        at=np.concatenate([at0, [NOW], [NOW, NOW], six]),
        amount=np.concatenate([np.full(12, 10.0), [5.0], [1.0, 1.0], np.full(6, 7.0)]),
        is_bill=np.concatenate([np.zeros(12, bool), [False], [True, True], np.zeros(6, bool)]),
        on_time=np.concatenate([np.full(12, np.nan), [np.nan], [1.0, 0.0], np.full(6, np.nan)]),
    )
    created = [NOW - 1095 * DAY, NOW, NOW - 365 * DAY, NOW + 10 * DAY]
    r = compute_factors(_users(4, created=created), RepaymentArrays.empty(), spend, now=NOW)
    # bills: user 2 has one on time and one late today: (2 + 1) / (3 + 2) = 0.6; others prior 2/3
    np.testing.assert_allclose(r.sub_factor("BH_BILL_ON_TIME"), [2 / 3, 2 / 3, 0.6, 2 / 3])
    # regularity 1 - CV / sqrt(11): 12 equal months -> 1; one month -> CV = sqrt(11) -> 0;
    # six equal months of 12 -> CV = 1 -> 1 - 1/sqrt(11) = 0.698489
    np.testing.assert_allclose(
        r.sub_factor("BH_SPENDING_REGULARITY"), [1.0, 0.0, 0.0, 1 - 1 / math.sqrt(11)], atol=1e-12
    )
    # account age: 1095 days -> 1; today -> 0; 365 days -> log(1+365/90)/log(1+1095/90)
    # = 1.620488 / 2.577688 = 0.628659; created in the future -> 0
    np.testing.assert_allclose(r.sub_factor("BH_ACCOUNT_AGE"), [1.0, 0.0, 0.628659, 0.0], atol=1e-6)
    # activity: one event today -> A = 1 -> 1 - 2**(-1/3) = 0.206299; two -> 1 - 2**(-2/3)
    # user 0: A = sum over the 12 mid-month events of 2**(-age/90) = 4.002916
    a0 = sum(2 ** (-((m + 0.5) * MONTH) / 90) for m in range(12))
    act = r.sub_factor("BH_RECENT_ACTIVITY")
    assert act[0] == pytest.approx(1 - 2 ** (-a0 / 3), abs=1e-6)
    assert act[1] == pytest.approx(0.206299, abs=1e-6)
    assert act[2] == pytest.approx(1 - 2 ** (-2 / 3))
    # user 1: 0.4 * 2/3 + 0 + 0 + 0.2 * 0.206299 = 0.266667 + 0.041260 = 0.307926
    assert r.component("behaviour")[1] == pytest.approx(0.307926, abs=1e-6)


def test_spending_older_than_the_window_is_ignored_by_regularity() -> None:
    spend = SpendingArrays.build(user=[0], at=[NOW - 400 * DAY])
    r = compute_factors(_users(1), RepaymentArrays.empty(), spend, now=NOW)
    assert r.sub_factor("BH_SPENDING_REGULARITY")[0] == 0.0
    # but still (barely) counts as activity: 2**(-400/90) = 0.045852 -> 1 - 2**(-0.045852/3)
    assert r.sub_factor("BH_RECENT_ACTIVITY")[0] == pytest.approx(1 - 2 ** (-(2 ** (-400 / 90)) / 3))


# --------------------------------------------------------------------------- identity


def test_identity_weights() -> None:
    users = _users(
        3,
        id_verified=[1, 1, 0],
        face_verified=[1, 0, 0],
        phone_verified=[1, 1, 0],
        education_verified=[1, 0, 0],
        employer_verified=[0, 0, 1],
    )
    r = compute_factors(users, RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    # 0.3 + 0.3 + 0.2 + 0.1 = 0.9; 0.3 + 0.2 = 0.5; 0.1
    np.testing.assert_allclose(r.component("identity"), [0.9, 0.5, 0.1])


# --------------------------------------------------------------------------- properties

_STATUS_CODES = st.sampled_from([0, ON_TIME, LATE, MISSED, DEFAULTED])


@st.composite
def populations(draw: st.DrawFn) -> tuple[UserArrays, RepaymentArrays, SpendingArrays]:
    n = draw(st.integers(1, 5))
    times = st.integers(NOW - 3000 * DAY, NOW + 10 * DAY)
    amounts = st.one_of(st.just(np.nan), st.floats(0, 1e7))
    users = UserArrays.build(
        created=draw(st.lists(times, min_size=n, max_size=n)),
        **{
            f: draw(st.lists(st.booleans(), min_size=n, max_size=n))
            for f in (
                "phone_verified",
                "id_verified",
                "face_verified",
                "education_verified",
                "employer_verified",
            )
        },
        **{
            f: draw(st.lists(amounts, min_size=n, max_size=n))
            for f in ("declared_income", "verified_income", "verified_assets")
        },
    )
    m = draw(st.integers(0, 12))
    rep = RepaymentArrays.build(
        user=np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64),
        due=np.array(draw(st.lists(times, min_size=m, max_size=m)), dtype=np.int64),
        status=np.array(draw(st.lists(_STATUS_CODES, min_size=m, max_size=m)), dtype=np.int8),
    )
    k = draw(st.integers(0, 12))
    bills = np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)), dtype=bool)
    on_time = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=k, max_size=k)))
    spend = SpendingArrays.build(
        user=np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)), dtype=np.int64),
        at=np.array(draw(st.lists(times, min_size=k, max_size=k)), dtype=np.int64),
        amount=np.array(draw(st.lists(st.floats(0.01, 1e6), min_size=k, max_size=k))),
        is_bill=bills,
        on_time=np.where(bills, on_time, np.nan),
    )
    return users, rep, spend


def _positive() -> st.SearchStrategy[float]:
    return st.floats(0.01, 1e4)


params_strategy = st.builds(
    lambda severities, **kw: FactorParams(
        ch_late_severity=severities[0],
        ch_missed_severity=severities[1],
        ch_default_severity=severities[2],
        **kw,
    ),
    ch_half_life_days=_positive(),
    ch_prior_on_time=st.floats(0.01, 100),
    ch_prior_late=st.floats(0.01, 100),
    ch_default_half_life_days=_positive(),
    ch_default_keep=st.floats(0, 1),
    ch_delinquency_window_days=_positive(),
    ch_delinquency_keep=st.floats(0, 1),
    severities=st.lists(st.floats(0, 10), min_size=3, max_size=3).map(sorted),
    ch_length_full_days=_positive(),
    ch_length_unit_days=_positive(),
    ch_count_half=st.floats(0.01, 100),
    fc_floor=st.floats(0, 1),
    bh_half_life_days=_positive(),
    bh_months=st.integers(2, 36),
    bh_month_days=st.floats(1, 60),
    bh_age_full_days=_positive(),
    bh_age_unit_days=_positive(),
    bh_activity_half_life_days=_positive(),
    bh_activity_half_count=st.floats(0.01, 100),
)


@settings(max_examples=150, deadline=None)
@given(pop=populations(), params=st.one_of(st.none(), params_strategy))
def test_values_in_unit_interval_and_components_are_weighted_sums(
    pop: tuple[UserArrays, RepaymentArrays, SpendingArrays], params: FactorParams | None
) -> None:
    users, rep, spend = pop
    r = compute_factors(users, rep, spend, now=NOW, params=params)
    n = len(users)
    assert r.sub_values.shape == (n, J)
    assert r.components.shape == (n, len(COMPONENTS))
    assert np.isfinite(r.sub_values).all()
    assert ((r.sub_values >= 0) & (r.sub_values <= 1)).all()
    assert ((r.components >= 0) & (r.components <= 1)).all()
    for k, name in enumerate(COMPONENTS):
        sl = component_slice(name)
        weights = np.array([sf.weight for sf in SUB_FACTORS[sl]])
        np.testing.assert_allclose(r.components[:, k], r.sub_values[:, sl] @ weights, rtol=0, atol=1e-12)


def _with_repayment(rep: RepaymentArrays, user: int, due: int, status: int) -> RepaymentArrays:
    return RepaymentArrays.build(
        user=np.append(rep.user, user),
        due=np.append(rep.due, due),
        status=np.append(rep.status, np.int8(status)),
    )


@settings(max_examples=150, deadline=None)
@given(
    pop=populations(),
    who=st.integers(0, 4),
    age_days=st.floats(-10, 3000),
    params=st.one_of(st.none(), params_strategy),
)
def test_an_on_time_repayment_never_lowers_credit_history(
    pop: tuple[UserArrays, RepaymentArrays, SpendingArrays],
    who: int,
    age_days: float,
    params: FactorParams | None,
) -> None:
    users, rep, spend = pop
    who %= len(users)
    due = NOW - int(age_days * DAY)
    before = compute_factors(users, rep, spend, now=NOW, params=params).components
    after = compute_factors(
        users, _with_repayment(rep, who, due, ON_TIME), spend, now=NOW, params=params
    ).components
    assert after[who, 0] >= before[who, 0] - 1e-12
    others = np.arange(len(users)) != who
    np.testing.assert_array_equal(after[others, 0], before[others, 0])


@settings(max_examples=150, deadline=None)
@given(
    pop=populations(),
    who=st.integers(0, 4),
    age_days=st.floats(-10, 3000),
    status=st.sampled_from([LATE, MISSED, DEFAULTED]),
    params=st.one_of(st.none(), params_strategy),
)
def test_a_delinquency_never_raises_credit_history(
    pop: tuple[UserArrays, RepaymentArrays, SpendingArrays],
    who: int,
    age_days: float,
    status: int,
    params: FactorParams | None,
) -> None:
    users, rep, spend = pop
    who %= len(users)
    due = NOW - int(age_days * DAY)
    before = compute_factors(users, rep, spend, now=NOW, params=params).components
    after = compute_factors(
        users, _with_repayment(rep, who, due, status), spend, now=NOW, params=params
    ).components
    assert after[who, 0] <= before[who, 0] + 1e-12


@settings(max_examples=100, deadline=None)
@given(
    pop=populations(),
    who=st.integers(0, 4),
    flag=st.sampled_from(
        ["phone_verified", "id_verified", "face_verified", "education_verified", "employer_verified"]
    ),
)
def test_verifying_identity_never_lowers_identity(
    pop: tuple[UserArrays, RepaymentArrays, SpendingArrays], who: int, flag: str
) -> None:
    users, rep, spend = pop
    who %= len(users)
    col = getattr(users, flag).copy()
    col[who] = True
    verified = dataclasses.replace(users, **{flag: col})
    before = compute_factors(users, rep, spend, now=NOW).component("identity")
    after = compute_factors(verified, rep, spend, now=NOW).component("identity")
    assert after[who] >= before[who]
    assert (after >= before).all()


# --------------------------------------------------------------------------- adverse reasons


@settings(max_examples=150, deadline=None)
@given(
    pop=populations(),
    weights=st.fixed_dictionaries({name: st.floats(0, 1) for name in COMPONENTS}),
    scale=st.floats(1, 1000),
)
def test_reasons_add_up_to_the_points_lost_and_are_sorted(
    pop: tuple[UserArrays, RepaymentArrays, SpendingArrays], weights: dict[str, float], scale: float
) -> None:
    r = compute_factors(*pop, now=NOW)
    reasons = adverse_reasons(r.sub_values, weights, top=J, scale=scale)
    w = np.array([weights[name] for name in COMPONENTS])
    expected = scale * ((1 - r.components) @ w)
    np.testing.assert_allclose(reasons.points.sum(axis=1), expected, rtol=1e-12, atol=1e-9)
    assert (np.diff(reasons.points, axis=1) <= 0).all()
    assert ((reasons.index == -1) == (reasons.points == 0)).all()
    # each row names each sub-factor at most once
    for row in reasons.index:
        named = row[row >= 0]
        assert len(set(named.tolist())) == named.size
    # a shorter list is the head of the full one
    short = adverse_reasons(r.sub_values, weights, top=2, scale=scale)
    np.testing.assert_array_equal(short.points, reasons.points[:, :2])


def test_reasons_known_answer() -> None:
    # no history, no capacity, new account, nothing verified
    r = compute_factors(_users(1), RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    reasons = adverse_reasons(r.sub_values, DEFAULT_COMPONENT_WEIGHTS, top=J + 3)
    explained = {code: pts for code, _, pts in reasons.explain(0)}
    # points = 600 * w_k * s_kj * (1 - f)
    assert explained["FC_VERIFIED_INCOME"] == pytest.approx(600 * 0.25 * 0.40)  # 60
    assert explained["CH_ON_TIME_COUNT"] == pytest.approx(600 * 0.35 * 0.20)  # 42
    assert explained["CH_ON_TIME_RATE"] == pytest.approx(600 * 0.35 * 0.30 / 3)  # 21
    assert explained["ID_REAL_NAME"] == pytest.approx(600 * 0.15 * 0.30)  # 27
    assert explained["BH_BILL_ON_TIME"] == pytest.approx(600 * 0.20 * 0.40 / 3)  # 16
    # nothing lost on defaults or recent delinquency: omitted
    assert "CH_NO_DEFAULTS" not in explained
    assert "CH_NO_RECENT_DELINQUENCY" not in explained
    assert reasons.codes(0)[:2] == ["FC_VERIFIED_INCOME", "FC_VERIFIED_ASSETS"]  # tie: table order
    assert reasons.index.shape == (1, J + 3)
    assert (reasons.index[0, -5:] == -1).all()
    # total: 600 * (0.35 * 0.45 + 0.25 * 1 + 0.20 * (1 - 0.266667) + 0.15 * 1) = 422.5
    assert reasons.points.sum() == pytest.approx(600 * (0.35 * 0.45 + 0.25 + 0.2 * (1 - 0.4 * 2 / 3) + 0.15))


def test_perfect_user_has_no_reasons() -> None:
    reasons = adverse_reasons(np.ones((2, J)), DEFAULT_COMPONENT_WEIGHTS)
    assert (reasons.index == -1).all()
    assert (reasons.points == 0).all()
    assert reasons.codes(0) == []


def test_zero_component_weight_costs_nothing() -> None:
    weights = dict(DEFAULT_COMPONENT_WEIGHTS, identity=0.0)
    f = np.ones((1, J))
    f[0, component_slice("identity")] = 0.0
    assert (adverse_reasons(f, weights).index == -1).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sub_values": np.ones((2, J - 1))}, "shape"),
        ({"sub_values": np.ones(J)}, "shape"),
        ({"sub_values": np.full((1, J), 1.5)}, r"\[0, 1\]"),
        ({"sub_values": np.full((1, J), np.nan)}, r"\[0, 1\]"),
        ({"component_weights": {"credit_history": 1.0}}, "no weight"),
        ({"component_weights": dict(DEFAULT_COMPONENT_WEIGHTS, behavior=0.2)}, "unknown component"),
        ({"component_weights": dict(DEFAULT_COMPONENT_WEIGHTS, identity=-0.1)}, ">= 0"),
        ({"component_weights": dict(DEFAULT_COMPONENT_WEIGHTS, identity=math.nan)}, "finite"),
        ({"component_weights": [0.35, 0.25]}, "mapping"),
        ({"top": 0}, "top"),
        ({"top": 2.0}, "top"),
        ({"top": True}, "top"),
        ({"scale": 0.0}, "scale"),
        ({"scale": math.inf}, "scale"),
    ],
)
def test_adverse_reasons_rejects_bad_input(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"sub_values": np.ones((1, J)), "component_weights": DEFAULT_COMPONENT_WEIGHTS}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        adverse_reasons(**args)


# --------------------------------------------------------------------------- edge cases


def test_empty_population() -> None:
    empty = UserArrays.build(created=np.zeros(0, np.int64))
    r = compute_factors(empty, RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    assert r.sub_values.shape == (0, J)
    assert r.components.shape == (0, 4)
    reasons = adverse_reasons(r.sub_values, DEFAULT_COMPONENT_WEIGHTS)
    assert reasons.index.shape == (0, 4)


def test_users_without_events_next_to_users_with_events() -> None:
    rep = RepaymentArrays.build(user=[2], due=[NOW - 365 * DAY], status=["on_time"])
    spend = SpendingArrays.build(user=[2], at=[NOW])
    r = compute_factors(_users(4), rep, spend, now=NOW)
    np.testing.assert_allclose(r.component("credit_history"), [0.55, 0.55, 0.685042, 0.55], atol=1e-6)
    assert r.component("behaviour")[0] == pytest.approx(0.4 * 2 / 3)


def test_result_accessors() -> None:
    r = compute_factors(
        _users(2, id_verified=[1, 0]), RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW
    )
    np.testing.assert_array_equal(r.sub_factor("ID_REAL_NAME"), [1.0, 0.0])
    with pytest.raises(ParameterError):
        r.component("connections")


# --------------------------------------------------------------------------- validation


def _bad_values(name: str) -> list[Any]:
    if name == "bh_months":
        return [1, 0, 2.5, True, "12"]
    if name in {"ch_default_keep", "ch_delinquency_keep", "fc_floor"}:
        return [-0.1, 1.5, math.nan, "0.5", None]
    if name.endswith("_severity"):
        return [-1.0, math.inf, math.nan, True]
    return [0.0, -1.0, math.inf, math.nan, True, "1"]


@pytest.mark.parametrize(
    ("name", "value"),
    [(f.name, v) for f in dataclasses.fields(FactorParams) for v in _bad_values(f.name)],
)
def test_bad_params_raise(name: str, value: Any) -> None:
    with pytest.raises(ParameterError) as info:
        FactorParams(**{name: value})
    assert info.value.name == name


def test_params_cross_checks_and_mapping() -> None:
    with pytest.raises(ParameterError, match="negligible"):
        FactorParams(ch_length_full_days=1e-300, ch_length_unit_days=1e300)
    assert FactorParams.from_mapping({"bh_months": 6}).bh_months == 6
    with pytest.raises(ParameterError, match="not a factor parameter"):
        FactorParams.from_mapping({"weights": 1})
    # integral values are accepted and stored as float
    assert FactorParams(ch_half_life_days=100).ch_half_life_days == 100.0


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: UserArrays.build(created=[0.5]), "integer"),
        (lambda: UserArrays.build(created=[[0]]), "one-dimensional"),
        (lambda: UserArrays.build(created=[0, 1], id_verified=[True]), "same length"),
        (lambda: UserArrays.build(created=[0], id_verified=[2]), "boolean"),
        (lambda: UserArrays.build(created=[0], id_verified=[0.5]), "boolean"),
        (lambda: UserArrays.build(created=[0], verified_income=[-1.0]), ">= 0"),
        (lambda: UserArrays.build(created=[0], verified_assets=[math.inf]), "finite"),
        (lambda: UserArrays.build(created=[0], declared_income=["a"]), "float"),
        (lambda: UserArrays.build(created=[0], salary=[1.0]), "not a user column"),
        (lambda: RepaymentArrays.build(user=[0], due=[0], status=["paid"]), "one of"),
        (lambda: RepaymentArrays.build(user=[0], due=[0], status=[5]), "code"),
        (lambda: RepaymentArrays.build(user=[0], due=[0], status=[1.0]), "int8"),
        (lambda: RepaymentArrays.build(user=[0], due=[0], status=[1], amount=[0.0]), "> 0"),
        (lambda: RepaymentArrays.build(user=[0], due=[0], status=[1], amount=[math.nan]), "finite"),
        (lambda: RepaymentArrays.build(user=[0], due=[0], status=[1], paid=[math.inf]), "finite or NaN"),
        (lambda: RepaymentArrays.build(user=[0, 0], due=[0], status=[1, 1]), "same length"),
        (lambda: SpendingArrays.build(user=[0], at=[0], is_bill=[True]), "0 or 1 for a bill"),
        (lambda: SpendingArrays.build(user=[0], at=[0], is_bill=[True], on_time=[0.5]), "0 or 1"),
        (lambda: SpendingArrays.build(user=[0], at=[0], amount=[-3.0]), "> 0"),
    ],
)
def test_bad_arrays_raise(build: Any, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        build()


def test_compute_factors_rejects_bad_arguments() -> None:
    users = _users(2)
    rep = RepaymentArrays.empty()
    spend = SpendingArrays.empty()
    with pytest.raises(ParameterError, match="user index"):
        compute_factors(users, RepaymentArrays.build(user=[2], due=[0], status=[1]), spend, now=NOW)
    with pytest.raises(ParameterError, match="user index"):
        compute_factors(users, rep, SpendingArrays.build(user=[-1], at=[0]), now=NOW)
    with pytest.raises(ParameterError, match="now"):
        compute_factors(users, rep, spend, now=float(NOW))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="UserArrays"):
        compute_factors({"created": [0]}, rep, spend, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="FactorParams"):
        compute_factors(users, rep, spend, now=NOW, params={"fc_floor": 0.1})  # type: ignore[arg-type]
    # a purchase's on_time is ignored; integer 0/1 flags are accepted
    ok = SpendingArrays.build(user=[0], at=[0], is_bill=[0], on_time=[7.0])
    assert compute_factors(users, rep, ok, now=NOW).components.shape == (2, 4)


def test_moderate_population_runs_vectorised() -> None:
    rng = np.random.default_rng(7)
    n, m, k = 20_000, 80_000, 60_000
    users = UserArrays.build(
        created=NOW - rng.integers(0, 3000 * DAY, n),
        id_verified=rng.random(n) < 0.5,
        verified_income=np.where(rng.random(n) < 0.5, rng.lognormal(8, 1, n), np.nan),
    )
    rep = RepaymentArrays.build(
        user=rng.integers(0, n, m), due=NOW - rng.integers(0, 3000 * DAY, m), status=rng.integers(0, 5, m)
    )
    bills = rng.random(k) < 0.5
    spend = SpendingArrays.build(
        user=rng.integers(0, n, k),
        at=NOW - rng.integers(0, 700 * DAY, k),
        amount=rng.lognormal(3, 1, k),
        is_bill=bills,
        on_time=np.where(bills, rng.integers(0, 2, k), np.nan),
    )
    r = compute_factors(users, rep, spend, now=NOW)
    assert ((r.components >= 0) & (r.components <= 1)).all()
    # a user's values depend only on their own events (and capacity on the population)
    mine = rep.user == 123
    alone = compute_factors(
        _users(1, created=users.created[[123]]),
        RepaymentArrays.build(
            user=np.zeros(mine.sum(), np.int64), due=rep.due[mine], status=rep.status[mine]
        ),
        SpendingArrays.empty(),
        now=NOW,
    )
    assert alone.component("credit_history")[0] == pytest.approx(
        r.component("credit_history")[123], abs=1e-12
    )
