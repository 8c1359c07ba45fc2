"""The root query of the audit log (admin)."""

from __future__ import annotations

import strawberry

from credence.api.context import context_of
from credence.api.ids import audit_position
from credence.api.types.audit import AuditPage, audit_page

__all__ = ["AuditQuery"]


@strawberry.type
class AuditQuery:
    """Root fields for reading the audit log (the ``admin`` permission)."""

    @strawberry.field(description="The audit log of analysts' reads and flags (admin), oldest first.")
    async def audit_log(
        self,
        info: strawberry.Info,
        first: int = 50,
        after: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
    ) -> AuditPage:
        """A page of the audit log after the cursor ``after``, filtered by exact actor and subject.

        Raises
        ------
        ValidationError
            If ``after`` is not an audit cursor.
        ParameterError
            If a filter is not a valid value.
        """
        ctx = context_of(info)
        ctx.require("admin", "auditLog")
        first = ctx.first(first)
        start = None if after is None else audit_position(after)
        # One entry more than the page tells whether there is a next page.
        rows = await ctx.service.run(ctx.service.store.audit_log, first=first + 1, after=start, actor=actor,
                                     subject=subject)  # fmt: skip
        return audit_page(rows, first)
