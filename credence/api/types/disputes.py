"""Disputes as served: a person's challenge of a record, the analysts' queue, and what a resolution moved."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import strawberry

from credence.api.ids import encode_cursor
from credence.api.scalars import EpochSeconds
from credence.api.types.scores import ScoreChangeType
from credence.graph.disputes import Dispute as StoredDispute

__all__ = [
    "DisputeKind",
    "DisputeOutcome",
    "DisputePage",
    "DisputePayload",
    "DisputeType",
    "dispute_from",
    "dispute_page",
]


@strawberry.enum(
    description="What a person can dispute: an event of theirs, one of their links, a flag on them."
)
class DisputeKind(Enum):
    """The kinds of :data:`~credence.graph.disputes.DISPUTE_KINDS`, as a GraphQL enum."""

    repayment = "repayment"
    spending = "spending"
    link = "link"
    flag = "flag"


@strawberry.enum(
    description="How a dispute ends: upheld (the record is corrected or removed) or rejected (it counts)."
)
class DisputeOutcome(Enum):
    """The outcomes of :data:`~credence.graph.disputes.DISPUTE_OUTCOMES`, as a GraphQL enum."""

    upheld = "upheld"
    rejected = "rejected"


@strawberry.type(
    name="Dispute", description="A person's dispute of one of their records, and its resolution."
)
class DisputeType:
    """A stored :class:`credence.graph.disputes.Dispute` as served."""

    id: int
    user_id: str
    kind: DisputeKind
    record: str = strawberry.field(description="The event id, the other user's id (a link) or the flag id.")
    detail: str = strawberry.field(description="The record as it was when disputed (JSON).")
    adverse: bool = strawberry.field(
        description="Whether the record counted against the person when disputed; an adverse record does not "
        "count while its dispute is open, unless the policy says it does."
    )
    reason: str
    opened_by: str
    opened_at: EpochSeconds
    due: EpochSeconds = strawberry.field(description="The analysts' deadline.")
    open: bool
    overdue: bool = strawberry.field(description="Still open after its deadline.")
    resolved_at: EpochSeconds | None
    resolved_by: str | None
    outcome: DisputeOutcome | None
    resolution: str | None
    correction: str | None = strawberry.field(
        description="The corrected record (JSON) of a dispute upheld by correcting it; null when it was removed."
    )


def dispute_from(dispute: StoredDispute, now: int) -> DisputeType:
    """A stored dispute as a GraphQL object (``now`` decides whether it is overdue)."""
    return DisputeType(
        id=dispute.id, user_id=dispute.user, kind=DisputeKind(dispute.kind), record=dispute.record,
        detail=dispute.detail, adverse=dispute.adverse, reason=dispute.reason, opened_by=dispute.opened_by,
        opened_at=EpochSeconds(dispute.opened_at), due=EpochSeconds(dispute.due), open=dispute.open,
        overdue=dispute.overdue(now),
        resolved_at=None if dispute.resolved_at is None else EpochSeconds(dispute.resolved_at),
        resolved_by=dispute.resolved_by, outcome=None if dispute.outcome is None else DisputeOutcome(dispute.outcome),
        resolution=dispute.resolution, correction=dispute.correction,
    )  # fmt: skip


@strawberry.type
class DisputeEdge:
    """One dispute of a page, with its cursor."""

    node: DisputeType
    cursor: str


@strawberry.type
class DisputePage:
    """A keyset page of disputes, oldest first (the cursors hold a dispute id: new disputes never shift a page)."""

    edges: list[DisputeEdge]
    end_cursor: str | None = strawberry.field(
        description="The last dispute's cursor (`after` for the next page)."
    )
    has_next_page: bool
    start_cursor: str | None = strawberry.field(
        description="The first dispute's cursor (`before` for the previous page)."
    )
    has_previous_page: bool


def dispute_page(
    disputes: Sequence[StoredDispute], *, has_next: bool, now: int, has_previous: bool = False
) -> DisputePage:
    """A page of stored disputes (already cut to the page size)."""
    edges = [
        DisputeEdge(node=dispute_from(d, now), cursor=encode_cursor("disputes", {"id": d.id}))
        for d in disputes
    ]
    return DisputePage(edges=edges, end_cursor=edges[-1].cursor if edges else None, has_next_page=has_next,
                       start_cursor=edges[0].cursor if edges else None, has_previous_page=has_previous)  # fmt: skip


@strawberry.type
class DisputePayload:
    """What ``disputeRecord`` and ``resolveDispute`` return: the dispute as stored, and every score it moved."""

    dispute: DisputeType
    changes: list[ScoreChangeType] = strawberry.field(description="Every score the change moved.")
