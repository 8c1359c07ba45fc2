"""Relay page information, shared by every connection."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

__all__ = ["PageInfo", "page_info"]


@strawberry.type
class PageInfo:
    """Whether a connection has edges on either side of the page, and the cursors to ask for them with.

    ``has_previous_page`` and ``has_next_page`` tell whether the listing (with its
    filter) has items before the page's first edge and after its last, whatever
    arguments cut the page; see each field for how exactly that is known.
    """

    has_next_page: bool = strawberry.field(description="Whether items follow the page (`after: endCursor`).")
    has_previous_page: bool = strawberry.field(
        description="Whether items precede the page (`before: startCursor`)."
    )
    start_cursor: str | None = strawberry.field(description="The cursor of the first edge; null when empty.")
    end_cursor: str | None = strawberry.field(description="The cursor of the last edge; null when empty.")


def page_info(cursors: Sequence[str], *, has_previous: bool, has_next: bool) -> PageInfo:
    """The ``PageInfo`` of a page whose edges have ``cursors``, in order.

    Examples
    --------
    >>> page_info(["a", "b"], has_previous=False, has_next=True)
    PageInfo(has_next_page=True, has_previous_page=False, start_cursor='a', end_cursor='b')
    """
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
