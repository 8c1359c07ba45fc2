"""The root query of the audit log (admin)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from credence.api.context import AFTER, BEFORE, LAST, context_of, first_argument
from credence.api.ids import audit_position
from credence.api.limits import PageSize
from credence.api.types.audit import AuditPage, audit_page
from credence.graph.store import AuditEntry, GraphStore

__all__ = ["AUDIT_PAGE", "AuditQuery", "read_audit_page"]

#: Page size of ``auditLog`` given neither ``first`` nor ``last``.
AUDIT_PAGE = 50


@strawberry.type
class AuditQuery:
    """Root fields for reading the audit log (the ``admin`` permission)."""

    @strawberry.field(
        description="The audit log of analysts' reads and flags (admin), oldest first "
        "(Relay: first/after forward, last/before backward)."
    )
    async def audit_log(
        self,
        info: strawberry.Info,
        first: Annotated[int | None, first_argument(AUDIT_PAGE)] = None,
        after: Annotated[str | None, AFTER] = None,
        actor: str | None = None,
        subject: str | None = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> AuditPage:
        """A page of the audit log between the cursors, filtered by exact actor and subject.

        See :func:`read_audit_page`.

        Raises
        ------
        ValidationError
            If both ``first`` and ``last`` are given, or a cursor is not an audit cursor.
        LimitExceededError
            If ``first`` or ``last`` exceeds ``max_first``.
        ParameterError
            If a filter is not a valid value.
        """
        ctx = context_of(info)
        ctx.require("admin", "auditLog")
        size = ctx.page(first, last, AUDIT_PAGE)
        low = None if after is None else audit_position(after, "after")
        high = None if before is None else audit_position(before, "before")
        store = ctx.service.store
        return await ctx.service.run(read_audit_page, store, size, low, high, actor, subject)


def read_audit_page(
    store: GraphStore,
    size: PageSize,
    after: int | None,
    before: int | None,
    actor: str | None,
    subject: str | None,
) -> AuditPage:
    """One page of the entries with ``after < id < before`` that match the filters (on the worker thread).

    The page is the window's oldest ``size`` entries, or its newest (still oldest
    first); one entry more than the page tells whether the window goes on beyond it.
    Whether entries lie beyond the cursors themselves (at or before ``after``, at or
    after ``before``) is asked of the store too, one indexed entry at most each: both
    flags are exact, read just after the page (the log only grows, so an entry
    appended meanwhile can only add a next page).

    Parameters
    ----------
    store
        The store to read.
    size
        The page size, and whether it counts from the end of the window (``last``).
    after, before
        Entry ids from the cursors (exclusive bounds), or None.
    actor, subject
        Exact values the entries must have, or None.
    """

    def fetch(low: int | None, high: int | None, limit: int, newest: bool) -> list[AuditEntry]:
        if newest:
            return store.audit_log(last=limit, after=low, before=high, actor=actor, subject=subject)
        return store.audit_log(first=limit, after=low, before=high, actor=actor, subject=subject)

    rows, earlier, later = size.keyset(fetch, after, before)
    return audit_page(rows, has_previous=earlier, has_next=later)
