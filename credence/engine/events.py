"""Incremental updates: write an event through the store, then repair the scores it moves.

Every update writes to the store first, so a rejected write changes nothing, in the
store or in the engine; it calls :meth:`EngineState.touch` before its first change
in memory. The engine runs each update inside one store unit of work with the
snapshots it produces, so they commit together or not at all. It then recomputes the individual parts of the users the
event names, moves their shared base in the diffusion (a local push repairs the
network values around them), rescores every user whose network value moved, and
appends a score snapshot for the users whose score or components moved
(:func:`rescore`). The evaluation time and the neutral prior stay those of the last
full recompute (see :mod:`credence.engine.recompute`).

Each function takes the model, the state it updates, the store and ``on_change``,
called once the state is about to change (the engine counts generations with it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from credence.core.arrays import unique_sorted
from credence.core.errors import ConflictError, NotFoundError, ValidationError
from credence.core.scale import SCORE_RANGE
from credence.core.types import IntArray
from credence.engine.model import Individual, ScoringModel
from credence.engine.notices import adverse_notices
from credence.engine.results import ScoreChange
from credence.engine.state import (
    EngineState,
    assign_users,
    link_key,
    repayment_arrays,
    spending_arrays,
    take_users,
    user_arrays,
)
from credence.graph.model import Records, check_user_id, epoch_now, link_records
from credence.graph.store import GraphStore
from credence.scoring.factors import UserArrays

__all__ = [
    "NO_ROWS",
    "SNAPSHOT_DRIFT_POINTS",
    "add_link",
    "individual",
    "rebase",
    "record_events",
    "remove_link",
    "rescore",
    "set_consent",
    "set_flag",
    "set_flags",
    "upsert_users",
]

#: Called when an update is about to change the state.
ChangeFn = Callable[[], None]

#: Unrounded score points of drift (through the components and their weights) that make a
#: snapshot of a user whose score did not move. Why: below a hundredth of a point a drift is
#: the tail of a local push around someone else's change; recording it wrote about 245
#: snapshot rows per repayment at 100k users (12 without), most of a change's cost. The
#: stored components then trail memory by less than this (the network component by less
#: than 0.01 / (600 * its weight), 3.3e-4 with the default policy); stored and served
#: scores stay equal, as the score is written whenever it moves.
SNAPSHOT_DRIFT_POINTS = 0.01

#: No rows: for changes that touch no user's individual parts.
NO_ROWS: IntArray = np.zeros(0, dtype=np.int64)
NO_ROWS.flags.writeable = False


def record_events(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    events: pd.DataFrame | Records,
    *,
    add: Callable[[pd.DataFrame], object],
    on_change: ChangeFn,
    owners: Mapping[str, str] | None = None,
) -> list[ScoreChange]:
    """Store events (repayments or spending), then update the affected scores.

    Parameters
    ----------
    events : DataFrame or Records
        A raw frame with a ``user`` column, which ``add`` validates; or validated
        records of the same kind, stored with ``store.add_records``.
    add : callable
        The store's writer of these events as a frame (``store.add_repayments`` or ``store.add_spending``).
    owners : mapping, optional
        ``store.event_owners`` of exactly these events' ids, read in this unit already
        (the journal's draft reads it); by default it is read here.

    Returns
    -------
    list of ScoreChange
        The users whose score or components moved: the event's users and their network.
    """
    if isinstance(events, Records):
        state.rows(events.column("user"))  # an unknown user is NOT_FOUND, as everywhere, before any write
    _check_owners(store, events, owners)
    if isinstance(events, Records):
        store.add_records(events)
        users: Iterable[Any] = events.column("user")
    else:
        add(events)
        users = events["user"].astype(str).str.strip()
    rows = state.rows(users)
    state.touch()
    parts, moved = rebase(model, state, store, rows)
    return rescore(model, state, store, rows, parts, moved, on_change=on_change)


def _check_owners(
    store: GraphStore, events: pd.DataFrame | Records, owners: Mapping[str, str] | None
) -> None:
    """Refuse an event id that is stored for another user (re-recording it for the same user updates it)."""
    if isinstance(events, Records):
        kind, ids, users = events.kind, events.column("id"), events.column("user")
    else:
        if "id" not in events.columns or "user" not in events.columns:
            return  # the frame's own validation names what is missing
        kind = "spending" if "category" in events.columns else "repayments"
        ids = events["id"].astype(str).str.strip().tolist()
        users = events["user"].astype(str).str.strip().tolist()
    if owners is None:
        owners = store.event_owners(kind, ids)
    for event, user in zip(ids, users, strict=True):
        owner = owners.get(str(event))
        if owner is not None and owner != str(user):
            raise ConflictError(
                f"{kind} id {event!r} is stored for user {owner!r}, not {user!r}: an event keeps its user"
            )


def upsert_users(
    model: ScoringModel, state: EngineState, store: GraphStore, frame: pd.DataFrame, *, on_change: ChangeFn
) -> list[ScoreChange]:
    """Create or update users, then score them (new users start without links)."""
    store.upsert_users(frame)
    state.touch()
    ids = [check_user_id(user) for user in frame["id"].tolist()]
    stored = store.get_users(ids).set_index("id")
    new = [user for user in dict.fromkeys(ids) if user not in state.positions]
    if new:
        state.append_users(new, user_arrays(stored.loc[new].reset_index()))
    rows = state.rows(ids)
    aligned = stored.loc[state.ids[rows].tolist()].reset_index()
    users = user_arrays(aligned)
    assign_users(state.users, rows, users)
    parts, moved = rebase(model, state, store, rows, users=users)
    consent = aligned["consent_network"].to_numpy(dtype=bool)
    for row, flag in zip(rows.tolist(), consent.tolist(), strict=True):
        state.consent[row] = flag
        desired = bool(flag and not state.quarantined[row])
        if (state.diffusion.mask[row] > 0.0) != desired:
            moved.append(state.diffusion.set_participating(row, desired))
    return rescore(model, state, store, rows, parts, moved, on_change=on_change)


def add_link(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    a: str,
    b: str,
    *,
    weight: float,
    created: int | None,
    on_change: ChangeFn,
) -> list[ScoreChange]:
    """Create or re-weight a friend link (dated ``created``, default the evaluation time)."""
    u, v = state.row(a), state.row(b)  # an unknown user is NOT_FOUND, as everywhere, before any write
    link = {
        "source": a,
        "target": b,
        "weight": weight,
        "created": state.computed_at if created is None else created,
    }
    store.add_records(link_records([link]))
    state.touch()
    # A link suspended by an open dispute is stored at its new weight and stays out of the diffusion.
    moved = state.diffusion.set_link(u, v, 0.0 if link_key(a, b) in state.suspended.links else float(weight))
    return rescore(model, state, store, NO_ROWS, None, [moved], on_change=on_change)


def remove_link(
    model: ScoringModel, state: EngineState, store: GraphStore, a: str, b: str, *, on_change: ChangeFn
) -> list[ScoreChange]:
    """Remove a friend link (NotFoundError if there is none)."""
    u, v = state.row(a), state.row(b)
    if u == v:
        raise ValidationError("a link joins two different users", entity="link", column="target", value=b)
    if not store.remove_link(a, b):
        raise NotFoundError("link", f"{a} - {b}")
    state.touch()
    moved = state.diffusion.set_link(u, v, 0.0)
    return rescore(model, state, store, NO_ROWS, None, [moved], on_change=on_change)


def set_consent(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    user_id: str,
    consent: bool,
    *,
    actor: str,
    on_change: ChangeFn,
) -> list[ScoreChange]:
    """Record consent to network scoring (a change is stored with ``actor``); without it a user neither gives nor receives."""
    store.set_consent(user_id, consent, actor=actor)
    row = state.row(user_id)
    if bool(state.consent[row]) == bool(consent):
        return []  # consent as it was: nothing moves, no snapshot
    state.touch()
    state.consent[row] = bool(consent)
    return _participation(model, state, store, row, on_change=on_change)


def set_flag(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    user_id: str,
    *,
    flagged: bool,
    analyst: str,
    reason: str,
    on_change: ChangeFn,
) -> list[ScoreChange]:
    """Quarantine a user (``flagged``) or clear their flag, audited in the store."""
    if flagged:
        store.flag_user(user_id, analyst=analyst, reason=reason)
    else:
        store.unflag_user(user_id, analyst=analyst, reason=reason)
    row = state.row(user_id)
    state.touch()
    state.quarantined[row] = flagged
    return _participation(model, state, store, row, on_change=on_change)


def set_flags(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    user_ids: Sequence[str],
    *,
    flagged: bool,
    analyst: str,
    reason: str,
    on_change: ChangeFn,
) -> list[ScoreChange]:
    """:func:`set_flag` for distinct, checked ids, after checking that every one can change.

    Raises
    ------
    ConflictError
        Before anything changes, if a user is already flagged (or, clearing, not flagged).

    Returns
    -------
    list of ScoreChange
        One change per user, from the first ``before`` to the last ``after``.
    """
    rows = [state.row(user) for user in user_ids]
    wrong = [
        user for user, row in zip(user_ids, rows, strict=True) if bool(state.quarantined[row]) == flagged
    ]
    if wrong:
        raise ConflictError(f"user {wrong[0]!r} is {'already' if flagged else 'not'} flagged")
    merged: dict[str, ScoreChange] = {}
    for user in user_ids:
        for change in set_flag(
            model, state, store, user, flagged=flagged, analyst=analyst, reason=reason, on_change=on_change
        ):
            first = merged.get(change.user)
            merged[change.user] = (
                change if first is None else ScoreChange(change.user, first.before, change.after)
            )
    return list(merged.values())


def _participation(
    model: ScoringModel, state: EngineState, store: GraphStore, row: int, *, on_change: ChangeFn
) -> list[ScoreChange]:
    """Bring the diffusion's participation of ``row`` in line with its consent and flag."""
    moved = state.diffusion.set_participating(row, bool(state.consent[row] and not state.quarantined[row]))
    # The user's own standing changed (consent or quarantine), so a snapshot of theirs is
    # written even when no score moved: it records the change in their history, and it is
    # how follower workers hear of it.
    return rescore(model, state, store, np.array([row], dtype=np.int64), None, [moved], on_change=on_change)


def withdraw(
    model: ScoringModel, state: EngineState, store: GraphStore, user_id: str, *, on_change: ChangeFn
) -> list[ScoreChange]:
    """Take ``user_id`` out of everyone's network (before an erasure): the neighbours' values repaired and stored.

    Memory only marks them non-consenting; nothing about the user is written but their
    own snapshot, which the erasure then deletes.
    """
    row = state.row(user_id)
    if not state.consent[row]:
        return []
    state.touch()
    state.consent[row] = False
    return _participation(model, state, store, row, on_change=on_change)


# --------------------------------------------------------------------------- the repair


def individual(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    rows: IntArray,
    *,
    users: UserArrays | None = None,
    extra_repayments: pd.DataFrame | None = None,
    extra_spending: pd.DataFrame | None = None,
) -> Individual:
    """The individual parts of ``rows`` from their stored events, plus any extra events.

    ``users`` replaces their stored attributes (aligned with ``rows``); the extras are
    events not in the store (a what-if).
    """
    ids = state.ids[rows].tolist()
    local = {user: i for i, user in enumerate(ids)}
    repayments, spending = store.events_of(ids)
    repayments, spending = state.suspended.without(repayments), state.suspended.without(spending)
    if extra_repayments is not None:
        repayments += Records.from_frame("repayments", extra_repayments)
    if extra_spending is not None:
        spending += Records.from_frame("spending", extra_spending)

    def rows_of(events: Records) -> IntArray:
        return np.array([local[str(user)] for user in events.column("user")], dtype=np.int64)

    return model.individual(
        take_users(state.users, rows) if users is None else users,
        repayment_arrays(repayments, rows_of(repayments)),
        spending_arrays(spending, rows_of(spending)),
        now=state.computed_at,
        reference=state.reference,
        ratings=None if state.ratings is None else state.ratings.take(rows),
    )


def rebase(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    rows: IntArray,
    *,
    users: UserArrays | None = None,
    extra_repayments: pd.DataFrame | None = None,
    extra_spending: pd.DataFrame | None = None,
) -> tuple[Individual, list[IntArray]]:
    """:func:`individual` of ``rows``, and their new shared base moved into the diffusion.

    Returns the parts and, for each base that changed, the rows whose network value moved.
    """
    parts = individual(
        model,
        state,
        store,
        rows,
        users=users,
        extra_repayments=extra_repayments,
        extra_spending=extra_spending,
    )
    moved: list[IntArray] = []
    for i, row in enumerate(rows.tolist()):
        if parts.base[i] != state.base[row]:
            state.base[row] = parts.base[i]
            moved.append(state.diffusion.set_base(row, float(parts.base[i])))
    return parts, moved


def rescore(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    rows: IntArray,
    parts: Individual | None,
    moved: Iterable[IntArray],
    *,
    write: bool = True,
    on_change: ChangeFn | None = None,
) -> list[ScoreChange]:
    """Store new individual ``parts`` of ``rows``, rescore every touched user, write snapshots.

    Parameters
    ----------
    rows : ndarray of int64
        Users whose individual parts are ``parts`` (None when ``rows`` is empty).
    moved : iterable of ndarray of int64
        Further users whose network value may have moved.
    write : bool
        Append score snapshots to the store and call ``on_change``; False for a what-if.

    Returns
    -------
    list of ScoreChange
        The users whose score moved, or whose components drifted from their last
        written values by :data:`SNAPSHOT_DRIFT_POINTS` (and all of ``rows``).
    """
    touched = unique_sorted(np.concatenate([rows, *[np.asarray(m, dtype=np.int64) for m in moved]]))
    if parts is not None and rows.size:
        state.sub_values[rows] = parts.sub_values
        state.components[rows, : parts.components.shape[1]] = parts.components
    if touched.size == 0:
        return []
    if write and on_change is not None:
        on_change()
    before = state.scores[touched].copy()
    state.components[touched, -1] = model.network_component(state.diffusion, touched)
    state.scores[touched] = model.scores(state.components[touched])
    # A snapshot when the score moved, for the change's own users, or past SNAPSHOT_DRIFT_POINTS.
    weights = np.abs(np.asarray(model.policy.weight_vector(), dtype=np.float64))
    drift = SCORE_RANGE * (np.abs(state.components[touched] - state.written[touched]) @ weights)
    changed = (drift >= SNAPSHOT_DRIFT_POINTS) | (before != state.scores[touched]) | np.isin(touched, rows)
    out = touched[changed]
    if write and out.size:
        store.write_score_records(
            state.score_records(out, model.policy.version), model_weights=model.policy.weights
        )
        # In the same unit as the snapshots: a notice exists exactly when its snapshot does.
        store.record_notices(adverse_notices(model, state, out, before[changed], at=epoch_now()))
        state.written[out] = state.components[out]
    return [
        ScoreChange(str(state.ids[i]), int(b), int(a))
        for i, b, a in zip(out.tolist(), before[changed].tolist(), state.scores[out].tolist(), strict=True)
    ]
