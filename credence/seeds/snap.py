"""Load SNAP-style signed trust graphs (who-trusts-whom ratings) as Credence frames.

A signed trust graph is a table of ratings ``source,target,weight,timestamp``:
rater id, rated id, a rating in -10..10 other than 0, and seconds since the epoch
(SNAP's ``soc-sign-bitcoinalpha`` and ``soc-sign-bitcoinotc`` have this shape).
Credence reads it as follows:

* every user who rates or is rated becomes a user, created at the earliest
  timestamp they appear in, with no verification, no declared income and consent
  to network scoring;
* positive ratings become undirected friend links: all positive ratings between a
  pair, in either direction, merge into one link weighted by their mean and created
  at the earliest of them;
* negative ratings are not friendship: they become directed distrust
  (``rater -> rated``, the distrust frame schema of ``docs/data-model.md``). Per
  ordered pair only the latest rating counts (a rating replaces the rater's earlier
  one; at equal times the later row wins): when it is negative, the pair gets one
  distrust row weighted by its magnitude (1..10) and created at its time. A pair's
  positive ratings still make its friend link, so a pair rated both ways keeps both.

Ids become strings (the decimal form of the integer id). Timestamps with a
fraction of a second are floored to whole seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from credence.core.errors import ValidationError

__all__ = ["COLUMNS", "SignedGraph", "parse_signed_edges", "read_signed_edges"]

#: The columns of a signed-edge table, in file order.
COLUMNS = ("source", "target", "weight", "timestamp")

_ENTITY = "rating"
_INT_PATTERN = r"[+-]?\d{1,18}"
_NUMBER_PATTERN = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_USER_FLAGS = (
    "phone_verified",
    "id_verified",
    "face_verified",
    "education_verified",
    "employer_verified",
)


@dataclass(frozen=True)
class SignedGraph:
    """A signed trust graph in Credence's frame schemas.

    Attributes
    ----------
    users : pandas.DataFrame
        Users schema of ``docs/data-model.md``, sorted by numeric id.
    links : pandas.DataFrame
        Links schema: one row per pair with at least one positive rating,
        ``source`` the smaller numeric id, sorted.
    distrust : pandas.DataFrame
        Distrust schema (``rater``, ``rated``, ``weight``, ``created``): one row per
        ordered pair whose latest rating is negative, ``weight`` its magnitude,
        sorted by numeric rater and rated id.
    """

    users: pd.DataFrame
    links: pd.DataFrame
    distrust: pd.DataFrame


def _fail(problem: str, positions: np.ndarray, column: str, raw: pd.Series) -> ValidationError:
    """The error for the first offending row among ``positions`` (0-based)."""
    first = int(positions[0])
    value = raw.iloc[first]
    if isinstance(value, np.generic):
        value = value.item()
    return ValidationError(problem, entity=_ENTITY, row=first + 1, column=column, value=value)


def _missing(raw: pd.Series) -> np.ndarray:
    mask = raw.isna().to_numpy(dtype=bool)
    if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
        text = raw.astype(pd.StringDtype()).str.strip()
        mask = mask | (text == "").fillna(value=True).to_numpy(dtype=bool)
    return mask


def _numbers(raw: pd.Series, column: str, *, integer: bool) -> np.ndarray:
    """The column as float64 (or int64 when ``integer``), or a ValidationError."""
    missing = _missing(raw)
    if missing.any():
        raise _fail("missing value", np.flatnonzero(missing), column, raw)
    kind = "an integer" if integer else "a number"
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise _fail(f"must be {kind}", np.arange(len(raw)), column, raw)
    if pd.api.types.is_integer_dtype(raw.dtype):
        return raw.to_numpy(dtype=np.int64) if integer else raw.to_numpy(dtype=np.float64)
    if pd.api.types.is_float_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if integer:
            bad |= np.isfinite(values) & (values != np.floor(values))
        if bad.any():
            raise _fail(f"must be {kind}", np.flatnonzero(bad), column, raw)
        return values.astype(np.int64) if integer else values
    text = raw.astype(pd.StringDtype()).str.strip()
    ok = text.str.fullmatch(_INT_PATTERN if integer else _NUMBER_PATTERN)
    bad = ~ok.fillna(value=False).to_numpy(dtype=bool)
    if bad.any():
        raise _fail(f"must be {kind}", np.flatnonzero(bad), column, raw)
    if integer:
        return text.astype("int64").to_numpy(dtype=np.int64)
    return text.astype("float64").to_numpy(dtype=np.float64)


def _empty_users() -> pd.DataFrame:
    return _users_frame(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def _ids(values: np.ndarray) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(pa.array(values.astype(str), type=pa.string()))


def _users_frame(ids: np.ndarray, created: np.ndarray) -> pd.DataFrame:
    n = ids.size
    frame: dict[str, object] = {"id": _ids(ids), "created": created.astype(np.int64)}
    for flag in _USER_FLAGS:
        frame[flag] = np.zeros(n, dtype=bool)
    for amount in ("declared_income", "verified_income", "verified_assets"):
        frame[amount] = np.full(n, np.nan)
    frame["consent_network"] = np.ones(n, dtype=bool)
    return pd.DataFrame(frame)


def parse_signed_edges(table: pd.DataFrame, *, source_name: str | None = None) -> SignedGraph:
    """Validate a table of signed ratings and turn it into users, links and distrust.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``source``, ``target``, ``weight``, ``timestamp`` (others are
        ignored), as numbers or as text. Ids must be integers, ratings numbers in
        -10..10 other than 0, timestamps numbers (seconds since the epoch).
    source_name : str or None
        Where the table came from, named in errors.

    Returns
    -------
    SignedGraph
        ``users``, ``links`` (positive ratings, merged per unordered pair: mean
        rating, earliest time) and ``distrust`` (ordered pairs whose latest rating is
        negative: its magnitude and time).

    Raises
    ------
    ValidationError
        With ``entity="rating"`` and the 1-based data row, column and value of the
        first malformed row: a missing column or value, a non-integer id, a rating
        of 0 or outside -10..10, a non-numeric timestamp, a self-rating.

    Examples
    --------
    >>> table = pd.DataFrame({"source": [1, 2, 1, 3], "target": [2, 1, 3, 2],
    ...                       "weight": [4, 2, 10, -5],
    ...                       "timestamp": [300, 100, 200, 400]})
    >>> graph = parse_signed_edges(table)
    >>> graph.links
      source target  weight  created
    0      1      2     3.0      100
    1      1      3    10.0      200
    >>> graph.distrust
      rater rated  weight  created
    0     3     2     5.0      400
    >>> graph.users[["id", "created"]]
      id  created
    0  1      100
    1  2      100
    2  3      200
    >>> parse_signed_edges(table.assign(weight=[4, 0, 10, -5]))
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: rating row 2, column 'weight' (value 0): \
must be in -10..10 and not 0
    """
    try:
        return _parse(table)
    except ValidationError as err:
        if source_name:
            raise err.with_source(source_name) from None
        raise


def _parse(table: pd.DataFrame) -> SignedGraph:
    for column in COLUMNS:
        if column not in table.columns:
            raise ValidationError(
                f"missing column (expected {', '.join(COLUMNS)})", entity=_ENTITY, column=column
            )
    source = _numbers(table["source"], "source", integer=True)
    target = _numbers(table["target"], "target", integer=True)
    rating = _numbers(table["weight"], "weight", integer=False)
    at_float = _numbers(table["timestamp"], "timestamp", integer=False)

    bad = ~np.isfinite(rating) | (rating == 0) | (rating < -10) | (rating > 10)
    if bad.any():
        raise _fail("must be in -10..10 and not 0", np.flatnonzero(bad), "weight", table["weight"])
    bad = ~np.isfinite(at_float) | (np.abs(at_float) > 2.0**62)
    if bad.any():
        raise _fail("must be a finite time in seconds", np.flatnonzero(bad), "timestamp", table["timestamp"])
    bad = source == target
    if bad.any():
        raise _fail("a user cannot rate themselves", np.flatnonzero(bad), "target", table["target"])
    at = np.floor(at_float).astype(np.int64)

    # users: earliest appearance as rater or rated
    both = np.concatenate([source, target])
    when = np.concatenate([at, at])
    ids, inverse = np.unique(both, return_inverse=True)
    created = np.full(ids.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(created, inverse, when)
    users = _users_frame(ids, created) if ids.size else _empty_users()

    # links: positive ratings merged per unordered pair
    pos = rating > 0
    lo = np.minimum(source[pos], target[pos])
    hi = np.maximum(source[pos], target[pos])
    pairs = pd.DataFrame({"lo": lo, "hi": hi, "rating": rating[pos], "at": at[pos]})
    merged = pairs.groupby(["lo", "hi"], sort=True).agg(weight=("rating", "mean"), created=("at", "min"))
    links = pd.DataFrame(
        {
            "source": _ids(merged.index.get_level_values("lo").to_numpy(dtype=np.int64)),
            "target": _ids(merged.index.get_level_values("hi").to_numpy(dtype=np.int64)),
            "weight": merged["weight"].to_numpy(dtype=np.float64),
            "created": merged["created"].to_numpy(dtype=np.int64),
        }
    )

    # distrust: the latest rating of each ordered pair (the later row at equal times), if negative
    order = np.lexsort((np.arange(at.size), at, target, source))
    s, t, r, w = source[order], target[order], rating[order], at[order]
    last = np.ones(s.size, dtype=bool)
    last[:-1] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
    keep = last & (r < 0)
    distrust = pd.DataFrame(
        {
            "rater": _ids(s[keep]),
            "rated": _ids(t[keep]),
            "weight": -r[keep],
            "created": w[keep],
        }
    )
    return SignedGraph(users=users, links=links, distrust=distrust)


def read_signed_edges(path: str | os.PathLike[str]) -> SignedGraph:
    """Read a signed-edge CSV file (one header line) with :func:`parse_signed_edges`.

    Parameters
    ----------
    path : str or path-like
        The CSV file, columns ``source,target,weight,timestamp``.

    Returns
    -------
    SignedGraph

    Raises
    ------
    ValidationError
        For a malformed row or file, naming the file.
    FileNotFoundError
        If there is no such file.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.ParserError as err:
        raise ValidationError(str(err), entity=_ENTITY, source=path.name) from None
    except pd.errors.EmptyDataError:
        raise ValidationError(
            "empty file: expected a header line", entity=_ENTITY, source=path.name
        ) from None
    return parse_signed_edges(table, source_name=path.name)
