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

    ``end_cursor`` holds the last entry's id, so entries appended meanwhile never shift
    a page; there is no total count (the log only grows and counting it is a scan).
    """

    entries: list[AuditEntryType]
    end_cursor: str | None
    has_next_page: bool


def audit_page(rows: Sequence[AuditEntry], first: int) -> AuditPage:
    """A page of at most ``first`` entries from ``rows``.

    Parameters
    ----------
    rows
        Up to ``first + 1`` entries, oldest first: one more than the page holds tells
        whether there is a next page without counting the log.
    first
        The page size.
    """
    entries = [AuditEntryType(id=e.id, at=EpochSeconds(e.at), actor=e.actor, role=e.role, action=e.action, subject=e.subject,
                              detail=e.detail) for e in rows[:first]]  # fmt: skip
    return AuditPage(entries=entries, has_next_page=len(rows) > first,
                     end_cursor=encode_cursor("audit", {"id": entries[-1].id}) if entries else None)  # fmt: skip
