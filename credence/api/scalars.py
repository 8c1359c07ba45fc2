"""The API's custom scalar: ``DateTime``, an ISO-8601 instant in UTC.

Inside Credence a time is whole seconds since the Unix epoch (UTC), as the stores hold
it. At the API's edge it is ISO-8601 text: answers say ``2026-12-02T18:04:42Z``, and a
client may send any ISO-8601 date-time with an explicit offset (``Z``, ``+08:00``),
which is converted to UTC. A time without an offset, a bare date, fractions of a second
or a number are refused, each with a message saying so: a naive time would be read in
some zone the client did not choose, and a silently dropped fraction changes the
instant.

Resolvers and inputs annotate times as :data:`EpochSeconds` (an ``int`` to Python and
the type checker); the schema maps that type to the ``DateTime`` scalar
(:data:`DATETIME`, given to strawberry's ``scalar_map`` by ``build_schema``).

Examples
--------
>>> format_datetime(1_764_700_000)
'2025-12-02T18:26:40Z'
>>> parse_datetime("2025-12-03T02:26:40+08:00")
1764700000
>>> parse_datetime("2040-01-01T00:00:00Z") > 2**31  # past 2038: no 32-bit limit
True
"""

from __future__ import annotations

from datetime import datetime
from typing import NewType

import strawberry
from graphql import GraphQLError

from credence.core.errors import clip
from credence.core.times import format_datetime

__all__ = ["DATETIME", "EpochSeconds", "format_datetime", "parse_datetime"]

#: A time as whole seconds since 1970-01-01T00:00:00Z; ``DateTime`` in the schema.
EpochSeconds = NewType("EpochSeconds", int)

_EXAMPLE = "2026-12-02T18:04:42Z"


def _refuse(value: object, why: str) -> GraphQLError:
    shown = clip(value) if isinstance(value, str) else clip(repr(value))
    return GraphQLError(f"DateTime cannot represent {shown!r}: {why}")


def parse_datetime(value: object) -> EpochSeconds:
    """Epoch seconds of an ISO-8601 date-time with an offset (a client's ``DateTime``).

    Raises
    ------
    GraphQLError
        If ``value`` is not a string, not ISO-8601, has no offset, or has fractions of a
        second. graphql-core then reports it for the variable or literal that held it.

    Examples
    --------
    >>> parse_datetime("1970-01-01T00:01:00Z")
    60
    >>> parse_datetime("1970-01-01T00:01:00")
    Traceback (most recent call last):
    ...
    graphql.error.graphql_error.GraphQLError: DateTime cannot represent '1970-01-01T00:01:00': it needs a UTC offset (Z or +hh:mm), like 2026-12-02T18:04:42Z
    """
    if not isinstance(value, str) or isinstance(value, bool):
        raise _refuse(value, f"a DateTime is ISO-8601 text, like {_EXAMPLE}")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse(value, f"not an ISO-8601 date-time, like {_EXAMPLE}") from None
    if len(value.strip()) <= 10:
        raise _refuse(value, f"a date alone is not an instant; give a time and offset, like {_EXAMPLE}")
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise _refuse(value, f"it needs a UTC offset (Z or +hh:mm), like {_EXAMPLE}")
    if stamp.microsecond:
        raise _refuse(value, "times are whole seconds; drop the fraction")
    # Whole seconds: the float timestamp is exact well beyond year 9999.
    return EpochSeconds(int(stamp.timestamp()))


def _serialize(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"DateTime serializes epoch seconds, not {type(value).__name__}")
    return format_datetime(value)


#: The ``DateTime`` scalar's definition, for strawberry's ``scalar_map``.
DATETIME = strawberry.scalar(
    name="DateTime",
    description="An instant as ISO-8601 text in UTC, to the second (2026-12-02T18:04:42Z). "
    "Inputs need an explicit offset (Z or +hh:mm) and are converted to UTC.",
    specified_by_url="https://www.rfc-editor.org/rfc/rfc3339",
    serialize=_serialize,
    parse_value=parse_datetime,
)
