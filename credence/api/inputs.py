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
from typing import Any

import pandas as pd
import strawberry

from credence.api.scalars import EpochSeconds, format_datetime
from credence.api.service import NumberRange, UserQuery
from credence.core.errors import ValidationError
from credence.graph.model import Records, repayment_records, spending_records
from credence.graph.store import User

__all__ = [
    "Band",
    "BandFilter",
    "as_argument_error",
    "graphql_name",
    "MAX_LISTED_USERS",
    "FloatFilter",
    "IntFilter",
    "RepaymentInput",
    "RepaymentStatus",
    "SpendingCategory",
    "SpendingInput",
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


@strawberry.enum(
    description="A score band, lowest first (the policy's band names; 'very good' is very_good)."
)
class Band(Enum):
    """The band names of :data:`~credence.scoring.policy.BAND_NAMES`, as a GraphQL enum (values: the names)."""

    poor = "poor"
    fair = "fair"
    good = "good"
    very_good = "very good"
    excellent = "excellent"


@strawberry.input
class BandFilter:
    """Which bands to keep: ``eq`` and ``in`` are merged into one set of bands by :func:`user_query`."""

    eq: Band | None = None
    in_: list[Band] | None = strawberry.field(default=None, name="in")


@strawberry.input
class UserFilter:
    """The ``filter`` of ``users``, ``scoreStats`` and ``scoreHistogram``: every field given must hold."""

    score: IntFilter | None = None
    degree: FloatFilter | None = None
    band: BandFilter | None = None
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
        chosen = [band.value for band in filter.band.in_ or []]
        if filter.band.eq is not None:
            chosen.append(filter.band.eq.value)
        bands = tuple(chosen)
    return UserQuery(score=_number_range(filter.score), degree=_number_range(filter.degree), bands=bands,
                     consent=filter.consent, quarantined=filter.quarantined, sort=sort.value)  # fmt: skip


@strawberry.input(
    description="A user to create or update: fields left out keep their stored values (a new user needs created; "
    "the rest default to unverified and no amounts). Consent changes only through setConsent."
)
class UserInput:
    """The ``upsertUser`` input; :func:`users_frame` merges it with the stored user into a one-row frame."""

    id: str
    created: EpochSeconds | None = strawberry.UNSET
    phone_verified: bool | None = strawberry.UNSET
    id_verified: bool | None = strawberry.UNSET
    face_verified: bool | None = strawberry.UNSET
    education_verified: bool | None = strawberry.UNSET
    employer_verified: bool | None = strawberry.UNSET
    declared_income: float | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it; left out keeps it."
    )
    verified_income: float | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it; left out keeps it."
    )
    verified_assets: float | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it; left out keeps it."
    )


@strawberry.enum(
    description="Where a repayment stands (the data's own words, as in the store and CSV files)."
)
class RepaymentStatus(Enum):
    """The repayment statuses of :data:`~credence.graph.model.REPAYMENT_STATUSES`, as a GraphQL enum."""

    pending = "pending"
    on_time = "on_time"
    late = "late"
    missed = "missed"
    defaulted = "defaulted"


@strawberry.enum(description="What kind of spending an event is (the data's own words).")
class SpendingCategory(Enum):
    """The categories of :data:`~credence.graph.model.SPENDING_CATEGORIES`, as a GraphQL enum."""

    purchase = "purchase"
    bill = "bill"


@strawberry.input(description="A loan instalment: when it is due, and when it was paid.")
class RepaymentInput:
    """The ``recordRepayment`` input; :func:`repayments_frame` validates it as repayment records."""

    id: str
    user: str
    due: EpochSeconds
    amount: float
    status: RepaymentStatus
    paid: EpochSeconds | None = None


@strawberry.input(description="A purchase or a bill payment (bills say whether they were paid on time).")
class SpendingInput:
    """The ``recordSpending`` input; :func:`spending_frame` validates it as spending records."""

    id: str
    user: str
    at: EpochSeconds
    amount: float
    category: SpendingCategory
    on_time: bool | None = None


