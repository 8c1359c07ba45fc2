"""Why a score changed: the difference between two stored snapshots, decomposed exactly.

A snapshot stores the score and its five components; each component is worth
``600 w c`` points with the weights ``w`` of the model that made the snapshot. Between
snapshot ``A`` and a later ``B`` of the same user, component ``k`` moved by::

    600 w_B c_B - 600 w_A c_A  =  600 w_B (c_B - c_A)       (its value moved)
                                + 600 (w_B - w_A) c_A       (the model's weight moved)

and the score, being ``round(350 + sum of the points)``, moved by the sum of those plus
a rounding term of less than one point either way. :func:`explain_score_change` gives
every part, so the parts add up to the point change exactly; it also names the benefit
tiers the change crossed.

The change is also split into **steps**, one per stored snapshot after ``before`` up to
``after``: each step is the move from the snapshot before it, of one of three kinds, told
apart by what the two snapshots record: ``model`` (the model version changed),
``recompute`` (a full recompute at a later evaluation time: the records aged, and
everything was re-derived from the store), or ``change`` (an incremental change at the
same evaluation time: an event, a link, a consent, a flag or a dispute of the person or
of their network). The steps' point changes add up to the whole change exactly.

A ``change`` step also names its **cause** when the change journal has it
(:mod:`credence.graph.journal`, written in the change's own transaction): what the
change was (an event batch, a link added or removed, a consent, a flag, a dispute
opened or resolved, an erasure), whether it was to the person's own data (``own``: their
records it concerned, by id) or elsewhere in their network (the people whose data it
was). A ``recompute`` step's cause is the records' aging and whatever the full
recompute re-derived from the store; snapshots written before the journal existed, or
imported, have no cause.

Examples
--------
>>> import pandas as pd
>>> from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
>>> policy = read_policy(DEFAULT_POLICY_PATH)
>>> history = pd.DataFrame({"model_version": [policy.version] * 2, "computed_at": [0, 60], "score": [641, 599],
...     "credit_history": [0.5, 0.301], "fulfilment_capacity": [0.5, 0.5], "behaviour": [0.5, 0.5],
...     "identity": [0.4, 0.4], "connections": [0.5, 0.5]})
>>> change = explain_score_change(history, {}, policy, user="ann", before=0, after=1)
>>> change.change, [round(c.value_points, 2) for c in change.components], round(change.rounding, 2)
(-42, [-41.79, 0.0, 0.0, 0.0, 0.0], -0.21)
>>> change.tiers_lost
('credit_line',)
>>> [(step.kind, step.change) for step in change.steps]
[('recompute', -42)]

With the journal's entry for the second snapshot, the step is a change and names it:

>>> from credence.graph.journal import Change
>>> late = Change(id=3, at=60, kind="repayments", people={"ann": ("r9",)})
>>> history.loc[1, "computed_at"] = 0
>>> step = explain_score_change(history, {}, policy, user="ann", before=0, after=1, causes=[None, late]).steps[0]
>>> step.kind, step.cause.kind, step.own, step.cause.records_of("ann")
('change', 'repayments', True, ('r9',))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from credence.core.errors import ValidationError
from credence.core.scale import points
from credence.graph.journal import Change
from credence.scoring.policy import COMPONENT_NAMES, Policy

__all__ = ["ComponentChange", "ScoreChangeExplanation", "ScoreStep", "explain_score_change"]


@dataclass(frozen=True)
class ComponentChange:
    """How one component's points moved between two snapshots.

    ``value_points + weight_points == points_after - points_before`` (up to float rounding).
    """

    name: str
    points_before: float
    points_after: float
    #: ``600 w_after (c_after - c_before)``: the component's value moved.
    value_points: float
    #: ``600 (w_after - w_before) c_before``: the model's weight moved (0 within one version).
    weight_points: float


@dataclass(frozen=True)
class ScoreStep:
    """The move from one stored snapshot to the next (see the module's "steps")."""

    #: The later snapshot's position (from the oldest, 0).
    position: int
    #: ``model``, ``recompute`` or ``change``.
    kind: str
    score_before: int
    score_after: int
    at: int
    components: tuple[ComponentChange, ...]
    #: The journaled change that produced the later snapshot (None: a recompute, a model change, or not journaled).
    cause: Change | None = None
    #: Whether :attr:`cause` was to the person's own data (False: elsewhere in their network; None without a cause).
    own: bool | None = None

    @property
    def change(self) -> int:
        """``score_after - score_before``."""
        return self.score_after - self.score_before


@dataclass(frozen=True)
class ScoreChangeExplanation:
    """The difference between two snapshots of a user, decomposed (:func:`explain_score_change`).

    ``sum(value_points + weight_points) + rounding == after_score - before_score``.
    Positions count a user's snapshots from the oldest (0).
    """

    user: str
    before_position: int
    after_position: int
    before_score: int
    after_score: int
    before_version: str
    after_version: str
    before_at: int
    after_at: int
    components: tuple[ComponentChange, ...]
    #: The score's rounding: the point change minus the components' change (|x| < 1 per snapshot pair).
    rounding: float
    #: Benefit tiers the before score reached and the after score does not (and the reverse).
    tiers_lost: tuple[str, ...]
    tiers_gained: tuple[str, ...]
    #: One step per snapshot after ``before`` up to ``after``, oldest first; their changes add up to :attr:`change`.
    steps: tuple[ScoreStep, ...] = ()

    @property
    def change(self) -> int:
        """``after_score - before_score``."""
        return self.after_score - self.before_score


def explain_score_change(
    history: pd.DataFrame,
    recorded: Mapping[str, Mapping[str, float]],
    policy: Policy,
    *,
    user: str,
    before: int,
    after: int,
    causes: Sequence[Change | None] | None = None,
) -> ScoreChangeExplanation:
    """Decompose the change from snapshot ``before`` to snapshot ``after`` of one user.

    Parameters
    ----------
    history
        The user's snapshots, oldest first (as ``GraphStore.score_history`` returns them).
    recorded
        The recorded weights of each model version (``GraphStore.model_weights``); a
        version not recorded is priced with ``policy``'s weights.
    policy
        The policy in force (its weights price unrecorded versions; its benefit tiers
        say which tiers the change crossed).
    user
        The user's id, carried into the result.
    before, after
        Snapshot positions counted from the oldest (0), ``before <= after``.
    causes
        For each snapshot of ``history``, the journaled change that produced it, or None
        (``GraphStore.snapshot_changes``); by default none is known.

    Raises
    ------
    ValidationError
        If a position is out of range or ``before > after``.
    """
    count = len(history)
    for name, position in (("from", before), ("to", after)):
        if not 0 <= position < count:
            raise ValidationError(f"snapshot {position} of {count}; positions run 0..{count - 1}",
                                  entity="argument", column=name, value=position)  # fmt: skip
    if before > after:
        raise ValidationError("must not be later than 'to'", entity="argument", column="from", value=before)
    a, b = history.iloc[before], history.iloc[after]
    components = _component_changes(a, b, recorded, policy)
    score_a, score_b = int(a["score"]), int(b["score"])
    moved = sum(c.value_points + c.weight_points for c in components)
    had, has = set(policy.benefits_for(score_a)), set(policy.benefits_for(score_b))
    order = [tier.name for tier in sorted(policy.benefits, key=lambda tier: tier.min)]
    steps = []
    for position in range(before + 1, after + 1):
        earlier, later = history.iloc[position - 1], history.iloc[position]
        cause = causes[position] if causes is not None and position < len(causes) else None
        if str(earlier["model_version"]) != str(later["model_version"]):
            kind = "model"
        elif cause is None and int(earlier["computed_at"]) != int(later["computed_at"]):
            kind = "recompute"
        else:
            kind = "change"
        steps.append(ScoreStep(position=position, kind=kind, score_before=int(earlier["score"]),
                               score_after=int(later["score"]), at=int(later["computed_at"]),
                               components=_component_changes(earlier, later, recorded, policy), cause=cause,
                               own=None if cause is None else cause.concerns(user)))  # fmt: skip
    return ScoreChangeExplanation(
        user=user, before_position=before, after_position=after, before_score=score_a, after_score=score_b,
        before_version=str(a["model_version"]), after_version=str(b["model_version"]),
        before_at=int(a["computed_at"]), after_at=int(b["computed_at"]), components=components,
        rounding=(score_b - score_a) - moved,
        tiers_lost=tuple(t for t in order if t in had - has), tiers_gained=tuple(t for t in order if t in has - had),
        steps=tuple(steps),
    )  # fmt: skip


def _component_changes(
    a: pd.Series, b: pd.Series, recorded: Mapping[str, Mapping[str, float]], policy: Policy
) -> tuple[ComponentChange, ...]:
    """How each component's points moved from snapshot ``a`` to snapshot ``b`` (priced by their models)."""
    weights_a = recorded.get(str(a["model_version"])) or policy.weights
    weights_b = recorded.get(str(b["model_version"])) or policy.weights
    components = []
    for name in COMPONENT_NAMES:
        value_a, value_b = float(a[name]), float(b[name])
        w_a, w_b = float(weights_a[name]), float(weights_b[name])
        components.append(ComponentChange(
            name=name, points_before=points(w_a, value_a), points_after=points(w_b, value_b),
            value_points=points(w_b, value_b - value_a), weight_points=points(w_b - w_a, value_a),
        ))  # fmt: skip
    return tuple(components)
