"""The solver on a busy machine: with its thread plan, and with every sweep on all of numba's threads.

A multicolour SOR sweep waits at a barrier per colour; when another process holds a
core, a descheduled thread stalls each one. :class:`credence.scoring.solver.ThreadPlan`
runs the second sweep of a large solve on one thread and keeps the faster. This script
prepares one seeded graph (:func:`diffusion_peers.synthetic_graph`), then times
``solve`` (median of ``--repeats``) with the plan and with probing switched off, first
as the machine is, then with ``--hogs`` extra processes busy-looping on the same CPUs
(killed at the end), and prints the times and their ratio.

    .venv/bin/python benchmarks/bench_busy_solve.py --size 1m --damping 0.5 --tol 1e-6
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diffusion_peers import parse_size, synthetic_graph

import credence.scoring.solver as solver


def _median_solve(walk: solver.WalkGraph, base: object, damping: float, tol: float, repeats: int,
                  *, plan: bool) -> tuple[float, float, float, int]:  # fmt: skip
    """Median, fastest and slowest seconds of ``repeats`` solves, and the passes; probing on or off."""
    threshold = solver.PROBE_NNZ
    solver.PROBE_NNZ = threshold if plan else 2**62
    times, passes = [], 0
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            passes = solver.solve(walk, base, damping=damping, tol=tol).iterations
            times.append(time.perf_counter() - start)
    finally:
        solver.PROBE_NNZ = threshold
    return statistics.median(times), min(times), max(times), passes


def main() -> None:
    """Parse the arguments, time both ways on a quiet and a busy machine, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1m", help="users, ~10 links each (default: 1m)")
    parser.add_argument("--damping", type=float, default=0.5)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hogs", type=int, default=1, help="busy-looping processes for the second round")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    adjacency, base = synthetic_graph(parse_size(args.size), seed=args.seed)
    walk = solver.prepare_walk(adjacency)
    solver.solve(walk, base, damping=args.damping, tol=args.tol)  # compile and warm up
    print(f"{adjacency.shape[0]:,} users, {adjacency.nnz // 2:,} links, damping {args.damping}, tol {args.tol:g}, "
          f"{args.repeats} solves each")  # fmt: skip
    for hogs in (0, args.hogs):
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
        time.sleep(0.5 if hogs else 0.0)
        try:
            fixed = _median_solve(walk, base, args.damping, args.tol, args.repeats, plan=False)
            planned = _median_solve(walk, base, args.damping, args.tol, args.repeats, plan=True)
        finally:
            for process in busy:
                process.kill()
                process.wait()
        print(f"{hogs} busy process(es): all threads {fixed[0]:.3f} s ({fixed[1]:.3f}-{fixed[2]:.3f}), "
              f"with the plan {planned[0]:.3f} s ({planned[1]:.3f}-{planned[2]:.3f}), "
              f"{fixed[0] / planned[0]:.2f}x; passes {fixed[3]} / {planned[3]}")  # fmt: skip


if __name__ == "__main__":
    main()
