"""Load on the GraphQL API (not a timed test): the typical client query over loopback HTTP.

Generates a population and loads it into a SQLite file (or reuses one given with
``--db`` that already holds users), scores it once with ``credence score`` when it holds
no scores of the current model, issues an ``app`` key with ``credence api-key new``,
then starts ``credence serve`` as a separate process and waits for ``/healthz`` (and, with
several workers, for every worker to finish loading). It then sends the query a mobile
app sends most::

    query($id: String!) { user(id: $id) { score band components { name points } reasons { code } } }

for random existing users from an asyncio client (one keep-alive connection per
request in flight: a minimal HTTP/1.1 client by default, ``--client httpx`` for one
pooled ``httpx.AsyncClient``), at each concurrency level in turn, after a warm-up. Each level stops after ``--requests`` requests or ``--seconds`` seconds,
whichever comes first. Every response must be HTTP 200 without GraphQL errors and with
a score in [350, 950]; at the end a sample of served scores is compared with the
latest snapshots in the store. Prints one row per level: throughput, latency
percentiles, and the CPU time the server processes and this client spent per
wall-clock second (the client shares the machine's cores with the server, so on a
small machine it competes with it: the figures are a lower bound of what the server
can do on its own).

With ``--workers 2`` the server runs two processes and is read-only, which is all this
read benchmark needs.

    .venv/bin/python benchmarks/bench_api.py --users 20000
    .venv/bin/python benchmarks/bench_api.py --db /data/bench-1m.db --users 1000000 --workers 2

A 1M population takes about two minutes to generate and load and one to score; with
``--db`` both happen once, later runs reuse the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from serving import (
    QUERY,
    SCORE_RANGE,
    Post,
    Server,
    check,
    client_cpu_seconds,
    connections,
    cpu_seconds,
    issue_key,
    prepare_store,
    run_async,
    serve,
    stored_scores,
)

# --------------------------------------------------------------------------- the load


@dataclass
class Level:
    """The results of one concurrency level: every latency, the errors, the CPU time spent.

    ``served`` keeps the score answered for each user, to check against the store.
    """

    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    served: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        """Requests completed in the timed part, failed or not."""
        return len(self.latencies) + self.errors


async def drive(url: str, secret: str, ids: list[str], *, client: str, concurrency: int, requests: int,
                seconds: float, rng: random.Random) -> Level:  # fmt: skip
    """``concurrency`` requests in flight until ``requests`` are sent or ``seconds`` have passed."""
    level = Level(concurrency)

    async def one(post: Post, user: str) -> None:
        body = json.dumps({"query": QUERY, "variables": {"id": user}}).encode()
        started = time.perf_counter()
        try:
            score = check(*await post(body))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, httpx.HTTPError, ValueError,
                KeyError, TypeError) as error:  # fmt: skip
            level.errors += 1
            level.first_error = level.first_error or f"{type(error).__name__}: {error}"
            return
        level.latencies.append(time.perf_counter() - started)
        level.served[user] = score

    async with connections(client, url, secret, concurrency) as posts:
        # Open every connection first (not timed), so that the level measures the steady state.
        await asyncio.gather(*(one(post, rng.choice(ids)) for post in posts))
        level.latencies.clear()
        level.errors, level.first_error = 0, ""
        issued = 0
        deadline = time.perf_counter() + seconds

        async def worker(post: Post) -> None:
            nonlocal issued
            while issued < requests and time.perf_counter() < deadline:
                issued += 1
                await one(post, rng.choice(ids))

        started = time.perf_counter()
        await asyncio.gather(*(worker(post) for post in posts))
        level.seconds = time.perf_counter() - started
    return level


def run_level(server: Server, secret: str, ids: list[str], *, client: str, concurrency: int, requests: int,
              seconds: float, rng: random.Random) -> Level:  # fmt: skip
    """One level, with the CPU time the server's processes and this client spent meanwhile."""
    pids = server.pids()
    server_before, client_before = cpu_seconds(pids), client_cpu_seconds()
    level: Level = run_async(drive(server.url, secret, ids, client=client, concurrency=concurrency, requests=requests,
                              seconds=seconds, rng=rng))  # fmt: skip
    # Includes opening the connections (untimed): a slight over-estimate of the CPU per second.
    level.server_cpu = cpu_seconds(pids) - server_before
    level.client_cpu = client_cpu_seconds() - client_before
    return level


# --------------------------------------------------------------------------- main


