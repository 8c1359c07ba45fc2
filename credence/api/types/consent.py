"""A person's own records: consent history, adverse-action notices, requests for human review."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

import strawberry

from credence.api.scalars import EpochSeconds
from credence.api.types.scores import Reason
from credence.graph.store import AdverseNotice as StoredNotice
from credence.graph.store import ConsentChange as StoredConsentChange
from credence.graph.store import Review as StoredReview

__all__ = [
    "AdverseActionNotice",
    "ConsentChange",
    "HumanReview",
    "ReviewOutcome",
    "consent_changes_from",
    "notices_from",
    "review_from",
]


@strawberry.type(
    description="A change of a user's consent to network scoring: the consent from `at` on, and who."
)
class ConsentChange:
    """A stored consent change (:class:`credence.graph.store.ConsentChange`) as served."""

    consent: bool
    at: EpochSeconds
    actor: str = strawberry.field(description="The API key (or `cli`) that made the change.")


def consent_changes_from(changes: Iterable[StoredConsentChange]) -> list[ConsentChange]:
    """A user's stored consent changes as GraphQL objects, oldest first."""
    return [ConsentChange(consent=c.consent, at=EpochSeconds(c.at), actor=c.actor) for c in changes]


@strawberry.type(
    description="An adverse-action notice: a change took the score below a benefit tier the user had; the principal "
    "reasons then, and the points that would restore the tier."
)
class AdverseActionNotice:
    """A stored :class:`credence.graph.store.AdverseNotice` as served."""

    at: EpochSeconds
    tier: str
    tier_min: int
    score_before: int
    score_after: int
    restore_points: int = strawberry.field(description="Points the score needs to reach the tier again.")
    model_version: str
    reasons: list[Reason]


def notices_from(notices: Iterable[StoredNotice]) -> list[AdverseActionNotice]:
    """A user's stored notices as GraphQL objects, oldest first."""
    return [AdverseActionNotice(at=EpochSeconds(n.at), tier=n.tier, tier_min=n.tier_min, score_before=n.score_before,
                                score_after=n.score_after, restore_points=n.restore_points,
                                model_version=n.model_version,
                                reasons=[Reason(code=c, text=t, points=p) for c, t, p in n.reasons])
            for n in notices]  # fmt: skip


@strawberry.enum(description="How a human review ends: the automated outcome stands, or it does not.")
class ReviewOutcome(Enum):
    """The outcomes of :data:`~credence.graph.store.REVIEW_OUTCOMES`, as a GraphQL enum."""

    upheld = "upheld"
    overturned = "overturned"


@strawberry.type(
    description="A person's request for human review of a benefit tier denied, and its resolution."
)
class HumanReview:
    """A stored :class:`credence.graph.store.Review` as served."""

    id: int
    user_id: str
    tier: str
    reason: str
    requested_by: str
    requested_at: EpochSeconds
    due: EpochSeconds = strawberry.field(description="The reviewer's deadline.")
    open: bool
    resolved_at: EpochSeconds | None
    resolved_by: str | None
    outcome: ReviewOutcome | None
    resolution: str | None


def review_from(review: StoredReview) -> HumanReview:
    """A stored review as a GraphQL object."""
    return HumanReview(
        id=review.id, user_id=review.user, tier=review.tier, reason=review.reason, requested_by=review.requested_by,
        requested_at=EpochSeconds(review.requested_at), due=EpochSeconds(review.due), open=review.open,
        resolved_at=None if review.resolved_at is None else EpochSeconds(review.resolved_at),
        resolved_by=review.resolved_by, outcome=None if review.outcome is None else ReviewOutcome(review.outcome),
        resolution=review.resolution,
    )  # fmt: skip
