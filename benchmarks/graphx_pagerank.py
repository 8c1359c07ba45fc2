"""GraphX's own PageRank (``org.apache.spark.graphx.lib.PageRank``), called from Python through py4j.

PySpark has no Python API for GraphX, but pyspark ships its jar
(``pyspark/jars/spark-graphx_2.13-*.jar``), so the JVM classes are reachable through the
session's py4j gateway. This module is the benchmark's peer (``bench_spark.py``), not part
of Credence: it loads an edge list with ``GraphLoader.edgeListFile`` and runs the static
(fixed number of iterations) ``PageRank.runWithOptions``, passing explicitly what Scala
would fill in (default arguments, the ``ClassTag`` context bounds, ``scala.None``).

What GraphX computes (read from the bytecode of ``PageRank$`` in spark-graphx 4.3.0:
``runWithOptions``, ``runUpdate``, ``normalizeRankSum``) is the *unnormalised*,
*unweighted* PageRank: every vertex starts at 1, and each iteration sets

    PR(v) = r + (1 - r) * sum over edges u -> v of PR(u) / outdeg(u)

with ``r`` the reset probability (Credence's ``1 - damping``) and ``outdeg`` the number of
out-edges (edge attributes are ignored); a vertex that receives nothing gets ``r``. With
``normalized=True`` (what ``PageRank.run`` does) the ranks are finally scaled by
``n / sum(PR)``, so that they sum to the number of vertices ``n`` (the mass sinks lose).

Examples
--------
Without a Spark session, only the parsing of a saved rank file runs:

>>> parse_rank_line("(42,0.575)")
(42, 0.575)
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["GraphXRun", "graphx_pagerank", "jvm_gateway", "parse_rank_line", "read_ranks"]

_RANK_LINE = re.compile(r"^\((-?\d+),([^,()]+)\)$")


@dataclass(frozen=True)
class GraphXRun:
    """One run of :func:`graphx_pagerank`.

    Attributes
    ----------
    vertices : int
        Vertices of the graph (every id that appears in the edge list).
    edges : int
        Directed edges of the graph (lines of the edge list).
    iterations : int
        PageRank iterations run.
    reset_prob : float
        GraphX's reset probability.
    normalized : bool
        Whether the ranks were scaled to sum to ``vertices``.
    seconds : float
        Wall time of loading the graph, the iterations and writing the ranks.
    output : pathlib.Path
        The folder of text parts holding one ``(id,rank)`` line per vertex.
    """

    vertices: int
    edges: int
    iterations: int
    reset_prob: float
    normalized: bool
    seconds: float
    output: Path


def jvm_gateway(spark: Any) -> tuple[Any, Any]:
    """The py4j view of the session's JVM and its Scala ``SparkContext``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session.

    Returns
    -------
    jvm : py4j.java_gateway.JVMView
        Reaches any JVM class by its full name (``jvm.org.apache.spark.graphx...``).
    scala_context : py4j.java_gateway.JavaObject
        The ``org.apache.spark.SparkContext`` that GraphX's Scala API takes.

    Notes
    -----
    PySpark has no public handle on either: these are the ``SparkContext``'s private
    ``_jvm`` and ``_jsc`` (a ``JavaSparkContext``; ``sc()`` is its Scala context), the only
    route from Python to GraphX. This is the one place Credence reaches into them
    (``tests/test_architecture.py`` allows exactly these two reaches, here).
    """
    context = spark.sparkContext
    return context._jvm, context._jsc.sc()


def graphx_pagerank(
    spark: Any,
    edge_list: Path,
    output: Path,
    *,
    iterations: int,
    reset_prob: float,
    normalized: bool = True,
    edge_partitions: int = -1,
) -> GraphXRun:
    """Run GraphX's static PageRank on an edge-list file and write the ranks.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session whose JVM runs GraphX (``local[*]`` or a cluster's).
    edge_list : pathlib.Path
        A file, or a folder of text parts, of ``"src dst"`` lines (64-bit integer vertex
        ids, ``#`` comments), read by ``GraphLoader.edgeListFile``; each line is one
        directed edge.
    output : pathlib.Path
        Folder (must not exist) where the ranks are saved, one ``(id,rank)`` line per vertex
        (``RDD.saveAsTextFile``); read them back with :func:`read_ranks`.
    iterations : int
        The fixed number of iterations (``numIter``), at least 1.
    reset_prob : float
        The random reset probability ``r`` in [0, 1] (``1 - damping``).
    normalized : bool
        Scale the ranks to sum to the number of vertices at the end, as ``PageRank.run``
        does (default); ``False`` leaves the plain iterate.
    edge_partitions : int
        Edge partitions of the graph; ``-1`` (GraphLoader's default) for as many as the
        text file's splits.

    Returns
    -------
    GraphXRun
        Sizes, the wall time and where the ranks are.

    Raises
    ------
    ValueError
        If ``iterations < 1`` or ``reset_prob`` is outside [0, 1].
    FileExistsError
        If ``output`` exists.

    Notes
    -----
    Vertex and edge storage is ``MEMORY_AND_DISK``. The jobs run under the caller's job
    description and group (``SparkContext.setJobDescription``), which is how the benchmark
    finds their shuffle bytes; GraphX runs one job per iteration (it materialises the
    new rank graph's edges), besides the jobs of loading, normalising and saving.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    if not 0.0 <= reset_prob <= 1.0:
        raise ValueError(f"reset_prob must be in [0, 1], got {reset_prob}")
    if output.exists():
        raise FileExistsError(f"{output} exists")
    jvm, scala_context = jvm_gateway(spark)
    storage = jvm.org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK()
    int_tag = jvm.scala.reflect.ClassTag.Int()  # edgeListFile gives Graph[Int, Int]
    clock = time.perf_counter()
    graph = jvm.org.apache.spark.graphx.GraphLoader.edgeListFile(
        scala_context, str(edge_list), False, int(edge_partitions), storage, storage
    )
    ranked = jvm.org.apache.spark.graphx.lib.PageRank.runWithOptions(
        graph,
        int(iterations),
        float(reset_prob),
        jvm.scala.Option.empty(),
        bool(normalized),
        int_tag,
        int_tag,
    )
    ranked.vertices().saveAsTextFile(str(output))
    seconds = time.perf_counter() - clock
    vertices, edges = int(graph.vertices().count()), int(graph.edges().count())
    ranked.unpersist(False)
    graph.unpersist(False)
    return GraphXRun(vertices, edges, iterations, reset_prob, normalized, seconds, output)


def parse_rank_line(line: str) -> tuple[int, float]:
    """One ``(id,rank)`` line of a saved ``VertexRDD[Double]``, as ``(id, rank)``.

    Parameters
    ----------
    line : str
        The line, without its end of line.

    Returns
    -------
    tuple of (int, float)

    Raises
    ------
    ValueError
        If the line is not of that form.
    """
    match = _RANK_LINE.match(line.strip())
    if match is None:
        raise ValueError(f"not an (id,rank) line: {line!r}")
    return int(match.group(1)), float(match.group(2))


def read_ranks(output: Path) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The ranks :func:`graphx_pagerank` saved, as vertex ids and ranks sorted by id.

    Parameters
    ----------
    output : pathlib.Path
        The ``output`` folder of the run.

    Returns
    -------
    ids : numpy.ndarray of int64
    ranks : numpy.ndarray of float64

    Raises
    ------
    ValueError
        If a line does not parse, or an id appears twice.
    """
    ids: list[int] = []
    ranks: list[float] = []
    for part in sorted(output.glob("part-*")):
        with part.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    vertex, rank = parse_rank_line(line)
                    ids.append(vertex)
                    ranks.append(rank)
    id_array = np.asarray(ids, dtype=np.int64)
    order = np.argsort(id_array, kind="stable")
    id_array = id_array[order]
    if id_array.size > 1 and bool((np.diff(id_array) == 0).any()):
        raise ValueError(f"{output}: a vertex id appears twice")
    return id_array, np.asarray(ranks, dtype=np.float64)[order]
