"""Benchmark ``credence spark score`` against the single-machine engine and two Spark PageRanks (DataFrames, GraphX), on one graph.

For each size, one seeded synthetic population (``generate_population``, ~10 links per
user) is loaded into SQLite and exported to Parquet (cached under ``--work``). Then, in
one process and on the same data:

* **engine**: ``ScoringEngine.recompute(write=False)`` by a new engine on the SQLite
  store (all cores, numba; the read of the store included, no warm start), median of
  ``--repeats`` runs;
* **spark score**: :func:`credence.spark.score_export` in ``--master`` (default
  ``local[2]``), median of ``--spark-repeats`` runs; the bytes each diffusion iteration
  shuffled are read from Spark's REST API on 127.0.0.1 (``/api/v1``: the jobs the job
  labels ``credence diffusion: iteration k``, their stages' shuffle write and read);
* **spark pagerank**: PageRank on the same participants' links in plain DataFrames (one
  join and one group-by per iteration, checkpointed; weighted, restart ``1 - a``), run
  for the number of iterations the diffusion needed;
* **graphx pagerank**: Spark's own PageRank, ``org.apache.spark.graphx.lib.PageRank``
  (static, ``PageRank.run``: normalised at the end), reached through py4j
  (:mod:`graphx_pagerank`; pyspark ships the GraphX jar), on the same links both ways
  written once as an edge list (user ids hashed to longs with ``xxhash64``; not timed),
  for the same number of iterations, on as many edge partitions as
  ``spark.sql.shuffle.partitions``; median of ``--spark-repeats`` runs (load the edge
  list, iterate, write the ranks). GraphX's PageRank is **unweighted** (a link's share
  is ``1 / outdeg``) with reset probability ``1 - a``: a peer for time and bytes
  shuffled, not for the same values. Its iterations run inside one Scala call, so the
  bytes per iteration are those of its per-iteration jobs (``foreachPartition at
  PageRank.scala``), read from the REST API like the diffusion's. GraphFrames is not
  used: its jar for Spark 4 / Scala 2.13 did not resolve from Maven Central here.

It prints every time with its ratio to the engine, the shuffle bytes per iteration and,
for the sizes listed in ``--check``, the agreement of the Spark scores with the engine's
(largest score difference in points, largest component difference).

    .venv/bin/python benchmarks/bench_spark.py --sizes 100k,1m --driver-memory 6g
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diffusion_peers import parse_size
from graphx_pagerank import graphx_pagerank, read_ranks

from credence.analysis.data import export_tables
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.scoring.policy import COMPONENT_NAMES, DEFAULT_POLICY_PATH, read_policy
from credence.seeds.synthetic import generate_population

SEED = 17


def prepare(size: int, work: Path) -> tuple[Path, Path, int]:
    """The SQLite store and Parquet export of a seeded population of ``size`` users (cached)."""
    folder = work / f"users-{size}"
    db, export, stamp = folder / "credence.db", folder / "export", folder / "now.txt"
    if stamp.exists() and (export / "users.parquet").exists():
        return db, export, int(stamp.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    population = generate_population(n_users=size, seed=SEED)
    with SQLiteStore(db) as store:
        store.clear()
        store.load(population.dataset())
        engine = ScoringEngine(store, now=population.now)
        engine.recompute(write=False)
        export_tables(store, engine, export, fmt="parquet")
    stamp.write_text(str(population.now), encoding="utf-8")
    print(f"  prepared {size:,} users in {time.perf_counter() - clock:.0f} s ({folder})", flush=True)
    return db, export, population.now


def cold_recompute(store: SQLiteStore, now: int) -> Any:
    """A full recompute by a new engine (no warm start from a previous solution)."""
    return ScoringEngine(store, now=now).recompute(write=False)


def median_time(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` runs and the last run's result."""
    times, result = [], None
    for _ in range(repeats):
        clock = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - clock)
    return statistics.median(times), result


