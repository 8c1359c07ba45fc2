"""The scoring engine on one SQLite store (not a timed test): recompute, explain, record events.

Generates a population, loads it into a fresh SQLite file, runs two full recomputes (the
second warm-started), and times explanations and single-repayment updates (store write,
factors, local push, snapshot writes). Prints stage timings, resident bytes per link of
the engine's arrays and the process's peak RSS.

    .venv/bin/python benchmarks/bench_engine.py --users 1000000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population

DAY = 86_400


def main() -> None:
    """Generate and load a population, then time recomputes, explanations and updates; print them."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200, help="Explanations and updates to time.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    population = generate_population(n_users=args.users, seed=args.seed)
    now = population.now
    print(f"generate {time.perf_counter() - started:.1f} s", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="credence-bench-") as folder,
        SQLiteStore(Path(folder) / "bench.db") as store,
    ):
        started = time.perf_counter()
        store.load(population.dataset())
        print(f"load {time.perf_counter() - started:.1f} s", flush=True)
        del population
        engine = ScoringEngine(store, now=now)
        for run in ("cold", "warm"):
            started = time.perf_counter()
            report = engine.recompute()
            stages = "  ".join(f"{k} {v:.2f}s" for k, v in report.seconds.items())
            print(f"recompute ({run}) {time.perf_counter() - started:.1f} s: {stages}", flush=True)
        memory = engine.memory()
        links = report.links
        state, extra = memory["diffusion"], memory["per_user"]
        print(
            f"diffusion state {state / links:.1f} B/link; per-user factor arrays "
            f"{extra / links:.1f} B/link; together {(state + extra) / links:.1f} B/link "
            f"(ids and the id->row dict not counted)"
        )
        rng = np.random.default_rng(args.seed)
        ids = engine.view().ids
        latency = []
        for _ in range(args.calls):
            user = str(ids[rng.integers(len(ids))])
            started = time.perf_counter()
            engine.explain(user)
            latency.append(time.perf_counter() - started)
        print(
            f"explain: p50 {np.percentile(latency, 50) * 1e3:.1f} ms, p99 {np.percentile(latency, 99) * 1e3:.1f} ms"
        )
        latency = []
        for k in range(args.calls):
            user = str(ids[rng.integers(len(ids))])
            event = pd.DataFrame(
                {
                    "id": [f"bench-{k}"],
                    "user": [user],
                    "due": [now - 5 * DAY],
                    "paid": pd.array([now - 6 * DAY], dtype="Int64"),
                    "amount": [100.0],
                    "status": ["on_time"],
                }
            )
            started = time.perf_counter()
            engine.record_repayments(event)
            latency.append(time.perf_counter() - started)
        print(
            f"record one repayment (store write + factors + push + snapshots): "
            f"p50 {np.percentile(latency, 50) * 1e3:.1f} ms, p99 {np.percentile(latency, 99) * 1e3:.1f} ms"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
