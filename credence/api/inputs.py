"""Input types and filters, and what they become: a :class:`~credence.api.service.UserQuery` or a frame.

Filters use explicit operators (``eq gt gte lt lte in``); every bound given must
hold. The mutation inputs become validated records
(:class:`~credence.graph.model.Records`), checked exactly as a one-row frame of the
store's schema would be, without building one. Ids in these inputs
(``UserInput.id``, ``RepaymentInput.user``, ``SpendingInput.user``) are user ids as
stored, never global ids (see :mod:`credence.api.ids`).
"""

from __future__ import annotations

import math
from enum import Enum

import pandas as pd
import strawberry

from credence.api.service import NumberRange, UserQuery
from credence.core.errors import ValidationError
from credence.graph.model import Records, repayment_records, spending_records

__all__ = [
    "MAX_LISTED_USERS",
    "FloatFilter",
    "IntFilter",
    "RepaymentInput",
    "SpendingInput",
    "StringFilter",
    "UserFilter",
    "UserInput",
    "UserSort",
    "repayments_frame",
    "spending_frame",
    "user_query",
    "users_frame",
]

#: Most users (or links) one ``flagUsers`` or ``whatIf`` may name: each is its own
#: store transaction or in-memory change, so a list bounds the request's work.
MAX_LISTED_USERS = 100


@strawberry.input(description="Numeric filter with explicit operators; every given bound must hold.")
class IntFilter:
    """Bounds on an integer column (the score), made into a :class:`~credence.api.service.NumberRange`."""

    eq: int | None = None
    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None
    in_: list[int] | None = strawberry.field(default=None, name="in")


@strawberry.input
class FloatFilter:
    """Bounds on a float column (the weighted degree): :class:`IntFilter` without ``eq`` and ``in``."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@strawberry.input
class StringFilter:
    """Which bands to keep: ``eq`` and ``in`` are merged into one set of bands by :func:`user_query`."""

    eq: str | None = None
    in_: list[str] | None = strawberry.field(default=None, name="in")


@strawberry.input
class UserFilter:
    """The ``filter`` of ``users``, ``scoreStats`` and ``scoreHistogram``: every field given must hold."""

    score: IntFilter | None = None
    degree: FloatFilter | None = None
    band: StringFilter | None = None
    consent: bool | None = None
    quarantined: bool | None = None


@strawberry.enum
class UserSort(Enum):
    """The orders of the ``users`` listing, ties broken by user id (:data:`~credence.api.service.SORTS`)."""

    SCORE_DESC = "SCORE_DESC"
    SCORE_ASC = "SCORE_ASC"
    USER_ID_ASC = "USER_ID_ASC"


def _number_range(value: IntFilter | FloatFilter | None) -> NumberRange | None:
    if value is None:
        return None
    any_of = getattr(value, "in_", None)
    for name in ("eq", "gt", "gte", "lt", "lte"):
        bound = getattr(value, name, None)
        if bound is not None and not math.isfinite(float(bound)):
            raise ValidationError("must be finite", entity="filter", column=name, value=bound)
    return NumberRange(eq=getattr(value, "eq", None), gt=value.gt, gte=value.gte, lt=value.lt, lte=value.lte,
                       any_of=None if any_of is None else tuple(float(v) for v in any_of))  # fmt: skip


def user_query(filter: UserFilter | None, sort: UserSort = UserSort.SCORE_DESC) -> UserQuery:
    """The service's query for a filter and a sort order.

    Parameters
    ----------
    filter
        The ``filter`` argument, or None for every user.
    sort
        The ``sort`` argument.

    Returns
    -------
    UserQuery
        A band filter's ``eq`` and ``in`` are merged into one set of bands.

    Raises
    ------
    ValidationError
        If a numeric bound is not finite.
    """
    if filter is None:
        return UserQuery(sort=sort.value)
    bands: tuple[str, ...] | None = None
    if filter.band is not None:
        chosen = list(filter.band.in_ or [])
        if filter.band.eq is not None:
            chosen.append(filter.band.eq)
        bands = tuple(chosen)
    return UserQuery(score=_number_range(filter.score), degree=_number_range(filter.degree), bands=bands,
                     consent=filter.consent, quarantined=filter.quarantined, sort=sort.value)  # fmt: skip


@strawberry.input(description="A user to create or update (missing optional fields keep their defaults).")
class UserInput:
    """The ``upsertUser`` input; :func:`users_frame` makes it a one-row users frame."""

    id: str
    created: int
    phone_verified: bool = False
    id_verified: bool = False
    face_verified: bool = False
    education_verified: bool = False
    employer_verified: bool = False
    declared_income: float | None = None
    verified_income: float | None = None
    verified_assets: float | None = None
    consent_network: bool = True


@strawberry.input(
    description="A loan instalment: due/paid times in epoch seconds; status pending|on_time|late|missed|defaulted."
)
class RepaymentInput:
    """The ``recordRepayment`` input; :func:`repayments_frame` validates it as repayment records."""

    id: str
    user: str
    due: int
    amount: float
    status: str
    paid: int | None = None


@strawberry.input(description="A purchase or a bill payment (bills say whether they were paid on time).")
class SpendingInput:
    """The ``recordSpending`` input; :func:`spending_frame` validates it as spending records."""

    id: str
    user: str
    at: int
    amount: float
    category: str
    on_time: bool | None = None


_USER_COLUMNS = ("id", "created", "phone_verified", "id_verified", "face_verified", "education_verified",
                 "employer_verified", "declared_income", "verified_income", "verified_assets", "consent_network")  # fmt: skip
_AMOUNTS = ["declared_income", "verified_income", "verified_assets"]


def users_frame(user: UserInput) -> pd.DataFrame:
    """A one-row users frame for the engine's ``upsert_users``."""
    frame = pd.DataFrame([{k: getattr(user, k) for k in _USER_COLUMNS}])
    # An amount left out is None, which pandas would keep as an object column.
    frame[_AMOUNTS] = frame[_AMOUNTS].astype("float64")
    return frame


def repayments_frame(repayment: RepaymentInput) -> Records:
    """The input as validated repayment records for the engine's ``record_repayments``.

    :func:`~credence.graph.model.repayment_records`: the checks (and errors) of a
    one-row repayments frame, without building one.
    """
    return repayment_records([{"id": repayment.id, "user": repayment.user, "due": repayment.due,
                               "paid": repayment.paid, "amount": repayment.amount, "status": repayment.status}])  # fmt: skip


def spending_frame(spending: SpendingInput) -> Records:
    """The input as validated spending records for the engine's ``record_spending`` (see :func:`repayments_frame`)."""
    return spending_records([{"id": spending.id, "user": spending.user, "at": spending.at, "amount": spending.amount,
                              "category": spending.category, "on_time": spending.on_time}])  # fmt: skip
