"""The four individual score components, each an explainable weighted sum of sub-factors.

A user's base creditworthiness mixes four components in [0, 1]: ``credit_history``,
``fulfilment_capacity``, ``behaviour`` and ``identity`` (the fifth, ``connections``,
comes from the diffusion over the friend graph). Each component ``c_k`` is a
weighted sum of named sub-factors ``f_kj`` in [0, 1] with fixed weights ``s_kj``
that add up to one within the component::

    c_k = sum_j s_kj * f_kj

so the distance of a score from the maximum splits exactly into reasons: with the
component weights ``w_k`` of the policy and the score's range of
:data:`~credence.core.scale.SCORE_RANGE` = 600 points, the points lost to sub-factor
``j`` of component ``k`` are ``600 * w_k * s_kj * (1 - f_kj)``, and
:func:`adverse_reasons` ranks them (the principal reasons of an adverse-action notice).

The formulas, their constants (:class:`FactorParams`) and the reasoning behind them
are documented in ``docs/factors.md``. This module is pure numerics: it takes
index-aligned numpy arrays (:class:`UserArrays`, :class:`RepaymentArrays`,
:class:`SpendingArrays`; events refer to users by row index) and returns arrays.
Everything is vectorised: a million users with four million repayments and three
million spending events take a few seconds.

Examples
--------
>>> DAY = 86_400
>>> now = 1_700_000_000
>>> users = UserArrays.build(created=[now - 1000 * DAY, now], id_verified=[True, False],
...                          face_verified=[True, False])
>>> reps = RepaymentArrays.build(user=[0, 0], due=[now - 365 * DAY, now - 30 * DAY],
...                              status=["on_time", "late"])
>>> result = compute_factors(users, reps, SpendingArrays.empty(), now=now)
>>> result.components.shape
(2, 4)
>>> result.component("identity").tolist()
[0.6, 0.0]
>>> reasons = adverse_reasons(result.sub_values, DEFAULT_COMPONENT_WEIGHTS, top=3)
>>> [(code, round(points, 1)) for code, _, points in reasons.explain(1)]
[('FC_VERIFIED_INCOME', 60.0), ('FC_VERIFIED_ASSETS', 60.0), ('CH_ON_TIME_COUNT', 42.0)]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from credence.core.checks import check_int, check_real
from credence.core.errors import ParameterError
from credence.core.scale import SCORE_RANGE
from credence.core.types import BoolArray, FloatArray, IntArray

__all__ = [
    "COMPONENTS",
    "DEFAULT_COMPONENT_WEIGHTS",
    "OTHER_COMPONENTS",
    "REPAYMENT_STATUSES",
    "SUB_FACTORS",
    "CapacityReference",
    "FactorParams",
    "FactorResult",
    "Reasons",
    "RepaymentArrays",
    "SpendingArrays",
    "SubFactor",
    "UserArrays",
    "adverse_reasons",
    "component_slice",
    "compute_factors",
    "sub_factor_index",
]

DAY = 86_400
"""Seconds in a day; all durations of :class:`FactorParams` are in days."""

REPAYMENT_STATUSES: tuple[str, ...] = ("pending", "on_time", "late", "missed", "defaulted")
"""Status codes of :attr:`RepaymentArrays.status` (the same tuple as ``credence.graph.model``)."""

PENDING, ON_TIME, LATE, MISSED, DEFAULTED = range(5)

COMPONENTS: tuple[str, ...] = ("credit_history", "fulfilment_capacity", "behaviour", "identity")
"""The individual components, in the column order of :attr:`FactorResult.components`."""

OTHER_COMPONENTS: tuple[str, ...] = ("connections",)
"""Score components computed elsewhere; :func:`adverse_reasons` accepts and ignores their weights."""

DEFAULT_COMPONENT_WEIGHTS: Mapping[str, float] = {
    "credit_history": 0.35,
    "fulfilment_capacity": 0.25,
    "behaviour": 0.20,
    "identity": 0.15,
    "connections": 0.05,
}
"""The design's default component weights (policy, not code; here for examples and tests)."""


@dataclass(frozen=True)
class SubFactor:
    """One named sub-factor of a component, with its reason code.

    Parameters
    ----------
    code : str
        Stable reason code, prefixed by its component (``CH_``, ``FC_``, ``BH_``, ``ID_``).
    component : str
        The component it belongs to, one of :data:`COMPONENTS`.
    text : str
        The reason in plain words, as shown when the sub-factor costs points.
    weight : float
        Its weight ``s_kj`` inside the component; the weights of a component add up to 1.
    """

    code: str
    component: str
    text: str
    weight: float


