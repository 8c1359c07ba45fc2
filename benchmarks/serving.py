"""What the API benchmarks share: a scored store, a served ``credence serve``, light clients.

:func:`prepare_store` loads a generated population into a SQLite file (or reuses one)
and scores it once with ``credence score``; :func:`serve` starts ``credence serve`` as a
process of its own on 127.0.0.1 and waits until it is ready; :class:`RawConnection` is a
minimal keep-alive HTTP/1.1 client (little CPU, so that a client sharing the server's
cores does not measure itself); :func:`process_tree` and :func:`cpu_seconds` say how
much CPU the server's processes spent. Used by ``bench_api.py`` (reads) and
``bench_writes.py`` (mutations).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from credence.graph.sqlite import SQLiteStore
from credence.graph.store import GraphStore
from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
from credence.seeds.synthetic import generate_population

CLI = [sys.executable, "-m", "credence.cli"]
QUERY = "query($id: String!) { user(id: $id) { score band components { name points } reasons { code } } }"
SCORE_RANGE = (350, 950)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the store


def prepare(
    open_store: Callable[[], GraphStore], store_args: list[str], *, users: int, seed: int, env: dict[str, str]
) -> tuple[list[str], int]:
    """Load a population into the store unless it holds users, score it if needed.

    ``store_args`` are the store's command-line options (for ``credence score``).
    Returns the user ids and the evaluation time of the stored scores.
    """
    with open_store() as store:
        held = store.stats().users
        if held:
            print(f"reusing {store!r}: {held:,} users (--users ignored)", flush=True)
        else:
            started = time.perf_counter()
            population = generate_population(n_users=users, seed=seed)
            print(f"generate {users:,} users: {time.perf_counter() - started:.1f} s", flush=True)
            started = time.perf_counter()
            store.load(population.dataset())
            del population
            print(f"load into {store!r}: {time.perf_counter() - started:.1f} s", flush=True)
        stamp = store.latest_score_time()
        ids = store.get_all_users()["id"].astype(str).tolist()
    version = read_policy(DEFAULT_POLICY_PATH).version
    if stamp is None or stamp[1] != version:
        # Scored once here, so that the server (each worker) only rebuilds the stored scores.
        started = time.perf_counter()
        subprocess.run(
            [*CLI, "score", *store_args, "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        print(f"score (credence score): {time.perf_counter() - started:.1f} s", flush=True)
    with open_store() as store:
        record = store.latest_recompute()
    if record is None:
        raise SystemExit("the store holds scores but no recompute record: score it again with credence score")
    return ids, record.computed_at


def prepare_store(db: Path, *, users: int, seed: int, env: dict[str, str]) -> list[str]:
    """:func:`prepare` of a SQLite file; the user ids."""
    return prepare(lambda: SQLiteStore(db), ["--db", str(db)], users=users, seed=seed, env=env)[0]


def stored_scores(db: Path, users: list[str]) -> dict[str, int]:
    """The latest stored score of each user, to compare with what the server answered."""
    with SQLiteStore(db) as store:
        return {user: int(store.score_history(user)["score"].iloc[-1]) for user in users}


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def issue_key(keys: Path, env: dict[str, str], role: str = "app") -> str:
    """The secret of a new ``role`` key (``app`` by default) in ``keys``, issued by ``credence api-key new`` as a client would."""
    out = subprocess.run([*CLI, "api-key", "new", f"bench-{role}", "--role", role, "--keys", str(keys)], env=env,
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
    store: list[str], keys: Path, *, workers: int, env: dict[str, str], log: Path, timeout: float
) -> Iterator[Server]:
    """``credence serve`` in its own process group, ready (every worker loaded) when this yields.

    ``store`` is the store's command-line options (``["--db", FILE]`` or ``["--neo4j-uri", URI]``).
    """
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "serve", *store, "--port", str(port), "--keys", str(keys),
                                 "--no-graphiql", "--workers", str(workers)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        started = time.perf_counter()
        _wait_healthy(server, timeout)
        wait_quiet(server, timeout - (time.perf_counter() - started))
        print(f"server up in {time.perf_counter() - started:.1f} s: {server.url} ({workers} worker"
              f"{'s, one writer' if workers > 1 else ''}; processes {server.pids()})", flush=True)  # fmt: skip
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


def wait_quiet(server: Server, timeout: float) -> None:
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


# --------------------------------------------------------------------------- clients

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


def run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` to its end on a uvloop event loop (asyncio's own without uvloop)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)