def main() -> None:
    """Parse the arguments, prepare the store, serve it and drive each concurrency level; print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000, help="Population to generate (without a --db "
                        "that holds users).")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file to reuse if it holds users, else to load into (kept); default: a "
                        "temporary file.")  # fmt: skip
    parser.add_argument("--workers", type=int, choices=(1, 2), default=1, help="Server processes.")
    parser.add_argument(
        "--concurrency", default="1,8,32,64", help="Comma-separated in-flight request counts."
    )
    parser.add_argument("--requests", type=int, default=5000, help="Most requests per level.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Most seconds per level.")
    parser.add_argument("--warmup", type=int, default=500, help="Untimed requests first (at concurrency 8).")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="raw: minimal keep-alive HTTP/1.1 on asyncio streams, one connection per in-flight "
                        "request (little client CPU); httpx: one pooled httpx.AsyncClient.")  # fmt: skip
    parser.add_argument(
        "--startup-timeout", type=float, default=1800.0, help="Seconds to wait for the server."
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if min(levels) < 1 or args.requests < 1 or args.seconds <= 0:
        parser.error("concurrency levels, --requests and --seconds must be positive")

    with tempfile.TemporaryDirectory(prefix="credence-bench-api-") as folder:
        tmp = Path(folder)
        env = {**os.environ, "CREDENCE_HOME": str(tmp)}
        db = args.db or tmp / "bench.db"
        ids = prepare_store(db, users=args.users, seed=args.seed, env=env)
        secret = issue_key(tmp / "keys.toml", env)
        rng = random.Random(args.seed)
        with serve(["--db", str(db)], tmp / "keys.toml", workers=args.workers, env=env, log=tmp / "server.log",
                   timeout=args.startup_timeout) as server:  # fmt: skip
            cpus = len(os.sched_getaffinity(server.proc.pid))
            print(f"machine: {os.cpu_count()} CPUs; the server may use {cpus} "
                  f"(affinity {sorted(os.sched_getaffinity(server.proc.pid))}); this client runs on the same "
                  f"CPUs (loopback), so client and server share {cpus} cores", flush=True)  # fmt: skip
            started = time.perf_counter()
            warm = run_async(drive(server.url, secret, ids, client=args.client, concurrency=8, requests=args.warmup,
                              seconds=60, rng=rng))  # fmt: skip
            print(f"warm-up: {warm.requests} requests in {time.perf_counter() - started:.1f} s, "
                  f"{warm.errors} errors", flush=True)  # fmt: skip
            results = []
            for concurrency in levels:
                level = run_level(server, secret, ids, client=args.client, concurrency=concurrency,
                                  requests=args.requests, seconds=args.seconds, rng=rng)  # fmt: skip
                results.append(level)
                print(f"  concurrency {concurrency}: {level.requests} requests in {level.seconds:.1f} s",
                      flush=True)  # fmt: skip
            if server.proc.poll() is not None:
                raise SystemExit(f"the server died:\n{server.log.read_text()[-3000:]}")
        served = {user: score for level in results for user, score in level.served.items()}
        sample = rng.sample(sorted(served), min(200, len(served)))
        stored = stored_scores(db, sample)
        mismatched = [user for user in sample if stored[user] != served[user]]

    print()
    print(f"GraphQL API, {len(ids):,} users, SQLite, {args.workers} worker(s), loopback, {args.client} client; "
          f"query: user(id) {{ score band components {{ name points }} reasons {{ code }} }}")  # fmt: skip
    header = (f"{'workers':>7} {'conc':>5} {'requests':>9} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} "
              f"{'p99 ms':>7} {'server CPU':>10} {'client CPU':>10} {'server ms/req':>13}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for level in results:
        lat = np.asarray(level.latencies) * 1e3
        p50, p90, p99 = np.percentile(lat, [50, 90, 99]) if lat.size else (np.nan, np.nan, np.nan)
        rate = len(level.latencies) / level.seconds if level.seconds else 0.0
        print(f"{args.workers:>7} {level.concurrency:>5} {level.requests:>9} {level.errors:>6} {rate:>8.0f} "
              f"{p50:>7.1f} {p90:>7.1f} {p99:>7.1f} {level.server_cpu / level.seconds:>9.2f}c "
              f"{level.client_cpu / level.seconds:>9.2f}c {level.server_cpu / max(level.requests, 1) * 1e3:>13.2f}")  # fmt: skip
    print(f"CPU columns: cores kept busy on average (CPU seconds per wall second) by the server's processes and "
          f"by this client, both on the same {cpus} CPUs; server ms/req: server CPU time per request.")  # fmt: skip
    errors = sum(level.errors for level in results)
    total = sum(level.requests for level in results)
    print(f"checked: {total - errors} of {total} responses had no errors and a score in {list(SCORE_RANGE)}; "
          f"{len(sample) - len(mismatched)} of {len(sample)} sampled scores equal the store's latest snapshot")  # fmt: skip
    first = next((level.first_error for level in results if level.first_error), "")
    if errors or mismatched:
        raise SystemExit(f"FAILED: {errors} bad responses (first: {first}); scores differing from the store: "
                         f"{mismatched[:5]}")  # fmt: skip


if __name__ == "__main__":
    main()
