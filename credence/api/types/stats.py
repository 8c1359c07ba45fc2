"""Summary statistics of the scores and histogram bins."""

from __future__ import annotations

from typing import Any

import strawberry

from credence.api.inputs import Band

__all__ = ["BandCount", "HistogramBin", "Percentile", "ScoreStats", "score_stats_from"]


@strawberry.type
class Percentile:
    """One percentile of the scores: ``level`` in 1..99, ``value`` the score at it."""

    level: int
    value: float


@strawberry.type
class BandCount:
    """How many of the scores fall in one policy band (starting at ``min``)."""

    name: str
    band: Band
    min: int
    count: int


@strawberry.type
class ScoreStats:
    """Summary statistics of some scores (:func:`score_stats_from`), for ``scoreStats``.

    When no score matches the filter, the moments, extremes and median are null, the
    percentiles empty and every band count 0.
    """

    count: int
    mean: float | None
    stddev: float | None
    min: int | None
    max: int | None
    median: float | None
    percentiles: list[Percentile]
    bands: list[BandCount]


@strawberry.type
class HistogramBin:
    """One bin of ``scoreHistogram``: the scores in ``[lower, upper)`` (the last bin includes 950)."""

    lower: float
    upper: float
    count: int


def score_stats_from(stats: dict[str, Any]) -> ScoreStats:
    """The statistics :func:`credence.api.service.score_stats` computed, as a GraphQL object."""
    return ScoreStats(
        count=stats["count"],
        mean=stats["mean"],
        stddev=stats["stddev"],
        min=stats["min"],
        max=stats["max"],
        median=stats["median"],
        percentiles=[Percentile(**p) for p in stats["percentiles"]],
        bands=[BandCount(band=Band(b["name"]), **b) for b in stats["bands"]],
    )
