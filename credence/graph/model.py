"""The data model and its validation: the one place where input is checked.

Every kind of record travels as a pandas DataFrame with a fixed *frame schema*
(``docs/data-model.md``). The ``parse_*`` functions take a raw frame (strings read
from a CSV file, Python objects from the API, or already typed columns from the
generator), check every rule, and return a frame with exactly the schema's
columns and dtypes. They are pure and vectorised: a million rows take well under
a second per column. The first violation raises :class:`~credence.core.errors.ValidationError`
naming the 1-based data row, the column, the value and the rule.

Examples
--------
>>> import pandas as pd
>>> users = parse_users(pd.DataFrame({"id": ["ann", "bob"], "created": ["2024-01-02", "0"]}))
>>> users[["id", "created", "consent_network"]]
    id     created  consent_network
0  ann  1704153600             True
1  bob           0             True
>>> parse_links(pd.DataFrame({"source": ["ann"], "target": ["ann"], "weight": [1.0]}))
Traceback (most recent call last):
...
credence.core.errors.ValidationError: link row 1, column 'target' (value 'ann'): a user cannot link to themselves
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.errors import ValidationError

__all__ = [
    "COMPONENTS",
    "DISTRUST_COLUMNS",
    "IDENTITY_LEVELS",
    "LINK_COLUMNS",
    "REPAYMENT_COLUMNS",
    "MAX_AMOUNT",
    "MAX_LINK_WEIGHT",
    "MIN_LINK_WEIGHT",
    "REPAYMENT_STATUSES",
    "SCORE_COLUMNS",
    "SPENDING_CATEGORIES",
    "SPENDING_COLUMNS",
    "USER_COLUMNS",
    "RECORD_COLUMNS",
    "Dataset",
    "Records",
    "check_text",
    "check_user_id",
    "empty_frame",
    "epoch_now",
    "link_records",
    "parse_dataset",
    "parse_distrust",
    "parse_links",
    "parse_repayments",
    "parse_scores",
    "parse_spending",
    "parse_users",
    "repayment_records",
    "score_records",
    "spending_records",
]

#: Identity verification levels, weakest first.
IDENTITY_LEVELS: tuple[str, ...] = (
    "phone_verified",
    "id_verified",
    "face_verified",
    "education_verified",
    "employer_verified",
)

#: Frame schema of users: column -> dtype.
USER_COLUMNS: dict[str, Any] = {
    "id": pd.StringDtype(),
    "created": np.dtype("int64"),
    **{level: np.dtype("bool") for level in IDENTITY_LEVELS},
    "declared_income": np.dtype("float64"),
    "verified_income": np.dtype("float64"),
    "verified_assets": np.dtype("float64"),
    "consent_network": np.dtype("bool"),
}
LINK_COLUMNS: dict[str, Any] = {
    "source": pd.StringDtype(),
    "target": pd.StringDtype(),
    "weight": np.dtype("float64"),
    "created": np.dtype("int64"),
}
#: Frame schema of distrust: a directed negative rating ``rater -> rated``, one per ordered pair.
#: ``weight`` is the rating's magnitude (> 0): for a SNAP signed graph, a rating of -r
#: (1 <= r <= 10) is weight r.
DISTRUST_COLUMNS: dict[str, Any] = {
    "rater": pd.StringDtype(),
    "rated": pd.StringDtype(),
    "weight": np.dtype("float64"),
    "created": np.dtype("int64"),
}
REPAYMENT_COLUMNS: dict[str, Any] = {
    "id": pd.StringDtype(),
    "user": pd.StringDtype(),
    "due": np.dtype("int64"),
    "paid": pd.Int64Dtype(),
    "amount": np.dtype("float64"),
    "status": pd.StringDtype(),
}
SPENDING_COLUMNS: dict[str, Any] = {
    "id": pd.StringDtype(),
    "user": pd.StringDtype(),
    "at": np.dtype("int64"),
    "amount": np.dtype("float64"),
    "category": pd.StringDtype(),
    "on_time": pd.BooleanDtype(),
}
#: The five score components, in the order of the design card.
COMPONENTS: tuple[str, ...] = (
    "credit_history",
    "fulfilment_capacity",
    "behaviour",
    "identity",
    "connections",
)
SCORE_COLUMNS: dict[str, Any] = {
    "user": pd.StringDtype(),
    "model_version": pd.StringDtype(),
    "computed_at": np.dtype("int64"),
    "score": np.dtype("int64"),
    **{c: np.dtype("float64") for c in COMPONENTS},
}

REPAYMENT_STATUSES: tuple[str, ...] = ("pending", "on_time", "late", "missed", "defaulted")
SPENDING_CATEGORIES: tuple[str, ...] = ("purchase", "bill")

#: Optional user columns and the value a missing column takes.
_USER_DEFAULTS: dict[str, Any] = {
    **{level: False for level in IDENTITY_LEVELS},
    "declared_income": np.nan,
    "verified_income": np.nan,
    "verified_assets": np.nan,
    "consent_network": True,
}
_MAX_ID_LENGTH = 128
#: Largest link weight: link strengths are relative, and the engine stores them as float32.
MAX_LINK_WEIGHT = 1e6
#: Smallest link weight: a strength a millionth of the default or less is no link (and far
#: smaller ones, 1e-320 say, become 0 in float32).
MIN_LINK_WEIGHT = 1e-6
#: Largest money amount (events, incomes, assets): far above any real value, and small enough
#: that sums and variances over years of events stay finite in float64.
MAX_AMOUNT = 1e12
#: Clock skew tolerated for "not in the future" checks, seconds.
_FUTURE_SLACK = 300
_DAY = 86_400
_TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y"})
_FALSE_WORDS = frozenset({"false", "f", "0", "no", "n"})


def epoch_now() -> int:
    """Return the current time as int seconds since the Unix epoch (UTC)."""
    return int(time.time())


def empty_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """Return an empty frame with the given schema.

    Examples
    --------
    >>> empty_frame(LINK_COLUMNS).dtypes.astype(str).tolist()
    ['string', 'string', 'float64', 'int64']
    """
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


class IdIndex:
    """Integer codes for string user ids, hashed once in Arrow (no Python objects).

    Codes ``0..n_defined-1`` are the ids given at construction (a dataset's own
    users, in order); ids met later get the next codes. At a million users and
    ten million links this one pass replaces several string-hashing passes.

    Examples
    --------
    >>> index = IdIndex(pd.Series(["a", "b"], dtype=pd.StringDtype()))
    >>> index.codes(pd.Series(["b", "z", "a", "z"], dtype=pd.StringDtype())).tolist()
    [1, 2, 0, 2]
    >>> index.ids.tolist(), index.n_defined
    (['a', 'b', 'z'], 2)
    """

    def __init__(self, defined: pd.Series | None = None) -> None:
        keys = _arrow_strings(defined) if defined is not None else pa.array([], pa.large_string())
        self._keys = keys
        self.n_defined = len(keys)

    @property
    def ids(self) -> np.ndarray:
        """Every id known to the index, by code."""
        return np.asarray(self._keys.to_numpy(zero_copy_only=False), dtype=object)

    def __len__(self) -> int:
        return len(self._keys)

    def codes(self, values: pd.Series) -> np.ndarray:
        """Code of each value, adding unseen ids to the index."""
        array = _arrow_strings(values)
        found = pc.index_in(array, value_set=self._keys)
        if found.null_count:
            unseen = pc.unique(pc.filter(array, pc.is_null(found)))
            self._keys = pa.concat_arrays([self._keys, unseen.cast(self._keys.type)])
            found = pc.index_in(array, value_set=self._keys)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def _arrow_strings(values: pd.Series) -> pa.Array:
    array = pa.array(values.astype(pd.StringDtype()), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


@dataclass(frozen=True)
class Dataset:
    """A validated bundle of records to load into a store in one transaction.

    Build it with :func:`parse_dataset`; every frame has its schema's columns.
    """

    users: pd.DataFrame = field(default_factory=lambda: empty_frame(USER_COLUMNS))
    links: pd.DataFrame = field(default_factory=lambda: empty_frame(LINK_COLUMNS))
    repayments: pd.DataFrame = field(default_factory=lambda: empty_frame(REPAYMENT_COLUMNS))
    spending: pd.DataFrame = field(default_factory=lambda: empty_frame(SPENDING_COLUMNS))
    distrust: pd.DataFrame = field(default_factory=lambda: empty_frame(DISTRUST_COLUMNS))
    #: Integer codes of every user reference (filled by :func:`parse_dataset`).
    index: IdIndex | None = field(default=None, compare=False, repr=False)
    codes: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    #: The columns that refer to users, as ``(kind, column)``.
    REFERENCES: ClassVar[tuple[tuple[str, str], ...]] = (
        ("links", "source"),
        ("links", "target"),
        ("repayments", "user"),
        ("spending", "user"),
        ("distrust", "rater"),
        ("distrust", "rated"),
    )

    def reference_codes(self) -> tuple[IdIndex, dict[str, np.ndarray]]:
        """The id index and the code array of each ``kind.column`` reference."""
        if self.index is not None:
            return self.index, self.codes
        index = IdIndex(self.users["id"])
        codes = {
            f"{kind}.{column}": index.codes(getattr(self, kind)[column]) for kind, column in self.REFERENCES
        }
        return index, codes

    def counts(self) -> dict[str, int]:
        """Row count of each kind.

        Examples
        --------
        >>> Dataset().counts()
        {'users': 0, 'links': 0, 'repayments': 0, 'spending': 0, 'distrust': 0}
        """
        return {
            "users": len(self.users),
            "links": len(self.links),
            "repayments": len(self.repayments),
            "spending": len(self.spending),
            "distrust": len(self.distrust),
        }

    def referenced_users(self) -> np.ndarray:
        """User ids that links and events refer to but ``users`` does not define.

        The store must already hold them, or the load is rejected.
        """
        index, codes = self.reference_codes()
        used = np.zeros(len(index), dtype=bool)
        for code in codes.values():
            used[code] = True
        used[: index.n_defined] = False
        return index.ids[used]


# --------------------------------------------------------------------------- helpers


class _Checker:
    """Raise the first violation of a frame's rules with row, column and value."""

    def __init__(self, entity: str, source: str | None) -> None:
        self.entity = entity
        self.source = source

    def fail_where(self, bad: np.ndarray, column: str, values: Any, problem: str) -> None:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            pos = int(np.argmax(bad))
            value = values.iloc[pos] if isinstance(values, pd.Series) else values[pos]
            if isinstance(value, np.generic):
                value = value.item()
            if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                value = None
            raise ValidationError(
                problem,
                entity=self.entity,
                row=pos + 1,
                column=column,
                value=value,
                source=self.source,
            )

    def fail(self, problem: str, column: str | None = None) -> None:
        raise ValidationError(problem, entity=self.entity, column=column, source=self.source)


