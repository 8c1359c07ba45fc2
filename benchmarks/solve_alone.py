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
from functools import partial
from typing import Any

import numba
import numpy as np
from diffusion_peers import graphblas_peer, measure, parse_size, synthetic_graph

from credence.scoring.solver import WalkGraph, prepare_walk, solve

PREPARATIONS: dict[str, dict[str, Any]] = {
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

    def solve_line(name: str, walk: WalkGraph, prepared: str) -> None:
        solved = measure(partial(solve, walk, base, damping=args.damping, tol=args.tol), args.repeats)
        passes = solved.result.iterations
        print(f"{name:<24} {prepared:>17}  solve {solved.seconds:7.3f} s  {passes:3d} passes  "
              f"{1000 * solved.seconds / passes:6.1f} ms/pass")  # fmt: skip

    sor = None
    for name, options in PREPARATIONS.items():
        prepared = measure(partial(prepare_walk, adjacency, **options), 1)
        solve_line(name, prepared.result, f"prepare {prepared.seconds:7.3f} s")
        if name == "sor":
            sor = prepared.result
        del prepared
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    peer = graphblas_peer(adjacency, base, degree, args.damping, args.tol, np.float32)
    for _ in range(2):
        ran = measure(peer, 1)
        print(f"graphblas power (float32) {ran.seconds:7.3f} s  {ran.result[1]:3d} passes")
    assert sor is not None
    solve_line("sor, after graphblas", sor, "")


if __name__ == "__main__":
    main()