SUB_FACTORS: tuple[SubFactor, ...] = (
    SubFactor(
        "CH_ON_TIME_RATE",
        "credit_history",
        "On-time rate of recent repayments too low or not yet established",
        0.30,
    ),
    SubFactor("CH_NO_DEFAULTS", "credit_history", "Defaulted repayments on record", 0.25),
    SubFactor(
        "CH_NO_RECENT_DELINQUENCY",
        "credit_history",
        "Recent late, missed or defaulted repayments",
        0.10,
    ),
    SubFactor("CH_HISTORY_LENGTH", "credit_history", "Repayment history too short", 0.15),
    SubFactor("CH_ON_TIME_COUNT", "credit_history", "Too few repayments made on time", 0.20),
    SubFactor("FC_VERIFIED_INCOME", "fulfilment_capacity", "Verified income low or not verified", 0.40),
    SubFactor(
        "FC_INCOME_LEVEL",
        "fulfilment_capacity",
        "Income, declared or verified, low or not stated",
        0.20,
    ),
    SubFactor("FC_VERIFIED_ASSETS", "fulfilment_capacity", "Verified assets low or not verified", 0.40),
    SubFactor("BH_BILL_ON_TIME", "behaviour", "Bills paid late, or too few bills on record", 0.40),
    SubFactor("BH_SPENDING_REGULARITY", "behaviour", "Spending irregular or absent in recent months", 0.20),
    SubFactor("BH_ACCOUNT_AGE", "behaviour", "Account too new", 0.20),
    SubFactor("BH_RECENT_ACTIVITY", "behaviour", "Little recent spending or bill activity", 0.20),
    SubFactor("ID_REAL_NAME", "identity", "Real-name ID not verified", 0.30),
    SubFactor("ID_FACE", "identity", "Face match not done", 0.30),
    SubFactor("ID_PHONE", "identity", "Phone number not verified", 0.20),
    SubFactor("ID_EDUCATION", "identity", "Education not verified", 0.10),
    SubFactor("ID_EMPLOYER", "identity", "Employer not verified", 0.10),
)
"""Every sub-factor, grouped by component in :data:`COMPONENTS` order; the column
order of :attr:`FactorResult.sub_values` and the indices of :class:`Reasons`."""


def _component_layout() -> tuple[dict[str, slice], FloatArray, dict[str, int]]:
    slices: dict[str, slice] = {}
    start = 0
    for name in COMPONENTS:
        members = [i for i, sf in enumerate(SUB_FACTORS) if sf.component == name]
        if not members or members != list(range(start, start + len(members))):
            raise AssertionError(f"SUB_FACTORS of {name!r} must be contiguous, in COMPONENTS order")
        total = math.fsum(SUB_FACTORS[i].weight for i in members)
        if abs(total - 1.0) > 1e-12:
            raise AssertionError(f"sub-factor weights of {name!r} add up to {total}, not 1")
        slices[name] = slice(start, start + len(members))
        start += len(members)
    if start != len(SUB_FACTORS):
        raise AssertionError("every sub-factor must belong to one of COMPONENTS")
    matrix = np.zeros((len(SUB_FACTORS), len(COMPONENTS)))
    for j, sf in enumerate(SUB_FACTORS):
        matrix[j, COMPONENTS.index(sf.component)] = sf.weight
    index = {sf.code: j for j, sf in enumerate(SUB_FACTORS)}
    if len(index) != len(SUB_FACTORS):
        raise AssertionError("sub-factor codes must be unique")
    return slices, matrix, index


_SLICES, _WEIGHTS, _INDEX = _component_layout()
_WEIGHTS.setflags(write=False)
_SUB_WEIGHTS = np.array([sf.weight for sf in SUB_FACTORS])
_SUB_COMPONENT = np.array([COMPONENTS.index(sf.component) for sf in SUB_FACTORS])


def sub_factor_index(code: str) -> int:
    """Column of the sub-factor ``code`` in :attr:`FactorResult.sub_values`.

    Examples
    --------
    >>> sub_factor_index("CH_ON_TIME_RATE"), sub_factor_index("ID_EMPLOYER") == len(SUB_FACTORS) - 1
    (0, True)
    """
    try:
        return _INDEX[code]
    except (KeyError, TypeError):
        raise ParameterError("code", code, f"must be one of {sorted(_INDEX)}") from None


def component_slice(name: str) -> slice:
    """Columns of :attr:`FactorResult.sub_values` that make up component ``name``.

    Examples
    --------
    >>> component_slice("credit_history")
    slice(0, 5, None)
    >>> [sf.code for sf in SUB_FACTORS[component_slice("fulfilment_capacity")]]
    ['FC_VERIFIED_INCOME', 'FC_INCOME_LEVEL', 'FC_VERIFIED_ASSETS']
    """
    try:
        return _SLICES[name]
    except (KeyError, TypeError):
        raise ParameterError("component", name, f"must be one of {list(COMPONENTS)}") from None


# --------------------------------------------------------------------------- parameters


# name -> (low, high or None for no upper bound, low excluded); every float field is checked
# against its row by check_real (finite, then the range).
_PARAM_RANGES: dict[str, tuple[float, float | None, bool]] = {}
_POSITIVE = (0.0, None, True)
_NON_NEGATIVE = (0.0, None, False)
_UNIT = (0.0, 1.0, False)


