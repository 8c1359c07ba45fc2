"""The Spark job: a Parquet export in, one row of score and components per user out.

The order of operations is that of the engine's full recompute
(:func:`credence.engine.recompute.recompute`), and every formula is the engine's own code:

1. **The capacity reference** -- the sorted known incomes and assets of the whole
   population that fulfilment capacity ranks against -- is built on the driver by
   :meth:`CapacityReference.from_users <credence.scoring.factors.CapacityReference.from_users>`
   from three collected columns, and broadcast.
2. **The individual components and the shared base.** Users are hashed into groups; the
   users of a group and their repayments and spending are cogrouped and handed to a
   pandas UDF that calls :meth:`ScoringModel.individual
   <credence.engine.model.ScoringModel.individual>` (so
   :func:`~credence.scoring.factors.compute_factors` and the ``bonus_only`` shared base)
   on them with the broadcast reference. Every factor is a per-user sum over that user's
   events, so a group computes exactly what the whole population would.
3. **The prior** ``mu``: the participants' (consenting, not flagged) mean shared base.
4. **The diffusion** ``y = (1 - a) b + a P y`` over the links between participants:
   Jacobi iterations ``y <- (1 - a) b + a P y``, each one sparse matrix-vector product
   (the links joined with ``y``, summed by user), checkpointed so the lineage stays one
   step long. It stops at the first iterate whose residual
   ``max_u |(1 - a) b_u + a (P y)_u - y_u|`` is at most ``tol * (1 - a)``: the stopping
   rule of the local solver, which certifies ``y`` within ``tol`` of the exact solution
   in every entry (``||aP||_inf = a``). Link weights are rounded to float32 first when
   ``tol >= 1e-7``, as :class:`~credence.scoring.push.DiffusionState` stores them.
5. **The connections component and the score**, by
   :func:`~credence.scoring.diffusion.component_value` and
   :func:`~credence.scoring.policy.assemble_scores` in a pandas UDF.
"""

from __future__ import annotations

import functools
import heapq
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.core.broadcast import Broadcast
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from credence.core.errors import ConvergenceError, InputError, ValidationError
from credence.engine.model import ScoringModel
from credence.engine.snapshot_import import SCORE_OUTPUT_COLUMNS
from credence.engine.state import repayment_arrays, spending_arrays, user_arrays
from credence.graph.model import COMPONENTS, epoch_now
from credence.scoring.diffusion import component_value
from credence.scoring.factors import COMPONENTS as INDIVIDUAL
from credence.scoring.factors import CapacityReference, FactorParams, UserArrays
from credence.scoring.policy import DEFAULT_POLICY_PATH, Policy, read_policy
from credence.spark.inputs import ExportTables, read_export
from credence.spark.session import quiet_pandas_warning

__all__ = ["OUTPUT_COLUMNS", "SparkScoreReport", "score_export"]

#: The columns of the output, in order.
OUTPUT_COLUMNS: tuple[str, ...] = SCORE_OUTPUT_COLUMNS

#: At most this many users per group of the individual-components UDF (memory per task).
GROUP_USERS = 50_000

#: Most Jacobi iterations before the diffusion gives up (the local solver's pass limit).
MAX_ITERATIONS = 1000

_INDIVIDUAL_SCHEMA = (
    "id string, "
    + ", ".join(f"{name} double" for name in INDIVIDUAL)
    + ", base double, participating boolean"
)
_OUTPUT_SCHEMA = (
    "id string, score long, band string, "
    + ", ".join(f"{name} double" for name in COMPONENTS)
    + ", network double, degree double, participating boolean, base double, model_version string, "
    "computed_at long, prior double"
)
_EVENT_SCHEMA = "kind string, user string, t long, paid long, amount double, status string, category string, on_time boolean"

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class SparkScoreReport:
    """What one run did.

    Attributes
    ----------
    users, links, participants : int
        Counts (links once per pair; participants consent and are not flagged).
    now : int
        The evaluation time used, epoch seconds.
    prior : float
        The neutral prior ``mu``.
    iterations : int
        Diffusion iterations (sparse products) until the residual met the bound.
    residual : float
        The final ``max |(1 - a) b + a P y - y|`` (at most ``tol * (1 - a)``).
    model_version : str
        The policy's version, written with every row.
    output : Path
        The Parquet folder written.
    seconds : dict of str to float
        Wall time of each stage: read, factors, diffusion, write.
    """

    users: int
    links: int
    participants: int
    now: int
    prior: float
    iterations: int
    residual: float
    model_version: str
    output: Path
    seconds: dict[str, float]


