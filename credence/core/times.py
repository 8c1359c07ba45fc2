"""Times as people read them: epoch seconds (UTC) as ISO-8601 text.

Credence keeps every time as whole seconds since 1970-01-01T00:00:00Z; where a person
or a client reads one (the API's ``DateTime``, a subject export) it is written the one
way this module writes it.

Examples
--------
>>> format_datetime(0)
'1970-01-01T00:00:00Z'
>>> format_datetime(2**31)  # past the 32-bit limit
'2038-01-19T03:14:08Z'
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_datetime"]


def format_datetime(seconds: float) -> str:
    """``seconds`` since the epoch as ISO-8601 in UTC, to the (whole) second, with a ``Z``."""
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
