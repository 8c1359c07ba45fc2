"""The audit log of analysts' reads and flags, as keyset pages."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from credence.api.ids import encode_cursor
from credence.api.scalars import EpochSeconds
from credence.graph.store import AuditEntry

__all__ = ["AuditEntryType", "AuditPage", "audit_page"]


@strawberry.type
class AuditEntryType:
    """One recorded audit entry (:class:`credence.graph.store.AuditEntry`) as served, field for field."""

    id: int
    at: EpochSeconds
    actor: str
    role: str
    action: str
    subject: str | None
    detail: str


@strawberry.type
class AuditPage:
    """A keyset page of the audit log, oldest first.

    The cursors hold an entry's id, so entries appended meanwhile never shift a page;
    ``start_cursor`` (the first entry's) is ``before`` for the page before it,
    ``end_cursor`` (the last entry's) ``after`` for the page after it. There is no
    total count (the log only grows and counting it is a scan).
    """

    entries: list[AuditEntryType]
    end_cursor: str | None = strawberry.field(description="The last entry's cursor; null when empty.")
    has_next_page: bool = strawberry.field(
        description="Whether entries matching the filters follow the page."
    )
    start_cursor: str | None = strawberry.field(description="The first entry's cursor; null when empty.")
    has_previous_page: bool = strawberry.field(
        description="Whether entries matching the filters precede the page."
    )


def audit_page(rows: Sequence[AuditEntry], *, has_previous: bool, has_next: bool) -> AuditPage:
    """The page of the entries ``rows`` (oldest first), and whether entries precede and follow it.

    Examples
    --------
    >>> page = audit_page([AuditEntry(7, 0, "ana", "analyst", "read:x", None, "")], has_previous=True,
    ...                   has_next=False)
    >>> page.start_cursor == page.end_cursor == encode_cursor("audit", {"id": 7}), page.has_previous_page
    (True, True)
    """
    entries = [AuditEntryType(id=e.id, at=EpochSeconds(e.at), actor=e.actor, role=e.role, action=e.action, subject=e.subject,
                              detail=e.detail) for e in rows]  # fmt: skip
    cursors = [encode_cursor("audit", {"id": e.id}) for e in entries]
    return AuditPage(entries=entries, has_next_page=has_next, has_previous_page=has_previous,
                     start_cursor=cursors[0] if cursors else None,
                     end_cursor=cursors[-1] if cursors else None)  # fmt: skip
