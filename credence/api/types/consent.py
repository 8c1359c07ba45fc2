"""A user's consent history: every change of their consent to network scoring."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry

from credence.api.scalars import EpochSeconds
from credence.graph.store import ConsentChange as StoredConsentChange

__all__ = ["ConsentChange", "consent_changes_from"]


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