@dataclass(frozen=True, kw_only=True)
class FactorParams:
    """Every constant of the component formulas (see ``docs/factors.md``).

    Durations are in days (a year is 365 days). Validated on construction.

    Parameters
    ----------
    ch_half_life_days : float
        Half-life of the recency weight ``2**(-age / half_life)`` of a repayment in the
        on-time rate (> 0; default 365: last year's events count half).
    ch_prior_on_time, ch_prior_late : float
        Beta prior pseudo-counts of the on-time rate (> 0; defaults 2 and 1: with no
        history the rate is 2/3, and a few events move it only part of the way).
    ch_default_half_life_days : float
        Half-life of a default's weight in ``CH_NO_DEFAULTS`` (> 0; default 730, so a
        default fades twice as slowly as other events).
    ch_default_keep : float
        Fraction of ``CH_NO_DEFAULTS`` kept per fresh default, in [0, 1] (default 0.25:
        ``CH_NO_DEFAULTS = 0.25 ** D`` with ``D`` the recency-weighted default count).
    ch_delinquency_window_days : float
        Look-back window of ``CH_NO_RECENT_DELINQUENCY`` (> 0; default 365). An event's
        weight falls linearly from 1 (due today) to 0 (due a window ago).
    ch_delinquency_keep : float
        Fraction of ``CH_NO_RECENT_DELINQUENCY`` kept per unit of fresh severity, in
        [0, 1] (default 0.5).
    ch_late_severity, ch_missed_severity, ch_default_severity : float
        Severity of a late, missed and defaulted repayment in the recent-delinquency
        sum (>= 0; defaults 0.5, 1, 1).
    ch_length_full_days : float
        History length (since the first on-time repayment) that earns full
        ``CH_HISTORY_LENGTH`` (> 0; default 1825, five years).
    ch_length_unit_days : float
        Time scale ``u`` of the log saturation ``log(1 + t/u) / log(1 + T/u)`` (> 0;
        default 90: the first months count most).
    ch_count_half : float
        On-time repayments that earn half of ``CH_ON_TIME_COUNT``,
        ``1 - 2**(-N / half)`` (> 0; default 3).
    fc_floor : float
        Value of a known amount at the very bottom of the population, in [0, 1]
        (default 0.2): ``floor + (1 - floor) * percentile``. Makes verifying a low
        income still worth something over not verifying.
    bh_half_life_days : float
        Recency half-life of bills in the bill on-time rate (> 0; default 365).
    bh_prior_on_time, bh_prior_late : float
        Beta prior pseudo-counts of the bill on-time rate (> 0; defaults 2 and 1).
    bh_months : int
        Number of months in the spending-regularity window (>= 2; default 12).
    bh_month_days : float
        Length of a month in days (> 0; default 365/12).
    bh_age_full_days : float
        Account age that earns full ``BH_ACCOUNT_AGE`` (> 0; default 1095, three years).
    bh_age_unit_days : float
        Time scale of the account-age log saturation (> 0; default 90).
    bh_activity_half_life_days : float
        Recency half-life of spending and bill events in ``BH_RECENT_ACTIVITY``
        (> 0; default 90).
    bh_activity_half_count : float
        Recency-weighted event count that earns half of ``BH_RECENT_ACTIVITY``,
        ``1 - 2**(-A / half)`` (> 0; default 3).

    Raises
    ------
    ParameterError
        When a value is not a real number, not finite, or out of its range.

    Examples
    --------
    >>> FactorParams().ch_half_life_days
    365.0
    >>> FactorParams(ch_default_keep=1.5)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'ch_default_keep' = 1.5: must be in [0, 1]
    """

    ch_half_life_days: float = 365.0
    ch_prior_on_time: float = 2.0
    ch_prior_late: float = 1.0
    ch_default_half_life_days: float = 730.0
    ch_default_keep: float = 0.25
    ch_delinquency_window_days: float = 365.0
    ch_delinquency_keep: float = 0.5
    ch_late_severity: float = 0.5
    ch_missed_severity: float = 1.0
    ch_default_severity: float = 1.0
    ch_length_full_days: float = 1825.0
    ch_length_unit_days: float = 90.0
    ch_count_half: float = 3.0
    fc_floor: float = 0.2
    bh_half_life_days: float = 365.0
    bh_prior_on_time: float = 2.0
    bh_prior_late: float = 1.0
    bh_months: int = 12
    bh_month_days: float = 365.0 / 12.0
    bh_age_full_days: float = 1095.0
    bh_age_unit_days: float = 90.0
    bh_activity_half_life_days: float = 90.0
    bh_activity_half_count: float = 3.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "bh_months":
                object.__setattr__(self, f.name, check_int(value, f.name, 2))
                continue
            lo, hi, lo_open = _PARAM_RANGES[f.name]
            object.__setattr__(self, f.name, check_real(value, f.name, lo=lo, hi=hi, lo_open=lo_open))
        for full, unit in (
            ("ch_length_full_days", "ch_length_unit_days"),
            ("bh_age_full_days", "bh_age_unit_days"),
        ):
            if math.log1p(getattr(self, full) / getattr(self, unit)) <= 0.0:
                raise ParameterError(full, getattr(self, full), f"is negligible against {unit}")
        # A worse status must never cost less, or re-labelling a missed repayment as defaulted
        # could raise a score.
        if not self.ch_late_severity <= self.ch_missed_severity <= self.ch_default_severity:
            raise ParameterError(
                "ch_missed_severity",
                (self.ch_late_severity, self.ch_missed_severity, self.ch_default_severity),
                "severities must be ordered: late <= missed <= defaulted",
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> FactorParams:
        """Parameters from a mapping (a policy file section); unknown keys are an error.

        Examples
        --------
        >>> FactorParams.from_mapping({"fc_floor": 0.1}).fc_floor
        0.1
        >>> FactorParams.from_mapping({"fc_flor": 0.1})
        Traceback (most recent call last):
        ...
        credence.core.errors.ParameterError: parameter 'fc_flor' = 0.1: is not a factor parameter
        """
        known = {f.name for f in dataclasses.fields(cls)}
        for key, value in values.items():
            if key not in known:
                raise ParameterError(str(key), value, "is not a factor parameter")
        return cls(**dict(values))


for _f in dataclasses.fields(FactorParams):
    if _f.name in {"ch_default_keep", "ch_delinquency_keep", "fc_floor"}:
        _PARAM_RANGES[_f.name] = _UNIT
    elif _f.name.endswith("_severity"):
        _PARAM_RANGES[_f.name] = _NON_NEGATIVE
    else:
        _PARAM_RANGES[_f.name] = _POSITIVE


# --------------------------------------------------------------------------- input arrays


def _where(bad: BoolArray) -> int:
    return int(np.flatnonzero(bad)[0])


def _vector(name: str, value: Any) -> npt.NDArray[Any]:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ParameterError(name, f"array of shape {arr.shape}", "must be one-dimensional")
    return arr


def _int_column(name: str, value: Any) -> IntArray:
    arr = _vector(name, value)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise ParameterError(name, f"array of dtype {arr.dtype}", "must be an integer array")
    return arr.astype(np.int64, copy=False)


def _bool_column(name: str, value: Any) -> BoolArray:
    arr = _vector(name, value)
    if arr.dtype == np.bool_:
        return arr
    if arr.size == 0:
        return np.zeros(0, dtype=np.bool_)
    if arr.dtype.kind in "iu":
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            i = _where(bad)
            raise ParameterError(name, arr[i].item(), f"must be boolean (0 or 1); row {i}")
        return arr.astype(np.bool_)
    raise ParameterError(name, f"array of dtype {arr.dtype}", "must be a boolean array")


def _float_column(name: str, value: Any, *, nan_ok: bool, positive: bool = False) -> FloatArray:
    arr = _vector(name, value)
    if arr.size == 0:
        return np.zeros(0)
    if arr.dtype.kind not in "fiu":
        raise ParameterError(name, f"array of dtype {arr.dtype}", "must be a float array")
    out = arr.astype(np.float64, copy=False)
    bad = np.isinf(out) if nan_ok else ~np.isfinite(out)
    with np.errstate(invalid="ignore"):
        bad |= (out <= 0) if positive else (out < 0)
    if bad.any():
        i = _where(bad)
        rule = "> 0" if positive else ">= 0"
        extra = " or NaN (unknown)" if nan_ok else ""
        raise ParameterError(name, out[i].item(), f"must be finite and {rule}{extra}; row {i}")
    return out


def _check_lengths(kind: str, columns: Mapping[str, npt.NDArray[Any]]) -> int:
    sizes = {name: arr.size for name, arr in columns.items()}
    first = next(iter(sizes.values()))
    for name, size in sizes.items():
        if size != first:
            raise ParameterError(
                f"{kind}.{name}", f"{size} rows", f"every column must have the same length ({sizes})"
            )
    return first


@dataclass(frozen=True, kw_only=True)
class UserArrays:
    """Per-user attributes, one row per user (row ``i`` is user index ``i``).

    Columns are coerced to the dtypes below and validated on construction.

    Parameters
    ----------
    created : ndarray of int64
        Account creation time, epoch seconds.
    phone_verified, id_verified, face_verified, education_verified, employer_verified : ndarray of bool
        Identity checks passed (integer 0/1 arrays are accepted).
    declared_income, verified_income, verified_assets : ndarray of float64
        Monthly declared income, monthly verified income, verified assets;
        finite and >= 0, NaN when unknown.

    Raises
    ------
    ParameterError
        On a column of the wrong shape or dtype, an invalid value, or unequal lengths.
    """

    created: IntArray
    phone_verified: BoolArray
    id_verified: BoolArray
    face_verified: BoolArray
    education_verified: BoolArray
    employer_verified: BoolArray
    declared_income: FloatArray
    verified_income: FloatArray
    verified_assets: FloatArray

    #: The identity flags, the money amounts, and every column in field order.
    FLAG_FIELDS: ClassVar[tuple[str, ...]] = (
        "phone_verified", "id_verified", "face_verified", "education_verified", "employer_verified",
    )  # fmt: skip
    AMOUNT_FIELDS: ClassVar[tuple[str, ...]] = ("declared_income", "verified_income", "verified_assets")
    FIELDS: ClassVar[tuple[str, ...]] = ("created", *FLAG_FIELDS, *AMOUNT_FIELDS)

    def __post_init__(self) -> None:
        cols: dict[str, npt.NDArray[Any]] = {"created": _int_column("users.created", self.created)}
        for name in self.FLAG_FIELDS:
            cols[name] = _bool_column(f"users.{name}", getattr(self, name))
        for name in self.AMOUNT_FIELDS:
            cols[name] = _float_column(f"users.{name}", getattr(self, name), nan_ok=True)
        _check_lengths("users", cols)
        for name, arr in cols.items():
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return int(self.created.size)

    @classmethod
    def build(cls, created: Any, **columns: Any) -> UserArrays:
        """Users from ``created`` and any other columns; flags default to False, amounts to NaN.

        Examples
        --------
        >>> u = UserArrays.build(created=[0, 10], id_verified=[True, False])
        >>> len(u), u.face_verified.tolist(), u.verified_income.tolist()
        (2, [False, False], [nan, nan])
        """
        created_arr = _int_column("users.created", created)
        n = created_arr.size
        known = set(cls.FLAG_FIELDS) | set(cls.AMOUNT_FIELDS)
        for key in columns:
            if key not in known:
                raise ParameterError(key, type(columns[key]).__name__, "is not a user column")
        kwargs: dict[str, Any] = {
            name: columns.get(name, np.zeros(n, dtype=np.bool_)) for name in cls.FLAG_FIELDS
        }
        kwargs.update({name: columns.get(name, np.full(n, np.nan)) for name in cls.AMOUNT_FIELDS})
        return cls(created=created_arr, **kwargs)


def _status_column(value: Any) -> npt.NDArray[np.int8]:
    arr = _vector("repayments.status", value)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int8)
    if arr.dtype.kind in "UO":
        codes = np.full(arr.size, -1, dtype=np.int8)
        for code, name in enumerate(REPAYMENT_STATUSES):
            codes[arr == name] = code
        if (codes < 0).any():
            i = _where(codes < 0)
            raise ParameterError(
                "repayments.status", arr[i], f"must be one of {list(REPAYMENT_STATUSES)}; row {i}"
            )
        return codes
    if arr.dtype.kind not in "iu":
        raise ParameterError("repayments.status", f"array of dtype {arr.dtype}", "must be int8 codes")
    bad = (arr < 0) | (arr >= len(REPAYMENT_STATUSES))
    if bad.any():
        i = _where(bad)
        raise ParameterError(
            "repayments.status",
            arr[i].item(),
            f"must be a code 0..{len(REPAYMENT_STATUSES) - 1} into {REPAYMENT_STATUSES}; row {i}",
        )
    return arr.astype(np.int8, copy=False)


