"""The diffusion benchmark: Credence's solver against networkx, igraph (PRPACK), python-graphblas, scipy and NetworKit.

Every method solves the same diffusion ``y = (1 - a) b + a P y`` (``y_u = b_u`` for
isolated ``u``) on the same seeded graph, in one process, and is held to the same
guaranteed accuracy ``max_u |y_u - y*_u| <= tol``:

* **Power iterations** (scipy CSR, python-graphblas) stop at the first step with
  ``max_u |y_k+1 - y_k| <= tol (1 - a)``: that step is the residual of ``y_k``, so
  ``y_k`` is within ``tol`` and the returned ``y_k+1`` within ``a * tol``. They run in
  float32 (matrix and vectors) as the fastest plain variant, and fall back to
  float64 (and say so) if float32 misses ``tol``.
* **PageRank solvers** (networkx, igraph's PRPACK) compute the forward PageRank ``x``
  with personalization ``D b``; on an undirected graph ``y_u = x_u S / d_u`` with
  ``S = sum_v d_v b_v`` (isolated nodes have ``x_u = 0`` and ``y_u = b_u``). networkx
  stops on an L1 change ``< N tol_nx``; ``tol_nx = tol (1 - a) d_min / (a N S)`` makes
  that guarantee ``max |y - y*| <= tol``. PRPACK has a fixed tolerance (1e-10 on the
  L1 residual of ``x``), so it is held to its own accuracy,
  ``1e-10 S / ((1 - a) d_u)`` per user.
* **NetworKit** (parallel C++ PageRank) has no personalization: it is measured on the one
  diffusion it solves, the base ``b_u = d_min / d_u`` whose personalization ``D b`` is
  uniform (:func:`uniform_restart_base`), in a group of rows of its own (marked
  ``[uniform restart]``) with Credence's solve and ``diffuse`` on the same base and a
  reference of their own; its ratios are within that group.
* **Neo4j GDS** PageRank (the bundled Neo4j's GDS 2.13) is in the same group: the links
  are projected from CSV into a GDS graph (projection timed apart), and
  ``gds.pageRank.stats`` is timed (see :func:`_gds_rows` for its tolerance).
* **Credence**: :func:`credence.scoring.solver.prepare_walk` (timed separately),
  :func:`credence.scoring.solver.solve` (its certified stopping rule is the same
  ``tol (1 - a)`` on the residual), and :func:`credence.scoring.diffuse` end to end:
  its first call on a matrix (validation + a copy for its cache + preparation + solve;
  the cache is emptied before each run) and repeated calls on the cached matrix (the
  cache compares the arrays with its copy, then solves).

Each result is compared with a reference -- Credence's solver in float64 at
``tol = 1e-10``, itself checked against PRPACK within PRPACK's accuracy -- and the
benchmark raises :class:`BenchmarkError` if any result is off by more than its
guarantee. Reported per method: median seconds over the repeats, passes over the
matrix, max-abs error, peak resident memory of the process during the method (the
peak is reset before each method by writing ``5`` to ``/proc/self/clear_refs``) and
how much it grew over the resident size before the method, and the speed relative
to the fastest peer.

The graph (:func:`synthetic_graph`) is the degree-corrected stochastic block model
of :func:`credence.seeds.graphs.block_model`, the link generator of the synthetic
populations: power-law community sizes, Pareto degree propensities, a fraction
``homophily`` of the links inside the community, weights ``1 + lognormal(0, 0.75)``
rounded to cents, communities in random order; the base is homophilous (community
mean plus individual noise).

Examples
--------
>>> rows = run_diffusion_benchmark(sizes=["2k"], damping=0.85, tol=1e-6, repeats=1, peers=["scipy", "networkit"],
...                                seed=1, out=lambda line: None, measure_jit=False)
>>> [row.method for row in rows]  # doctest: +NORMALIZE_WHITESPACE
['scipy power (float32)', 'credence prepare', 'credence solve', 'credence prepare+solve',
 'credence diffuse, first call (new matrix)', 'credence diffuse, repeated (cached)',
 'credence diffuse cache lookup', 'credence check_adjacency (validate)',
 'credence Diffusion(A) (validate + prepare)', 'credence Diffusion.solve (reused)',
 'credence Diffusion first call', 'networkit pagerank [uniform restart]', 'credence solve [uniform restart]',
 'credence diffuse, first call [uniform restart]']
>>> all(row.max_error is None or row.max_error <= 1e-6 for row in rows)
True
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from credence.core.checks import check_int
from credence.core.errors import CredenceError, ParameterError
from credence.seeds.graphs import block_model, friend_weights

__all__ = [
    "NETWORKX_MAX_USERS",
    "PEERS",
    "BenchRow",
    "BenchmarkError",
    "format_table",
    "graphblas_peer",
    "measure",
    "measure_compile_time",
    "parse_size",
    "run_diffusion_benchmark",
    "scipy_summary",
    "synthetic_graph",
]

#: Peers the benchmark knows.
PEERS: tuple[str, ...] = ("networkx", "igraph", "graphblas", "scipy", "networkit", "gds")

#: networkx is pure Python: it only runs up to this many users.
NETWORKX_MAX_USERS = 100_000

#: The reference solution's guaranteed accuracy.
REFERENCE_TOL = 1e-10

#: PRPACK's fixed tolerance (L1 residual of the PageRank vector).
PRPACK_TOL = 1e-10

_MIB = 1024.0 * 1024.0


class BenchmarkError(CredenceError):
    """A method's result is further from the reference than its guarantee allows."""


