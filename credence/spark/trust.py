"""SybilRank trust on Spark: the walk of :func:`credence.scoring.trust.sybil_trust`, as a Spark job.

``credence spark trust --input DIR --output DIR`` (:func:`trust_export`) reads a Parquet
export, removes the non-participants (no consent, or flagged at export time) with their
links, and runs the same early-terminated walk as the local
:func:`~credence.scoring.trust.sybil_trust`, with the same step count and the same seed
groups::

    T^g_0(v) = total / |S_g|   for v in S_g, 0 elsewhere       (g = 0 .. G - 1)
    T^g_{i+1}(v) = sum_u A_vu T^g_i(u) / d_u                  (isolated v keeps its trust)
    trust(v) = mean_g T^g(v);  normalized(v) = median_g T^g(v) / d(v)  (0 where d = 0)

for ``ceil(log2(participants))`` steps (:func:`~credence.scoring.trust.default_iterations`)
unless told otherwise. The trust is kept in long form, one row per (user, group) that
holds trust, so an early step costs what the trust has reached, not the whole graph.
Each step is one join of the links with the trust and one group-by; the step's result is
checkpointed, so the lineage stays one step long.

Seeds are user ids. The seed groups are dealt round-robin from the seeds **sorted by
id** (group ``g`` takes the ``g``-th, ``(g + G)``-th, ... seed); the local function deals
them sorted by its row index, so the two agree when the rows are in id order (the
agreement test lays the local graph out that way). The default seeds are a draw of up
to ``max_seeds`` face-verified participants with ``numpy.random.default_rng(random_state)``
from the eligible ids sorted, as ``credence trust`` draws from its rows.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from credence.core.checks import check_int, check_real
from credence.core.errors import InputError, ParameterError
from credence.scoring.trust import default_iterations
from credence.spark.inputs import read_export
from credence.spark.session import quiet_pandas_warning

__all__ = ["SEED_LEVEL", "TRUST_COLUMNS", "SparkTrustReport", "TrustConfig", "trust_export"]

#: The identity check default seeds must have passed (as ``credence trust``).
SEED_LEVEL = "face_verified"

#: The columns of the output, in order.
TRUST_COLUMNS: tuple[str, ...] = (
    "id", "trust", "normalized", "degree", "participating", "seed", "evidence", "iterations", "seed_groups",
)  # fmt: skip

_OUTPUT_SCHEMA = (
    "id string, trust double, normalized double, degree double, participating boolean, seed boolean, "
    "evidence boolean, iterations long, seed_groups long"
)

ProgressFn = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class TrustConfig:
    """How to run the walk (the parameters of :func:`credence.scoring.trust.sybil_trust`).

    Attributes
    ----------
    seeds : sequence of str, optional
        Seed user ids (participants). Default: a draw of ``max_seeds`` face-verified
        participants with ``random_state``.
    max_seeds : int
        Most default seeds (>= 1).
    seed_groups : int
        Disjoint seed groups (>= 1; lowered to the number of seeds when there are fewer).
    iterations : int, optional
        Steps of the walk (>= 0); default ``ceil(log2(participants))``.
    total_trust : float
        Total trust (> 0).
    random_state : int
        Seed of the default seed draw (>= 0).
    float32_weights : bool
        Round link weights to float32 first, as the engine's graph keeps them at the
        default policy's tolerance (so ``credence trust`` walks on those); False walks on
        the exported float64 weights.

    Examples
    --------
    >>> TrustConfig(seed_groups=3).seed_groups
    3
    >>> TrustConfig(seed_groups=0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'seed_groups' = 0: must be an integer >= 1
    """

    seeds: Sequence[str] | None = None
    max_seeds: int = 1_000
    seed_groups: int = 10
    iterations: int | None = None
    total_trust: float = 1.0
    random_state: int = 0
    float32_weights: bool = True

    def __post_init__(self) -> None:
        check_int(self.max_seeds, "max_seeds", 1)
        check_int(self.seed_groups, "seed_groups", 1)
        if self.iterations is not None:
            check_int(self.iterations, "iterations", 0)
        check_real(self.total_trust, "total_trust", lo=0.0, lo_open=True, joint=True)
        check_int(self.random_state, "random_state", 0)
        if not isinstance(self.float32_weights, bool):
            raise ParameterError("float32_weights", self.float32_weights, "must be True or False")
        if self.seeds is not None:
            if isinstance(self.seeds, str) or not all(isinstance(s, str) for s in self.seeds):
                raise ParameterError("seeds", self.seeds, "must be a sequence of user ids")
            if len(self.seeds) == 0:
                raise ParameterError("seeds", "empty", "must name at least one seed")


@dataclass(frozen=True)
class SparkTrustReport:
    """What one trust run did.

    Attributes
    ----------
    users, participants, seeds, seed_groups, iterations : int
        Counts: all users, participants, distinct seeds, seed groups, steps taken.
    no_evidence : int
        Participants the walk did not reach or without links (not ranked).
    suspects : tuple of (str, float, float)
        The least trusted participants with evidence, least first: id, trust per
        degree (the median over groups), degree.
    output : Path
        The Parquet folder written.
    seconds : dict of str to float
        Wall time of each stage: read, walk, write.
    """

    users: int
    participants: int
    seeds: int
    seed_groups: int
    iterations: int
    no_evidence: int
    suspects: tuple[tuple[str, float, float], ...]
    output: Path
    seconds: dict[str, float]


def _checkpoint(frame: DataFrame, reliable: bool) -> DataFrame:
    return frame.checkpoint(eager=True) if reliable else frame.localCheckpoint(eager=True)


def _choose_seeds(members: DataFrame, config: TrustConfig) -> list[str]:
    """The distinct seed ids, sorted (checked to be participants)."""
    if config.seeds is None:
        eligible = sorted(
            str(row["id"]) for row in members.filter(F.col(SEED_LEVEL)).select("id").toLocalIterator()
        )
        if not eligible:
            raise ParameterError("seeds", None, f"no participant passed {SEED_LEVEL}: give seeds explicitly")
        rng = np.random.default_rng(config.random_state)
        chosen = rng.choice(len(eligible), min(config.max_seeds, len(eligible)), replace=False)
        return sorted(eligible[int(k)] for k in chosen)
    wanted = sorted(set(config.seeds))
    spark = members.sparkSession
    asked = spark.createDataFrame([(s,) for s in wanted], "id string")
    missing = asked.join(members.select("id"), "id", "left_anti").orderBy("id").limit(1).collect()
    if missing:
        raise ParameterError(
            "seeds",
            str(missing[0]["id"]),
            "is not a participant (unknown, no consent or quarantined); seeds must be",
        )
    return wanted


def _medians(batches: Iterator[pd.DataFrame], *, groups: int) -> Iterator[pd.DataFrame]:
    """Per user: the mean trust over the groups and the median of trust / degree (on an executor)."""
    for frame in batches:
        values = np.zeros((len(frame), groups))
        for row, (gs, ts) in enumerate(zip(frame["gs"], frame["ts"], strict=True)):
            if gs is not None:
                values[row, np.asarray(gs, dtype=np.int64)] = np.asarray(ts, dtype=np.float64)
        degree = frame["degree"].to_numpy(dtype=np.float64)
        inverse = np.zeros(len(frame))
        np.divide(1.0, degree, out=inverse, where=degree > 0.0)
        trust = values.mean(axis=1) if groups > 1 else values[:, 0]
        normalized = (
            np.median(values * inverse[:, np.newaxis], axis=1) if groups > 1 else values[:, 0] * inverse
        )
        yield pd.DataFrame({"id": frame["id"].astype(object), "trust": trust, "normalized": normalized,
                            "degree": degree})  # fmt: skip


def trust_export(
    spark: SparkSession,
    input_dir: str | Path,
    output_dir: str | Path,
    config: TrustConfig | None = None,
    *,
    first: int = 20,
    overwrite: bool = False,
    checkpoint_dir: str | None = None,
    progress: ProgressFn | None = None,
) -> SparkTrustReport:
    """SybilRank trust of every user of a Parquet export, as :func:`~credence.scoring.trust.sybil_trust` computes it.

    Parameters
    ----------
    spark : SparkSession
        The session.
    input_dir : str or Path
        The export (``credence export DIR --format parquet``), checked first.
    output_dir : str or Path
        The Parquet folder to write, one row per user, columns :data:`TRUST_COLUMNS`
        (non-participants with trust 0). Written beside and renamed into place.
    config : TrustConfig, optional
        Seeds, groups, steps (default :class:`TrustConfig`).
    first : int
        How many suspects the report lists.
    overwrite : bool
        Replace a non-empty ``output_dir``.
    checkpoint_dir : str, optional
        Reliable checkpoint folder (a cluster); default local checkpoints.
    progress : callable, optional
        Receives one line per stage and per step.

    Returns
    -------
    SparkTrustReport

    Raises
    ------
    InputError
        A bad export, bad seeds or parameters, an existing output.
    """
    settings = config or TrustConfig()
    first = check_int(first, "first", 0)
    say = progress or (lambda line: None)
    reliable = checkpoint_dir is not None
    if checkpoint_dir is not None:
        spark.sparkContext.setCheckpointDir(checkpoint_dir)
    output = Path(output_dir)
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not overwrite:
        raise InputError(f"{output}: already exists and is not empty (pass overwrite / --overwrite)")
    seconds: dict[str, float] = {}

    clock = time.perf_counter()
    tables = read_export(spark, input_dir)
    flagged = F.broadcast(tables.quarantined.withColumn("_flagged", F.lit(True)))
    users = tables.users.select("id", "consent_network", SEED_LEVEL).join(flagged, "id", "left")
    users = users.withColumn("participating", F.col("consent_network") & F.col("_flagged").isNull())
    members = _checkpoint(users.filter("participating").select("id", SEED_LEVEL), reliable)
    n_users, n_part = tables.users.count(), members.count()
    seeds = _choose_seeds(members, settings)
    groups = min(settings.seed_groups, len(seeds))
    steps = settings.iterations if settings.iterations is not None else default_iterations(n_part)
    seconds["read"] = time.perf_counter() - clock
    say(
        f"read {n_users:,} users ({n_part:,} participants); {len(seeds):,} seeds in {groups} groups, {steps} steps"
    )

    clock = time.perf_counter()
    ids = members.select("id")
    weight = F.col("weight").cast("double")
    if settings.float32_weights:
        weight = F.col("weight").cast("float").cast("double")
    once = tables.links.select(F.col("source").alias("src"), F.col("target").alias("dst"), weight.alias("w"))
    both = once.unionByName(once.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "w"))
    edges = (
        both.join(ids.withColumnRenamed("id", "src"), "src")
        .join(ids.withColumnRenamed("id", "dst"), "dst")
        .repartition("src")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    degree = _checkpoint(edges.groupBy(F.col("src").alias("id")).agg(F.sum("w").alias("d")), reliable)
    counts = np.bincount(np.arange(len(seeds)) % groups)
    start = [
        (s, int(k % groups), float(settings.total_trust) / float(counts[k % groups]))
        for k, s in enumerate(seeds)
    ]
    state = _checkpoint(spark.createDataFrame(start, "id string, g long, t double"), reliable)
    try:
        for step in range(steps):
            spark.sparkContext.setJobDescription(f"credence trust: step {step + 1}")
            # trust per unit of degree leaves each linked holder along its links; isolated holders keep it
            held = state.join(degree, "id", "left")
            moving = held.filter(F.col("d").isNotNull()).select(
                F.col("id").alias("src"), "g", (F.col("t") / F.col("d")).alias("q")
            )
            kept = held.filter(F.col("d").isNull()).select("id", "g", "t")
            arrived = (
                edges.join(moving, "src")
                .groupBy(F.col("dst").alias("id"), "g")
                .agg(F.sum(F.col("w") * F.col("q")).alias("t"))
            )
            state = _checkpoint(arrived.unionByName(kept), reliable)
            say(f"trust step {step + 1} of {steps}: {state.count():,} (user, group) holdings")
        spark.sparkContext.setJobDescription(None)  # type: ignore[arg-type]  # None clears it
        per_user = state.groupBy("id").agg(F.collect_list("g").alias("gs"), F.collect_list("t").alias("ts"))
        rows = members.select("id").join(degree, "id", "left").join(per_user, "id", "left")
        rows = rows.select("id", F.coalesce("d", F.lit(0.0)).alias("degree"), "gs", "ts")
        with quiet_pandas_warning():
            values = rows.mapInPandas(
                lambda batches: _medians(batches, groups=groups),
                schema="id string, trust double, normalized double, degree double",
            )
        seed_frame = spark.createDataFrame([(s,) for s in seeds], "id string").withColumn("seed", F.lit(True))
        result = (
            users.select("id", "participating")
            .join(values, "id", "left")
            .join(F.broadcast(seed_frame), "id", "left")
            .select(
                "id",
                F.coalesce("trust", F.lit(0.0)).alias("trust"),
                F.coalesce("normalized", F.lit(0.0)).alias("normalized"),
                F.coalesce("degree", F.lit(0.0)).alias("degree"),
                "participating",
                F.coalesce("seed", F.lit(False)).alias("seed"),
                (
                    F.col("participating")
                    & (F.coalesce("trust", F.lit(0.0)) > 0)
                    & (F.coalesce("degree", F.lit(0.0)) > 0)
                ).alias("evidence"),
                F.lit(int(steps)).cast("long").alias("iterations"),
                F.lit(int(groups)).cast("long").alias("seed_groups"),
            )
        )
        result = _checkpoint(result, reliable)
        seconds["walk"] = time.perf_counter() - clock

        clock = time.perf_counter()
        ranked = result.filter("evidence")
        n_ranked = ranked.count()
        suspects = tuple(
            (str(r["id"]), float(r["normalized"]), float(r["degree"]))
            for r in ranked.orderBy(F.col("normalized").asc(), F.col("trust").asc(), F.col("id").desc())
            .limit(first)
            .collect()
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
        try:
            target = staging / "trust"
            result.select(*TRUST_COLUMNS).write.parquet(str(target))
            if output.exists():
                shutil.rmtree(output) if output.is_dir() else output.unlink()
            target.rename(output)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        seconds["write"] = time.perf_counter() - clock
    finally:
        edges.unpersist()
    say(f"wrote the trust of {n_users:,} users to {output}")
    return SparkTrustReport(
        users=int(n_users),
        participants=int(n_part),
        seeds=len(seeds),
        seed_groups=int(groups),
        iterations=int(steps),
        no_evidence=int(n_part - n_ranked),
        suspects=suspects,
        output=output,
        seconds=seconds,
    )
