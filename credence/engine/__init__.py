"""The scoring engine: the one place where a store and the numerics meet.

See :mod:`credence.engine.engine` for what a :class:`ScoringEngine` keeps and why.
"""

from credence.engine.engine import (
    ComponentPoints,
    Contributor,
    EngineView,
    Explanation,
    InfluenceReport,
    NetworkSummary,
    Reason,
    RecomputeReport,
    ScoreChange,
    ScoringEngine,
    UserSummary,
    WhatIf,
)

__all__ = [
    "ComponentPoints",
    "Contributor",
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
