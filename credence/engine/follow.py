"""Following another engine through the store: apply the score snapshots it committed.

A server with several worker processes has one writer; the other workers keep their
engines current by reading the snapshots the writer commits, in commit order
(:meth:`~credence.graph.store.GraphStore.snapshots_after`), and taking them as they
are: score and components exactly as stored, the adverse-action reasons re-derived
from the stored events (they are exact functions of them), consent and quarantine
re-read. A user the follower does not know yet (created by the writer) is added.

The follower's diffusion state is not repaired: what depends on it (network evidence,
what-ifs, analyses) is answered by the writer, whose state is exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credence.engine.events import individual
from credence.engine.model import ScoringModel
from credence.engine.results import ScoreChange
from credence.engine.state import EngineState, assign_users, user_arrays
from credence.graph.store import GraphStore
from credence.scoring.policy import COMPONENT_NAMES

__all__ = ["follow"]


def follow(
    model: ScoringModel, state: EngineState, store: GraphStore, feed: pd.DataFrame
) -> list[ScoreChange]:
    """Apply committed snapshots (``feed``, as ``snapshots_after`` returns them) to ``state``.

    Parameters
    ----------
    model : ScoringModel
        The engine's model (the feed's snapshots of other model versions are skipped).
    state : EngineState
        The follower's state, changed in place.
    store : GraphStore
        Where the users' attributes, events and flags are re-read.
    feed : DataFrame
        Snapshots in commit order, with ``user``, ``score``, the components and ``seq``.

    Returns
    -------
    list of ScoreChange
        One per user whose served score or components the feed moved (before, after).
    """
    current = feed["model_version"].to_numpy(dtype=object) == model.policy.version
    if not current.any():
        return []
    # A user's newest snapshot in the feed is the one that counts (dict order: first seen).
    newest: dict[str, int] = {}
    for position, user in enumerate(feed["user"].astype(str).tolist()):
        if current[position]:
            newest.pop(user, None)
            newest[user] = position
    ids = list(newest)
    take = np.fromiter(newest.values(), dtype=np.int64, count=len(ids))
    attributes = store.get_users(ids)  # in the order of ``ids``
    known = np.array([user in state.positions for user in ids], dtype=bool)
    if not known.all():
        added = np.flatnonzero(~known)
        state.append_users([ids[i] for i in added], user_arrays(attributes.iloc[added]))
    state.touch()
    rows = np.array([state.positions[user] for user in ids], dtype=np.int64)
    assign_users(state.users, rows, user_arrays(attributes))
    state.consent[rows] = attributes["consent_network"].to_numpy(dtype=bool)
    flagged = set(np.asarray(store.quarantined(among=ids), dtype=object).astype(str).tolist())
    state.quarantined[rows] = np.array([user in flagged for user in ids], dtype=bool)
    components = np.column_stack([feed[name].to_numpy(dtype=np.float64)[take] for name in COMPONENT_NAMES])
    scores = feed["score"].to_numpy(dtype=np.int64)[take]
    # Most snapshots move only the network part; the others' own events changed: re-derive those.
    n_own = len(COMPONENT_NAMES) - 1
    own = ~known | (state.components[rows, :n_own] != components[:, :n_own]).any(axis=1)
    if own.any():
        parts = individual(model, state, store, rows[own])
        state.sub_values[rows[own]] = parts.sub_values
        state.base[rows[own]] = parts.base
    before = state.scores[rows].copy()
    moved = (before != scores) | (np.abs(state.components[rows] - components).max(axis=1) > 0)
    state.components[rows] = components
    state.written[rows] = components
    state.scores[rows] = scores
    return [
        ScoreChange(user, int(b), int(a))
        for user, b, a, m in zip(
            ids, before.tolist(), state.scores[rows].tolist(), moved.tolist(), strict=True
        )
        if m
    ]