# --------------------------------------------------------------------------- stage 2: the UDF


def _individual_group(
    users: pd.DataFrame, events: pd.DataFrame, *, policy: Policy, params: FactorParams, now: int,
    reference: Broadcast[CapacityReference],
) -> pd.DataFrame:  # fmt: skip
    """The four components and the shared base of one group of users (runs on an executor)."""
    if len(users) == 0:
        columns: dict[str, pd.Series] = {"id": pd.Series(dtype=object)}
        columns.update({name: pd.Series(dtype=np.float64) for name in (*INDIVIDUAL, "base")})
        columns["participating"] = pd.Series(dtype=bool)
        return pd.DataFrame(columns)
    users = users.reset_index(drop=True)
    model = ScoringModel.from_policy(policy, params)
    index = pd.Index(users["id"].astype(object))
    if len(events) == 0:  # cogroup hands over a group without events as a frame without columns
        events = pd.DataFrame({"kind": pd.Series(dtype=object), "user": pd.Series(dtype=object)})
    kinds = events["kind"].to_numpy(dtype=object)
    repayments = events[kinds == "r"].rename(columns={"t": "due"})
    spending = events[kinds == "s"].rename(columns={"t": "at"})
    parts = model.individual(
        user_arrays(users),
        repayment_arrays(repayments, index.get_indexer(repayments["user"].to_numpy(dtype=object))),
        spending_arrays(spending, index.get_indexer(spending["user"].to_numpy(dtype=object))),
        now=now,
        reference=reference.value,
    )
    out = pd.DataFrame({"id": users["id"].astype(object)})
    for k, name in enumerate(INDIVIDUAL):
        out[name] = parts.components[:, k]
    out["base"] = parts.base
    out["participating"] = users["participating"].to_numpy(dtype=bool)
    return out


def _reference(users: DataFrame) -> CapacityReference:
    """The whole population's capacity reference, built on the driver by the engine's code."""
    table = users.select("declared_income", "verified_income", "verified_assets").toArrow()
    columns = {name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64) for name in
               ("declared_income", "verified_income", "verified_assets")}  # fmt: skip
    size = table.num_rows
    return CapacityReference.from_users(UserArrays.build(created=np.zeros(size, dtype=np.int64), **columns))


def _individual(
    spark: SparkSession, tables: ExportTables, participating: DataFrame, model: ScoringModel, now: int,
    n_users: int,
) -> DataFrame:  # fmt: skip
    """Stage 2: ``id``, the four components, ``base`` and ``participating`` of every user."""
    reference = spark.sparkContext.broadcast(_reference(tables.users))
    groups = max(spark.sparkContext.defaultParallelism, math.ceil(n_users / GROUP_USERS))
    bucket = F.pmod(F.xxhash64("user"), F.lit(groups))
    users = (
        tables.users.join(participating, "id", "left")
        .withColumn("participating", F.coalesce(F.col("participating"), F.lit(False)))
        .withColumn("user", F.col("id"))
        .withColumn("_group", bucket)
        .drop("user")
    )
    repayments = tables.repayments.select(
        F.lit("r").alias("kind"), "user", F.col("due").cast("long").alias("t"), F.col("paid").cast("long"),
        F.col("amount").cast("double"), "status", F.lit(None).cast("string").alias("category"),
        F.lit(None).cast("boolean").alias("on_time"),
    )  # fmt: skip
    spending = tables.spending.select(
        F.lit("s").alias("kind"), "user", F.col("at").cast("long").alias("t"),
        F.lit(None).cast("long").alias("paid"), F.col("amount").cast("double"),
        F.lit(None).cast("string").alias("status"), "category", "on_time",
    )  # fmt: skip
    events = repayments.unionByName(spending).withColumn("_group", bucket)
    compute = functools.partial(
        _individual_group, policy=model.policy, params=model.params, now=now, reference=reference
    )
    with quiet_pandas_warning():
        return (
            users.groupBy("_group")
            .cogroup(events.groupBy("_group"))
            .applyInPandas(compute, schema=_INDIVIDUAL_SCHEMA)
        )


