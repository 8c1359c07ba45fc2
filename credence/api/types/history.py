"""A user's stored score snapshots as a connection, newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import strawberry

from credence.api.ids import encode_cursor, history_position
from credence.api.limits import PageSize
from credence.api.scalars import EpochSeconds
from credence.api.types.pages import PageInfo, page_info
from credence.api.types.scores import Component
from credence.core.scale import points
from credence.engine.why import ComponentChange as WhyComponent
from credence.engine.why import ScoreChangeExplanation as WhyExplanation
from credence.engine.why import ScoreStep as WhyStep
from credence.scoring.policy import COMPONENT_NAMES, Policy

__all__ = [
    "ComponentChange",
    "ScoreChangeExplanation",
    "ScoreSnapshot",
    "ScoreSnapshotConnection",
    "ScoreSnapshotEdge",
    "history_page",
    "score_change_from",
]


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
    size: PageSize,
    after: str | None = None,
    before: str | None = None,
) -> ScoreSnapshotConnection:
    """One page of a user's snapshots, newest first.

    A cursor holds its snapshot's position counted from the oldest, so snapshots added
    since do not shift it. The snapshots strictly between ``after`` and ``before`` (in
    the newest-first order: older than ``after``, newer than ``before``) form the window,
    and the page is its first or last ``size`` snapshots, newest first either way. The
    page info is exact: the whole history is at hand.

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
    size
        Page size and end (``first`` or ``last``), already checked against the limits.
    after, before
        Cursors of this history's edges, or None.

    Returns
    -------
    ScoreSnapshotConnection
        The page; ``totalCount`` counts every snapshot.

    Raises
    ------
    ValidationError
        If ``after`` or ``before`` is not a history cursor.
    """
    count = len(frame)
    rows = list(range(count - 1, -1, -1))  # newest first: row i shows the snapshot at position count-1-i
    # Position p (from the oldest) is shown at row count-1-p: after it come rows > that, before it rows < it.
    low = 0 if after is None else max(0, count - history_position(after, "after"))
    high = count if before is None else min(count, max(0, count - 1 - history_position(before, "before")))
    start, stop = size.cut(low, high)
    edges = []
    for i in rows[start:stop]:
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
    info: PageInfo = page_info([e.cursor for e in edges], has_previous=start > 0, has_next=stop < count)
    return ScoreSnapshotConnection(edges=edges, page_info=info, total_count=count)


@strawberry.type(description="How one component's points moved between two snapshots.")
class ComponentChange:
    """One :class:`credence.engine.why.ComponentChange` as served."""

    name: str
    points_before: float
    points_after: float
    value_points: float = strawberry.field(description="600 x weight after x (value after - value before).")
    weight_points: float = strawberry.field(
        description="600 x (weight after - weight before) x value before: a model change (0 within one version)."
    )


@strawberry.type(
    description="The change that produced a snapshot, from the change journal: what it was, when, and whether it "
    "was to the person's own data or elsewhere in their network."
)
class StepCause:
    """A :class:`credence.graph.journal.Change` as one person's score history shows it."""

    kind: str = strawberry.field(
        description="repayments, spending, users, link_added, link_removed, consent_given, consent_withdrawn, flag, "
        "unflag, dispute_opened, dispute_upheld, dispute_rejected or erasure."
    )
    at: EpochSeconds = strawberry.field(description="When the change was made.")
    own: bool = strawberry.field(
        description="True: a change to this person's own data (their records, a link of theirs, their consent, "
        "their flag); false: a change elsewhere in their network that moved their network value."
    )
    records: list[str] = strawberry.field(
        description="This person's records the change concerned: event ids, or for a link the other end's id "
        "(empty for a network change)."
    )
    corrected: list[str] = strawberry.field(
        description="Of `records`, the events that replaced a stored event with the same id (a correction or an "
        "update, e.g. a pending repayment now paid, or an upheld dispute's correction); the others are new."
    )
    people_count: int = strawberry.field(description="How many other people's own data the change was.")
    people: list[str] | None = strawberry.field(
        description="Those other people's ids (erased people by pseudonym); null unless the caller may read "
        "evidence (analyst, admin)."
    )
    actor: str | None = strawberry.field(
        description="Who made it (the analyst of a flag, the actor of a consent or dispute), where recorded; null "
        "unless the caller may read evidence."
    )