@dataclass(frozen=True, kw_only=True)
class RepaymentArrays:
    """Repayment events, one row per event.

    Parameters
    ----------
    user : ndarray of int64
        Row index of the user in :class:`UserArrays`.
    due : ndarray of int64
        Due time, epoch seconds.
    paid : ndarray of float64
        Payment time, epoch seconds; NaN when unpaid. (Not used by the formulas,
        which rely on ``status``; kept so the arrays mirror the stored record.)
    amount : ndarray of float64
        Amount, finite and > 0. (Not used by the formulas; see ``docs/factors.md``.)
    status : ndarray of int8
        Codes into :data:`REPAYMENT_STATUSES`; an array of status strings is accepted
        and converted.

    Raises
    ------
    ParameterError
        On a column of the wrong shape or dtype, an invalid value, or unequal lengths.
    """

    user: IntArray
    due: IntArray
    paid: FloatArray
    amount: FloatArray
    status: npt.NDArray[np.int8]

    def __post_init__(self) -> None:
        paid = _vector("repayments.paid", self.paid)
        paid = paid.astype(np.float64, copy=False) if paid.size else np.zeros(0)
        bad_paid = np.isinf(paid)
        if bad_paid.any():
            i = _where(bad_paid)
            raise ParameterError("repayments.paid", paid[i].item(), f"must be finite or NaN; row {i}")
        cols = {
            "user": _int_column("repayments.user", self.user),
            "due": _int_column("repayments.due", self.due),
            "paid": paid,
            "amount": _float_column("repayments.amount", self.amount, nan_ok=False, positive=True),
            "status": _status_column(self.status),
        }
        _check_lengths("repayments", cols)
        for name, arr in cols.items():
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return int(self.user.size)

    @classmethod
    def build(
        cls, *, user: Any, due: Any, status: Any, amount: Any = None, paid: Any = None
    ) -> RepaymentArrays:
        """Repayments with ``amount`` defaulting to 1 and ``paid`` to NaN.

        Examples
        --------
        >>> RepaymentArrays.build(user=[0, 0], due=[5, 9], status=["on_time", "missed"]).status.tolist()
        [1, 3]
        """
        n = _vector("repayments.user", user).size
        return cls(
            user=user,
            due=due,
            status=status,
            amount=np.ones(n) if amount is None else amount,
            paid=np.full(n, np.nan) if paid is None else paid,
        )

    @classmethod
    def empty(cls) -> RepaymentArrays:
        """No repayment events.

        Examples
        --------
        >>> len(RepaymentArrays.empty())
        0
        """
        return cls.build(user=np.zeros(0, np.int64), due=np.zeros(0, np.int64), status=np.zeros(0, np.int8))