class Rest:
    """Spark's REST API on 127.0.0.1: shuffle bytes of the jobs with a given description prefix."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"
        (app,) = self.get("/applications")[:1]
        self.app = app["id"]

    def get(self, path: str) -> Any:
        """GET one REST path, parsed."""
        with urllib.request.urlopen(self.base + path, timeout=30) as response:
            return json.load(response)

    def last_job(self) -> int:
        """The id of the newest job so far (-1 before any)."""
        time.sleep(1.0)
        return max((int(job["jobId"]) for job in self.get(f"/applications/{self.app}/jobs")), default=-1)

    def jobs(self, prefix: str, after: int = -1) -> list[dict[str, Any]]:
        """The jobs newer than job ``after`` whose description starts with ``prefix``, oldest first.

        Each is ``{"id", "description", "name", "write", "read", "remote"}``: its call site
        (``name``) and the bytes its completed stages wrote to and read from the shuffle
        (skipped stages, whose shuffle output was reused, moved nothing).
        """
        time.sleep(1.0)  # let the listener bus deliver the last stage's metrics
        stages = {(s["stageId"]): s for s in self.get(f"/applications/{self.app}/stages")}
        out: list[dict[str, Any]] = []
        for job in self.get(f"/applications/{self.app}/jobs"):
            description = job.get("description") or ""
            if not description.startswith(prefix) or int(job["jobId"]) <= after:
                continue
            row: dict[str, Any] = {"id": int(job["jobId"]), "description": description,
                                   "name": job.get("name") or "", "write": 0.0, "read": 0.0, "remote": 0.0}  # fmt: skip
            for stage_id in job.get("stageIds", []):
                stage = stages.get(stage_id)
                if stage is None or stage.get("status") != "COMPLETE":
                    continue
                row["write"] += int(stage.get("shuffleWriteBytes", 0))
                row["read"] += int(stage.get("shuffleReadBytes", 0))
                row["remote"] += int(stage.get("shuffleRemoteBytesRead", 0))
            out.append(row)
        return sorted(out, key=lambda row: int(row["id"]))

    def shuffled(self, prefix: str, after: int = -1, runs: int = 1) -> dict[str, dict[str, float]]:
        """Description -> bytes (shuffle write, read, remote read) of that description's stages.

        Only jobs newer than job ``after`` count, and the sums are divided by ``runs`` (the
        same job run that many times: the mean per run).
        """
        out: dict[str, dict[str, float]] = {}
        for job in self.jobs(prefix, after):
            totals = out.setdefault(job["description"], {"write": 0.0, "read": 0.0, "remote": 0.0})
            for key in totals:
                totals[key] += job[key]
        return {key: {k: v / runs for k, v in totals.items()} for key, totals in out.items()}


def communities_file(engine: ScoringEngine, folder: Path) -> Path:
    """``user,community`` of the Louvain communities of the participants (cached), as `credence communities --out`."""
    path = folder / "communities.csv"
    if not path.exists():
        from credence.analysis.investigate import community_report

        clock = time.perf_counter()
        report = community_report(engine)
        pd.DataFrame({"user": [str(u) for u in report.ids.tolist()], "community": report.labels}).to_csv(
            path, index=False
        )
        print(f"  {report.count:,} Louvain communities (modularity {report.modularity:.3f}) in "
              f"{time.perf_counter() - clock:.1f} s", flush=True)  # fmt: skip
    return path


def participant_links(spark: Any, export: Path) -> tuple[Any, Any]:
    """The participants' ids and their links both ways (``src``, ``dst``, ``weight``), as DataFrames."""
    from pyspark.sql import functions as F

    from credence.spark.inputs import read_export

    tables = read_export(spark, export)
    flagged = F.broadcast(tables.quarantined.withColumn("_flagged", F.lit(True)))
    ids = (
        tables.users.join(flagged, "id", "left")
        .filter(F.col("consent_network") & F.col("_flagged").isNull())
        .select("id")
    )
    once = tables.links.select(F.col("source").alias("src"), F.col("target").alias("dst"), "weight")
    both = once.unionByName(once.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "weight"))
    edges = both.join(ids.withColumnRenamed("id", "src"), "src").join(
        ids.withColumnRenamed("id", "dst"), "dst"
    )
    return ids, edges


