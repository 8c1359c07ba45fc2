"""The scoring engine: the one place where a store and the numerics meet.

:class:`ScoringEngine` (:mod:`credence.engine.engine`) is the public face; behind it,
one job per module:

* :mod:`~credence.engine.results`: the frozen results and :class:`EngineView`;
* :mod:`~credence.engine.state`: every user's arrays (:class:`~credence.engine.state.EngineState`)
  and the frames -> arrays helpers;
* :mod:`~credence.engine.model`: the policy's weights applied to events, components and
  the diffusion (:class:`~credence.engine.model.ScoringModel`);
* :mod:`~credence.engine.recompute`: the full recompute;
* :mod:`~credence.engine.events`: the incremental updates;
* :mod:`~credence.engine.explain`: explanations, influence, what-ifs and summaries;
* :mod:`~credence.engine.why`: why a score changed between two stored snapshots.
"""

from credence.engine.engine import ScoringEngine
from credence.engine.results import (
    ComponentPoints,
    Contributor,
    EngineView,
    Erasure,
    Explanation,
    InfluenceReport,
    NetworkSummary,
    Reason,
    RecomputeReport,
    ScoreChange,
    UserSummary,
    WhatIf,
)

__all__ = [
    "ComponentPoints",
    "Contributor",
    "Erasure",
    "Explanation",
    "InfluenceReport",
    "NetworkSummary",
    "Reason",
    "RecomputeReport",
    "ScoreChange",
    "EngineView",
    "ScoringEngine",
    "UserSummary",
    "WhatIf",
]
