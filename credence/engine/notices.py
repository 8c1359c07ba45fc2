"""Adverse-action notices: when a change takes a score below a benefit tier the user had.

A credit bureau that lowers a person below a threshold that matters to them owes them
the principal reasons (FCRA adverse-action notices; GDPR Article 22's right to an
explanation of an automated decision). Whenever the engine stores a snapshot whose score
falls below a benefit tier's minimum that the previous score reached, it stores a notice
in the same transaction: the tier, both scores, the top four reasons at that moment and
the points that would restore the tier.
"""

from __future__ import annotations

import numpy as np

from credence.core.types import IntArray
from credence.engine.model import ScoringModel
from credence.engine.state import EngineState
from credence.graph.store import AdverseNotice

__all__ = ["adverse_notices"]


def adverse_notices(
    model: ScoringModel, state: EngineState, rows: IntArray, before: np.ndarray, *, at: int
) -> list[AdverseNotice]:
    """The notices owed for ``rows`` whose score moved from ``before`` to ``state.scores[rows]``.

    One notice per tier lost (a score may fall past several); none for a rise or a
    move within a tier. ``at`` is when the change was made.

    Examples
    --------
    >>> from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
    >>> policy = read_policy(DEFAULT_POLICY_PATH)
    >>> [(tier.name, tier.min) for tier in policy.benefits][:2]
    [('credit_line', 600), ('deposit_free_rental', 650)]
    """
    tiers = sorted(model.policy.benefits, key=lambda tier: tier.min)
    after = state.scores[rows]
    fell = np.flatnonzero(after < before)
    out: list[AdverseNotice] = []
    for i in fell.tolist():
        row, old, new = int(rows[i]), int(before[i]), int(after[i])
        lost = [tier for tier in tiers if new < tier.min <= old]
        if not lost:
            continue
        reasons = model.reasons(
            state.sub_values[row], float(state.components[row, -1]), rating=state.rating_of(row)
        )
        for tier in lost:
            out.append(AdverseNotice(user=str(state.ids[row]), at=at, tier=tier.name, tier_min=tier.min,
                                     score_before=old, score_after=new, model_version=model.policy.version,
                                     reasons=tuple((r.code, r.text, float(r.points)) for r in reasons)))  # fmt: skip
    return out