@dataclass(frozen=True, kw_only=True)
class SpendingArrays:
    """Spending and bill-payment events, one row per event.

    Parameters
    ----------
    user : ndarray of int64
        Row index of the user in :class:`UserArrays`.
    at : ndarray of int64
        Event time, epoch seconds.
    amount : ndarray of float64
        Amount, finite and > 0.
    is_bill : ndarray of bool
        True for a bill payment, False for a purchase.
    on_time : ndarray of float64
        1.0 or 0.0 for bills; ignored (NaN by convention) for purchases.

    Raises
    ------
    ParameterError
        On a column of the wrong shape or dtype, an invalid value (a bill whose
        ``on_time`` is not 0 or 1 included), or unequal lengths.
    """

    user: IntArray
    at: IntArray
    amount: FloatArray
    is_bill: BoolArray
    on_time: FloatArray

    def __post_init__(self) -> None:
        on_time = _vector("spending.on_time", self.on_time)
        on_time = on_time.astype(np.float64, copy=False) if on_time.size else np.zeros(0)
        cols = {
            "user": _int_column("spending.user", self.user),
            "at": _int_column("spending.at", self.at),
            "amount": _float_column("spending.amount", self.amount, nan_ok=False, positive=True),
            "is_bill": _bool_column("spending.is_bill", self.is_bill),
            "on_time": on_time,
        }
        _check_lengths("spending", cols)
        bad = cols["is_bill"] & (on_time != 0.0) & (on_time != 1.0)
        if bad.any():
            i = _where(bad)
            raise ParameterError("spending.on_time", on_time[i].item(), f"must be 0 or 1 for a bill; row {i}")
        for name, arr in cols.items():
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return int(self.user.size)

    @classmethod
    def build(
        cls, *, user: Any, at: Any, amount: Any = None, is_bill: Any = None, on_time: Any = None
    ) -> SpendingArrays:
        """Spending events with ``amount`` defaulting to 1, ``is_bill`` to False, ``on_time`` to NaN.

        Examples
        --------
        >>> s = SpendingArrays.build(user=[0, 1], at=[5, 9], is_bill=[True, False], on_time=[1.0, np.nan])
        >>> s.amount.tolist(), s.is_bill.tolist()
        ([1.0, 1.0], [True, False])
        """
        n = _vector("spending.user", user).size
        return cls(
            user=user,
            at=at,
            amount=np.ones(n) if amount is None else amount,
            is_bill=np.zeros(n, dtype=np.bool_) if is_bill is None else is_bill,
            on_time=np.full(n, np.nan) if on_time is None else on_time,
        )

    @classmethod
    def empty(cls) -> SpendingArrays:
        """No spending events.

        Examples
        --------
        >>> len(SpendingArrays.empty())
        0
        """
        return cls.build(user=np.zeros(0, np.int64), at=np.zeros(0, np.int64))