# --------------------------------------------------------------------------- stage 4: the diffusion


def _checkpoint(frame: DataFrame, reliable: bool) -> DataFrame:
    """Materialise ``frame`` and cut its lineage (reliable: to the checkpoint folder)."""
    return frame.checkpoint(eager=True) if reliable else frame.localCheckpoint(eager=True)


@dataclass(frozen=True)
class _Diffusion:
    network: DataFrame  # id, network (P y), degree: the linked participants
    iterations: int
    residual: float


#: Session settings for the diffusion's loop (restored after it). Joins on (block, user) of
#: sides partitioned by block alone need no exchange; and without adaptive execution a
#: checkpoint keeps the partitioning it was made with (with it, Spark 4.3 forgets it, and
#: every iteration would shuffle the iterate twice more).
_DIFFUSION_CONF = {
    "spark.sql.requireAllClusterKeysForCoPartition": "false",
    "spark.sql.adaptive.enabled": "false",
}


def read_partition_key(spark: SparkSession, path: str | Path) -> DataFrame:
    """``id, community`` from a CSV or Parquet file of ``user, community`` (``credence communities --out``).

    Raises
    ------
    InputError
        No such file, or a file without the two columns.
    ValidationError
        A community that is not an integer, or a user listed twice.
    """
    source = Path(path)
    if not source.exists():
        raise InputError(f"{source}: no such partition-key file (expected user,community)")
    if source.suffix == ".csv":
        frame = spark.read.csv(str(source), header=True, schema="user string, community string")
    else:
        frame = spark.read.parquet(str(source))
    columns = set(frame.columns)
    if not {"user", "community"} <= columns:
        raise InputError(f"{source}: needs the columns user and community, has {sorted(columns)}")
    typed = frame.select(
        F.col("user").cast("string").alias("id"), F.col("community").cast("string").alias("raw")
    )
    typed = typed.withColumn("community", F.col("raw").try_cast("long"))
    bad = typed.filter(F.col("community").isNull() | F.col("id").isNull()).limit(1).collect()
    if bad:
        raise ValidationError(
            "must be an integer community (and a user id)", entity="partition key", column="community",
            value=bad[0]["raw"], source=str(source),
        )  # fmt: skip
    twice = typed.groupBy("id").count().filter(F.col("count") > 1).limit(1).collect()
    if twice:
        raise ValidationError("user listed twice", entity="partition key", column="user",
                              value=str(twice[0]["id"]), source=str(source))  # fmt: skip
    return typed.select("id", "community")


def _blocks(ids: DataFrame, partitions: int, key: DataFrame | None) -> DataFrame:
    """``id, block``: each participant's partition, in ``[0, partitions)``.

    Without a key, a hash of the id. With a key (``id, community``, e.g. the Louvain
    communities ``credence communities --out`` writes), whole communities are packed into
    partitions, largest first into the lightest (on the driver: one row per community),
    so that most links join two users of one partition; users without a community
    (``-1`` or absent) are hashed.
    """
    hashed = F.pmod(F.xxhash64("id"), F.lit(partitions)).cast("int")
    if key is None:
        return ids.select("id", hashed.alias("block"))
    known = ids.join(key, "id").filter(F.col("community") >= 0)
    sizes = known.groupBy("community").count().collect()
    load = [(0, block) for block in range(partitions)]
    heapq.heapify(load)
    mapping: list[tuple[int, int]] = []
    for row in sorted(sizes, key=lambda r: (-int(r["count"]), int(r["community"]))):
        used, block = heapq.heappop(load)
        mapping.append((int(row["community"]), block))
        heapq.heappush(load, (used + int(row["count"]), block))
    table = ids.sparkSession.createDataFrame(mapping or [(-1, 0)], "community long, block int")
    return (
        ids.join(key, "id", "left")
        .join(F.broadcast(table), "community", "left")  # a small table: one row per community
        .select("id", F.coalesce(F.col("block"), hashed).alias("block"))
    )