@strawberry.type(
    description="The move from one stored snapshot to the next: a model change, a full recompute at a later "
    "evaluation time (records aged, everything re-derived) or an incremental change."
)
class ScoreStep:
    """One :class:`credence.engine.why.ScoreStep` as served."""

    cursor: str = strawberry.field(description="The later snapshot's cursor in User.history.")
    kind: str = strawberry.field(description="model, recompute or change.")
    score_before: int
    score_after: int
    change: int
    computed_at: EpochSeconds = strawberry.field(description="The later snapshot's evaluation time.")
    components: list[ComponentChange]
    cause: StepCause | None = strawberry.field(
        description="For a change step, the journaled change behind it (null for a model change, a recompute, or "
        "snapshots written before the journal or imported)."
    )


@strawberry.type(
    description="Why a score moved between two stored snapshots: the components' value and weight parts and the "
    "score's rounding add up to the point change exactly."
)
class ScoreChangeExplanation:
    """A :class:`credence.engine.why.ScoreChangeExplanation` as served; snapshots named by history cursor."""

    user_id: str
    change: int
    before_score: int
    after_score: int
    before_computed_at: EpochSeconds
    after_computed_at: EpochSeconds
    before_model_version: str
    after_model_version: str
    before_cursor: str = strawberry.field(description="The earlier snapshot's cursor in User.history.")
    after_cursor: str = strawberry.field(description="The later snapshot's cursor in User.history.")
    components: list[ComponentChange]
    rounding: float = strawberry.field(description="The point change minus the components' change (under 1).")
    tiers_lost: list[str]
    tiers_gained: list[str]
    steps: list[ScoreStep] = strawberry.field(
        description="One step per snapshot after the earlier one up to the later one, oldest first (at most the "
        "last 100); when all are listed their changes add up to the change."
    )
    steps_total: int = strawberry.field(description="How many steps there are in all.")


#: The most steps one ``scoreChange`` lists (the newest ones).
MAX_STEPS = 100


def _component_changes(changes: Sequence[WhyComponent]) -> list[ComponentChange]:
    return [ComponentChange(name=c.name, points_before=c.points_before, points_after=c.points_after,
                            value_points=c.value_points, weight_points=c.weight_points) for c in changes]  # fmt: skip


def _cause(step: WhyStep, user: str, *, evidence: bool) -> StepCause | None:
    cause = step.cause
    if cause is None:
        return None
    others = list(cause.others(user))
    records = cause.records_of(user)
    return StepCause(kind=cause.kind, at=EpochSeconds(cause.at), own=bool(step.own), records=list(records),
                     corrected=[record for record in records if record in cause.corrected],
                     people_count=len(others), people=others if evidence else None,
                     actor=cause.actor if evidence else None)  # fmt: skip


def score_change_from(explanation: WhyExplanation, *, evidence: bool = False) -> ScoreChangeExplanation:
    """The engine's decomposition as a GraphQL object; ``evidence``: name the other people and actors of causes."""
    e = explanation
    return ScoreChangeExplanation(
        user_id=e.user, change=e.change, before_score=e.before_score, after_score=e.after_score,
        before_computed_at=EpochSeconds(e.before_at), after_computed_at=EpochSeconds(e.after_at),
        before_model_version=e.before_version, after_model_version=e.after_version,
        before_cursor=encode_cursor("history", {"p": e.before_position}),
        after_cursor=encode_cursor("history", {"p": e.after_position}),
        components=_component_changes(e.components),
        rounding=e.rounding, tiers_lost=list(e.tiers_lost), tiers_gained=list(e.tiers_gained),
        steps=[ScoreStep(cursor=encode_cursor("history", {"p": step.position}), kind=step.kind,
                         score_before=step.score_before, score_after=step.score_after, change=step.change,
                         computed_at=EpochSeconds(step.at), components=_component_changes(step.components),
                         cause=_cause(step, e.user, evidence=evidence))
               for step in e.steps[-MAX_STEPS:]],
        steps_total=len(e.steps),
    )  # fmt: skip