# --------------------------------------------------------------------------- capacity reference


@dataclass(frozen=True)
class CapacityReference:
    """The population that fulfilment capacity is measured against (sorted known amounts).

    By default :func:`compute_factors` ranks every user against the users it is
    given. To score a few users against a fixed population (an incremental update),
    build the reference once from the whole population and pass it.

    Parameters
    ----------
    verified_income : ndarray of float64
        Sorted verified incomes of the reference population.
    income : ndarray of float64
        Sorted best-known incomes (verified where known, else declared).
    verified_assets : ndarray of float64
        Sorted verified assets.

    Examples
    --------
    >>> users = UserArrays.build(created=[0, 0, 0], verified_income=[300.0, np.nan, 100.0],
    ...                          declared_income=[np.nan, 50.0, 900.0])
    >>> ref = CapacityReference.from_users(users)
    >>> ref.verified_income.tolist(), ref.income.tolist()
    ([100.0, 300.0], [50.0, 100.0, 300.0])
    """

    verified_income: FloatArray
    income: FloatArray
    verified_assets: FloatArray

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            arr = _float_column(f"reference.{f.name}", getattr(self, f.name), nan_ok=False)
            if arr.size > 1 and (np.diff(arr) < 0).any():
                raise ParameterError(f"reference.{f.name}", "unsorted array", "must be sorted ascending")
            object.__setattr__(self, f.name, arr)

    @classmethod
    def from_users(cls, users: UserArrays) -> CapacityReference:
        """The known amounts of ``users``, sorted."""
        vi = users.verified_income
        best = np.where(np.isnan(vi), users.declared_income, vi)

        def known(x: FloatArray) -> FloatArray:
            return np.sort(x[~np.isnan(x)])

        return cls(known(vi), known(best), known(users.verified_assets))


def _percentile_value(x: FloatArray, reference: FloatArray, floor: float) -> FloatArray:
    """``floor + (1 - floor) * F(x)`` with F the mid-rank empirical CDF; 0 where x is NaN."""
    out = np.zeros(x.size)
    known = ~np.isnan(x)
    xs = x[known]
    if reference.size == 0:
        cdf = np.full(xs.size, 0.5)
    else:
        # searching sorted queries walks the reference in order: 3x faster than random queries
        order = np.argsort(xs)
        queries = xs[order]
        below = np.searchsorted(reference, queries, side="left")
        upto = np.searchsorted(reference, queries, side="right")
        cdf = np.empty(xs.size)
        cdf[order] = (below + upto) / (2.0 * reference.size)
    out[known] = floor + (1.0 - floor) * cdf
    return out


# --------------------------------------------------------------------------- formulas


def _log_saturating(t_days: FloatArray, full_days: float, unit_days: float) -> FloatArray:
    """``min(1, log(1 + t/u) / log(1 + T/u))``: 0 at t = 0, 1 from t = T on."""
    return np.minimum(1.0, np.log1p(t_days / unit_days) / math.log1p(full_days / unit_days))


def _credit_history(rep: RepaymentArrays, n: int, now: int, p: FactorParams) -> list[FloatArray]:
    user, status = rep.user, rep.status
    age = np.maximum(now - rep.due, 0).astype(np.float64) / DAY
    resolved = status != PENDING
    on = status == ON_TIME

    weight = np.exp2(-age / p.ch_half_life_days)
    w_resolved = np.bincount(user[resolved], weight[resolved], minlength=n)
    w_on = np.bincount(user[on], weight[on], minlength=n)
    on_time_rate = (p.ch_prior_on_time + w_on) / (p.ch_prior_on_time + p.ch_prior_late + w_resolved)

    dflt = status == DEFAULTED
    d = np.bincount(user[dflt], np.exp2(-age[dflt] / p.ch_default_half_life_days), minlength=n)
    no_defaults = np.power(p.ch_default_keep, d)

    severity = np.array([0.0, 0.0, p.ch_late_severity, p.ch_missed_severity, p.ch_default_severity])
    recent = np.maximum(0.0, 1.0 - age / p.ch_delinquency_window_days) * severity[status]
    r = np.bincount(user, recent, minlength=n)
    no_recent = np.power(p.ch_delinquency_keep, r)

    never = np.iinfo(np.int64).max
    first_on = np.full(n, never, dtype=np.int64)
    np.minimum.at(first_on, user[on], rep.due[on])
    has_on = first_on != never
    length_days = np.zeros(n)
    length_days[has_on] = np.maximum(now - first_on[has_on], 0) / DAY
    length = _log_saturating(length_days, p.ch_length_full_days, p.ch_length_unit_days)

    count = np.bincount(user[on], minlength=n).astype(np.float64)
    on_time_count = 1.0 - np.exp2(-count / p.ch_count_half)
    return [on_time_rate, no_defaults, no_recent, length, on_time_count]


def _fulfilment_capacity(users: UserArrays, ref: CapacityReference, p: FactorParams) -> list[FloatArray]:
    vi = users.verified_income
    best = np.where(np.isnan(vi), users.declared_income, vi)
    return [
        _percentile_value(vi, ref.verified_income, p.fc_floor),
        _percentile_value(best, ref.income, p.fc_floor),
        _percentile_value(users.verified_assets, ref.verified_assets, p.fc_floor),
    ]