def _check_columns(
    frame: pd.DataFrame,
    schema: Mapping[str, Any],
    required: tuple[str, ...],
    checker: _Checker,
) -> None:
    unknown = [c for c in frame.columns if c not in schema]
    if unknown:
        checker.fail(f"unknown column {unknown[0]!r}; expected some of {list(schema)}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        checker.fail(f"missing required column {missing[0]!r}")


def _is_missing(series: pd.Series) -> np.ndarray:
    """True where a raw value is absent: null, NaN or an empty/blank string."""
    missing = series.isna().to_numpy(dtype=bool)
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        as_text = series.astype(pd.StringDtype())
        blank = as_text.str.strip().eq("").fillna(False).to_numpy(dtype=bool)
        missing = missing | blank
    return missing


def _parse_strings(
    series: pd.Series, column: str, checker: _Checker, *, max_length: int = _MAX_ID_LENGTH
) -> pd.Series:
    missing = _is_missing(series)
    checker.fail_where(missing, column, series, "is required")
    if series.dtype == object:
        not_text = ~series.map(lambda v: isinstance(v, str | int | np.integer)).to_numpy(bool)
        checker.fail_where(not_text, column, series, "must be a string")
    text = series.astype(pd.StringDtype()).str.strip()
    _check_lengths(text.str.len().to_numpy(dtype=np.int64), column, text, checker, max_length)
    return text.reset_index(drop=True)


def _check_lengths(lengths: np.ndarray, column: str, text: Any, checker: _Checker, max_length: int) -> None:
    checker.fail_where(lengths > max_length, column, text, f"longer than {max_length} characters")


def _typed_strings(
    values: list[str | None], column: str, checker: _Checker, *, max_length: int = _MAX_ID_LENGTH
) -> list[str]:
    """:func:`_parse_strings` of Python strings (None: missing), the same checks in the same order."""
    text = [None if value is None else value.strip() for value in values]
    checker.fail_where(np.array([not t for t in text], dtype=bool), column, values, "is required")
    stripped = [t or "" for t in text]
    _check_lengths(
        np.array([len(t) for t in stripped], dtype=np.int64), column, stripped, checker, max_length
    )
    return stripped


def _parse_floats(series: pd.Series, column: str, checker: _Checker) -> np.ndarray:
    """Floats; missing values become NaN (callers decide whether that is allowed)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        checker.fail_where(np.ones(len(series), bool), column, series, "must be a number")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = _is_missing(series)
    if series.dtype == object:
        is_bool = series.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(bool)
        checker.fail_where(is_bool, column, series, "must be a number")
    numbers = pd.to_numeric(series.where(~missing), errors="coerce")
    bad = numbers.isna().to_numpy(bool) & ~missing
    checker.fail_where(bad, column, series, "must be a number")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _parse_bools(series: pd.Series, column: str, checker: _Checker) -> np.ndarray:
    """Booleans as a float array: 1.0, 0.0 or NaN for missing."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = _is_missing(series)
    words = series.where(~missing).astype(pd.StringDtype()).str.strip().str.lower()
    truthy = words.isin(_TRUE_WORDS).to_numpy(bool)
    falsy = words.isin(_FALSE_WORDS).to_numpy(bool)
    checker.fail_where(~(truthy | falsy | missing), column, series, "must be true/false (or 1/0, yes/no)")
    out = np.full(len(series), np.nan)
    out[truthy] = 1.0
    out[falsy] = 0.0
    return out


def _parse_times(series: pd.Series, column: str, checker: _Checker) -> np.ndarray:
    """Epoch seconds as float64 (NaN = missing) from ints, datetimes or ISO 8601 text."""
    if pd.api.types.is_bool_dtype(series.dtype):
        checker.fail_where(np.ones(len(series), bool), column, series, "must be a time")
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        fractional = np.isfinite(values) & (values != np.floor(values))
        checker.fail_where(fractional | np.isinf(values), column, series, "must be whole seconds")
        return values
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return _datetimes_to_epoch(pd.to_datetime(series, utc=True))
    missing = _is_missing(series)
    text = series.where(~missing).astype(pd.StringDtype()).str.strip()
    out = np.full(len(series), np.nan)
    integral = text.str.fullmatch(r"-?\d{1,12}").fillna(False).to_numpy(bool)
    if integral.any():
        out[integral] = text[integral].astype("int64").to_numpy(dtype=np.float64)
    rest = ~integral & ~missing
    if rest.any():
        out[rest] = _iso_to_epoch(text[rest], column, checker, np.flatnonzero(rest), series)
    return out


def _iso_to_epoch(
    text: pd.Series, column: str, checker: _Checker, positions: np.ndarray, raw: pd.Series
) -> np.ndarray:
    values = text.to_numpy(dtype=object)
    zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$").fillna(False).to_numpy(bool)
    out = np.empty(len(values), dtype=np.float64)
    try:
        # Arrow parses ISO 8601 in C; a naive time is taken as UTC.
        for mask, arrow_type in ((zoned, pa.timestamp("s", tz="UTC")), (~zoned, pa.timestamp("s"))):
            if mask.any():
                stamps = pc.cast(pa.array(values[mask], type=pa.string()), arrow_type)
                out[mask] = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)
        return out
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Slow path, only to name the first bad row.
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = np.zeros(len(raw), bool)
    bad[positions] = parsed.isna().to_numpy(bool)
    checker.fail_where(bad, column, raw, "is not a valid time (ISO 8601 like 2024-03-01 or epoch seconds)")
    return _datetimes_to_epoch(parsed)


