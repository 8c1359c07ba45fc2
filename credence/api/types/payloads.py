"""What mutations and the score subscription return."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from credence.api.scalars import EpochSeconds
from credence.api.types.scores import ScoreChangeType, score_changes
from credence.api.types.users import User, user_nodes
from credence.engine import RecomputeReport, ScoreChange

__all__ = [
    "ChangePayload",
    "ErasePayload",
    "RecomputePayload",
    "ScoreChangedEvent",
    "change_payload",
    "recompute_payload",
]


@strawberry.type
class ChangePayload:
    """What every mutation but ``recompute`` returns: the score changes and the users it was about.

    Built by :func:`change_payload`; the users are as they are after the change.
    """

    changes: list[ScoreChangeType] = strawberry.field(description="Every score the change moved.")
    users: list[User] = strawberry.field(description="The users the change was about, as they are now.")


@strawberry.type
class RecomputePayload:
    """What the ``recompute`` mutation returns: the engine's recompute report (:func:`recompute_payload`).

    ``written`` counts the score snapshots appended, ``seconds`` the wall time of all
    phases, ``generation`` the version of the scores now in memory.
    """

    users: int
    links: int
    participants: int
    model_version: str
    computed_at: EpochSeconds
    written: int
    seconds: float
    generation: int


@strawberry.type(description="What erasing a person did.")
class ErasePayload:
    """The ``eraseUser`` answer: the person's pseudonym in the audit log and the neighbours' score changes."""

    erased: bool
    pseudonym: str = strawberry.field(
        description="The erased person's reference in the audit log from now on."
    )
    changes: list[ScoreChangeType] = strawberry.field(description="The neighbours' scores the erasure moved.")


@strawberry.type(description="A score change pushed to subscribers.")
class ScoreChangedEvent:
    """One score change, as ``scoreChanged`` pushes it to a subscriber."""

    user_id: str
    before: int
    after: int


async def change_payload(
    info: strawberry.Info, changes: Sequence[ScoreChange], users: Sequence[str]
) -> ChangePayload:
    """A mutation's answer: the score changes it caused and its users as they are now.

    Parameters
    ----------
    info
        The mutation's resolver info (users are loaded through the request's loaders).
    changes
        What the engine reported; only the users whose score moved are listed (a
        component's drift alone is stored in the snapshot, not listed).
    users
        The stored ids the change was about; repeats are listed once, in first order.
    """
    return ChangePayload(
        changes=score_changes(c for c in changes if c.moved),
        users=await user_nodes(info, list(dict.fromkeys(users))),
    )


def recompute_payload(report: RecomputeReport, generation: int) -> RecomputePayload:
    """A full recompute's report; ``seconds`` is the wall time of all its phases."""
    return RecomputePayload(
        users=report.users, links=report.links, participants=report.participants,
        model_version=report.model_version, computed_at=EpochSeconds(report.computed_at), written=report.written,
        seconds=float(sum(report.seconds.values())), generation=generation,
    )  # fmt: skip