def _behaviour(users: UserArrays, sp: SpendingArrays, n: int, now: int, p: FactorParams) -> list[FloatArray]:
    user = sp.user
    age = np.maximum(now - sp.at, 0).astype(np.float64) / DAY
    bill = sp.is_bill

    wb = np.exp2(-age[bill] / p.bh_half_life_days)
    b_all = np.bincount(user[bill], wb, minlength=n)
    b_on = np.bincount(user[bill], wb * sp.on_time[bill], minlength=n)
    bill_rate = (p.bh_prior_on_time + b_on) / (p.bh_prior_on_time + p.bh_prior_late + b_all)

    months = p.bh_months
    month = np.floor(age / p.bh_month_days)
    inside = month < months
    key = user[inside] * months + month[inside].astype(np.int64)
    totals = np.bincount(key, sp.amount[inside], minlength=n * months).reshape(n, months)
    mean = totals.mean(axis=1)
    std = totals.std(axis=1)
    cv = np.divide(std, mean, out=np.full(n, math.sqrt(months - 1)), where=mean > 0)
    regularity = np.clip(1.0 - cv / math.sqrt(months - 1), 0.0, 1.0)

    account_days = np.maximum(now - users.created, 0).astype(np.float64) / DAY
    account_age = _log_saturating(account_days, p.bh_age_full_days, p.bh_age_unit_days)

    a = np.bincount(user, np.exp2(-age / p.bh_activity_half_life_days), minlength=n)
    activity = 1.0 - np.exp2(-a / p.bh_activity_half_count)
    return [bill_rate, regularity, account_age, activity]


def _identity(users: UserArrays) -> list[FloatArray]:
    return [
        users.id_verified.astype(np.float64),
        users.face_verified.astype(np.float64),
        users.phone_verified.astype(np.float64),
        users.education_verified.astype(np.float64),
        users.employer_verified.astype(np.float64),
    ]


@dataclass(frozen=True)
class FactorResult:
    """Sub-factor values and components of every user.

    Parameters
    ----------
    sub_values : ndarray of float64, shape (n, len(SUB_FACTORS))
        Sub-factor values in [0, 1], columns in :data:`SUB_FACTORS` order.
    components : ndarray of float64, shape (n, len(COMPONENTS))
        Components in [0, 1], columns in :data:`COMPONENTS` order; column ``k`` is
        the weighted sum of the sub-values of component ``k``.
    """

    sub_values: FloatArray
    components: FloatArray

    def component(self, name: str) -> FloatArray:
        """The column of component ``name``."""
        if name not in COMPONENTS:
            raise ParameterError("component", name, f"must be one of {list(COMPONENTS)}")
        return self.components[:, COMPONENTS.index(name)]

    def sub_factor(self, code: str) -> FloatArray:
        """The column of sub-factor ``code``."""
        return self.sub_values[:, sub_factor_index(code)]


def compute_factors(
    users: UserArrays,
    repayments: RepaymentArrays,
    spending: SpendingArrays,
    *,
    now: int,
    params: FactorParams | None = None,
    reference: CapacityReference | None = None,
) -> FactorResult:
    """Compute every sub-factor and the four individual components of every user.

    Parameters
    ----------
    users : UserArrays
        The ``n`` users; row ``i`` is user index ``i``.
    repayments : RepaymentArrays
        Repayment events; ``user`` indexes ``users``. ``pending`` events are ignored.
    spending : SpendingArrays
        Spending and bill events; ``user`` indexes ``users``.
    now : int
        Evaluation time, epoch seconds. Events and accounts dated after ``now``
        count as if dated ``now``.
    params : FactorParams, optional
        Formula constants; the documented defaults when omitted.
    reference : CapacityReference, optional
        Population that incomes and assets are ranked against; ``users``
        themselves when omitted.

    Returns
    -------
    FactorResult
        ``sub_values`` (n, len(SUB_FACTORS)) and ``components`` (n, 4), all in [0, 1].

    Raises
    ------
    ParameterError
        When an argument has the wrong type or an event names a user index outside
        ``0 .. n-1``.

    Examples
    --------
    A user with no events, created today, and one verified by ID, phone and face:

    >>> now = 1_700_000_000
    >>> users = UserArrays.build(created=[now, now], id_verified=[False, True],
    ...                          face_verified=[False, True], phone_verified=[False, True])
    >>> r = compute_factors(users, RepaymentArrays.empty(), SpendingArrays.empty(), now=now)
    >>> [round(float(v), 4) for v in r.components[0]]
    [0.55, 0.0, 0.2667, 0.0]
    >>> round(float(r.component("identity")[1]), 4)
    0.8
    """
    if not isinstance(users, UserArrays):
        raise ParameterError("users", type(users).__name__, "must be a UserArrays")
    if not isinstance(repayments, RepaymentArrays):
        raise ParameterError("repayments", type(repayments).__name__, "must be a RepaymentArrays")
    if not isinstance(spending, SpendingArrays):
        raise ParameterError("spending", type(spending).__name__, "must be a SpendingArrays")
    if isinstance(now, bool) or not isinstance(now, Integral):
        raise ParameterError("now", now, "must be an integer (epoch seconds)")
    now = int(now)
    p = FactorParams() if params is None else params
    if not isinstance(p, FactorParams):
        raise ParameterError("params", type(params).__name__, "must be a FactorParams")
    if reference is not None and not isinstance(reference, CapacityReference):
        raise ParameterError("reference", type(reference).__name__, "must be a CapacityReference")
    n = len(users)
    for name, idx in (("repayments.user", repayments.user), ("spending.user", spending.user)):
        bad = (idx < 0) | (idx >= n)
        if bad.any():
            i = _where(bad)
            raise ParameterError(name, idx[i].item(), f"must be a user index in [0, {n}); row {i}")

    ref = CapacityReference.from_users(users) if reference is None else reference
    columns = (
        _credit_history(repayments, n, now, p)
        + _fulfilment_capacity(users, ref, p)
        + _behaviour(users, spending, n, now, p)
        + _identity(users)
    )
    sub = np.empty((n, len(SUB_FACTORS)))
    for j, col in enumerate(columns):
        sub[:, j] = col
    np.clip(sub, 0.0, 1.0, out=sub)
    components = np.clip(sub @ _WEIGHTS, 0.0, 1.0)
    return FactorResult(sub_values=sub, components=components)