def _datetimes_to_epoch(stamps: pd.Series) -> np.ndarray:
    """Epoch seconds (NaN for NaT) of tz-aware datetimes of any resolution."""
    naive = stamps.dt.tz_convert(None).astype("datetime64[s]")
    seconds = naive.to_numpy().astype(np.int64).astype(np.float64)
    seconds[naive.isna().to_numpy(bool)] = np.nan
    return seconds


def _resolve_now(now: int | None) -> int:
    return epoch_now() if now is None else int(now)


def _require(values: np.ndarray, column: str, raw: Any, checker: _Checker, what: str = "is required") -> None:
    checker.fail_where(np.isnan(values), column, raw, what)


def _raw(frame: pd.DataFrame, column: str, default: Any) -> pd.Series:
    if column in frame.columns:
        return frame[column].reset_index(drop=True)
    return pd.Series([default] * len(frame), dtype=object if default is None else None)


def _check_time_range(
    values: np.ndarray,
    column: str,
    raw: Any,
    checker: _Checker,
    *,
    now: int,
    allow_future: bool = False,
) -> None:
    present = ~np.isnan(values)
    checker.fail_where(present & (values < 0), column, raw, "is before 1970-01-01")
    if not allow_future:
        checker.fail_where(present & (values > now + _FUTURE_SLACK), column, raw, "is in the future")
    # Year 3000 is a typo, not a plan.
    checker.fail_where(present & (values > 32_503_680_000), column, raw, "is after the year 3000")


def _check_unique(text: pd.Series | list[str], column: str, checker: _Checker) -> None:
    if isinstance(text, list):
        first_of: dict[str, int] = {}
        duplicated = np.array([first_of.setdefault(t, i) != i for i, t in enumerate(text)], dtype=bool)
    else:
        duplicated = text.duplicated().to_numpy(bool)
    if duplicated.any():
        pos = int(np.argmax(duplicated))
        first = (
            first_of[text[pos]]
            if isinstance(text, list)
            else int(np.flatnonzero((text == text.iloc[pos]).to_numpy(bool))[0])
        )
        checker.fail_where(duplicated, column, text, f"duplicate of row {first + 1}; ids must be unique")


# --------------------------------------------------------------------------- parsers