def _diffuse(
    individual: DataFrame, links: DataFrame, model: ScoringModel, *, reliable: bool,
    progress: ProgressFn | None, partition_key: DataFrame | None = None,
) -> _Diffusion:  # fmt: skip
    """Stage 4: ``(P y)_u`` and the weighted degree of every participant with links to participants.

    Every participant has a *block* (its partition, :func:`_blocks`). The links are kept
    once, both ways, partitioned by the block of their target, next to the target's
    iterate, which stays partitioned by its block; so an iteration moves only the partial
    sums: each partition adds up, per source user, what its links carry, and only these
    sums are shuffled to the sources' blocks (one exchange per iteration). With a
    graph-aware key most of a user's links stay inside one block and the sums are few.
    """
    settings = model.policy.diffusion
    a = float(settings.damping)
    threshold = float(settings.tol) * (1.0 - a)
    spark = individual.sparkSession
    context = spark.sparkContext
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
    saved = {key: str(spark.conf.get(key)) for key in _DIFFUSION_CONF}
    for key, value in _DIFFUSION_CONF.items():
        spark.conf.set(key, value)
    context.setJobDescription("credence diffusion: setup")  # the benchmark reads shuffles per description
    members = individual.filter("participating").select("id", F.col("base").alias("b"))
    blocks = _checkpoint(_blocks(members.select("id"), partitions, partition_key), reliable)
    weight = F.col("weight").cast("double")
    if settings.tol >= 1e-7:  # DiffusionState keeps float32 link strengths at these tolerances
        weight = F.col("weight").cast("float").cast("double")
    once = links.select(F.col("source").alias("src"), F.col("target").alias("dst"), weight.alias("w"))
    both = once.unionByName(once.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "w"))
    edges = (
        both.join(blocks.select(F.col("id").alias("src"), F.col("block").alias("sb")), "src")
        .join(blocks.select(F.col("id").alias("dst"), F.col("block").alias("db")), "dst")
        .repartition(partitions, "db")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    degree = edges.groupBy(F.col("src").alias("id")).agg(F.sum("w").alias("d"))
    state = (
        members.join(degree, "id")
        .join(blocks, "id")
        .withColumn("y", F.col("b"))
        .repartition(partitions, "block")
    )
    state = _checkpoint(state, reliable)
    residual = math.inf
    iterations = 0
    try:
        while True:
            iterations += 1
            context.setJobDescription(f"credence diffusion: iteration {iterations}")
            if iterations > MAX_ITERATIONS:
                raise ConvergenceError(MAX_ITERATIONS, residual, float(settings.tol))
            target = state.select(F.col("block").alias("db"), F.col("id").alias("dst"), "y")
            incoming = (
                edges.join(target, ["db", "dst"])  # co-partitioned by the target's block: no exchange
                .groupBy("db", "sb", "src")  # within the partition: one partial sum per source
                .agg(F.sum(F.col("w") * F.col("y")).alias("s"))
                .repartition(partitions, "sb")  # the iteration's one exchange: the partial sums
                .groupBy("sb", "src")
                .agg(F.sum("s").alias("s"))
                .select(F.col("sb").alias("block"), F.col("src").alias("id"), "s")
            )
            py = F.col("s") / F.col("d")
            step = (
                state.join(incoming, ["block", "id"])  # both by the source's block: no exchange
                .withColumn("py", py)
                .withColumn("r", (1.0 - a) * F.col("b") + a * F.col("py") - F.col("y"))
            )
            step = _checkpoint(step, reliable)  # the lineage stays one step long; the partitioning stays
            found = step.agg(F.max(F.abs("r")).alias("r")).first()
            residual = float(found["r"]) if found is not None and found["r"] is not None else 0.0
            if progress is not None:
                progress(f"diffusion iteration {iterations}: residual {residual:.3g} (bound {threshold:.3g})")
            if residual <= threshold:
                network = step.select("id", F.col("py").alias("network"), F.col("d").alias("degree"))
                return _Diffusion(network=network, iterations=iterations, residual=residual)
            state = step.select(
                "block", "id", "b", "d", ((1.0 - a) * F.col("b") + a * F.col("py")).alias("y")
            )
    finally:
        context.setJobDescription(None)  # type: ignore[arg-type]  # None clears it
        for key, value in saved.items():
            spark.conf.set(key, value)
        edges.unpersist()


# --------------------------------------------------------------------------- stage 5: the score


def _score_batches(
    batches: Iterator[pd.DataFrame], *, policy: Policy, params: FactorParams, prior: float, now: int
) -> Iterator[pd.DataFrame]:
    """The connections component, the score and the band of each row (runs on an executor)."""
    model = ScoringModel.from_policy(policy, params)
    settings = policy.diffusion
    for frame in batches:
        degree = frame["degree"].to_numpy(dtype=np.float64, na_value=0.0)
        raw = frame["network"].to_numpy(dtype=np.float64, na_value=np.nan)
        network = np.where(degree > 0.0, raw, prior)
        connections = component_value(
            network, degree, mu=prior, shrinkage=settings.shrinkage, sharing=settings.sharing
        )
        components = np.column_stack(
            [frame[name].to_numpy(dtype=np.float64) for name in INDIVIDUAL] + [connections]
        )
        scores = model.scores(components)
        out = pd.DataFrame({"id": frame["id"].astype(object), "score": scores.astype(np.int64)})
        out["band"] = np.asarray(policy.band_names(scores), dtype=object)
        for k, name in enumerate(COMPONENTS):
            out[name] = components[:, k]
        out["network"] = network
        out["degree"] = degree
        out["participating"] = frame["participating"].to_numpy(dtype=bool)
        out["base"] = frame["base"].to_numpy(dtype=np.float64)
        out["model_version"] = policy.version
        out["computed_at"] = np.int64(now)
        out["prior"] = np.float64(prior)
        yield out


# --------------------------------------------------------------------------- the job


def _prepare_output(output: Path, overwrite: bool) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not overwrite:
        raise InputError(f"{output}: already exists and is not empty (pass overwrite / --overwrite)")


def score_export(
    spark: SparkSession,
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    policy: Policy | str | Path | None = None,
    params: FactorParams | None = None,
    now: int | None = None,
    prior: float | None = None,
    overwrite: bool = False,
    checkpoint_dir: str | None = None,
    partition_by: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> SparkScoreReport:
    """Score every user of a Parquet export with Spark, as the engine's full recompute would.

    Parameters
    ----------
    spark : SparkSession
        The session (see :func:`credence.spark.session.spark_session`).
    input_dir : str or Path
        The export (``credence export DIR --format parquet``), checked first by
        :func:`credence.spark.inputs.read_export`.
    output_dir : str or Path
        The Parquet folder to write, one row per user, columns :data:`OUTPUT_COLUMNS`.
        Written to a sibling temporary folder and renamed into place at the end: on any
        error nothing is there.
    policy : Policy or path, optional
        The scoring policy, or its TOML file (default: the bundled default policy).
    params : FactorParams, optional
        The factor constants (default :class:`~credence.scoring.factors.FactorParams`).
    now : int, optional
        The evaluation time, epoch seconds. Default: the time the export's scores were
        computed at (``scores.computed_at``), else the clock.
    prior : float, optional
        The neutral prior; default the participants' mean shared base (0.5 without any).
    overwrite : bool
        Replace a non-empty ``output_dir`` (refused otherwise).
    checkpoint_dir : str, optional
        A reliable checkpoint folder for the diffusion's iterates (e.g. on HDFS) for a
        cluster; default local checkpoints (executor storage).
    partition_by : str or Path, optional
        A graph-aware partition key for the diffusion: a CSV or Parquet file of
        ``user, community`` (what ``credence communities --out`` writes; ``-1`` for no
        community). Whole communities are packed into the shuffle partitions, so that
        most links stay inside one and fewer partial sums cross; default a hash of the
        user id. The result is the same either way.
    progress : callable, optional
        Receives one line per stage and per diffusion iteration.

    Returns
    -------
    SparkScoreReport

    Raises
    ------
    InputError
        A bad export (naming the file and column), a bad policy, an existing output.
    ConvergenceError
        If the diffusion does not meet its bound within :data:`MAX_ITERATIONS`.
    """
    say = progress or (lambda line: None)
    seconds: dict[str, float] = {}
    output = Path(output_dir)
    _prepare_output(output, overwrite)
    chosen = (
        read_policy(DEFAULT_POLICY_PATH if policy is None else policy)
        if not isinstance(policy, Policy)
        else policy
    )
    model = ScoringModel.from_policy(chosen, params)
    if checkpoint_dir is not None:
        spark.sparkContext.setCheckpointDir(checkpoint_dir)

    clock = time.perf_counter()
    tables = read_export(spark, input_dir)
    when = (
        int(now)
        if now is not None
        else tables.recorded_now
        if tables.recorded_now is not None
        else epoch_now()
    )
    n_users, n_links = tables.users.count(), tables.links.count()
    seconds["read"] = time.perf_counter() - clock
    say(f"read {n_users:,} users and {n_links:,} links; evaluation time {when}")

    clock = time.perf_counter()
    flagged = F.broadcast(tables.quarantined.withColumn("_flagged", F.lit(True)))  # a few analysts' flags
    participating = (
        tables.users.select("id", "consent_network")
        .join(flagged, "id", "left")
        .select("id", (F.col("consent_network") & F.col("_flagged").isNull()).alias("participating"))
    )
    individual = _checkpoint(
        _individual(spark, tables, participating, model, when, n_users), checkpoint_dir is not None
    )
    summary = individual.agg(
        F.sum(F.col("participating").cast("long")).alias("n"),
        F.avg(F.when(F.col("participating"), F.col("base"))).alias("mean"),
    ).first()
    participants = int(summary["n"] or 0) if summary is not None else 0
    if prior is None:
        mu = float(summary["mean"]) if summary is not None and participants > 0 else 0.5
    else:
        mu = float(prior)
    seconds["factors"] = time.perf_counter() - clock
    say(f"individual components of {n_users:,} users; {participants:,} participants, prior {mu:.6f}")

    clock = time.perf_counter()
    key = None if partition_by is None else read_partition_key(spark, partition_by)
    diffusion = _diffuse(
        individual, tables.links, model, reliable=checkpoint_dir is not None, progress=say, partition_key=key
    )
    seconds["diffusion"] = time.perf_counter() - clock

    clock = time.perf_counter()
    joined = individual.join(diffusion.network, "id", "left")
    scorer = functools.partial(_score_batches, policy=model.policy, params=model.params, prior=mu, now=when)
    with quiet_pandas_warning():
        scored = joined.mapInPandas(scorer, schema=_OUTPUT_SCHEMA).select(*OUTPUT_COLUMNS)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        target = staging / "scores"
        scored.write.parquet(str(target))
        if output.exists():
            shutil.rmtree(output) if output.is_dir() else output.unlink()
        target.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds["write"] = time.perf_counter() - clock
    say(f"wrote {n_users:,} scores to {output}")
    return SparkScoreReport(
        users=int(n_users),
        links=int(n_links),
        participants=participants,
        now=when,
        prior=mu,
        iterations=diffusion.iterations,
        residual=diffusion.residual,
        model_version=model.policy.version,
        output=output,
        seconds=seconds,
    )
