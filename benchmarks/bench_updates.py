"""Latency of incremental updates and explanations on one big graph (not a timed test).

Builds a DiffusionState on the synthetic population's friend graph (default 1M users /
10M links), then times, one call at a time: a base change (what a new repayment does),
adding and removing a link, a consent change, and a contributors query. Prints p50,
p99 and max per operation, pushes are implicit in the timings; plus resident bytes per
link of the state and the error of the repaired state against a full solve.

    .venv/bin/python benchmarks/bench_updates.py --users 1000000 --ops 2000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from credence.graph.store import build_adjacency
from credence.scoring import DiffusionState, diffuse
from credence.seeds.synthetic import generate_population


def percentiles(samples: list[float]) -> str:
    """The median, 99th percentile and maximum of some durations in seconds, as one line in ms.

    Examples
    --------
    >>> percentiles([0.001, 0.002, 0.003])
    'p50   2.000 ms  p99   2.980 ms  max    3.000 ms'
    """
    ms = np.array(samples) * 1e3
    return f"p50 {np.percentile(ms, 50):7.3f} ms  p99 {np.percentile(ms, 99):7.3f} ms  max {ms.max():8.3f} ms"


def main() -> None:
    """Build the diffusion state of a population's graph, time each kind of update and print them."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--ops", type=int, default=2000, help="Calls per operation.")
    parser.add_argument("--damping", type=float, default=0.5)
    parser.add_argument("--tol", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    population = generate_population(n_users=args.users, seed=args.seed)
    ids = population.users["id"].to_numpy(dtype=object)
    index = {user: i for i, user in enumerate(ids.tolist())}
    source = np.array([index[u] for u in population.links["source"].tolist()], dtype=np.int64)
    target = np.array([index[u] for u in population.links["target"].tolist()], dtype=np.int64)
    adjacency = build_adjacency(source, target, population.links["weight"].to_numpy(), len(ids))
    links = adjacency.nnz // 2
    print(f"graph: {len(ids):,} users, {links:,} links ({time.perf_counter() - started:.1f} s to generate)")
    rng = np.random.default_rng(args.seed)
    base = rng.beta(5, 4, len(ids))

    started = time.perf_counter()
    state = DiffusionState(adjacency, base, damping=args.damping, tol=args.tol, validate=False)
    print(
        f"state built (full solve + P y) in {time.perf_counter() - started:.1f} s; "
        f"{state.nbytes / links:.1f} resident bytes per link ({state.nbytes / 2**20:.0f} MiB)"
    )
    # Warm the JIT before timing.
    state.set_base(0, float(base[0]))
    state.contributors(1, first=10)
    state.set_link(0, 1, 1.0)
    state.set_link(0, 1, 0.0)

    n = len(ids)
    timings: dict[str, list[float]] = {
        "set_base (new event)": [],
        "add link": [],
        "remove link": [],
        "consent off+on": [],
        "contributors": [],
        "influence": [],
    }
    moved: list[int] = []
    for _ in range(args.ops):
        v = int(rng.integers(n))
        t = time.perf_counter()
        changed = state.set_base(v, float(np.clip(state.base[v] + rng.normal(0, 0.05), 0, 1)))
        timings["set_base (new event)"].append(time.perf_counter() - t)
        moved.append(changed.size)
        a, b = (int(x) for x in rng.integers(n, size=2))
        if a != b:
            t = time.perf_counter()
            state.set_link(a, b, 1.0)
            timings["add link"].append(time.perf_counter() - t)
            t = time.perf_counter()
            state.set_link(a, b, 0.0)
            timings["remove link"].append(time.perf_counter() - t)
        u = int(rng.integers(n))
        t = time.perf_counter()
        state.contributors(u, first=10)
        timings["contributors"].append(time.perf_counter() - t)
    for _ in range(max(args.ops // 10, 10)):
        u = int(rng.integers(n))
        t = time.perf_counter()
        state.set_participating(u, False)
        state.set_participating(u, True)
        timings["consent off+on"].append(time.perf_counter() - t)
        t = time.perf_counter()
        state.influence(u)
        timings["influence"].append(time.perf_counter() - t)
    for name, samples in timings.items():
        print(f"  {name:<22} n={len(samples):>5}  {percentiles(samples)}")
    print(
        f"  users whose network value moved per base change: median {int(np.median(moved))}, "
        f"p99 {int(np.percentile(moved, 99))}"
    )

    started = time.perf_counter()
    exact = diffuse(
        state.adjacency(participating_only=True), state.base, damping=args.damping, tol=args.tol / 100
    )
    error = float(np.abs(exact - state.y).max())
    print(
        f"after all updates: max |y - full solve| = {error:.2e} (guarantee {args.tol:.0e}); "
        f"check took {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