def check_text(entity: str, column: str, value: Any, *, max_length: int = 2_000) -> str:
    """Validate a required free-text field and return it stripped.

    Examples
    --------
    >>> check_text("flag", "reason", "  ring suspect ")
    'ring suspect'
    >>> check_text("flag", "analyst", " ")
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: flag, column 'analyst' (value ' '): is required
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("is required", entity=entity, column=column, value=value)
    if len(value.strip()) > max_length:
        raise ValidationError(
            f"longer than {max_length} characters", entity=entity, column=column, value=value[:40]
        )
    return value.strip()


def check_user_id(user_id: Any) -> str:
    """Validate one external user id and return it stripped.

    Examples
    --------
    >>> check_user_id(" ann ")
    'ann'
    >>> check_user_id("")
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: user, column 'id' (value ''): is required
    """
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValidationError(
            "is required" if user_id in ("", None) else "must be a non-empty string",
            entity="user",
            column="id",
            value=user_id,
        )
    text = user_id.strip()
    if len(text) > _MAX_ID_LENGTH:
        raise ValidationError(
            f"longer than {_MAX_ID_LENGTH} characters", entity="user", column="id", value=text
        )
    return text


def parse_users(frame: pd.DataFrame, *, source: str | None = None, now: int | None = None) -> pd.DataFrame:
    """Validate users and return them in the users frame schema.

    Only ``id`` and ``created`` are required; verification flags default to
    false, capacity to NaN (unknown) and ``consent_network`` to true.

    Parameters
    ----------
    frame : DataFrame
        Raw users (any subset of :data:`USER_COLUMNS`, strings or typed).
    source : str, optional
        Name of the input, used in error messages.
    now : int, optional
        The current time in epoch seconds (default: the clock).

    Returns
    -------
    DataFrame
        Exactly :data:`USER_COLUMNS`.

    Raises
    ------
    ValidationError
        For the first row that breaks a rule.
    """
    checker = _Checker("user", source)
    _check_columns(frame, USER_COLUMNS, ("id", "created"), checker)
    now_s = _resolve_now(now)
    ids = _parse_strings(frame["id"].reset_index(drop=True), "id", checker)
    _check_unique(ids, "id", checker)
    created_raw = frame["created"].reset_index(drop=True)
    created = _parse_times(created_raw, "created", checker)
    _require(created, "created", created_raw, checker)
    _check_time_range(created, "created", created_raw, checker, now=now_s)
    out: dict[str, Any] = {"id": ids, "created": created.astype(np.int64)}
    for column, default in _USER_DEFAULTS.items():
        raw = _raw(frame, column, None)
        if isinstance(default, bool):
            flags = _parse_bools(raw, column, checker)
            out[column] = np.where(np.isnan(flags), default, flags).astype(bool)
        else:
            amounts = _parse_floats(raw, column, checker)
            checker.fail_where(np.isinf(amounts), column, raw, "must be finite")
            checker.fail_where(amounts < 0, column, raw, "must be >= 0")
            checker.fail_where(amounts > MAX_AMOUNT, column, raw, f"must be <= {MAX_AMOUNT:g}")
            out[column] = amounts
    return pd.DataFrame(out)


def parse_links(
    frame: pd.DataFrame,
    *,
    source: str | None = None,
    now: int | None = None,
    index: IdIndex | None = None,
) -> pd.DataFrame:
    """Validate undirected friend links.

    ``weight`` defaults to 1 and ``created`` to ``now`` when the columns are
    absent. A pair may appear only once, in either orientation.

    Examples
    --------
    >>> raw = pd.DataFrame({"source": ["a", "b"], "target": ["b", "a"], "weight": [1, 2]})
    >>> parse_links(raw, now=0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: link row 2, column 'target' (value 'a'): duplicate link: the pair (a, b) is already at row 1
    """
    return _parse_links(frame, source=source, now=now, index=index or IdIndex())[0]


def _parse_links(
    frame: pd.DataFrame, *, source: str | None, now: int | None, index: IdIndex
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """parse_links, also returning the endpoint codes in ``index``."""

    def duplicate(a: str, b: str, first: int) -> str:
        pair = sorted((a, b))
        return f"duplicate link: the pair ({pair[0]}, {pair[1]}) is already at row {first + 1}"

    return _parse_weighted_pairs(frame, entity="link", columns=LINK_COLUMNS, ends=("source", "target"),
                                 itself="a user cannot link to themselves", ordered=False, duplicate=duplicate,
                                 source=source, now=now, index=index)  # fmt: skip


def _parse_weighted_pairs(
    frame: pd.DataFrame,
    *,
    entity: str,
    columns: dict[str, Any],
    ends: tuple[str, str],
    itself: str,
    ordered: bool,
    duplicate: Callable[[str, str, int], str],
    source: str | None,
    now: int | None,
    index: IdIndex,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows of two user ids, a weight and a time (links, distrust), checked alike.

    ``ordered`` pairs (a -> b) are duplicates only in the same direction; unordered ones
    in either. ``duplicate(a, b, first_row)`` words the error of a repeated pair.
    """
    first_end, second_end = ends
    checker = _Checker(entity, source)
    _check_columns(frame, columns, ends, checker)
    now_s = _resolve_now(now)
    one = _parse_strings(frame[first_end].reset_index(drop=True), first_end, checker)
    two = _parse_strings(frame[second_end].reset_index(drop=True), second_end, checker)
    checker.fail_where((one == two).to_numpy(bool), second_end, two, itself)
    weight_raw = _raw(frame, "weight", 1.0)
    weight = _parse_floats(weight_raw, "weight", checker)
    _check_weights(weight, weight_raw, checker)
    created_raw = _raw(frame, "created", now_s)
    created = _parse_times(created_raw, "created", checker)
    _check_created(created, created_raw, checker, now_s)
    a = b = np.empty(0, dtype=np.int64)
    if len(one):
        a, b = index.codes(one), index.codes(two)
        width = int(max(a.max(), b.max())) + 1
        key = a * width + b if ordered else np.minimum(a, b) * width + np.maximum(a, b)
        duplicated = pd.Series(key).duplicated().to_numpy(bool)
        if duplicated.any():
            pos = int(np.argmax(duplicated))
            first = int(np.flatnonzero(key == key[pos])[0])
            checker.fail_where(
                duplicated, second_end, two, duplicate(str(one.iloc[pos]), str(two.iloc[pos]), first)
            )
    parsed = pd.DataFrame(
        {first_end: one, second_end: two, "weight": weight, "created": created.astype(np.int64)}
    )
    return parsed, a, b


def _check_weights(weight: np.ndarray, raw: Any, checker: _Checker) -> None:
    _require(weight, "weight", raw, checker)
    checker.fail_where(~np.isfinite(weight), "weight", raw, "must be finite")
    checker.fail_where(weight <= 0, "weight", raw, "must be > 0")
    checker.fail_where(
        (weight > 0) & (weight < MIN_LINK_WEIGHT), "weight", raw, f"must be >= {MIN_LINK_WEIGHT:g}"
    )
    checker.fail_where(weight > MAX_LINK_WEIGHT, "weight", raw, f"must be <= {MAX_LINK_WEIGHT:g}")


def _check_created(created: np.ndarray, raw: Any, checker: _Checker, now_s: int) -> None:
    _require(created, "created", raw, checker)
    _check_time_range(created, "created", raw, checker, now=now_s)


def parse_distrust(
    frame: pd.DataFrame,
    *,
    source: str | None = None,
    now: int | None = None,
    index: IdIndex | None = None,
) -> pd.DataFrame:
    """Validate directed distrust (negative ratings): ``rater`` distrusts ``rated``.

    ``weight`` is the magnitude of the negative rating, a finite number in
    ``[MIN_LINK_WEIGHT, MAX_LINK_WEIGHT]`` (for a SNAP signed graph, a rating of -r is
    weight r, 1 to 10); ``created`` is the time of the rating. ``weight`` defaults to
    1 and ``created`` to ``now`` when the columns are absent. An ordered pair may
    appear only once in a frame (``a -> b`` and ``b -> a`` are two pairs); a store
    replaces a stored pair's weight and time with a later write's.

    Parameters
    ----------
    frame : DataFrame
        Raw distrust rows (columns of :data:`DISTRUST_COLUMNS`, strings or typed).
    source : str, optional
        Name of the input, used in error messages.
    now : int, optional
        The current time in epoch seconds (default: the clock).
    index : IdIndex, optional
        Where user ids get their integer codes (:func:`parse_dataset` shares one).

    Returns
    -------
    DataFrame
        Exactly :data:`DISTRUST_COLUMNS`.

    Raises
    ------
    ValidationError
        For the first row that breaks a rule (``entity="distrust"``): a missing
        user, a self-rating, a weight that is not a finite number > 0, a bad or
        future time, a repeated ordered pair.

    Examples
    --------
    >>> raw = pd.DataFrame({"rater": ["a", "b"], "rated": ["b", "a"], "weight": [3, 10],
    ...                     "created": ["2024-01-02", "0"]})
    >>> parse_distrust(raw, now=1_800_000_000)
      rater rated  weight     created
    0     a     b     3.0  1704153600
    1     b     a    10.0           0
    >>> parse_distrust(raw.assign(weight=[3, -1]), now=1_800_000_000)
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: distrust row 2, column 'weight' (value -1): must be > 0
    """
    return _parse_distrust(frame, source=source, now=now, index=index or IdIndex())[0]


def _parse_distrust(
    frame: pd.DataFrame, *, source: str | None, now: int | None, index: IdIndex
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """parse_distrust, also returning the rater and rated codes in ``index``."""
    return _parse_weighted_pairs(
        frame, entity="distrust", columns=DISTRUST_COLUMNS, ends=("rater", "rated"),
        itself="a user cannot rate themselves", ordered=True,
        duplicate=lambda a, b, first: f"duplicate distrust: {a} -> {b} is already at row {first + 1}",
        source=source, now=now, index=index,
    )  # fmt: skip


def _parse_choice(raw: pd.Series, column: str, choices: tuple[str, ...], checker: _Checker) -> pd.Series:
    text = _parse_strings(raw, column, checker).str.lower()
    _check_choice(text.isin(choices).to_numpy(bool), column, raw, choices, checker)
    return text


def _check_choice(ok: np.ndarray, column: str, raw: Any, choices: tuple[str, ...], checker: _Checker) -> None:
    checker.fail_where(~ok, column, raw, f"must be one of {', '.join(choices)}")


def _parse_event_common(
    frame: pd.DataFrame, checker: _Checker
) -> tuple[pd.Series, pd.Series, np.ndarray, pd.Series]:
    ids = _parse_strings(frame["id"].reset_index(drop=True), "id", checker)
    _check_unique(ids, "id", checker)
    users = _parse_strings(frame["user"].reset_index(drop=True), "user", checker)
    amount_raw = frame["amount"].reset_index(drop=True)
    amount = _parse_floats(amount_raw, "amount", checker)
    _check_amounts(amount, amount_raw, checker)
    return ids, users, amount, amount_raw


def _check_amounts(amount: np.ndarray, raw: Any, checker: _Checker) -> None:
    _require(amount, "amount", raw, checker)
    checker.fail_where(~np.isfinite(amount), "amount", raw, "must be finite")
    checker.fail_where(amount <= 0, "amount", raw, "must be > 0")
    checker.fail_where(amount > MAX_AMOUNT, "amount", raw, f"must be <= {MAX_AMOUNT:g}")


def parse_repayments(
    frame: pd.DataFrame, *, source: str | None = None, now: int | None = None
) -> pd.DataFrame:
    """Validate repayment events (a loan instalment: due, paid, amount, status).

    ``on_time`` and ``late`` need a ``paid`` time (``on_time``: by the end of the
    due day; ``late``: after it); ``pending``, ``missed`` and ``defaulted`` must
    not have one. Only ``pending`` instalments may be due in the future.

    Examples
    --------
    >>> raw = pd.DataFrame({"id": ["r1"], "user": ["ann"], "due": ["2024-03-01"],
    ...                     "paid": ["2024-03-09"], "amount": [100], "status": ["on_time"]})
    >>> parse_repayments(raw, now=1_800_000_000)
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: repayment row 1, column 'status' (value 'on_time'): paid after the due day, so the status must be 'late'
    """
    checker = _Checker("repayment", source)
    _check_columns(frame, REPAYMENT_COLUMNS, ("id", "user", "due", "amount", "status"), checker)
    now_s = _resolve_now(now)
    ids, users, amount, _ = _parse_event_common(frame, checker)
    status_raw = frame["status"].reset_index(drop=True)
    status = _parse_choice(status_raw, "status", REPAYMENT_STATUSES, checker)
    due_raw = frame["due"].reset_index(drop=True)
    due = _parse_times(due_raw, "due", checker)
    _check_due(due, due_raw, checker, now_s)
    paid_raw = _raw(frame, "paid", None)
    paid = _parse_times(paid_raw, "paid", checker)
    _check_time_range(paid, "paid", paid_raw, checker, now=now_s)
    has_paid = _check_repayment_rules(
        status.to_numpy(dtype=object), status_raw, due, due_raw, paid, paid_raw, checker, now_s
    )
    paid_col = pd.array(np.where(has_paid, paid, 0).astype(np.int64), dtype=pd.Int64Dtype())
    paid_col[~has_paid] = pd.NA
    return pd.DataFrame(
        {
            "id": ids,
            "user": users,
            "due": due.astype(np.int64),
            "paid": paid_col,
            "amount": amount,
            "status": status.astype(pd.StringDtype()),
        }
    )


def _check_due(due: np.ndarray, raw: Any, checker: _Checker, now_s: int) -> None:
    _require(due, "due", raw, checker)
    _check_time_range(due, "due", raw, checker, now=now_s, allow_future=True)


def _check_repayment_rules(
    st: np.ndarray,
    status_raw: Any,
    due: np.ndarray,
    due_raw: Any,
    paid: np.ndarray,
    paid_raw: Any,
    checker: _Checker,
    now_s: int,
) -> np.ndarray:
    """The rules between status, due and paid; which rows have a paid time."""
    needs_paid = (st == "on_time") | (st == "late")
    has_paid = ~np.isnan(paid)
    checker.fail_where(needs_paid & ~has_paid, "paid", paid_raw, "is required when paid")
    checker.fail_where(
        ~needs_paid & has_paid, "paid", paid_raw, "must be empty unless status is on_time or late"
    )
    end_of_due_day = (np.floor(due / _DAY) + 1) * _DAY
    with np.errstate(invalid="ignore"):
        after = has_paid & (paid >= end_of_due_day)
    checker.fail_where(
        (st == "on_time") & after,
        "status",
        status_raw,
        "paid after the due day, so the status must be 'late'",
    )
    checker.fail_where(
        (st == "late") & has_paid & ~after,
        "status",
        status_raw,
        "paid by the due day, so the status must be 'on_time'",
    )
    checker.fail_where(
        (st != "pending") & (due > now_s + _FUTURE_SLACK),
        "due",
        due_raw,
        "is in the future, so the status must be 'pending'",
    )
    return has_paid


def parse_spending(frame: pd.DataFrame, *, source: str | None = None, now: int | None = None) -> pd.DataFrame:
    """Validate spending and bill-payment events.

    A ``bill`` needs ``on_time`` (true/false); a ``purchase`` must leave it empty.

    Examples
    --------
    >>> raw = pd.DataFrame({"id": ["s1"], "user": ["ann"], "at": [0], "amount": [12.5],
    ...                     "category": ["bill"], "on_time": ["yes"]})
    >>> parse_spending(raw, now=0)["on_time"].tolist()
    [True]
    """
    checker = _Checker("spending", source)
    _check_columns(frame, SPENDING_COLUMNS, ("id", "user", "at", "amount", "category"), checker)
    now_s = _resolve_now(now)
    ids, users, amount, _ = _parse_event_common(frame, checker)
    category_raw = frame["category"].reset_index(drop=True)
    category = _parse_choice(category_raw, "category", SPENDING_CATEGORIES, checker)
    at_raw = frame["at"].reset_index(drop=True)
    at = _parse_times(at_raw, "at", checker)
    _check_at(at, at_raw, checker, now_s)
    on_time_raw = _raw(frame, "on_time", None)
    on_time = _parse_bools(on_time_raw, "on_time", checker)
    is_bill = (category == "bill").to_numpy(bool)
    _check_bills(is_bill, on_time, on_time_raw, checker)
    on_time_col = pd.array(np.nan_to_num(on_time).astype(bool), dtype=pd.BooleanDtype())
    on_time_col[~is_bill] = pd.NA
    return pd.DataFrame(
        {
            "id": ids,
            "user": users,
            "at": at.astype(np.int64),
            "amount": amount,
            "category": category.astype(pd.StringDtype()),
            "on_time": on_time_col,
        }
    )


def _check_at(at: np.ndarray, raw: Any, checker: _Checker, now_s: int) -> None:
    _require(at, "at", raw, checker)
    _check_time_range(at, "at", raw, checker, now=now_s)


def _check_bills(is_bill: np.ndarray, on_time: np.ndarray, raw: Any, checker: _Checker) -> None:
    checker.fail_where(is_bill & np.isnan(on_time), "on_time", raw, "is required for bills")
    checker.fail_where(~is_bill & ~np.isnan(on_time), "on_time", raw, "must be empty for purchases")


def parse_scores(frame: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Validate score snapshots (written by the engine, checked all the same).

    Examples
    --------
    >>> raw = pd.DataFrame({"user": ["ann"], "model_version": ["m1"], "computed_at": [0],
    ...                     "score": [990], **{c: [0.5] for c in COMPONENTS}})
    >>> parse_scores(raw)
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: score row 1, column 'score' (value 990.0): must be an integer in [350, 950]
    """
    checker = _Checker("score", source)
    _check_columns(frame, SCORE_COLUMNS, tuple(SCORE_COLUMNS), checker)
    users = _parse_strings(frame["user"].reset_index(drop=True), "user", checker)
    version = _parse_strings(frame["model_version"].reset_index(drop=True), "model_version", checker)
    at_raw = frame["computed_at"].reset_index(drop=True)
    at = _parse_times(at_raw, "computed_at", checker)
    _require(at, "computed_at", at_raw, checker)
    score_raw = frame["score"].reset_index(drop=True)
    score = _parse_floats(score_raw, "score", checker)
    _check_scores(score, checker)
    out: dict[str, Any] = {
        "user": users,
        "model_version": version,
        "computed_at": at.astype(np.int64),
        "score": score.astype(np.int64),
    }
    for name in COMPONENTS:
        raw = frame[name].reset_index(drop=True)
        values = _parse_floats(raw, name, checker)
        _check_component(values, name, raw, checker)
        out[name] = values
    return pd.DataFrame(out)


def _check_scores(score: np.ndarray, checker: _Checker) -> None:
    checker.fail_where(
        np.isnan(score) | (score != np.round(score)) | (score < 350) | (score > 950),
        "score",
        score,
        "must be an integer in [350, 950]",
    )


def _check_component(values: np.ndarray, name: str, raw: Any, checker: _Checker) -> None:
    checker.fail_where(np.isnan(values) | (values < 0) | (values > 1), name, raw, "must be in [0, 1]")


def parse_dataset(
    *,
    users: pd.DataFrame | None = None,
    links: pd.DataFrame | None = None,
    repayments: pd.DataFrame | None = None,
    spending: pd.DataFrame | None = None,
    distrust: pd.DataFrame | None = None,
    sources: Mapping[str, str] | None = None,
    now: int | None = None,
) -> Dataset:
    """Validate a bundle of frames into a :class:`Dataset`.

    Parameters
    ----------
    users, links, repayments, spending, distrust : DataFrame, optional
        Raw frames; an absent one means none of that kind.
    sources : mapping, optional
        Name of each kind's input (e.g. ``{"links": "links.csv"}``) for errors.
    now : int, optional
        The current time in epoch seconds (default: the clock).

    Examples
    --------
    >>> ds = parse_dataset(users=pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}),
    ...                    links=pd.DataFrame({"source": ["a"], "target": ["c"]}), now=10)
    >>> ds.counts()["links"], list(ds.referenced_users())
    (1, ['c'])
    """
    sources = dict(sources or {})
    now_s = _resolve_now(now)
    parsed: dict[str, pd.DataFrame] = {}
    if users is not None:
        parsed["users"] = parse_users(users, source=sources.get("users"), now=now_s)
    index = IdIndex(parsed["users"]["id"] if "users" in parsed else None)
    codes: dict[str, np.ndarray] = {}
    if links is not None:
        parsed["links"], codes["links.source"], codes["links.target"] = _parse_links(
            links, source=sources.get("links"), now=now_s, index=index
        )
    for kind, frame, parser in (
        ("repayments", repayments, parse_repayments),
        ("spending", spending, parse_spending),
    ):
        if frame is not None:
            parsed[kind] = parser(frame, source=sources.get(kind), now=now_s)
            codes[f"{kind}.user"] = index.codes(parsed[kind]["user"])
    if distrust is not None:
        parsed["distrust"], codes["distrust.rater"], codes["distrust.rated"] = _parse_distrust(
            distrust, source=sources.get("distrust"), now=now_s, index=index
        )
    for kind, column in Dataset.REFERENCES:
        codes.setdefault(f"{kind}.{column}", np.empty(0, dtype=np.int64))
    return replace(Dataset(), **parsed, index=index, codes=codes)


# --------------------------------------------------------------------------- records

#: Frame schema of each kind of :class:`Records`.
RECORD_COLUMNS: dict[str, dict[str, Any]] = {
    "links": LINK_COLUMNS,
    "repayments": REPAYMENT_COLUMNS,
    "spending": SPENDING_COLUMNS,
    "scores": SCORE_COLUMNS,
}


@dataclass(frozen=True)
class Records:
    """Validated rows of one kind, as tuples of plain Python values in the kind's schema order.

    What the ``parse_*`` function of the kind returns, without a DataFrame: a change of
    a few rows (one API mutation, the snapshots of the users it moved) costs a few
    microseconds per row this way, against milliseconds for building and checking
    frames. Build them with :func:`link_records`, :func:`repayment_records`,
    :func:`spending_records`, :func:`score_records` (which run the same checks, in the
    same order, with the same errors as the frame parsers) or :meth:`from_frame` (of an
    already parsed frame); :meth:`frame` gives the parsed frame back.

    Attributes
    ----------
    kind : {"links", "repayments", "spending", "scores"}
        What the rows are.
    rows : tuple of tuple
        One tuple per row, values in :data:`RECORD_COLUMNS` ``[kind]`` order; a missing
        value (an unpaid instalment's ``paid``, a purchase's ``on_time``) is None.

    Examples
    --------
    >>> records = repayment_records([{"id": " r1", "user": "ann", "due": 0, "amount": 5, "status": "Pending"}])
    >>> records.rows
    (('r1', 'ann', 0, None, 5.0, 'pending'),)
    >>> records.frame().dtypes["paid"], len(records)
    (Int64Dtype(), 1)
    """

    kind: str
    rows: tuple[tuple[Any, ...], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in row order."""
        return tuple(RECORD_COLUMNS[self.kind])

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        """The values of one column, in row order."""
        k = self.columns.index(name)
        return [row[k] for row in self.rows]

    def frame(self) -> pd.DataFrame:
        """The rows as the frame the kind's parser returns (exact schema and dtypes)."""
        schema = RECORD_COLUMNS[self.kind]
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(schema)
        out: dict[str, Any] = {}
        for (name, dtype), values in zip(schema.items(), columns, strict=True):
            if isinstance(dtype, np.dtype):
                out[name] = np.array(values, dtype=dtype)
            else:
                out[name] = pd.array(list(values), dtype=dtype)
        return pd.DataFrame(out)

    def dataset(self) -> Dataset:
        """Links or events as a :class:`Dataset` (of this kind alone)."""
        if self.kind == "scores":
            raise ValueError("score snapshots are not a dataset")
        frame = self.frame()
        if self.kind == "links":
            return Dataset(links=frame)
        return Dataset(repayments=frame) if self.kind == "repayments" else Dataset(spending=frame)

    def __add__(self, other: Records) -> Records:
        if other.kind != self.kind:
            raise ValueError(f"cannot add {other.kind} records to {self.kind} records")
        return Records(self.kind, self.rows + other.rows)

    @classmethod
    def from_frame(cls, kind: str, frame: pd.DataFrame) -> Records:
        """Records of a frame already in the kind's schema (parsed, or read from a store)."""
        names = list(RECORD_COLUMNS[kind])
        columns = [frame[name].astype(object).where(frame[name].notna(), None).tolist() for name in names]
        return cls(kind, tuple(zip(*columns, strict=True)) if len(frame) else ())


def _typed(
    rows: Any, schema: Mapping[str, Any], required: tuple[str, ...], kinds: Mapping[str, tuple[type, ...]]
) -> list[dict[str, Any]] | None:
    """``rows`` as dicts with every column, if their values are simple; else None (use the frame parser).

    Simple: each value None or of a type its column takes (``kinds``), and in a numeric
    column the values all of one type, without None beside numbers (a frame would make
    such a column float, and name its values as floats). Anything else (other types,
    unknown or missing required columns, text times, ``"yes"``/``"no"``) is left to the
    frame parser, which names the problem or reads the richer input.
    """
    out = []
    for row in rows:
        if not isinstance(row, Mapping) or any(key not in schema for key in row):
            return None
        if any(key not in row for key in required):
            return None
        typed = {}
        for name, allowed in kinds.items():
            value = row.get(name)
            if value is not None and type(value) not in allowed:
                return None
            typed[name] = value
        out.append(typed)
    for name, allowed in kinds.items():
        if allowed is _TEXT or allowed is _BOOL:
            continue
        types = {type(row[name]) for row in out}
        if len(types) > 1:
            return None
    return out


_TEXT = (str,)
_INT = (int,)
_NUMBER = (int, float)
_BOOL = (bool,)


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _frame_of(rows: Any) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def repayment_records(rows: Any, *, source: str | None = None, now: int | None = None) -> Records:
    """Validate repayments given as mappings of Python values, as :func:`parse_repayments` does.

    The same checks in the same order raise the same errors; rows of simple values
    (str ids, int times, int or float amounts, None for no ``paid``) skip pandas, any
    other input goes through :func:`parse_repayments`.

    Examples
    --------
    >>> repayment_records([{"id": "r1", "user": "ann", "due": 0, "amount": -1, "status": "pending"}])
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: repayment row 1, column 'amount' (value -1): must be > 0
    """
    kinds = {"id": _TEXT, "user": _TEXT, "due": _INT, "paid": _INT, "amount": _NUMBER, "status": _TEXT}
    typed = _typed(rows, REPAYMENT_COLUMNS, ("id", "user", "due", "amount", "status"), kinds)
    if typed is None:
        return Records.from_frame("repayments", parse_repayments(_frame_of(rows), source=source, now=now))
    checker = _Checker("repayment", source)
    now_s = _resolve_now(now)
    ids, users, amount = _typed_event_common(typed, checker)
    status_raw, status = _typed_choice(typed, "status", REPAYMENT_STATUSES, checker)
    due_raw = [row["due"] for row in typed]
    due = _floats(due_raw)
    _check_due(due, due_raw, checker, now_s)
    paid_raw = [row["paid"] for row in typed]
    paid = _floats(paid_raw)
    _check_time_range(paid, "paid", paid_raw, checker, now=now_s)
    _check_repayment_rules(
        np.array(status, dtype=object), status_raw, due, due_raw, paid, paid_raw, checker, now_s
    )
    return Records("repayments", tuple(zip(ids, users, [int(d) for d in due_raw], paid_raw, amount.tolist(),
                                           status, strict=True)))  # fmt: skip


def spending_records(rows: Any, *, source: str | None = None, now: int | None = None) -> Records:
    """Validate spending events given as mappings of Python values, as :func:`parse_spending` does.

    The same checks in the same order raise the same errors; rows of simple values
    (str ids, int times, int or float amounts, bool or None ``on_time``) skip pandas,
    any other input goes through :func:`parse_spending`.

    Examples
    --------
    >>> spending_records([{"id": "s1", "user": "ann", "at": 0, "amount": 9.5, "category": "bill",
    ...                    "on_time": True}], now=0).rows
    (('s1', 'ann', 0, 9.5, 'bill', True),)
    """
    kinds = {"id": _TEXT, "user": _TEXT, "at": _INT, "amount": _NUMBER, "category": _TEXT, "on_time": _BOOL}
    typed = _typed(rows, SPENDING_COLUMNS, ("id", "user", "at", "amount", "category"), kinds)
    if typed is None:
        return Records.from_frame("spending", parse_spending(_frame_of(rows), source=source, now=now))
    checker = _Checker("spending", source)
    now_s = _resolve_now(now)
    ids, users, amount = _typed_event_common(typed, checker)
    _, category = _typed_choice(typed, "category", SPENDING_CATEGORIES, checker)
    at_raw = [row["at"] for row in typed]
    _check_at(_floats(at_raw), at_raw, checker, now_s)
    on_time_raw = [row["on_time"] for row in typed]
    is_bill = np.array([c == "bill" for c in category], dtype=bool)
    _check_bills(is_bill, _floats(on_time_raw), on_time_raw, checker)
    return Records(
        "spending", tuple(zip(ids, users, at_raw, amount.tolist(), category, on_time_raw, strict=True))
    )


def _typed_choice(
    typed: list[dict[str, Any]], column: str, choices: tuple[str, ...], checker: _Checker
) -> tuple[list[Any], list[str]]:
    """A column of one of ``choices`` (case-insensitive): its raw values and the lower-cased ones."""
    raw = [row[column] for row in typed]
    values = [text.lower() for text in _typed_strings(raw, column, checker)]
    _check_choice(np.array([v in choices for v in values], dtype=bool), column, raw, choices, checker)
    return raw, values


def _typed_event_common(
    typed: list[dict[str, Any]], checker: _Checker
) -> tuple[list[str], list[str], np.ndarray]:
    """:func:`_parse_event_common` of typed rows: ids, users and amounts, checked in the same order."""
    ids = _typed_strings([row["id"] for row in typed], "id", checker)
    _check_unique(ids, "id", checker)
    users = _typed_strings([row["user"] for row in typed], "user", checker)
    amount_raw = [row["amount"] for row in typed]
    amount = _floats(amount_raw)
    _check_amounts(amount, amount_raw, checker)
    return ids, users, amount


def link_records(rows: Any, *, source: str | None = None, now: int | None = None) -> Records:
    """Validate links given as mappings of Python values, as :func:`parse_links` does.

    ``weight`` defaults to 1 and ``created`` to ``now``. The same checks in the same
    order raise the same errors; rows of simple values skip pandas, any other input
    goes through :func:`parse_links`.

    Examples
    --------
    >>> link_records([{"source": "a", "target": "b", "weight": 2}], now=7).rows
    (('a', 'b', 2.0, 7),)
    >>> link_records([{"source": "a", "target": " a"}], now=7)
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: link row 1, column 'target' (value 'a'): a user cannot link to themselves
    """
    now_s = _resolve_now(now)
    typed = _typed(rows, LINK_COLUMNS, ("source", "target"), {"source": _TEXT, "target": _TEXT, "weight": _NUMBER,
                                                               "created": _INT})  # fmt: skip
    if typed is not None:
        # A column given is taken as given (None is missing); an absent one takes its default.
        for row, given in zip(typed, rows, strict=True):
            row["weight"] = row["weight"] if "weight" in given else 1.0
            row["created"] = row["created"] if "created" in given else now_s
    if typed is None or any(type(row["created"]) is not int for row in typed):
        return Records.from_frame("links", parse_links(_frame_of(rows), source=source, now=now_s))
    checker = _Checker("link", source)
    src = _typed_strings([row["source"] for row in typed], "source", checker)
    dst = _typed_strings([row["target"] for row in typed], "target", checker)
    checker.fail_where(np.array([a == b for a, b in zip(src, dst, strict=True)], dtype=bool), "target", dst,
                       "a user cannot link to themselves")  # fmt: skip
    weight_raw = [row["weight"] for row in typed]
    weight = _floats(weight_raw)
    _check_weights(weight, weight_raw, checker)
    created_raw = [row["created"] for row in typed]
    _check_created(_floats(created_raw), created_raw, checker, now_s)
    first: dict[tuple[str, str], int] = {}
    for pos, (a, b) in enumerate(zip(src, dst, strict=True)):
        pair = (a, b) if a < b else (b, a)
        earlier = first.setdefault(pair, pos)
        if earlier != pos:
            bad = np.zeros(len(src), dtype=bool)
            bad[pos] = True
            checker.fail_where(bad, "target", dst, f"duplicate link: the pair ({pair[0]}, {pair[1]}) is already at "
                               f"row {earlier + 1}")  # fmt: skip
    return Records("links", tuple(zip(src, dst, weight.tolist(), created_raw, strict=True)))


def score_records(
    users: Any, model_version: str, computed_at: int, score: np.ndarray, components: np.ndarray,
    *, source: str | None = None,
) -> Records:  # fmt: skip
    """Validate score snapshots given as arrays, as :func:`parse_scores` does (same checks, same errors).

    Parameters
    ----------
    users : sequence of str
        The users, one per snapshot.
    model_version : str
        The model of every snapshot.
    computed_at : int
        Their evaluation time, epoch seconds.
    score : ndarray, shape (m,)
        Scores.
    components : ndarray, shape (m, 5)
        Components in :data:`COMPONENTS` order.

    Examples
    --------
    >>> score_records(["ann"], "m1", 0, np.array([650]), np.full((1, 5), 0.5)).rows
    (('ann', 'm1', 0, 650, 0.5, 0.5, 0.5, 0.5, 0.5),)
    """
    users = list(users)
    values = np.asarray(components, dtype=np.float64).reshape(len(users), len(COMPONENTS))
    scores = np.asarray(score)
    if (
        not all(type(u) is str for u in users)
        or type(model_version) is not str
        or type(computed_at) is not int
    ):
        frame = pd.DataFrame({"user": users, "model_version": model_version, "computed_at": computed_at,
                              "score": scores, **{c: values[:, k] for k, c in enumerate(COMPONENTS)}})  # fmt: skip
        return Records.from_frame("scores", parse_scores(frame, source=source))
    checker = _Checker("score", source)
    users = _typed_strings(users, "user", checker)
    (version,) = (
        _typed_strings([model_version], "model_version", checker) if users else [model_version.strip()]
    )
    as_float = scores.astype(np.float64)
    _check_scores(as_float, checker)
    for k, name in enumerate(COMPONENTS):
        _check_component(values[:, k], name, values[:, k], checker)
    count = len(users)
    return Records("scores", tuple(zip(users, [version] * count, [computed_at] * count,
                                       as_float.astype(np.int64).tolist(), *values.T.tolist(), strict=True)))  # fmt: skip
