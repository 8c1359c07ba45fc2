"""Summary statistics of the scores and histogram bins."""

from __future__ import annotations

from typing import Any

import strawberry

__all__ = ["BandCount", "HistogramBin", "Percentile", "ScoreStats", "score_stats_from"]


@strawberry.type
class Percentile:
    level: int
    value: float


@strawberry.type
class BandCount:
    name: str
    min: int
    count: int


@strawberry.type
class ScoreStats:
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
        bands=[BandCount(**b) for b in stats["bands"]],
    )
