"""Relay page information, shared by every connection."""

from __future__ import annotations

import strawberry

__all__ = ["PageInfo"]


@strawberry.type
class PageInfo:
    """Whether a connection has more edges, and the cursor to ask for them with."""

    has_next_page: bool
    end_cursor: str | None
