"""Credence on Apache Spark: the full recompute of a Parquet export, as a Spark job.

``credence spark score --input DIR --output DIR`` (:func:`score_export`) reads what
``credence export DIR --format parquet`` wrote and computes, with plain Spark DataFrames,
what :meth:`ScoringEngine.recompute <credence.engine.ScoringEngine.recompute>` computes
on one machine: the four individual components (the same numpy formulas of
:mod:`credence.scoring.factors`, run per group of users in pandas UDFs), the
personalized-PageRank diffusion of the shared base (a sparse matrix-vector product per
iteration: a join and a group-by over the links) to the same certified accuracy, the
connections component and the score. See ``docs/spark.md``.

``credence spark trust`` (:func:`trust_export`) runs the SybilRank walk of
:func:`credence.scoring.trust.sybil_trust` on the same export, with the same steps and
seed groups.

PySpark (and Java 17) are needed only here; nothing else in Credence imports this package.
"""

from __future__ import annotations

from credence.spark.inputs import ExportTables, read_export
from credence.spark.job import SparkScoreReport, score_export
from credence.spark.session import spark_session
from credence.spark.trust import SparkTrustReport, TrustConfig, trust_export

__all__ = [
    "ExportTables",
    "SparkScoreReport",
    "SparkTrustReport",
    "TrustConfig",
    "read_export",
    "score_export",
    "spark_session",
    "trust_export",
]
