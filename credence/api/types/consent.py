"""A person's own records: their consent history and their adverse-action notices."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry

from credence.api.scalars import EpochSeconds
from credence.api.types.scores import Reason
from credence.graph.store import AdverseNotice as StoredNotice
from credence.graph.store import ConsentChange as StoredConsentChange

__all__ = ["AdverseActionNotice", "ConsentChange", "consent_changes_from", "notices_from"]


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
