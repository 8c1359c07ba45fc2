"""The solver alone on one seeded graph: each method's solve, then the same after a graphblas run.

    .venv/bin/python benchmarks/solve_alone.py --size 4m --damping 0.5 --tol 1e-6

For each preparation (multicolour SOR; Chebyshev semi-iteration in the input order and
reordered) it prints the preparation time and the median solve over ``--repeats``, with
passes and seconds per pass. Then it runs graphblas's float32 power iteration (the
diffusion benchmark's peer, same threads) twice and times the SOR solve again: inside
``bench_diffusion.py`` the solve runs after the peers, in a process holding their
matrices, and this shows how much that costs it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
from diffusion_peers import graphblas_peer, parse_size, synthetic_graph

from credence.scoring.solver import prepare_walk, solve

PREPARATIONS: dict[str, dict[str, object]] = {
    "sor": {"method": "sor"},
    "chebyshev, input order": {"method": "chebyshev", "reorder": False},
    "chebyshev, reordered": {"method": "chebyshev"},
}


def main() -> None:
    """Parse the arguments, build the graph, print one line per preparation and the after-peer solve."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="4m", help="users, ~10 links each (default: %(default)s)")
    parser.add_argument(
        "--damping", type=float, default=0.5, help="continue probability (default: %(default)s)"
    )
    parser.add_argument(
        "--tol", type=float, default=1e-6, help="guaranteed max-abs error (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="solves per line, median (default: %(default)s)"
    )
    args = parser.parse_args()
    users = parse_size(args.size)
    adjacency, base = synthetic_graph(users, seed=0)
    print(f"{users:,} users, {adjacency.nnz // 2:,} links, damping {args.damping}, tol {args.tol}, "
          f"{numba.get_num_threads()} numba threads")  # fmt: skip

    def timed_solves(walk: object) -> tuple[float, int]:
        times, passes = [], 0
        for _ in range(args.repeats):
            start = time.perf_counter()
            solution = solve(walk, base, damping=args.damping, tol=args.tol)  # type: ignore[arg-type]
            times.append(time.perf_counter() - start)
            passes = solution.iterations
        return statistics.median(times), passes

    sor = None
    for name, options in PREPARATIONS.items():
        start = time.perf_counter()
        walk = prepare_walk(adjacency, **options)  # type: ignore[arg-type]
        prepared = time.perf_counter() - start
        seconds, passes = timed_solves(walk)
        print(f"{name:<24} prepare {prepared:7.3f} s  solve {seconds:7.3f} s  {passes:3d} passes  "
              f"{1000 * seconds / passes:6.1f} ms/pass")  # fmt: skip
        if name == "sor":
            sor = walk
        del walk
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    peer = graphblas_peer(adjacency, base, degree, args.damping, args.tol, np.float32)
    for _ in range(2):
        start = time.perf_counter()
        _, steps, _ = peer()
        print(f"graphblas power (float32) {time.perf_counter() - start:7.3f} s  {steps:3d} passes")
    seconds, passes = timed_solves(sor)
    print(f"{'sor, after graphblas':<24} {'':>17}  solve {seconds:7.3f} s  {passes:3d} passes  "
          f"{1000 * seconds / passes:6.1f} ms/pass")  # fmt: skip


if __name__ == "__main__":
    main()