def spark_pagerank(spark: Any, export: Path, damping: float, iterations: int) -> float:
    """PageRank over the participants' links in plain DataFrames; returns the sum of ranks (a check)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    context = spark.sparkContext
    context.setJobDescription("pagerank: setup")
    ids, both = participant_links(spark, export)
    edges = both.repartition("src").persist(StorageLevel.MEMORY_AND_DISK)
    degree = edges.groupBy(F.col("src").alias("id")).agg(F.sum("weight").alias("d"))
    n = ids.count()
    ranks = degree.select("id", "d", F.lit(1.0 / n).alias("r")).localCheckpoint(eager=True)
    try:
        for step in range(iterations):
            context.setJobDescription(f"pagerank: iteration {step + 1}")
            sent = ranks.select(F.col("id").alias("src"), (F.col("r") / F.col("d")).alias("q"))
            got = (
                edges.join(sent, "src")
                .groupBy(F.col("dst").alias("id"))
                .agg(F.sum(F.col("weight") * F.col("q")).alias("s"))
            )
            ranks = (
                ranks.select("id", "d")
                .join(got, "id", "left")
                .select("id", "d", ((1.0 - damping) / n + damping * F.coalesce("s", F.lit(0.0))).alias("r"))
                .localCheckpoint(eager=True)
            )
            ranks.agg(F.sum("r")).first()  # an action per iteration, as the diffusion's residual
        total = ranks.agg(F.sum("r").alias("t")).first()
        return float(total["t"]) if total is not None else 0.0
    finally:
        context.setJobDescription(None)
        edges.unpersist()


def write_edge_list(spark: Any, export: Path, path: Path) -> int:
    """The participants' links both ways as GraphX's ``"src dst"`` edge list; returns the edges written.

    A user id becomes the 64-bit ``xxhash64`` of it (GraphX's vertex ids are longs); the
    ids are checked to stay distinct.
    """
    from pyspark.sql import functions as F

    context = spark.sparkContext
    context.setJobDescription("graphx: edge list")
    try:
        ids, edges = participant_links(spark, export)
        hashed = ids.select(F.xxhash64("id").alias("v"))
        count, distinct = hashed.agg(F.count("v"), F.countDistinct("v")).first() or (0, 0)
        if count != distinct:
            raise RuntimeError(f"xxhash64 maps {count:,} participants to only {distinct:,} vertex ids")
        lines = edges.select(F.concat_ws(" ", F.xxhash64("src"), F.xxhash64("dst")).alias("value"))
        lines.write.text(str(path))
        return int(spark.read.text(str(path)).count())
    finally:
        context.setJobDescription(None)


def graphx_peer(
    spark: Any, edge_list: Path, scratch: Path, damping: float, iterations: int, partitions: int
) -> Any:
    """One run of GraphX's own PageRank (``PageRank.run``: normalised, unweighted) on the edge list."""
    context = spark.sparkContext
    context.setJobDescription("graphx pagerank")
    try:
        out = scratch / f"graphx-{time.monotonic_ns()}"
        return graphx_pagerank(
            spark, edge_list, out, iterations=iterations, reset_prob=1.0 - damping, edge_partitions=partitions
        )
    finally:
        context.setJobDescription(None)


@dataclass(frozen=True)
class GraphXFigures:
    """What the benchmark measured of GraphX's PageRank on one graph."""

    seconds: float  # median wall time of a run: load the edge list, iterate, write the ranks
    edge_list_seconds: float  # writing the edge list from the export (once, not in ``seconds``)
    vertices: int
    edges: int
    rank_sum: float
    iteration_write: float  # median shuffle bytes written by one iteration's job (iterations 2..)
    iteration_read: float
    iteration_jobs: int  # iteration jobs found per run
    run_write: float  # shuffle bytes written by all the jobs of a run, divided by the iterations
    run_read: float


def graphx_measure(
    spark: Any, rest: Rest, export: Path, scratch: Path, damping: float, iterations: int, repeats: int
) -> GraphXFigures:
    """Write the edge list, run GraphX's PageRank ``repeats`` times, read its shuffles from the REST API.

    GraphX runs its iterations inside one Scala call, under the one job description
    ``graphx pagerank``; each iteration is one job, ``foreachPartition at PageRank.scala``
    (materialising the new rank graph's edges), so the bytes per iteration are those jobs'
    stages (median over the iterations after the first, as for the diffusion). The
    shuffle of every job of a run (loading, out-degrees, normalising, saving included)
    divided by the iterations is reported too.
    """
    edge_list = scratch / "edges"
    clock = time.perf_counter()
    edges = write_edge_list(spark, export, edge_list)
    edge_list_seconds = time.perf_counter() - clock
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))
    mark = rest.last_job()
    seconds, run = median_time(
        functools.partial(graphx_peer, spark, edge_list, scratch, damping, iterations, partitions), repeats
    )
    jobs = rest.jobs("graphx pagerank", mark)
    looped = [job for job in jobs if job["name"].startswith("foreachPartition at PageRank.scala")]
    per_run = len(looped) // max(repeats, 1)
    later = [job for k, job in enumerate(looped) if k % max(per_run, 1) != 0] or looped
    _, ranks = read_ranks(run.output)
    if run.edges != edges:
        raise RuntimeError(f"GraphX loaded {run.edges:,} edges of the {edges:,} written")
    return GraphXFigures(
        seconds=seconds,
        edge_list_seconds=edge_list_seconds,
        vertices=run.vertices,
        edges=run.edges,
        rank_sum=float(ranks.sum()),
        iteration_write=statistics.median(job["write"] for job in later) if later else 0.0,
        iteration_read=statistics.median(job["read"] for job in later) if later else 0.0,
        iteration_jobs=per_run,
        run_write=sum(job["write"] for job in jobs) / max(repeats, 1) / iterations,
        run_read=sum(job["read"] for job in jobs) / max(repeats, 1) / iterations,
    )


