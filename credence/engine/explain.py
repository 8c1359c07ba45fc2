"""Answers from memory: explanations, influence, what-ifs, summaries and the network.

Nothing here writes to the store. :func:`what_if` changes the state only for the
time it takes and undoes it; the other functions only read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from credence.core.scale import SCORE_RANGE, points
from credence.core.types import IntArray
from credence.engine.events import rebase, rescore
from credence.engine.model import Individual, ScoringModel
from credence.engine.results import (
    Contributor,
    Explanation,
    InfluenceReport,
    NetworkSummary,
    ScoreChange,
    TradeRatings,
    UserSummary,
    WhatIf,
)
from credence.engine.state import EngineState
from credence.graph.model import parse_repayments, parse_spending
from credence.graph.store import GraphStore
from credence.scoring.policy import COMPONENT_NAMES

__all__ = ["explain", "friends", "influence", "network", "score_table", "summaries", "what_if"]


def explain(
    model: ScoringModel, state: EngineState, user_id: str, *, contributors: int, threshold: float
) -> Explanation:
    """Score, components, top-4 reasons and the ``contributors`` largest network contributors.

    ``threshold`` is how far the forward push behind the contributors goes (see
    :meth:`credence.scoring.DiffusionState.contributors`).
    """
    row = state.row(user_id)
    score = int(state.scores[row])
    diffusion = state.diffusion
    policy = model.policy
    degree = float(diffusion.degree[row])
    result = diffusion.contributors(row, threshold=threshold, first=contributors)
    value = float(result.n)
    shrink = model.shrink(degree)
    shrunk = diffusion.mu + shrink * (value - diffusion.mu)
    floored = policy.diffusion.sharing == "bonus_only" and shrunk < diffusion.mu
    # A floored component sits at the prior: no contributor moves it.
    per_unit = model.network_points(0.0 if floored else shrink)
    people = tuple(
        Contributor(
            user=str(state.ids[v]),
            contribution=float(result.contributions[i]),
            direct=float(result.direct[i]),
            onward=float(result.onward[i]),
            base=float(state.base[v]),
            points=float(per_unit * result.contributions[i]),
        )
        for i, v in enumerate(result.indices.tolist())
    )
    return Explanation(
        user=str(state.ids[row]),
        score=score,
        band=str(policy.band_names(np.array([score]))[0]),
        benefits=tuple(policy.benefits_for(score)),
        model_version=policy.version,
        computed_at=state.computed_at,
        components=model.component_points(state.components[row]),
        reasons=model.reasons(
            state.sub_values[row], float(state.components[row, -1]), rating=state.rating_of(row)
        ),
        participating=bool(diffusion.participating[row]),
        degree=degree,
        network_value=value,
        prior=diffusion.mu,
        shrink=shrink,
        floored=floored,
        contributors=people,
        contributors_total=result.total,
        network_bound=result.bound,
        ratings=_trade_ratings(model, state, row),
    )


def _trade_ratings(model: ScoringModel, state: EngineState, row: int) -> TradeRatings | None:
    """The user's rating evidence as it enters credit history (None without a rating graph)."""
    evidence = state.ratings
    if evidence is None or row >= len(evidence):
        return None
    weight = float(evidence.weight[row])
    value = float(evidence.value[row])
    return TradeRatings(
        positive=float(evidence.positive[row]),
        negative=float(evidence.negative[row]),
        distrust_received=int(evidence.distrust_received[row]),
        value=value,
        weight=weight,
        points=points(float(model.component_weights["credit_history"]) * weight, 1.0 - value),
    )


def influence(
    model: ScoringModel, state: EngineState, user_id: str, *, first: int, threshold: float
) -> InfluenceReport:
    """Whose network value depends on this user (the ``first`` largest), and the points at stake.

    ``points`` is what each affected user would lose if this user's base fell to 0
    (linear in the drop, before the bonus-only floor and rounding).
    """
    row = state.row(user_id)
    diffusion = state.diffusion
    result = diffusion.influence(row, threshold=threshold)
    k = model.policy.diffusion.shrinkage
    base = float(state.base[row])
    affected = []
    for u, weight in zip(result.indices[:first].tolist(), result.weights[:first].tolist(), strict=True):
        d = float(diffusion.degree[u])
        # 600 w d / (d + k) points per unit of n_u, times d n_u = weight * base.
        lost = model.network_points(d) / (d + k) * weight * base
        affected.append((str(state.ids[u]), float(weight), float(lost)))
    return InfluenceReport(str(state.ids[row]), base, tuple(affected), result.bound)