# --------------------------------------------------------------------------- reasons


@dataclass(frozen=True)
class Reasons:
    """The largest point losses of every user, largest first.

    Parameters
    ----------
    index : ndarray of int64, shape (n, top)
        Indices into :data:`SUB_FACTORS`; -1 where there is no (further) reason.
    points : ndarray of float64, shape (n, top)
        Points lost to each reason, non-increasing along a row; 0 where index is -1.
    """

    index: IntArray
    points: FloatArray

    def codes(self, row: int) -> list[str]:
        """Reason codes of user ``row``, largest loss first."""
        return [SUB_FACTORS[j].code for j in self.index[row] if j >= 0]

    def explain(self, row: int) -> list[tuple[str, str, float]]:
        """``(code, text, points)`` of user ``row``, largest loss first."""
        return [
            (SUB_FACTORS[j].code, SUB_FACTORS[j].text, float(pts))
            for j, pts in zip(self.index[row], self.points[row], strict=True)
            if j >= 0
        ]


def _component_weight_vector(component_weights: Mapping[str, float]) -> FloatArray:
    if not isinstance(component_weights, Mapping):
        raise ParameterError(
            "component_weights", type(component_weights).__name__, "must be a mapping of component -> weight"
        )
    for key in component_weights:
        if key not in COMPONENTS and key not in OTHER_COMPONENTS:
            raise ParameterError(
                "component_weights", key, f"unknown component; expected {list(COMPONENTS + OTHER_COMPONENTS)}"
            )
    out = np.empty(len(COMPONENTS))
    for k, name in enumerate(COMPONENTS):
        if name not in component_weights:
            raise ParameterError("component_weights", dict(component_weights), f"has no weight for {name!r}")
        out[k] = check_real(component_weights[name], f"component_weights[{name!r}]", lo=0.0)
    return out


def adverse_reasons(
    sub_values: FloatArray,
    component_weights: Mapping[str, float],
    *,
    top: int = 4,
    scale: float = SCORE_RANGE,
) -> Reasons:
    """The ``top`` sub-factors that cost each user the most points.

    Sub-factor ``j`` of component ``k`` costs ``scale * w_k * s_kj * (1 - f_kj)``
    points, where ``w_k`` is the component weight, ``s_kj`` the sub-factor weight
    and ``f_kj`` its value. Over all sub-factors the losses add up exactly to
    ``scale * sum_k w_k * (1 - c_k)``: the gap between the individual part of the
    score and its maximum.

    Parameters
    ----------
    sub_values : ndarray, shape (n, len(SUB_FACTORS))
        :attr:`FactorResult.sub_values`.
    component_weights : Mapping[str, float]
        Weight of each of :data:`COMPONENTS` (all required, >= 0); weights of
        :data:`OTHER_COMPONENTS` (``connections``) may be present and are ignored.
    top : int
        Reasons per user (>= 1); rows are padded with index -1 and 0 points.
    scale : float
        Points of the full score range (> 0; default
        :data:`~credence.core.scale.SCORE_RANGE`, 600 for 350..950).

    Returns
    -------
    Reasons
        ``index`` and ``points`` of shape (n, top), largest loss first, ties in
        :data:`SUB_FACTORS` order; sub-factors that cost nothing are omitted.

    Raises
    ------
    ParameterError
        On a wrong shape, a value outside [0, 1], or a bad weight, ``top`` or ``scale``.

    Examples
    --------
    A user perfect everywhere except identity, where only the phone is verified:

    >>> f = np.ones((1, len(SUB_FACTORS)))
    >>> f[0, component_slice("identity")] = [0, 0, 1, 0, 0]
    >>> r = adverse_reasons(f, DEFAULT_COMPONENT_WEIGHTS, top=5)
    >>> r.codes(0)
    ['ID_REAL_NAME', 'ID_FACE', 'ID_EDUCATION', 'ID_EMPLOYER']
    >>> [round(float(x), 6) for x in r.points[0]]
    [27.0, 27.0, 9.0, 9.0, 0.0]
    """
    values = np.asarray(sub_values, dtype=np.float64)
    j_count = len(SUB_FACTORS)
    if values.ndim != 2 or values.shape[1] != j_count:
        raise ParameterError(
            "sub_values", f"array of shape {values.shape}", f"must have shape (n, {j_count})"
        )
    bad = ~((values >= 0.0) & (values <= 1.0))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ParameterError(
            "sub_values", values[i, j].item(), f"must be in [0, 1]; row {i}, {SUB_FACTORS[j].code}"
        )
    w = _component_weight_vector(component_weights)
    top = check_int(top, "top", 1)
    scale_f = check_real(scale, "scale", lo=0.0, lo_open=True)

    per_point = scale_f * w[_SUB_COMPONENT] * _SUB_WEIGHTS
    lost = per_point * (1.0 - values)
    n = values.shape[0]
    keep = min(top, j_count)
    order = np.argsort(-lost, axis=1, kind="stable")[:, :keep]
    points = np.take_along_axis(lost, order, axis=1)
    index = order.astype(np.int64)
    none = points <= 0.0
    index[none] = -1
    points[none] = 0.0
    if keep < top:
        index = np.hstack([index, np.full((n, top - keep), -1, dtype=np.int64)])
        points = np.hstack([points, np.zeros((n, top - keep))])
    return Reasons(index=index, points=points)