def agreement(output: Path, engine: ScoringEngine) -> dict[str, float]:
    """Largest differences between the Spark output and the engine's scores and components."""
    got = pd.read_parquet(output)
    got = got.set_index(got["id"].astype(str))
    expected = engine.scores().set_index("user")
    got = got.loc[expected.index.astype(str)]
    diffs = {"score": float(np.abs(got["score"].to_numpy() - expected["score"].to_numpy()).max())}
    for name in COMPONENT_NAMES:
        diffs[name] = float(np.abs(got[name].to_numpy() - expected[name].to_numpy(dtype=np.float64)).max())
    return diffs


def per_iteration(shuffled: dict[str, dict[str, float]], prefix: str) -> tuple[float, float, int]:
    """Median shuffle write and read bytes of the iterations after the first, and how many there were."""
    rows = [v for k, v in shuffled.items() if k.startswith(prefix)]
    later = rows[1:] or rows
    if not later:
        return 0.0, 0.0, 0
    return (
        statistics.median(r["write"] for r in later),
        statistics.median(r["read"] for r in later),
        len(rows),
    )


def mb(value: float) -> str:
    """Bytes as megabytes."""
    return f"{value / 1e6:,.1f} MB"


def run(args: argparse.Namespace) -> None:
    """Prepare, run and print every size."""
    from credence.spark import score_export, spark_session

    policy = read_policy(DEFAULT_POLICY_PATH)
    damping = float(policy.diffusion.damping)
    work = Path(args.work)
    check = {parse_size(s) for s in args.check.split(",") if s}
    with spark_session(
        args.master, app_name="credence-bench-spark", shuffle_partitions=args.partitions,
        driver_memory=args.driver_memory, ui_port=args.ui_port,
    ) as spark:  # fmt: skip
        rest = Rest(args.ui_port)
        for size in (parse_size(s) for s in args.sizes.split(",") if s):
            print(f"== {size:,} users (seed {SEED}), policy {policy.version}: a = {damping}, "
                  f"tol = {policy.diffusion.tol:g}; {args.master}, driver memory {args.driver_memory}", flush=True)  # fmt: skip
            db, export, now = prepare(size, work)
            with SQLiteStore(db) as store:
                local_s, report = median_time(functools.partial(cold_recompute, store, now), args.repeats)
                engine = ScoringEngine(store, now=now)
                engine.recompute(write=False)  # the oracle of the agreement check
                links = report.links
                with tempfile.TemporaryDirectory(dir=work) as scratch:
                    outputs: list[Path] = []

                    def spark_run(
                        outputs: list[Path] = outputs, export: Path = export, now: int = now
                    ) -> Any:
                        out = Path(scratch) / f"scores-{len(outputs)}"
                        outputs.append(out)
                        return score_export(spark, export, out, now=now)

                    mark = rest.last_job()
                    spark_s, spark_report = median_time(spark_run, args.spark_repeats)
                    shuffled = rest.shuffled("credence diffusion", mark, args.spark_repeats)
                    communities = communities_file(engine, db.parent)
                    mark = rest.last_job()
                    keyed = score_export(
                        spark, export, Path(scratch) / "keyed", now=now, partition_by=communities
                    )
                    keyed_rows = rest.shuffled("credence diffusion: iteration", mark)
                    keyed_s = sum(keyed.seconds.values())
                    diffs = agreement(outputs[-1], engine) if size in check else None
                    keyed_diffs = agreement(Path(scratch) / "keyed", engine) if size in check else None
                iterations = spark_report.iterations
                run_rows = {
                    k: v for k, v in shuffled.items() if k.startswith("credence diffusion: iteration")
                }
                write_b, read_b, counted = per_iteration(run_rows, "credence diffusion: iteration")
                setup = shuffled.get("credence diffusion: setup", {"write": 0, "read": 0})
                mark = rest.last_job()
                pagerank_s, total = median_time(
                    functools.partial(spark_pagerank, spark, export, damping, iterations), 1
                )
                pr = per_iteration(rest.shuffled("pagerank: iteration", mark), "pagerank: iteration")
                with tempfile.TemporaryDirectory(dir=work) as scratch:
                    gx = graphx_measure(
                        spark, rest, export, Path(scratch), damping, iterations, args.spark_repeats
                    )
                keyed_write, keyed_read, _ = per_iteration(keyed_rows, "credence diffusion: iteration")
            diffusion_s = spark_report.seconds["diffusion"]
            print(f"  {links:,} links, {spark_report.participants:,} participants; diffusion: {iterations} "
                  f"iterations, residual {spark_report.residual:.2g} (bound {policy.diffusion.tol * (1 - damping):.2g})")  # fmt: skip
            print(f"  {'method':<34}{'seconds':>10}{'x engine':>10}")
            print(f"  {'engine recompute (all stages)':<34}{local_s:>10.2f}{1.0:>10.2f}")
            for stage, seconds in report.seconds.items():
                print(f"  {'  ' + stage:<34}{seconds:>10.2f}")
            print(f"  {'spark score (all stages)':<34}{spark_s:>10.2f}{spark_s / local_s:>10.2f}")
            for stage, seconds in spark_report.seconds.items():
                print(f"  {'  ' + stage:<34}{seconds:>10.2f}")
            print(f"  {'spark pagerank, same iterations':<34}{pagerank_s:>10.2f}{pagerank_s / local_s:>10.2f}"
                  f"   (sum of ranks {total:.6f})")  # fmt: skip
            print(f"  {'graphx pagerank, same iterations':<34}{gx.seconds:>10.2f}{gx.seconds / local_s:>10.2f}"
                  f"   (unweighted, reset {1 - damping:g}; {gx.vertices:,} vertices, {gx.edges:,} edges, "
                  f"sum of ranks {gx.rank_sum:,.1f})")  # fmt: skip
            print(
                f"  diffusion / pagerank (Spark, {iterations} iterations each): {diffusion_s / pagerank_s:.2f}; "
                f"diffusion / graphx pagerank: {diffusion_s / gx.seconds:.2f}"
            )
            print(f"  shuffled per diffusion iteration (median of iterations 2..{counted}): write {mb(write_b)}, "
                  f"read {mb(read_b)}; setup (links both ways, by target) write {mb(setup['write'])}")  # fmt: skip
            print(f"  shuffled per pagerank iteration: write {mb(pr[0])}, read {mb(pr[1])}")
            print(f"  shuffled per graphx pagerank iteration (median of iterations 2..{gx.iteration_jobs}, "
                  f"the job of each): write {mb(gx.iteration_write)}, read {mb(gx.iteration_read)}; "
                  f"a whole run / {iterations}: write {mb(gx.run_write)}, read {mb(gx.run_read)}; "
                  f"edge list written in {gx.edge_list_seconds:.1f} s (not timed)")  # fmt: skip
            print(f"  spark score partitioned by Louvain communities ({communities.name}): {keyed_s:.2f} s, "
                  f"diffusion {keyed.seconds['diffusion']:.2f} s, {keyed.iterations} iterations; shuffled per "
                  f"iteration write {mb(keyed_write)}, read {mb(keyed_read)} "
                  f"({keyed_write / max(write_b, 1):.2f}x the hashed partitioning)")  # fmt: skip
            print(f"  per link and iteration: diffusion {write_b / max(links, 1):.1f} B, "
                  f"pagerank {pr[0] / max(links, 1):.1f} B, graphx {gx.iteration_write / max(links, 1):.1f} B")  # fmt: skip
            if diffs is not None:
                worst = max(v for k, v in diffs.items() if k != "score")
                print(f"  agreement with the engine: largest score difference {diffs['score']:.0f} points "
                      f"(limit 1), largest component difference {worst:.2g} (limit 1e-4): "
                      f"{'OK' if diffs['score'] <= 1 and worst <= 1e-4 else 'FAILED'}")  # fmt: skip
            if keyed_diffs is not None:
                worst = max(v for k, v in keyed_diffs.items() if k != "score")
                print(
                    f"  agreement, partitioned by communities: {keyed_diffs['score']:.0f} points, components {worst:.2g}"
                )
            print(flush=True)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100k", help="user counts (default: %(default)s)")
    parser.add_argument(
        "--check", default="100k", help="sizes whose agreement is checked (default: %(default)s)"
    )
    parser.add_argument("--master", default="local[2]", help="Spark master (default: %(default)s)")
    parser.add_argument("--driver-memory", default="4g", help="spark.driver.memory (default: %(default)s)")
    parser.add_argument("--partitions", type=int, default=None, help="spark.sql.shuffle.partitions")
    parser.add_argument("--ui-port", type=int, default=4057, help="port of Spark's REST API on 127.0.0.1")
    parser.add_argument("--repeats", type=int, default=3, help="engine runs, median reported")
    parser.add_argument("--spark-repeats", type=int, default=1, help="Spark runs, median reported")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "credence-bench-spark"),
                        help="cache of the populations and exports (default: %(default)s)")  # fmt: skip
    run(parser.parse_args())


if __name__ == "__main__":
    main()