def what_if(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    *,
    add_links: Sequence[tuple[str, str, float]],
    remove_links: Sequence[tuple[str, str]],
    remove_users: Sequence[str],
    repayments: pd.DataFrame | None,
    spending: pd.DataFrame | None,
) -> WhatIf:
    """Scores after hypothetical links, events and account removals; nothing is stored.

    A removed account stops taking part in anyone's network (as if quarantined).
    Events are validated as a load would validate them. ``state`` is as before afterwards.
    """
    diffusion = state.diffusion
    links = [(state.row(a), state.row(b), float(w)) for a, b, w in add_links]
    links += [(state.row(a), state.row(b), 0.0) for a, b in remove_links]
    removed = state.rows(remove_users)
    rep = parse_repayments(repayments, source="what-if") if repayments is not None else None
    spend = parse_spending(spending, source="what-if") if spending is not None else None
    event_users: set[str] = set()
    for frame in (rep, spend):
        if frame is not None:
            event_users |= {str(u) for u in frame["user"].tolist()}
    rows = state.rows(sorted(event_users))
    # Rescore copies of the per-user arrays, so that lock-free readers (summaries()) never
    # see hypothetical scores; the shared diffusion state is undone below.
    hypothetical = state.hypothetical()
    undo: list[tuple[int, int, float]] = []
    silenced: list[int] = []
    try:
        moved: list[IntArray] = []
        for u, v, w in links:
            undo.append((u, v, diffusion.link_weight(u, v)))
            moved.append(diffusion.set_link(u, v, w))
        for row in removed.tolist():
            if diffusion.mask[row] > 0.0:
                silenced.append(row)
                moved.append(diffusion.set_participating(row, False))
        parts: Individual | None = None
        if rows.size:
            parts, more = rebase(model, hypothetical, store, rows, extra_repayments=rep, extra_spending=spend)
            moved += more
        changes: list[ScoreChange] = rescore(model, hypothetical, store, rows, parts, moved, write=False)
        changed = state.rows([c.user for c in changes])
        delta = (hypothetical.components[changed] - state.components[changed]) @ model.weights
        raw = {c.user: float(SCORE_RANGE * d) for c, d in zip(changes, delta.tolist(), strict=True)}
    finally:
        for row in reversed(silenced):
            diffusion.set_participating(row, True)
        for u, v, w in reversed(undo):
            diffusion.set_link(u, v, w)
        for row in rows.tolist():
            diffusion.set_base(row, float(state.base[row]))
    return WhatIf(tuple(changes), raw)


def summaries(model: ScoringModel, state: EngineState, user_ids: Sequence[str]) -> list[UserSummary | None]:
    """Summaries of some users; None for an unknown id (or one not a string).

    Safe to call without the engine lock: it reads each array once per user and checks
    rows against ``scores``, which grows last when users are added.
    """
    policy = model.policy
    out: list[UserSummary | None] = []
    for user_id in user_ids:
        row = state.positions.get(user_id) if isinstance(user_id, str) else None
        if row is None or row >= state.scores.size:
            out.append(None)
            continue
        score = int(state.scores[row])
        out.append(
            UserSummary(
                user=user_id,
                score=score,
                band=str(policy.band_names(np.array([score]))[0]),
                benefits=policy.benefits_for(score),
                model_version=policy.version,
                computed_at=state.computed_at,
                components=model.component_points(state.components[row].copy()),
                reasons=model.reasons(
                    state.sub_values[row], float(state.components[row, -1]), rating=state.rating_of(row)
                ),
                consent=bool(state.consent[row]),
                quarantined=bool(state.quarantined[row]),
            )
        )
    return out


def network(model: ScoringModel, state: EngineState, user_id: str) -> NetworkSummary:
    """Degree, diffused value, prior, shrinkage and participation of one user."""
    row = state.row(user_id)
    diffusion = state.diffusion
    degree = float(diffusion.degree[row])
    return NetworkSummary(
        user=str(state.ids[row]),
        degree=degree,
        value=float(diffusion.py[row]) if degree > 0 else float(diffusion.mu),
        prior=float(diffusion.mu),
        shrink=model.shrink(degree),
        component=float(state.components[row, -1]),
        participating=bool(diffusion.mask[row] > 0.0),
    )


def friends(state: EngineState, user_id: str) -> list[tuple[str, float]]:
    """The user's links as (friend id, weight), by friend id."""
    columns, weights = state.diffusion.neighbors(state.row(user_id))
    return sorted(
        (str(state.ids[c]), float(w)) for c, w in zip(columns.tolist(), weights.tolist(), strict=True)
    )


def score_table(model: ScoringModel, state: EngineState) -> pd.DataFrame:
    """Score, band and components of every user (columns user, score, band, then components)."""
    frame = pd.DataFrame({"user": pd.array(state.ids, dtype="string"), "score": state.scores})
    frame["band"] = model.policy.band_names(state.scores)
    for k, name in enumerate(COMPONENT_NAMES):
        frame[name] = state.components[:, k]
    return frame