@dataclass(frozen=True)
class BenchRow:
    """One measured method on one graph.

    Attributes
    ----------
    size : str
        The size label asked for (e.g. ``"1m"``).
    users, links : int
        Nodes and undirected links of the graph.
    damping, tol : float
        The diffusion's ``a`` and the guaranteed accuracy asked for.
    method : str
        What was timed.
    seconds : float
        Median wall time over the repeats.
    iterations : int or None
        Passes over the matrix (None when the library does not say).
    max_error : float or None
        ``max_u |y_u - y_ref_u|`` (None for rows that produce no solution).
    peak_mib : float or None
        Peak resident memory of the process while the method ran (MiB).
    extra_mib : float or None
        How far that peak rose above the resident size before the method (MiB).
    speedup : float or None
        Fastest peer's seconds divided by this row's seconds.
    bytes_per_link : float or None
        Resident bytes of Credence's prepared walk per undirected link.
    end_to_end : float or None
        Setup plus solve: for a peer the time to build its graph or matrix from the CSR
        (once) plus ``seconds``; for Credence, preparation plus solve.
    speedup_end_to_end : float or None
        The fastest peer's ``end_to_end`` divided by this row's.
    note : str
        Anything worth knowing (dtype, fallbacks, accuracy bound used).
    """

    size: str
    users: int
    links: int
    damping: float
    tol: float
    method: str
    seconds: float
    iterations: int | None = None
    max_error: float | None = None
    peak_mib: float | None = None
    extra_mib: float | None = None
    speedup: float | None = None
    bytes_per_link: float | None = None
    end_to_end: float | None = None
    speedup_end_to_end: float | None = None
    note: str = ""
    peer: bool = False


# --------------------------------------------------------------------------- sizes


def parse_size(size: Any) -> int:
    """A user count from ``100k``, ``1m``, ``2.5M``, ``"4000"`` or an int.

    Examples
    --------
    >>> parse_size("100k"), parse_size("1m"), parse_size("2.5M"), parse_size(4000)
    (100000, 1000000, 2500000, 4000)
    """
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        value = int(size)
    else:
        text = str(size).strip().lower().replace("_", "")
        factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
        number = text[:-1] if factor > 1 else text
        try:
            value = round(float(number) * factor)
        except ValueError:
            raise ParameterError("sizes", size, "must be a number of users like 100k, 1m or 4000") from None
    if value < 100:
        raise ParameterError("sizes", size, "must be at least 100 users")
    return value


# --------------------------------------------------------------------------- the graph


