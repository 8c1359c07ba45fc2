"""A user's stored score snapshots as a connection, newest first."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import strawberry

from credence.api.ids import encode_cursor, history_position
from credence.api.scalars import EpochSeconds
from credence.api.types.pages import PageInfo
from credence.api.types.scores import Component
from credence.core.scale import points
from credence.scoring.policy import COMPONENT_NAMES, Policy

__all__ = ["ScoreSnapshot", "ScoreSnapshotConnection", "ScoreSnapshotEdge", "history_page"]


@strawberry.type(description="A stored score snapshot.")
class ScoreSnapshot:
    """One stored score snapshot, its components priced with the weights in force (:func:`history_page`)."""

    model_version: str
    computed_at: EpochSeconds
    score: int
    components: list[Component]


@strawberry.type
class ScoreSnapshotEdge:
    """One snapshot of a ``User.history`` page; the cursor holds its position from the oldest."""

    cursor: str
    node: ScoreSnapshot


@strawberry.type
class ScoreSnapshotConnection:
    """A page of a user's score history, newest first; ``total_count`` counts every snapshot."""

    edges: list[ScoreSnapshotEdge]
    page_info: PageInfo
    total_count: int


def history_page(
    frame: pd.DataFrame,
    recorded: Mapping[str, Mapping[str, float]],
    policy: Policy,
    first: int,
    after: str | None,
) -> ScoreSnapshotConnection:
    """One page of a user's snapshots, newest first.

    Parameters
    ----------
    frame
        The user's snapshots as the store returns them (ordered by time, then sequence:
        oldest first), with a column per component.
    recorded
        The weights of each model version the store has recorded
        (:meth:`~credence.graph.store.GraphStore.model_weights`): each snapshot is
        priced in points with the weights of the model that produced it.
    policy
        The policy in force: its weights price snapshots of its own version, and of
        versions the store has no record of (written before versions were recorded).
    first
        Page size (already checked against the limits).
    after
        The ``endCursor`` of the previous page, or None for the first page.

    Returns
    -------
    ScoreSnapshotConnection
        The page; ``totalCount`` counts every snapshot.

    Raises
    ------
    ValidationError
        If ``after`` is not a history cursor.
    """
    rows = list(range(len(frame) - 1, -1, -1))  # newest first
    start = 0
    if after is not None:
        # Cursors count from the oldest snapshot, so snapshots added since do not shift them.
        start = len(frame) - history_position(after)
    edges = []
    for i in rows[start : start + first]:
        row = frame.iloc[i]
        version = str(row["model_version"])
        weights = recorded.get(version) or policy.weights
        components = [
            Component(name=name, value=float(row[name]), weight=float(weights[name]),
                      points=points(float(weights[name]), float(row[name])))
            for name in COMPONENT_NAMES
        ]  # fmt: skip
        node = ScoreSnapshot(model_version=version, computed_at=EpochSeconds(int(row["computed_at"])),
                             score=int(row["score"]), components=components)  # fmt: skip
        edges.append(ScoreSnapshotEdge(cursor=encode_cursor("history", {"p": i}), node=node))
    has_next = start + first < len(rows)
    return ScoreSnapshotConnection(edges=edges, page_info=PageInfo(has_next_page=has_next,
                                   end_cursor=edges[-1].cursor if edges else None), total_count=len(frame))  # fmt: skip
