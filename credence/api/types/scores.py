"""The parts of a score (components and adverse-action reasons) and a score change."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry

from credence.engine import ScoreChange

__all__ = ["Component", "Reason", "ScoreChangeType", "score_changes"]


@strawberry.type(
    description="One part of a score: value in [0, 1], policy weight, points = 600 x weight x value."
)
class Component:
    """One component of a score, with the points it is worth (``600 x weight x value``).

    The components of a score add up to ``score - 350`` up to rounding.
    """

    name: str
    value: float
    weight: float
    points: float


@strawberry.type(description="An adverse-action reason: what cost points, in plain words.")
class Reason:
    """One adverse-action reason of a score, from the engine's :class:`~credence.engine.Reason`."""

    code: str
    text: str
    points: float = strawberry.field(description="Points this reason costs.")


@strawberry.type(description="A user whose score moved because of a change.")
class ScoreChangeType:
    """One score an event, a what-if or a mutation moved, as :func:`score_changes` lists them."""

    user_id: str
    before: int
    after: int


def score_changes(changes: Iterable[ScoreChange]) -> list[ScoreChangeType]:
    """The engine's score changes as GraphQL objects, in the engine's order."""
    return [ScoreChangeType(user_id=c.user, before=c.before, after=c.after) for c in changes]