def synthetic_graph(
    users: int,
    *,
    links_per_user: float = 10.0,
    homophily: float = 0.85,
    degree_exponent: float = 2.5,
    community_size: int = 200,
    seed: int = 0,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """A seeded power-law graph with communities, and a homophilous base in (0, 1).

    Parameters
    ----------
    users : int
        Number of users (nodes).
    links_per_user : float
        Undirected links per user (the average degree is twice that).
    homophily : float
        Fraction of links drawn inside the source's community.
    degree_exponent : float
        Density exponent of the Pareto degree propensities (> 2); the largest
        expected degree is capped at ``20 sqrt(users)`` (and at what the largest
        community has room for).
    community_size : int
        Mean community size; sizes are power-law distributed (exponent 2.5).
    seed : int
        Same seed, same graph and base.

    Returns
    -------
    (scipy.sparse.csr_matrix, ndarray)
        Canonical symmetric float64 adjacency (sorted indices, no self-links, no
        duplicates) with exactly ``round(users * links_per_user)`` links unless the
        draws saturate, and the base vector.

    Examples
    --------
    >>> A, b = synthetic_graph(1_000, seed=3)
    >>> A.shape, A.nnz // 2, A.has_canonical_format, bool((A != A.T).nnz == 0)
    ((1000, 1000), 10000, True, True)
    >>> bool(((b > 0) & (b < 1)).all())
    True
    """
    rng = np.random.default_rng(seed)
    n = int(users)
    k = max(1, n // community_size)
    graph = block_model(
        n,
        avg_degree=2.0 * links_per_user,
        homophily=homophily,
        degree_exponent=degree_exponent,
        communities=k,
        seed=rng,
    )
    adjacency = graph.adjacency(np.round(friend_weights(rng, graph.links), 2))
    # homophilous base: a Beta community mean plus individual noise on the logit scale
    mean = rng.beta(4.0, 2.5, k)
    logit = np.log(mean / (1.0 - mean))[graph.community] + 0.8 * rng.standard_normal(n)
    base = 1.0 / (1.0 + np.exp(-logit))
    return adjacency, base


# --------------------------------------------------------------------------- measuring


def _status(field: str) -> int | None:
    """A ``/proc/self/status`` field in bytes (None off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        pass


@dataclass
class _Timing:
    seconds: float
    result: Any
    peak: int | None
    extra: int | None


def measure(run: Callable[[], Any], repeats: int, setup: Callable[[], Any] | None = None) -> _Timing:
    """Median seconds over ``repeats`` runs, the last result, and the largest memory peak.

    ``setup`` (untimed) runs before each run, e.g. to empty a cache.
    """
    times = []
    peak: int | None = None
    extra: int | None = None
    result = None
    for _ in range(repeats):
        result = None
        if setup is not None:
            setup()
        gc.collect()
        before = _status("VmRSS")
        _reset_peak()
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
        high = _status("VmHWM")
        if high is not None and before is not None:
            peak = max(peak or 0, high)
            extra = max(extra or 0, high - before)
    return _Timing(statistics.median(times), result, peak, extra)


def _mib(value: int | None) -> float | None:
    return None if value is None else value / _MIB


# --------------------------------------------------------------------------- the peers


def _power_iteration(
    multiply: Callable[[Any], Any],
    distance: Callable[[Any, Any], float],
    start: Any,
    target: float,
    limit: int,
) -> tuple[Any, int, bool]:
    """``y <- multiply(y)`` until ``distance(y_new, y) <= target``.

    Returns ``(y_new, passes, reached)``; gives up (``reached`` False) when the step has
    not reached a new low for 30 passes (float32 round-off) or after ``limit`` passes.
    """
    current = start
    best, since = math.inf, 0
    passes = 0
    while passes < limit:
        passes += 1
        following = multiply(current)
        step = distance(following, current)
        if step <= target:
            return following, passes, True
        best, since = (step, 0) if step < best else (best, since + 1)
        current = following
        if since >= 30:
            break
    return current, passes, False


def _scaled_walk(adjacency: sp.csr_matrix, degree: np.ndarray, damping: float, dtype: Any) -> sp.csr_matrix:
    """``a D^-1 A`` (empty rows for isolated nodes) in ``dtype``."""
    counts = np.diff(adjacency.indptr)
    safe = np.where(degree > 0, degree, 1.0)
    data = (adjacency.data * (damping / np.repeat(safe, counts))).astype(dtype)
    return sp.csr_matrix((data, adjacency.indices, adjacency.indptr), shape=adjacency.shape)


def _restart(base: np.ndarray, degree: np.ndarray, damping: float) -> np.ndarray:
    return np.where(degree > 0, (1.0 - damping) * base, base)


def _scipy_peer(
    adjacency: sp.csr_matrix, base: np.ndarray, degree: np.ndarray, damping: float, tol: float, dtype: Any
) -> Callable[[], tuple[np.ndarray, int, bool]]:
    walk = _scaled_walk(adjacency, degree, damping, dtype)
    restart = _restart(base, degree, damping).astype(dtype)
    start = base.astype(dtype)

    def multiply(y: np.ndarray) -> np.ndarray:
        following = walk @ y
        following += restart
        return following

    def distance(new: np.ndarray, old: np.ndarray) -> float:
        return float(np.abs(new - old).max())

    def run() -> tuple[np.ndarray, int, bool]:
        y, passes, reached = _power_iteration(multiply, distance, start, tol * (1.0 - damping), 100_000)
        return y.astype(np.float64), passes, reached

    return run


def graphblas_peer(
    adjacency: sp.csr_matrix, base: np.ndarray, degree: np.ndarray, damping: float, tol: float, dtype: Any
) -> Callable[[], tuple[np.ndarray, int, bool]]:
    """The graphblas power iteration on ``numba``'s thread count: a run returning ``(y, passes, reached)``."""
    import graphblas as gb

    gb.ss.config["nthreads"] = numba.get_num_threads()
    walk = gb.io.from_scipy_sparse(_scaled_walk(adjacency, degree, damping, dtype))
    restart = gb.Vector.from_dense(_restart(base, degree, damping).astype(dtype))
    start = gb.Vector.from_dense(base.astype(dtype))

    def multiply(y: Any) -> Any:
        following = walk.mxv(y).new()
        following(accum=gb.binary.plus) << restart
        return following

    def distance(new: Any, old: Any) -> float:
        gap = new.ewise_mult(old, gb.binary.minus).new().apply(gb.unary.abs).new()
        return float(gap.reduce(gb.monoid.max).new().value)

    def run() -> tuple[np.ndarray, int, bool]:
        y, passes, reached = _power_iteration(multiply, distance, start, tol * (1.0 - damping), 100_000)
        return np.asarray(y.to_dense(fill_value=0), dtype=np.float64), passes, reached

    return run


def _from_pagerank(x: np.ndarray, base: np.ndarray, degree: np.ndarray) -> np.ndarray:
    """``y = x S / d`` on linked users, ``b`` on isolated ones."""
    linked = degree > 0
    mass = float(degree @ base)
    return np.where(linked, np.asarray(x, dtype=np.float64) * mass / np.where(linked, degree, 1.0), base)


def _networkx_peer(
    adjacency: sp.csr_matrix, base: np.ndarray, degree: np.ndarray, damping: float, tol: float
) -> tuple[Callable[[], tuple[np.ndarray, None]], float, str]:
    import networkx as nx

    start = time.perf_counter()
    graph = nx.from_scipy_sparse_array(adjacency)
    built = time.perf_counter() - start
    n = adjacency.shape[0]
    linked = degree > 0
    mass = float(degree @ base)
    nx_tol = tol * (1.0 - damping) * float(degree[linked].min()) / (damping * n * mass)
    personalization = dict(enumerate((degree * base).tolist()))

    def run() -> tuple[np.ndarray, None]:
        ranks = nx.pagerank(
            graph,
            alpha=damping,
            personalization=personalization,
            tol=nx_tol,
            max_iter=1_000_000,
            weight="weight",
        )
        x = np.fromiter((ranks[v] for v in range(n)), dtype=np.float64, count=n)
        return _from_pagerank(x, base, degree), None

    return run, built, f"tol_nx {nx_tol:.1e}; graph built in {built:.1f} s (not timed)"


def _igraph_peer(
    adjacency: sp.csr_matrix, base: np.ndarray, degree: np.ndarray, damping: float
) -> tuple[Callable[[], tuple[np.ndarray, None]], float]:
    import igraph

    start = time.perf_counter()
    upper = sp.triu(adjacency, k=1).tocoo()
    graph = igraph.Graph(n=adjacency.shape[0], edges=np.column_stack([upper.row, upper.col]), directed=False)
    graph.es["weight"] = upper.data
    built = time.perf_counter() - start
    reset = (degree * base).tolist()

    def run() -> tuple[np.ndarray, None]:
        x = graph.personalized_pagerank(
            damping=damping, reset=reset, weights="weight", directed=False, implementation="prpack"
        )
        return _from_pagerank(np.asarray(x), base, degree), None

    return run, built


def uniform_restart_base(degree: np.ndarray) -> np.ndarray:
    """The base whose diffusion is plain PageRank (uniform restart): ``b_u = d_min / d_u`` (0 if isolated).

    With it ``D b`` is the same for every linked user, so the personalization is
    uniform: ``y_u = x_u N d_min / d_u`` for the PageRank ``x`` with restart ``(1 - a) / N``
    that NetworKit computes (isolated users are sinks there and ``y_u = b_u = 0`` here).

    >>> uniform_restart_base(np.array([2.0, 4.0, 0.0])).tolist()
    [1.0, 0.5, 0.0]
    """
    linked = degree > 0
    low = float(degree[linked].min()) if linked.any() else 1.0
    return np.where(linked, low / np.where(linked, degree, 1.0), 0.0)


def _networkit_peer(
    adjacency: sp.csr_matrix, degree: np.ndarray, damping: float, tol: float
) -> tuple[Callable[[], tuple[np.ndarray, int]], float, str]:
    """NetworKit's parallel PageRank (uniform restart) as the diffusion of :func:`uniform_restart_base`.

    It stops when the L1 change of ``x`` is below ``tol_nk``; the L1 error is then at most
    ``a / (1 - a)`` times that (``a P^T`` contracts L1 by ``a`` on the linked users), and
    ``|dy_u| = |dx_u| N d_min / d_u``, so ``tol_nk = tol (1 - a) / (a N)`` guarantees
    ``max |y - y*| <= tol``.
    """
    import networkit as nk

    start = time.perf_counter()
    upper = sp.triu(adjacency, k=1).tocoo()
    n = adjacency.shape[0]
    graph = nk.GraphFromCoo((upper.data, (upper.row, upper.col)), n=n, weighted=True, directed=False)
    built = time.perf_counter() - start
    nk_tol = tol * (1.0 - damping) / (damping * n)
    linked = degree > 0
    low = float(degree[linked].min())

    def run() -> tuple[np.ndarray, int]:
        ranks = nk.centrality.PageRank(graph, damp=damping, tol=nk_tol)
        ranks.norm = nk.centrality.Norm.L1_NORM
        ranks.maxIterations = 1_000_000
        ranks.run()
        x = np.asarray(ranks.scores(), dtype=np.float64)
        y = np.where(linked, x * n * low / np.where(linked, degree, 1.0), 0.0)
        return y, int(ranks.numberOfIterations())

    return (
        run,
        built,
        f"tol_nk {nk_tol:.1e} (L1); {nk.getMaxNumberOfThreads()} threads; graph built in {built:.1f} s",
    )


#: The heap of the Neo4j server the GDS peer starts.
GDS_HEAP = "4g"


def _gds_rows(
    adjacency: sp.csr_matrix,
    degree: np.ndarray,
    damping: float,
    tol: float,
    repeats: int,
    row: Callable[..., BenchRow],
    checked: Callable[[str, np.ndarray], float],
    out: Callable[[str], Any],
) -> list[BenchRow]:
    """Neo4j GDS PageRank on a graph projected from CSV in the bundled Neo4j, as the uniform-restart diffusion.

    The links go to ``HOME/import/links.csv`` and are projected with a Cypher
    aggregation (``LOAD CSV`` ... ``gds.graph.project``, undirected, weighted): the
    projection is timed on its own, as is the write of the CSV. GDS's PageRank has no
    personalization and restarts with ``1 - a`` per node (not divided by N), so
    ``y_u = x_u d_min / d_u``. Its tolerance bounds the largest change of a score between
    two iterations, which does not certify the error in max norm; it starts at
    ``tol (1 - a) / a`` and is divided by 10 until the result is within ``tol`` of the
    reference (the note says which). Timed: ``gds.pageRank.stats`` (the computation, no
    rows sent back); the scores are streamed once for the check.
    """
    import neo4j
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from credence.graph.neo4j_server import running_neo4j

    upper = sp.triu(adjacency, k=1).tocoo()
    linked = degree > 0
    low = float(degree[linked].min())
    rows: list[BenchRow] = []
    with running_neo4j(heap=GDS_HEAP) as proc, neo4j.GraphDatabase.driver(proc.bolt_uri, auth=None) as driver:
        folder = proc.home / "import"
        folder.mkdir(exist_ok=True)
        start = time.perf_counter()
        table = pa.table({"u": upper.row.astype(np.int64), "v": upper.col.astype(np.int64), "w": upper.data})
        pacsv.write_csv(table, folder / "links.csv", write_options=pacsv.WriteOptions(include_header=False))
        written = time.perf_counter() - start
        start = time.perf_counter()
        projected = driver.execute_query(
            "LOAD CSV FROM 'file:///links.csv' AS r "
            "WITH toInteger(r[0]) AS u, toInteger(r[1]) AS v, toFloat(r[2]) AS w "
            "WITH gds.graph.project('links', u, v, {relationshipProperties: {weight: w}}, "
            "{undirectedRelationshipTypes: ['*']}) AS g RETURN g.nodeCount AS nodes, g.relationshipCount AS rels"
        ).records[0]
        projection = time.perf_counter() - start
        out(f"[gds] CSV written in {written:.1f} s; projected {projected['nodes']:,} nodes, "
            f"{projected['rels']:,} relationships in {projection:.1f} s")  # fmt: skip
        config = {"dampingFactor": damping, "maxIterations": 100_000, "relationshipWeightProperty": "weight"}
        gds_tol = tol * (1.0 - damping) / damping
        for _ in range(6):
            found = driver.execute_query(
                "CALL gds.pageRank.stream('links', $config) YIELD nodeId, score RETURN nodeId, score",
                config={**config, "tolerance": gds_tol},
            ).records
            x = np.zeros(adjacency.shape[0])
            x[np.fromiter((r["nodeId"] for r in found), dtype=np.int64, count=len(found))] = np.fromiter(
                (r["score"] for r in found), dtype=np.float64, count=len(found)
            )
            y = np.where(linked, x * low / np.where(linked, degree, 1.0), 0.0)
            try:
                gap = checked("gds pagerank", y)
                break
            except BenchmarkError:
                gds_tol /= 10.0
        else:
            raise BenchmarkError(
                f"gds pagerank: not within {tol:g} of the reference even at tolerance {gds_tol:g}"
            )

        def stats() -> Any:
            return driver.execute_query(
                "CALL gds.pageRank.stats('links', $config) YIELD ranIterations, computeMillis "
                "RETURN ranIterations, computeMillis",
                config={**config, "tolerance": gds_tol},
            ).records[0]

        timing = measure(stats, repeats)
        result = timing.result
        rows.append(row("neo4j gds pagerank [uniform restart]", timing, iterations=int(result["ranIterations"]),
                        max_error=gap, peer=True, end_to_end=projection + timing.seconds,
                        note=f"tolerance {gds_tol:.1e}; compute {int(result['computeMillis'])} ms; projection "
                             f"{projection:.1f} s (+ CSV {written:.1f} s), heap {GDS_HEAP}"))  # fmt: skip
        out(f"[gds] pagerank {timing.seconds:.3f} s, {int(result['ranIterations'])} iterations")
    return rows


def _bench_uniform_restart(
    label: str,
    adjacency: sp.csr_matrix,
    degree: np.ndarray,
    a: float,
    eps: float,
    repeats: int,
    chosen: Sequence[str],
    row: Callable[..., BenchRow],
    out: Callable[[str], Any],
) -> list[BenchRow]:
    """NetworKit and Neo4j GDS against Credence on the one diffusion they can solve: plain PageRank."""
    from credence.scoring import diffuse
    from credence.scoring.diffusion import WALK_CACHE
    from credence.scoring.solver import prepare_walk, solve

    base = uniform_restart_base(degree)
    reference_walk = prepare_walk(adjacency, dtype=np.float64)
    reference = solve(reference_walk, base, damping=a, tol=REFERENCE_TOL).y
    del reference_walk
    allowed = eps + REFERENCE_TOL

    def checked(method: str, y: np.ndarray) -> float:
        gap = float(np.abs(y - reference).max())
        if not gap <= allowed:
            raise BenchmarkError(f"[{label}] {method}: max error {gap:.3g} > allowed {allowed:.3g}")
        return gap

    rows: list[BenchRow] = []
    if "networkit" in chosen:
        run, built, note = _networkit_peer(adjacency, degree, a, eps)
        timing = measure(run, repeats)
        y, passes = timing.result
        rows.append(row("networkit pagerank [uniform restart]", timing, iterations=passes,
                        max_error=checked("networkit", y), note=note, peer=True,
                        end_to_end=built + timing.seconds))  # fmt: skip
        out(f"[{label}] networkit pagerank {timing.seconds:.3f} s, {passes} passes (uniform restart)")
        del timing, y
    if "gds" in chosen:
        rows += _gds_rows(adjacency, degree, a, eps, repeats, row, checked, out)
    walk = prepare_walk(adjacency)
    solved = measure(partial(solve, walk, base, damping=a, tol=eps), repeats)
    rows.append(row("credence solve [uniform restart]", solved, iterations=solved.result.iterations,
                    max_error=checked("credence solve", solved.result.y),
                    note=f"certified error bound {solved.result.error_bound:.2g}"))  # fmt: skip
    del walk, solved
    whole = measure(partial(diffuse, adjacency, base, damping=a, tol=eps), repeats, setup=WALK_CACHE.clear)
    rows.append(row("credence diffuse, first call [uniform restart]", whole,
                    max_error=checked("credence diffuse", whole.result), end_to_end=whole.seconds,
                    note="check_adjacency + prepare + solve"))  # fmt: skip
    out(f"[{label}] credence diffuse {whole.seconds:.3f} s (uniform restart)")
    fastest = min(r.seconds for r in rows if r.peer)
    fastest_whole = min(r.end_to_end for r in rows if r.peer and r.end_to_end is not None)
    return [replace(r, speedup=fastest / r.seconds,
                    speedup_end_to_end=None if r.end_to_end is None else fastest_whole / r.end_to_end)
            for r in rows]  # fmt: skip


def _prpack_bound(base: np.ndarray, degree: np.ndarray, damping: float) -> np.ndarray:
    """PRPACK's own accuracy in terms of ``y``: ``1e-10 S / ((1 - a) d_u)`` (0 for isolated users)."""
    linked = degree > 0
    mass = float(degree @ base)
    return np.where(linked, PRPACK_TOL * mass / ((1.0 - damping) * np.where(linked, degree, 1.0)), 0.0)


# --------------------------------------------------------------------------- the run


def measure_compile_time() -> float | None:
    """Seconds the first calls of the solver's kernels take with an empty numba cache.

    Runs in a fresh interpreter with ``NUMBA_CACHE_DIR`` pointed at an empty folder,
    so the kernels are really compiled (``cache=True`` keeps this out of later runs).
    """
    code = (
        "import time, numpy as np, scipy.sparse as sp\n"
        "from credence.scoring.solver import prepare_walk, solve, walk_product\n"
        "A = sp.csr_matrix(np.array([[0, 1.5, 0], [1.5, 0, 2.5], [0, 2.5, 0]]))\n"
        "t = time.perf_counter()\n"
        "for dtype in (np.float32, np.float64):\n"
        "    for method in ('sor', 'chebyshev'):\n"
        "        w = prepare_walk(A, dtype=dtype, method=method)\n"
        "        solve(w, [1.0, 0.0, 0.5], damping=0.85, tol=1e-11)\n"
        "        walk_product(w, [1.0, 0.0, 0.5])\n"
        "print(time.perf_counter() - t)\n"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _warm_up() -> float:
    """First calls of the kernels in this process (numba cache load), in seconds."""
    from credence.scoring.solver import prepare_walk, solve, walk_product

    adjacency = sp.csr_matrix(np.array([[0, 1.5, 0], [1.5, 0, 2.5], [0, 2.5, 0]]))
    start = time.perf_counter()
    for dtype in (np.float32, np.float64):
        for method in ("sor", "chebyshev"):
            walk = prepare_walk(adjacency, dtype=dtype, method=method)
            solve(walk, [1.0, 0.0, 0.5], damping=0.85, tol=1e-11)
            walk_product(walk, [1.0, 0.0, 0.5])
    return time.perf_counter() - start


def _bench_size(
    label: str,
    n: int,
    a: float,
    eps: float,
    repeats: int,
    chosen: Sequence[str],
    seed: int,
    out: Callable[[str], Any],
) -> list[BenchRow]:
    """All methods on one seeded graph of ``n`` users (see :func:`run_diffusion_benchmark`)."""
    from credence.scoring import Diffusion, check_adjacency, diffuse
    from credence.scoring.diffusion import WALK_CACHE
    from credence.scoring.solver import prepare_walk, solve

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    start = time.perf_counter()
    adjacency, base = synthetic_graph(n, seed=seed)
    generated = time.perf_counter() - start
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    links = adjacency.nnz // 2
    out(
        f"[{label}] {n:,} users, {links:,} links, {int((degree == 0).sum()):,} isolated; "
        f"generated in {generated:.1f} s; load average {load:.2f}"
    )

    def row(method: str, timing: _Timing, **extra: Any) -> BenchRow:
        return BenchRow(
            size=label, users=n, links=links, damping=a, tol=eps, method=method, seconds=timing.seconds,
            peak_mib=_mib(timing.peak), extra_mib=_mib(timing.extra), **extra,
        )  # fmt: skip

    # the reference: float64, tol 1e-10
    reference_walk = prepare_walk(adjacency, dtype=np.float64)
    reference = solve(reference_walk, base, damping=a, tol=REFERENCE_TOL).y
    del reference_walk
    out(f"[{label}] reference: Credence float64 at tol {REFERENCE_TOL:g}")

    def error(y: np.ndarray) -> float:
        return float(np.abs(y - reference).max())

    def check(method: str, y: np.ndarray, allowed: float) -> float:
        gap = error(y)
        if not gap <= allowed:
            raise BenchmarkError(f"[{label}] {method}: max error {gap:.3g} > allowed {allowed:.3g}")
        return gap

    size_rows: list[BenchRow] = []
    guaranteed = eps + REFERENCE_TOL
    if "networkx" in chosen:
        if n > NETWORKX_MAX_USERS:
            out(f"[{label}] networkx skipped (more than {NETWORKX_MAX_USERS:,} users)")
        else:
            run, built_nx, note = _networkx_peer(adjacency, base, degree, a, eps)
            timing = measure(run, repeats)
            gap = check("networkx", timing.result[0], guaranteed)
            size_rows.append(
                row(
                    "networkx pagerank",
                    timing,
                    max_error=gap,
                    note=note,
                    peer=True,
                    end_to_end=built_nx + timing.seconds,
                )
            )
            out(f"[{label}] networkx {timing.seconds:.3f} s")
    if "igraph" in chosen:
        run, built = _igraph_peer(adjacency, base, degree, a)
        timing = measure(run, repeats)
        y = timing.result[0]
        bound = _prpack_bound(base, degree, a)
        gap = error(y)
        worst = float((np.abs(y - reference) / (bound + REFERENCE_TOL)).max())
        if worst > 1.0:
            raise BenchmarkError(
                f"[{label}] reference and PRPACK disagree beyond PRPACK's accuracy ({worst:.3g} x its bound)"
            )
        note = f"own accuracy; within {worst:.2g} x its bound; graph built in {built:.1f} s"
        size_rows.append(
            row(
                "igraph PRPACK",
                timing,
                max_error=gap,
                note=note,
                peer=True,
                end_to_end=built + timing.seconds,
            )
        )
        out(f"[{label}] igraph PRPACK {timing.seconds:.3f} s; reference agrees with it")
    for peer, title, make in (
        ("graphblas", "graphblas power", graphblas_peer),
        ("scipy", "scipy power", _scipy_peer),
    ):
        if peer not in chosen:
            continue
        for dtype in (np.float32, np.float64):
            clock = time.perf_counter()
            power = make(adjacency, base, degree, a, eps, dtype)
            setup = time.perf_counter() - clock
            timing = measure(power, 1)
            y, passes, reached = timing.result
            if reached and error(y) <= guaranteed and repeats > 1:  # a valid peer: time it properly
                timing = measure(power, repeats)
                y, passes, reached = timing.result
            threads = f", {numba.get_num_threads()} threads" if peer == "graphblas" else ""
            name = f"{title} ({np.dtype(dtype).name}{threads})"
            gap = error(y)
            if reached and gap <= guaranteed:
                size_rows.append(
                    row(
                        name,
                        timing,
                        iterations=passes,
                        max_error=gap,
                        peer=True,
                        end_to_end=setup + timing.seconds,
                        note=f"setup {setup:.3f} s",
                    )
                )
                out(f"[{label}] {name} {timing.seconds:.3f} s, {passes} passes")
                break
            if dtype == np.float64:
                check(name, y, guaranteed if reached else -1.0)  # raises
            # float32 cannot deliver tol here: shown for information, not counted as a peer
            why = f"stalled at the step {passes} (round-off)" if not reached else f"off by {gap:.1e} > tol"
            size_rows.append(
                row(f"{name} [misses tol]", timing, iterations=passes, max_error=gap,
                    note=f"float32 {why}; run once, not counted; rerun in float64")
            )  # fmt: skip
            out(f"[{label}] {name}: {why}; rerunning in float64")
        del timing, y

    prepared = measure(partial(prepare_walk, adjacency), repeats)
    walk = prepared.result
    per_link = walk.nbytes / max(links, 1)
    size_rows.append(
        row(
            "credence prepare", prepared, bytes_per_link=per_link,
            note=f"{walk.method}, {walk.dtype.name}, {walk.colours.size - 1 if walk.colours is not None else 0} colours",
        )
    )  # fmt: skip
    solved = measure(partial(solve, walk, base, damping=a, tol=eps), repeats)
    solution = solved.result
    gap = check("credence solve", solution.y, guaranteed)
    size_rows.append(
        row(
            "credence solve", solved, iterations=solution.iterations, max_error=gap, bytes_per_link=per_link,
            note=f"certified error bound {solution.error_bound:.2g}",
        )
    )  # fmt: skip
    both = _Timing(prepared.seconds + solved.seconds, None, None, None)
    size_rows.append(
        row(
            "credence prepare+solve",
            both,
            iterations=solution.iterations,
            max_error=gap,
            end_to_end=both.seconds,
        )
    )
    out(f"[{label}] credence prepare {prepared.seconds:.3f} s, solve {solved.seconds:.3f} s")
    del walk, prepared, solved, solution
    # a first call on a matrix the cache has not seen (emptied before each run, untimed)
    cold = measure(partial(diffuse, adjacency, base, damping=a, tol=eps), repeats, setup=WALK_CACHE.clear)
    gap = check("credence diffuse, first call", cold.result, guaranteed)
    size_rows.append(
        row(
            "credence diffuse, first call (new matrix)",
            cold,
            max_error=gap,
            note="check_adjacency + copy for the cache + prepare + solve",
            end_to_end=cold.seconds,
        )
    )
    # the matrix is now cached: later calls compare its arrays with the copy and solve
    warm = measure(partial(diffuse, adjacency, base, damping=a, tol=eps), repeats)
    gap = check("credence diffuse, repeated", warm.result, guaranteed)
    size_rows.append(
        row(
            "credence diffuse, repeated (cached)",
            warm,
            max_error=gap,
            note="cache lookup (every element compared) + solve",
            end_to_end=warm.seconds,
        )
    )
    looked_up = measure(partial(WALK_CACHE.graph, adjacency), repeats)
    size_rows.append(row("credence diffuse cache lookup", looked_up, note="as a repeated diffuse makes it"))
    out(
        f"[{label}] credence diffuse first call {cold.seconds:.3f} s, repeated {warm.seconds:.3f} s "
        f"(cache lookup {looked_up.seconds:.3f} s)"
    )
    del cold, warm, looked_up
    WALK_CACHE.clear()
    validated = measure(partial(check_adjacency, adjacency, copy=False), repeats)
    size_rows.append(row("credence check_adjacency (validate)", validated, note="as diffuse calls it"))
    del validated
    constructed = measure(partial(Diffusion, adjacency, damping=a), repeats)
    diffusion = constructed.result
    size_rows.append(row("credence Diffusion(A) (validate + prepare)", constructed, note="once per graph"))
    reused = measure(partial(diffusion.solution, base, tol=eps), repeats)
    gap = check("credence Diffusion.solve", reused.result.y, guaranteed)
    size_rows.append(
        row(
            "credence Diffusion.solve (reused)", reused, iterations=reused.result.iterations, max_error=gap,
            note="per base on a prepared Diffusion",
        )
    )  # fmt: skip
    first = _Timing(constructed.seconds + reused.seconds, None, None, None)
    size_rows.append(
        row(
            "credence Diffusion first call", first, max_error=gap, end_to_end=first.seconds,
            note="Diffusion(A) + one solve",
        )
    )  # fmt: skip
    out(
        f"[{label}] credence Diffusion(A) {constructed.seconds:.3f} s, Diffusion.solve {reused.seconds:.3f} s"
    )
    del constructed, reused, diffusion

    fastest = min((r.seconds for r in size_rows if r.peer), default=None)
    if fastest is not None:
        size_rows = [replace(r, speedup=fastest / r.seconds) for r in size_rows]
    fastest_whole = min(
        (r.end_to_end for r in size_rows if r.peer and r.end_to_end is not None), default=None
    )
    if fastest_whole is not None:
        size_rows = [r if r.end_to_end is None else replace(r, speedup_end_to_end=fastest_whole / r.end_to_end)
                     for r in size_rows]  # fmt: skip
    if {"networkit", "gds"} & set(chosen):
        # A group of its own: these peers solve only the uniform-restart diffusion, so the ratios are within it.
        size_rows += _bench_uniform_restart(label, adjacency, degree, a, eps, repeats, chosen, row, out)
    return size_rows


def run_diffusion_benchmark(
    *,
    sizes: Iterable[Any] = ("100k", "1m", "4m"),
    damping: float = 0.85,
    tol: float = 1e-6,
    repeats: int = 3,
    peers: Sequence[str] = PEERS,
    seed: int = 0,
    out: Callable[[str], Any] = print,
    measure_jit: bool = True,
) -> list[BenchRow]:
    """Time the diffusion on seeded graphs of the given sizes; see the module notes.

    Parameters
    ----------
    sizes : iterable of str or int
        User counts (``"100k"``, ``"1m"``, ``4000``); ~10 links per user.
    damping : float
        The diffusion's ``a`` in (0, 1).
    tol : float
        The guaranteed max-abs error every method is held to.
    repeats : int
        Runs per method; the median is reported.
    peers : sequence of str
        Any of :data:`PEERS`. networkx only runs up to :data:`NETWORKX_MAX_USERS` users.
    seed : int
        Seed of the graphs and bases.
    out : callable
        Receives progress lines and, per size, the finished table.
    measure_jit : bool
        Also time the solver kernels' first calls with an empty numba cache (a fresh
        interpreter compiles them; see :func:`measure_compile_time`).

    Returns
    -------
    list of BenchRow

    Raises
    ------
    ParameterError
        Bad sizes, damping, tol, repeats or peers.
    BenchmarkError
        A method's result is off by more than its guarantee.
    """
    from credence.scoring.diffusion import check_damping, check_tol

    a = check_damping(damping)
    eps = check_tol(tol)
    repeats = check_int(repeats, "repeats", 1)
    chosen = [peer.strip().lower() for peer in peers]
    for peer in chosen:
        if peer not in PEERS:
            raise ParameterError("peers", peer, f"must be among {', '.join(PEERS)}")
    users = [(str(size), parse_size(size)) for size in sizes]

    cache_load = _warm_up()
    out(
        f"numba {numba.__version__}: {numba.get_num_threads()} threads ({numba.threading_layer()}); "
        f"kernel first calls with a warm cache {cache_load:.2f} s"
    )
    if measure_jit:
        compiled = measure_compile_time()
        shown = "failed" if compiled is None else f"{compiled:.1f} s"
        out(f"JIT compile of the solver kernels (first calls, empty numba cache, fresh interpreter): {shown}")
    rows: list[BenchRow] = []
    for label, n in users:
        size_rows = _bench_size(label, n, a, eps, repeats, chosen, seed, out)
        rows.extend(size_rows)
        out(format_table(size_rows))
        out(scipy_summary(size_rows))
        gc.collect()
    return rows


# --------------------------------------------------------------------------- the table


def scipy_summary(rows: Sequence[BenchRow]) -> str:
    """Credence's public paths against the plain scipy power iteration, as ratios, per graph.

    The scipy peer is the one the table counts (float32 when it meets ``tol``, else
    float64); its time is taken with its setup (``a D^-1 A`` built from the CSR) and
    without. When float32 missed ``tol``, the ratios against that (invalid) float32 run
    are shown too. Per phase: validation, preparation, solve and the cache lookup of a repeated call.

    Examples
    --------
    >>> rows = [BenchRow("1k", 1000, 10000, 0.5, 1e-6, "scipy power (float32)", 0.6, end_to_end=0.62, peer=True),
    ...         BenchRow("1k", 1000, 10000, 0.5, 1e-6, "credence diffuse, first call (new matrix)", 0.3),
    ...         BenchRow("1k", 1000, 10000, 0.5, 1e-6, "credence diffuse, repeated (cached)", 0.2)]
    >>> print(scipy_summary(rows))  # doctest: +NORMALIZE_WHITESPACE
    1k, damping 0.5, tol 1e-06: against scipy power (float32), setup+solve 0.620 s (iteration alone 0.600 s)
      credence diffuse, first call (new matrix)         0.300 s   2.07x setup+solve   2.00x iteration
      credence diffuse, repeated (cached)               0.200 s   3.10x setup+solve   3.00x iteration
    """
    lines: list[str] = []
    groups: dict[tuple[str, float, float], list[BenchRow]] = {}
    for item in rows:
        groups.setdefault((item.size, item.damping, item.tol), []).append(item)
    shown = (
        "credence diffuse, first call (new matrix)",
        "credence diffuse, repeated (cached)",
        "credence Diffusion first call",
        "credence Diffusion.solve (reused)",
    )
    phases = (
        ("validate", "credence check_adjacency (validate)"),
        ("prepare", "credence prepare"),
        ("solve", "credence solve"),
        ("cache lookup", "credence diffuse cache lookup"),
    )
    for (size, damping, tol), items in groups.items():
        by_name = {item.method: item for item in items}
        scipy_rows = [item for item in items if item.method.startswith("scipy power")]
        counted = [item for item in scipy_rows if item.peer]
        if not counted:
            continue
        if lines:
            lines.append("")
        for peer in counted + [item for item in scipy_rows if not item.peer]:
            whole = peer.end_to_end if peer.end_to_end is not None else peer.seconds
            setup = "" if peer.end_to_end is not None else ", setup not timed"
            lines.append(
                f"{size}, damping {damping:g}, tol {tol:g}: against {peer.method}, "
                f"setup+solve {whole:.3f} s (iteration alone {peer.seconds:.3f} s{setup})"
            )
            for name in shown:
                if name in by_name:
                    mine = by_name[name].seconds
                    lines.append(
                        f"  {name:<47} {mine:.3f} s {whole / mine:>6.2f}x setup+solve"
                        f" {peer.seconds / mine:>6.2f}x iteration"
                    )
        parts = [f"{phase} {by_name[name].seconds:.3f} s" for phase, name in phases if name in by_name]
        if parts:
            lines.append("  credence phases: " + ", ".join(parts))
    return "\n".join(lines)


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def format_table(rows: Sequence[BenchRow]) -> str:
    """The rows as plain-text tables, one per graph and damping.

    Examples
    --------
    >>> print(format_table([BenchRow("1k", 1000, 10000, 0.85, 1e-6, "scipy power (float32)", 0.01,
    ...                              iterations=40, max_error=1e-7, speedup=1.0, peer=True)]))  # doctest: +NORMALIZE_WHITESPACE
    1k: 1,000 users, 10,000 links, damping 0.85, tol 1e-06
    method                          seconds  passes   max error  peak MiB   +MiB  vs fastest peer  setup+solve  vs fastest  B/link  note
    scipy power (float32)             0.010      40     1.0e-07         -      -            1.00x            -           -       -
    """
    lines: list[str] = []
    groups: dict[tuple[str, float, float], list[BenchRow]] = {}
    for item in rows:
        groups.setdefault((item.size, item.damping, item.tol), []).append(item)
    for (size, damping, tol), items in groups.items():
        first = items[0]
        if lines:
            lines.append("")
        lines.append(
            f"{size}: {first.users:,} users, {first.links:,} links, damping {damping:g}, tol {tol:g}"
        )
        lines.append(
            f"{'method':<46} {'seconds':>9} {'passes':>7} {'max error':>11} {'peak MiB':>9} {'+MiB':>6}"
            f" {'vs fastest peer':>16} {'setup+solve':>11} {'vs fastest':>10} {'B/link':>7}  note"
        )
        for item in items:
            speed = "-" if item.speedup is None else f"{item.speedup:.2f}x"
            whole = "-" if item.speedup_end_to_end is None else f"{item.speedup_end_to_end:.2f}x"
            lines.append(
                f"{item.method:<46} {item.seconds:>9.3f} {_cell(item.iterations, 'd'):>7}"
                f" {_cell(item.max_error, '.1e'):>11} {_cell(item.peak_mib, '.0f'):>9}"
                f" {_cell(item.extra_mib, '.0f'):>6} {speed:>16} {_cell(item.end_to_end, '.3f'):>11} {whole:>10}"
                f" {_cell(item.bytes_per_link, '.1f'):>7}  {item.note}".rstrip()
            )
    return "\n".join(lines)
