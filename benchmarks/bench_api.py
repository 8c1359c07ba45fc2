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
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from credence.graph.sqlite import SQLiteStore
from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
from credence.seeds.synthetic import generate_population

CLI = [sys.executable, "-m", "credence.cli"]
QUERY = "query($id: String!) { user(id: $id) { score band components { name points } reasons { code } } }"
SCORE_RANGE = (350, 950)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the store


def prepare_store(db: Path, *, users: int, seed: int, env: dict[str, str]) -> list[str]:
    """Load a population into ``db`` unless it holds users, score it if needed; the user ids."""
    with SQLiteStore(db) as store:
        held = store.stats().users
        if held:
            print(f"reusing {db}: {held:,} users (--users ignored)", flush=True)
        else:
            started = time.perf_counter()
            population = generate_population(n_users=users, seed=seed)
            print(f"generate {users:,} users: {time.perf_counter() - started:.1f} s", flush=True)
            started = time.perf_counter()
            store.load(population.dataset())
            del population
            print(f"load into {db}: {time.perf_counter() - started:.1f} s", flush=True)
        stamp = store.latest_score_time()
        ids = store.get_all_users()["id"].astype(str).tolist()
    version = read_policy(DEFAULT_POLICY_PATH).version
    if stamp is None or stamp[1] != version:
        # Scored once here, so that the server (each worker) only rebuilds the stored scores.
        started = time.perf_counter()
        subprocess.run(
            [*CLI, "score", "--db", str(db), "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        print(f"score (credence score): {time.perf_counter() - started:.1f} s", flush=True)
    return ids


def stored_scores(db: Path, users: list[str]) -> dict[str, int]:
    """The latest stored score of each user, to compare with what the server answered."""
    with SQLiteStore(db) as store:
        return {user: int(store.score_history(user)["score"].iloc[-1]) for user in users}


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def issue_key(keys: Path, env: dict[str, str]) -> str:
    """The secret of a new ``app`` key in ``keys``, issued by ``credence api-key new`` as a client would."""
    out = subprocess.run([*CLI, "api-key", "new", "bench-app", "--role", "app", "--keys", str(keys)], env=env,
                         check=True, capture_output=True, text=True)  # fmt: skip
    return out.stdout.strip().splitlines()[0]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    tree = _children()
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue += tree.get(current, [])
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (those that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def client_cpu_seconds() -> float:
    """User + system CPU time this client process has spent so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Server:
    """A running ``credence serve`` process: where it answers, and the log it writes."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def url(self) -> str:
        """The GraphQL endpoint."""
        return f"{self.base}/graphql"

    def pids(self) -> list[int]:
        """The server process and its workers, now (a worker that restarted has a new pid)."""
        return process_tree(self.proc.pid)


@contextmanager
def serve(
    db: Path, keys: Path, *, workers: int, env: dict[str, str], log: Path, timeout: float
) -> Iterator[Server]:
    """``credence serve`` in its own process group, ready (every worker loaded) when this yields."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "serve", "--db", str(db), "--port", str(port), "--keys", str(keys),
                                 "--no-graphiql", "--workers", str(workers)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        started = time.perf_counter()
        _wait_healthy(server, timeout)
        _wait_quiet(server, timeout - (time.perf_counter() - started))
        print(f"server up in {time.perf_counter() - started:.1f} s: {server.url} ({workers} worker"
              f"{'s, read-only' if workers > 1 else ''}; processes {server.pids()})", flush=True)  # fmt: skip
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # uvicorn stops its workers itself
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this script created
                proc.wait()


def _wait_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise SystemExit(
                f"credence serve exited ({server.proc.returncode}):\n{server.log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(f"{server.base}/healthz", timeout=2).json().get("status") == "ok":
                return
        except (httpx.HTTPError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"credence serve not healthy after {timeout:.0f} s; log: {server.log}")
        time.sleep(0.5)


def _wait_quiet(server: Server, timeout: float) -> None:
    """Until the server's processes use under 5% of a core for 2 s (a worker still loading keeps busy).

    /healthz answers as soon as one worker is up; the others may still be rebuilding scores.
    """
    deadline = time.monotonic() + max(timeout, 10)
    quiet = 0
    while quiet < 4 and time.monotonic() < deadline:
        pids = server.pids()
        before = cpu_seconds(pids)
        time.sleep(0.5)
        quiet = quiet + 1 if cpu_seconds(pids) - before < 0.025 else 0


# --------------------------------------------------------------------------- the load

Post = Callable[[bytes], Awaitable[tuple[int, bytes]]]


class RawConnection:
    """HTTP/1.1 keep-alive POSTs of JSON over one TCP connection (asyncio streams).

    About 0.15 ms of client CPU per request, against 2-11 ms for one pooled
    ``httpx.AsyncClient`` (its pool bookkeeping grows with the number of connections):
    on a machine whose cores the client shares with the server, a heavy client would
    measure itself. Reconnects after any failure.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                       + "".join(f"{name}: {value}\r\n" for name, value in headers.items())).encode()  # fmt: skip
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` on the connection (opened first if needed); the HTTP status and the response body.

        Raises
        ------
        ValueError
            If the response has no ``Content-Length`` (chunked bodies are not supported).
        """
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(self.prefix + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(head[0].split(" ", 2)[1])
            fields = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:])
            }
            if "content-length" not in fields:
                raise ValueError(f"HTTP {status} without Content-Length (not supported by this client)")
            data = await self.reader.readexactly(int(fields["content-length"]))
            if fields.get("connection", "").lower() == "close":
                await self.close()
            return status, data
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection if open; the next :meth:`post` opens a new one."""
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()


@asynccontextmanager
async def connections(client: str, url: str, secret: str, concurrency: int) -> AsyncIterator[list[Post]]:
    """One ``post`` per concurrent request: raw keep-alive connections or one pooled httpx client."""
    headers = {"Authorization": f"Bearer {secret}"}
    if client == "raw":
        raw = [RawConnection(url, headers) for _ in range(concurrency)]
        try:
            yield [connection.post for connection in raw]
        finally:
            for connection in raw:
                await connection.close()
        return
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers={**headers, "Content-Type": "application/json"},
                                 timeout=60) as pool:  # fmt: skip

        async def post(body: bytes) -> tuple[int, bytes]:
            reply = await pool.post(url, content=body)
            return reply.status_code, reply.content

        yield [post] * concurrency


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


def check(status: int, body: bytes) -> int:
    """The served score; raises ValueError on anything but a complete, valid answer."""
    if status != 200:
        raise ValueError(f"HTTP {status}: {body[:300]!r}")
    payload = json.loads(body)
    if payload.get("errors"):
        raise ValueError(f"GraphQL errors: {json.dumps(payload['errors'])[:300]}")
    user = payload["data"]["user"]
    score = user["score"]
    if not (isinstance(score, int) and SCORE_RANGE[0] <= score <= SCORE_RANGE[1]):
        raise ValueError(f"score {score!r} outside {SCORE_RANGE}")
    if not (isinstance(user["band"], str) and user["components"] and isinstance(user["reasons"], list)):
        raise ValueError(f"incomplete user: {user!r}")
    return score


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
    level: Level = _run(drive(server.url, secret, ids, client=client, concurrency=concurrency, requests=requests,
                              seconds=seconds, rng=rng))  # fmt: skip
    # Includes opening the connections (untimed): a slight over-estimate of the CPU per second.
    level.server_cpu = cpu_seconds(pids) - server_before
    level.client_cpu = client_cpu_seconds() - client_before
    return level


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


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
        with serve(db, tmp / "keys.toml", workers=args.workers, env=env, log=tmp / "server.log",
                   timeout=args.startup_timeout) as server:  # fmt: skip
            cpus = len(os.sched_getaffinity(server.proc.pid))
            print(f"machine: {os.cpu_count()} CPUs; the server may use {cpus} "
                  f"(affinity {sorted(os.sched_getaffinity(server.proc.pid))}); this client runs on the same "
                  f"CPUs (loopback), so client and server share {cpus} cores", flush=True)  # fmt: skip
            started = time.perf_counter()
            warm = _run(drive(server.url, secret, ids, client=args.client, concurrency=8, requests=args.warmup,
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