#: The records' time columns, sent and echoed as ``DateTime``.
_TIME_COLUMNS = frozenset({"created", "due", "paid", "at"})
_FLAGS = ("phone_verified", "id_verified", "face_verified", "education_verified", "employer_verified")
_AMOUNTS = ("declared_income", "verified_income", "verified_assets")
_GRAPHQL_NAMES = {"created": "created", "phone_verified": "phoneVerified", "id_verified": "idVerified",
                  "face_verified": "faceVerified", "education_verified": "educationVerified",
                  "employer_verified": "employerVerified"}  # fmt: skip


def users_frame(user: UserInput, stored: User | None) -> pd.DataFrame:
    """A one-row users frame for the engine's ``upsert_users``: ``user`` over the ``stored`` one.

    Fields left out keep their stored values; a new user (``stored`` None) needs
    ``created`` and defaults the rest (unverified, no amounts, consenting). Consent is
    never changed here (``setConsent`` does that).

    Raises
    ------
    ValidationError
        A new user without ``created``, or a ``created`` or verification flag sent as null.
    """
    row: dict[str, Any] = {"id": user.id}
    for name in ("created", *_FLAGS):
        value = getattr(user, name)
        if value is None:
            raise ValidationError("may not be null (leave it out to keep the stored value)", entity="user",
                                  column=_GRAPHQL_NAMES[name], value=None)  # fmt: skip
        if value is strawberry.UNSET:
            if stored is None and name == "created":
                raise ValidationError("is required for a new user", entity="user", column="created")
            value = False if stored is None else getattr(stored, name)
        row[name] = value
    for name in _AMOUNTS:
        value = getattr(user, name)
        row[name] = (
            (None if stored is None else getattr(stored, name)) if value is strawberry.UNSET else value
        )
    row["consent_network"] = True if stored is None else stored.consent_network
    frame = pd.DataFrame([row])
    # An amount left out is None, which pandas would keep as an object column.
    frame[list(_AMOUNTS)] = frame[list(_AMOUNTS)].astype("float64")
    return frame


def repayments_frame(repayment: RepaymentInput) -> Records:
    """The input as validated repayment records for the engine's ``record_repayments``.

    :func:`~credence.graph.model.repayment_records`: the checks (and errors) of a
    one-row repayments frame, without building one.
    """
    return repayment_records([{"id": repayment.id, "user": repayment.user, "due": repayment.due,
                               "paid": repayment.paid, "amount": repayment.amount, "status": repayment.status.value}])  # fmt: skip


def spending_frame(spending: SpendingInput) -> Records:
    """The input as validated spending records for the engine's ``record_spending`` (see :func:`repayments_frame`)."""
    return spending_records([{"id": spending.id, "user": spending.user, "at": spending.at, "amount": spending.amount,
                              "category": spending.category.value, "on_time": spending.on_time}])  # fmt: skip


def graphql_name(column: str) -> str:
    """A field's name as the API spells it (``declared_income`` -> ``declaredIncome``).

    Examples
    --------
    >>> graphql_name("declared_income"), graphql_name("weight")
    ('declaredIncome', 'weight')
    """
    head, *rest = column.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def as_argument_error(error: ValidationError, argument: str) -> ValidationError:
    """``error`` about one record of the store's schema, told in the API's terms.

    The record is the mutation's ``argument`` (no "row 1"), and the column is the
    field's GraphQL name.

    Examples
    --------
    >>> raw = ValidationError("must be >= 0", entity="user", row=1, column="declared_income", value=-5.0)
    >>> print(as_argument_error(raw, "input"))
    input, column 'declaredIncome' (value -5.0): must be >= 0
    """
    column = None if error.column is None else graphql_name(error.column)
    value = error.value
    if error.column in _TIME_COLUMNS and isinstance(value, int | float) and math.isfinite(value):
        value = format_datetime(int(value))  # the client sent a DateTime: echo one
    return type(error)(error.problem, entity=argument, column=column, value=value)
