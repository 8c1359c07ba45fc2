"""Where a ``diffuse()`` call spends its time, phase by phase, on one seeded graph.

    .venv/bin/python benchmarks/diffuse_phases.py --size 1m --damping 0.5 --tol 1e-6

Times (medians of ``--repeats``, public functions only): the validation
(``check_adjacency(A, copy=False)``, of which the symmetry pass ``is_canonical_symmetric``),
the copy of the three CSR arrays the cache keeps, the preparation (``prepare_walk``), the
solve, then ``diffuse()`` end to end on a new matrix (cache emptied before each run) and
repeated on the cached one, and the cache lookup alone (the element-wise comparison). The
floor of any pass over the matrix is printed beside: one parallel read of its arrays
(a sum), the memory bandwidth bound.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from diffusion_peers import parse_size, synthetic_graph


@numba.njit(cache=True, parallel=True)
def read_once(indices: np.ndarray, data: np.ndarray) -> float:  # pragma: no cover - compiled
    """Sum of both arrays: one parallel read of every stored entry (the bandwidth floor)."""
    total = 0.0
    for k in numba.prange(indices.size):
        total += data[k] + indices[k]
    return total


def median_seconds(run: Callable[[], Any], repeats: int, setup: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``run()`` over ``repeats`` runs (``setup()`` untimed before each)."""
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Parse the arguments, build the graph and print one line per phase."""
    from credence.scoring import check_adjacency, diffuse
    from credence.scoring.diffusion import WALK_CACHE
    from credence.scoring.solver import prepare_walk, solve
    from credence.scoring.validation import is_canonical_symmetric

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1m", help="users, ~10 links each (default: %(default)s)")
    parser.add_argument(
        "--damping", type=float, default=0.5, help="continue probability (default: %(default)s)"
    )
    parser.add_argument(
        "--tol", type=float, default=1e-6, help="guaranteed max-abs error (default: %(default)s)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per phase (default: %(default)s)")
    args = parser.parse_args()
    adjacency, base = synthetic_graph(parse_size(args.size), seed=0)
    a, eps, repeats = args.damping, args.tol, args.repeats
    diffuse(adjacency[:1000][:, :1000], base[:1000], damping=a, tol=eps)  # load the kernels
    read_once(adjacency.indices, adjacency.data)
    print(
        f"{adjacency.shape[0]:,} users, {adjacency.nnz // 2:,} links, damping {a:g}, tol {eps:g}; "
        f"{numba.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}"
    )
    walk = prepare_walk(adjacency)
    arrays = (adjacency.indptr, adjacency.indices, adjacency.data)
    phases: list[tuple[str, Callable[[], Any], Callable[[], Any] | None]] = [
        ("read every entry once (floor)", lambda: read_once(adjacency.indices, adjacency.data), None),
        ("validate: check_adjacency", lambda: check_adjacency(adjacency, copy=False), None),
        ("  of which is_canonical_symmetric", lambda: is_canonical_symmetric(adjacency), None),
        ("copy of the arrays (cache)", lambda: [x.copy() for x in arrays], None),
        ("prepare: prepare_walk", lambda: prepare_walk(adjacency), None),
        ("solve", lambda: solve(walk, base, damping=a, tol=eps), None),
        ("diffuse, first call", lambda: diffuse(adjacency, base, damping=a, tol=eps), WALK_CACHE.clear),
        ("diffuse, repeated (cached)", lambda: diffuse(adjacency, base, damping=a, tol=eps), None),
        ("  of which the cache lookup", lambda: WALK_CACHE.graph(adjacency), None),
    ]
    for name, run, setup in phases:
        print(f"{name:<36} {median_seconds(run, repeats, setup):8.3f} s")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
