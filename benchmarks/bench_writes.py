"""Mutations through the GraphQL API under load (not a timed test), with score reads alongside.

Prepares a scored store as ``bench_api.py`` does (a generated population loaded into a
SQLite file, or reused with ``--db``; with ``--neo4j``, loaded into a real Neo4j 5.26
started for the run, or reused with ``--neo4j-uri``), issues an ``app`` key, starts
``credence serve`` as a process of its own on 127.0.0.1 and then, for ``--seconds``
seconds after a warm-up, runs ``--clients`` concurrent writers (one keep-alive
connection each, a new mutation as soon as the last one answered) sending the mix

====================  =====  ===================================================
mutation              share  what
====================  =====  ===================================================
``recordRepayment``   30%    an instalment of a random user (on time or late)
``recordSpending``    30%    a purchase or a bill (paid on time or not)
``addLink``           15%    a link between two random users
``removeLink``        10%    one of the links this writer added (else an add)
``setConsent``        15%    consent withdrawn or given (a flip of the last value)
====================  =====  ===================================================

and ``--readers`` clients reading scores (``user(id) { score band components reasons }``,
as the mobile app does) at ``--read-rate`` requests/s in all. A share ``--invalid`` of
the mutations is deliberately invalid (a negative amount): those must come back as
``BAD_USER_INPUT`` and are counted apart; any other error is a failure.

Each writer owns a slice of the users for links and consent (a user's consent and a
link's existence are changed by one writer only, in order), so the final state is
known. After the run, while the server still runs, a sample of the touched users'
served scores is compared with their latest stored snapshots; after it stopped, the
store is opened and every acknowledged write is checked: each recorded event is
there with its user, each invalid one is not, each link exists exactly when its
writer's last acknowledged change added it (with that weight), each consent is the
last value acknowledged. Prints mutations/s, mutation latency percentiles (per kind
too), read latency percentiles, errors, and the CPU the server and this client spent.

    .venv/bin/python benchmarks/bench_writes.py --users 100000 --seconds 30
    .venv/bin/python benchmarks/bench_writes.py --db /data/bench-1m.db --users 1000000
    .venv/bin/python benchmarks/bench_writes.py --neo4j --users 100000

The writes stay in the store: a reused ``--db`` grows by a run's events each time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from serving import (
    QUERY,
    Post,
    RawConnection,
    Server,
    check,
    client_cpu_seconds,
    connections,
    cpu_seconds,
    issue_key,
    prepare,
    run_async,
    serve,
)

from credence.graph.store import GraphStore

DAY = 86_400
#: What a writer selects from each mutation's answer (``--select``): every score change it caused and
#: the user's new score, or the new score alone.
PAYLOADS = {
    "changes": "changes { userId before after } users { userId score }",
    "users": "users { userId score }",
}


def _iso(seconds: int) -> str:
    """A time as the API's DateTime text."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def documents(select: str) -> dict[str, str]:
    """The GraphQL document of each kind of mutation, selecting ``PAYLOADS[select]``."""
    payload = PAYLOADS[select]
    return {
        "repayment": f"mutation($input: RepaymentInput!) {{ recordRepayment(input: $input) {{ {payload} }} }}",
        "spending": f"mutation($input: SpendingInput!) {{ recordSpending(input: $input) {{ {payload} }} }}",
        "add_link": f"mutation($a: String!, $b: String!, $w: Float!) {{ addLink(a: $a, b: $b, weight: $w) {{ {payload} }} }}",
        "remove_link": f"mutation($a: String!, $b: String!) {{ removeLink(a: $a, b: $b) {{ {payload} }} }}",
        "consent": f"mutation($u: String!, $c: Boolean!) {{ setConsent(user: $u, consent: $c) {{ {payload} }} }}",
    }


MIX = (("repayment", 0.30), ("spending", 0.30), ("add_link", 0.15), ("remove_link", 0.10), ("consent", 0.15))


# --------------------------------------------------------------------------- what was acknowledged


@dataclass
class Ledger:
    """Every acknowledged (and every deliberately invalid) write, to check against the store."""

    events: dict[str, tuple[str, str]] = field(default_factory=dict)  # event id -> (kind, user)
    invalid: dict[str, tuple[str, str]] = field(default_factory=dict)
    links: dict[tuple[str, str], float | None] = field(default_factory=dict)  # pair -> weight, None: removed
    consent: dict[str, bool] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


@dataclass
class Writer:
    """One writing client: its slice of users, the links it added, the consent it set."""

    index: int
    own: list[str]
    ledger: Ledger
    rng: random.Random
    added: list[tuple[str, str]] = field(default_factory=list)
    consent: dict[str, bool] = field(default_factory=dict)


@dataclass
class Results:
    """Latencies by kind, reads, errors."""

    mutations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    reads: list[float] = field(default_factory=list)
    rejected: int = 0  # deliberately invalid, answered BAD_USER_INPUT
    failures: list[str] = field(default_factory=list)  # anything else that went wrong
    read_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def acknowledged(self) -> int:
        """Mutations answered without errors in the timed part."""
        return sum(len(v) for v in self.mutations.values())


class Mix:
    """Draws the next mutation of a writer: (kind, variables, what to note once acknowledged)."""

    def __init__(self, ids: list[str], at: int, run: str, invalid: float) -> None:
        self.ids, self.at, self.run, self.invalid = ids, at, run, invalid
        self.kinds = [kind for kind, _ in MIX]
        self.weights = [weight for _, weight in MIX]
        self.serial = 0

    def next(self, writer: Writer) -> tuple[str, dict[str, Any], Callable[[], None], bool]:
        """The kind, its GraphQL variables, the note to take once acknowledged, and whether it is invalid."""
        rng, ledger = writer.rng, writer.ledger
        kind = rng.choices(self.kinds, self.weights)[0]
        if kind == "remove_link" and not writer.added:
            kind = "add_link"
        self.serial += 1
        if kind in ("repayment", "spending"):
            user = rng.choice(self.ids)
            event = f"bw-{self.run}-{self.serial}"
            bad = rng.random() < self.invalid
            amount = -5.0 if bad else round(rng.uniform(5, 500), 2)
            at = self.at - rng.randrange(4, 120) * DAY  # a late payment (3 days) is still in the past
            if kind == "repayment":
                late = rng.random() < 0.1
                variables: dict[str, Any] = {"input": {"id": event, "user": user, "due": _iso(at), "amount": amount,
                                                       "status": "late" if late else "on_time",
                                                       "paid": _iso(at + (3 * DAY if late else 600))}}  # fmt: skip
            else:
                bill = rng.random() < 0.3
                variables = {"input": {"id": event, "user": user, "at": _iso(at), "amount": amount,
                                       "category": "bill" if bill else "purchase",
                                       "onTime": (rng.random() < 0.9) if bill else None}}  # fmt: skip
            target = ledger.invalid if bad else ledger.events

            def note_event() -> None:
                target[event] = (kind, user)
                ledger.touched.add(user)

            return kind, variables, note_event, bad
        if kind == "add_link":
            a, b = rng.choice(writer.own), rng.choice(self.ids)
            while b == a:
                b = rng.choice(self.ids)
            weight = round(rng.uniform(0.5, 3.0), 2)

            def note_add() -> None:
                writer.added.append((a, b))
                ledger.links[_pair(a, b)] = weight
                ledger.touched.update((a, b))

            return kind, {"a": a, "b": b, "w": weight}, note_add, False
        if kind == "remove_link":
            a, b = writer.added.pop(rng.randrange(len(writer.added)))

            def note_remove() -> None:
                ledger.links[_pair(a, b)] = None
                ledger.touched.update((a, b))

            return kind, {"a": a, "b": b}, note_remove, False
        user = rng.choice(writer.own)
        value = not writer.consent.get(user, True)

        def note_consent() -> None:
            writer.consent[user] = value
            ledger.consent[user] = value
            ledger.touched.add(user)

        return kind, {"u": user, "c": value}, note_consent, False


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _mutation_outcome(status: int, body: bytes, bad: bool) -> str | None:
    """None if the answer is what it should be (a payload, or BAD_USER_INPUT for a bad input), else why not."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    payload = json.loads(body)
    errors = payload.get("errors")
    if bad:
        codes = [(e.get("extensions") or {}).get("code") for e in errors or []]
        return None if codes == ["BAD_USER_INPUT"] else f"invalid input answered {json.dumps(payload)[:300]}"
    if errors:
        return f"GraphQL errors: {json.dumps(errors)[:300]}"
    data = next(iter((payload.get("data") or {}).values()), None)
    if not isinstance(data, dict) or not isinstance(data.get("changes", []), list) or not data.get("users"):
        return f"incomplete payload: {json.dumps(payload)[:300]}"
    return None


# --------------------------------------------------------------------------- the load


async def load(
    url: str, secret: str, ids: list[str], *, mix: Mix, clients: int, readers: int, read_rate: float,
    seconds: float, warmup: float, seed: int, select: str = "changes",
) -> tuple[Results, Ledger]:  # fmt: skip
    """Writers and readers for ``warmup`` + ``seconds`` seconds; only the last ``seconds`` are counted."""
    results, ledger = Results(), Ledger()
    texts = documents(select)
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)
    writers = [
        Writer(i, shuffled[i::clients], ledger, random.Random(seed * 1000 + i)) for i in range(clients)
    ]
    counting = False
    stop_at = time.perf_counter() + warmup + seconds

    async def write(post: Post, writer: Writer) -> None:
        while time.perf_counter() < stop_at:
            kind, variables, note, bad = mix.next(writer)
            body = json.dumps({"query": texts[kind], "variables": variables}).encode()
            started = time.perf_counter()
            try:
                status, answer = await post(body)
                problem = _mutation_outcome(status, answer, bad)
            except (OSError, asyncio.IncompleteReadError, ValueError, KeyError, TypeError) as error:
                problem = f"{type(error).__name__}: {error}"
            elapsed = time.perf_counter() - started
            if problem is None:
                note()
                if counting:
                    if bad:
                        results.rejected += 1
                    else:
                        results.mutations[kind].append(elapsed)
            else:
                if kind == "remove_link":  # not acknowledged: the link may still be there
                    writer.added.append((variables["a"], variables["b"]))
                results.failures.append(f"{kind}: {problem}")

    async def read(post: Post, rng: random.Random) -> None:
        interval = readers / read_rate
        next_at = time.perf_counter()
        while time.perf_counter() < stop_at:
            next_at += interval
            body = json.dumps({"query": QUERY, "variables": {"id": rng.choice(ids)}}).encode()
            started = time.perf_counter()
            try:
                check(*await post(body))
                if counting:
                    results.reads.append(time.perf_counter() - started)
            except (OSError, asyncio.IncompleteReadError, ValueError, KeyError, TypeError) as error:
                results.read_failures.append(f"{type(error).__name__}: {error}")
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def count_after_warmup() -> None:
        nonlocal counting
        await asyncio.sleep(warmup)
        counting = True
        results.failures.clear()
        results.read_failures.clear()

    async with (
        connections("raw", url, secret, clients) as write_posts,
        connections("raw", url, secret, max(readers, 1)) as read_posts,
    ):
        started = time.perf_counter()
        tasks = [write(post, writer) for post, writer in zip(write_posts, writers, strict=True)]
        if readers and read_rate > 0:
            tasks += [read(post, random.Random(seed + 7 + i)) for i, post in enumerate(read_posts[:readers])]
        await asyncio.gather(count_after_warmup(), *tasks)
        results.seconds = time.perf_counter() - started - warmup
    return results, ledger


async def served_scores(url: str, secret: str, users: list[str], *, generation: int) -> dict[str, int]:
    """The scores the server answers for ``users`` once it reflects snapshot ``generation`` (after the load).

    The token is the newest stored snapshot's sequence number, sent as a client sends
    the one its last write answered with: a follower worker answers only once it has
    caught up with it (read-your-writes), so the comparison is with what was committed.
    """
    out: dict[str, int] = {}
    connection = RawConnection(
        url, {"Authorization": f"Bearer {secret}", "X-Credence-Generation": str(generation)}
    )
    try:
        for user in users:
            body = json.dumps({"query": QUERY, "variables": {"id": user}}).encode()
            out[user] = check(*await connection.post(body))
    finally:
        await connection.close()
    return out


# --------------------------------------------------------------------------- the checks


def check_store(store: GraphStore, ledger: Ledger) -> list[str]:
    """Every acknowledged write in the store, no invalid one; the problems found (none is success)."""
    problems: list[str] = []
    by_user: dict[str, set[str]] = defaultdict(set)
    for event, (_, user) in [*ledger.events.items(), *ledger.invalid.items()]:
        by_user[user].add(event)
    for user in sorted(by_user):
        stored: dict[str, str] = {}
        for frame in (store.repayments(user), store.spending(user)):
            stored.update(zip(frame["id"].astype(str), frame["user"].astype(str), strict=True))
        for event in by_user[user]:
            if event in ledger.events and stored.get(event) != user:
                problems.append(f"acknowledged event {event} of {user} is not stored")
            if event in ledger.invalid and event in stored:
                problems.append(f"invalid event {event} was stored")
    neighbours: dict[str, dict[str, float]] = {}
    for (a, b), weight in ledger.links.items():
        if a not in neighbours:
            frame = store.neighbors(a)
            neighbours[a] = dict(zip(frame["user"].astype(str), frame["weight"].astype(float), strict=True))
        held = neighbours[a].get(b)
        if weight is None and held is not None:
            problems.append(f"link {a} - {b} was removed (acknowledged) but is stored")
        if weight is not None and (held is None or abs(held - weight) > 1e-9):
            problems.append(f"link {a} - {b} of weight {weight} acknowledged, stored {held}")
    if ledger.consent:
        users = store.get_users(sorted(ledger.consent))
        for user, consent in zip(users["id"].astype(str), users["consent_network"].astype(bool), strict=True):
            if consent != ledger.consent[user]:
                problems.append(f"consent of {user}: acknowledged {ledger.consent[user]}, stored {consent}")
    return problems


# --------------------------------------------------------------------------- report


def _ms(values: list[float], levels: tuple[int, ...]) -> list[float]:
    return list(np.percentile(np.asarray(values) * 1e3, levels)) if values else [float("nan")] * len(levels)


def report(results: Results, *, label: str, cpus: int) -> None:
    """Print the figures of a run."""
    every = [t for times in results.mutations.values() for t in times]
    p50, p90, p99 = _ms(every, (50, 90, 99))
    r50, r99 = _ms(results.reads, (50, 99))
    rate = results.acknowledged / results.seconds
    print()
    print(label)
    print(f"mutations: {results.acknowledged} acknowledged in {results.seconds:.1f} s = {rate:.0f}/s; "
          f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
    for kind, times in sorted(results.mutations.items()):
        k50, k99 = _ms(times, (50, 99))
        print(f"  {kind:<12} {len(times):>7} ({len(times) / results.seconds:>5.0f}/s)  p50 {k50:6.1f} ms  "
              f"p99 {k99:6.1f} ms")  # fmt: skip
    print(f"reads: {len(results.reads)} ({len(results.reads) / results.seconds:.0f}/s), p50 {r50:.1f} ms, "
          f"p99 {r99:.1f} ms")  # fmt: skip
    print(f"invalid inputs rejected (BAD_USER_INPUT, as they should be): {results.rejected}")
    print(f"failures: {len(results.failures)} mutations, {len(results.read_failures)} reads")
    print(f"CPU: server {results.server_cpu / results.seconds:.2f} cores, client "
          f"{results.client_cpu / results.seconds:.2f} cores (both on the same {cpus} CPUs)")  # fmt: skip


# --------------------------------------------------------------------------- main


@contextmanager
def neo4j_store(args: argparse.Namespace, tmp: Path) -> Iterator[str]:
    """The Bolt URI of the Neo4j to use: ``--neo4j-uri``, or one started (and stopped) here."""
    if args.neo4j_uri:
        yield args.neo4j_uri
        return
    from credence.graph.neo4j_server import start_neo4j, stop_neo4j

    started = time.perf_counter()
    proc = start_neo4j(home=args.neo4j_home or tmp / "neo4j", heap=args.neo4j_heap,
                       page_cache=args.neo4j_page_cache)  # fmt: skip
    print(f"neo4j started in {time.perf_counter() - started:.1f} s at {proc.bolt_uri}", flush=True)
    try:
        yield proc.bolt_uri
    finally:
        stop_neo4j(proc)


def main() -> None:
    """Parse the arguments, prepare and serve the store, run the load, check the store; print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000, help="Population to generate (if the store "
                        "holds no users).")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file to reuse if it holds users, else to "
                        "load into (kept); default: a temporary file.")  # fmt: skip
    parser.add_argument("--neo4j", action="store_true", help="Run against Neo4j instead of SQLite.")
    parser.add_argument("--neo4j-uri", default=None, help="A running Neo4j to use (implies --neo4j).")
    parser.add_argument("--neo4j-home", type=Path, default=None, help="Home of the Neo4j started here (kept, "
                        "reused with its data); default: a temporary one.")  # fmt: skip
    parser.add_argument("--neo4j-heap", default="4g")
    parser.add_argument("--neo4j-page-cache", default="2g")
    parser.add_argument("--workers", type=int, default=1, help="Server processes (one writer).")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent writers.")
    parser.add_argument("--readers", type=int, default=4, help="Concurrent score readers (0: none).")
    parser.add_argument("--read-rate", type=float, default=200.0, help="Score reads per second, all readers.")
    parser.add_argument("--seconds", type=float, default=30.0, help="Length of the counted part.")
    parser.add_argument("--warmup", type=float, default=5.0, help="Uncounted seconds of load first.")
    parser.add_argument("--select", choices=sorted(PAYLOADS), default="changes", help="What writers select from "
                        "a mutation's answer: every score change and the new score, or the new score alone.")  # fmt: skip
    parser.add_argument(
        "--invalid", type=float, default=0.01, help="Share of deliberately invalid mutations."
    )
    parser.add_argument("--sample", type=int, default=300, help="Touched users whose served score is compared "
                        "with the store.")  # fmt: skip
    parser.add_argument("--startup-timeout", type=float, default=1800.0)
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0 or not 0 <= args.invalid < 1:
        parser.error("--clients and --seconds must be positive, --invalid in [0, 1)")
    neo4j = args.neo4j or args.neo4j_uri is not None

    with tempfile.TemporaryDirectory(prefix="credence-bench-writes-") as folder:
        tmp = Path(folder)
        env = {**os.environ, "CREDENCE_HOME": str(tmp)}
        with neo4j_store(args, tmp) if neo4j else _nothing() as uri:
            if neo4j:
                from credence.graph.neo4j_store import Neo4jStore

                store_args = ["--neo4j-uri", uri]

                def open_store() -> GraphStore:
                    return Neo4jStore(uri)
            else:
                db = args.db or tmp / "bench.db"
                store_args = ["--db", str(db)]

                def open_store() -> GraphStore:
                    from credence.graph.sqlite import SQLiteStore

                    return SQLiteStore(db)

            ids, evaluated = prepare(open_store, store_args, users=args.users, seed=args.seed, env=env)
            secret = issue_key(tmp / "keys.toml", env)
            mix = Mix(ids, min(evaluated, int(time.time())), f"{int(time.time())}", args.invalid)
            with serve(store_args, tmp / "keys.toml", workers=args.workers, env=env, log=tmp / "server.log",
                       timeout=args.startup_timeout) as server:  # fmt: skip
                cpus = len(os.sched_getaffinity(server.proc.pid))
                results, ledger = measured(server, secret, ids, mix, args)
                if server.proc.poll() is not None:
                    raise SystemExit(f"the server died:\n{server.log.read_text()[-3000:]}")
                sample = random.Random(args.seed).sample(
                    sorted(ledger.touched), min(args.sample, len(ledger.touched))
                )
                with open_store() as store:
                    generation = store.latest_snapshot_seq()
                served = run_async(served_scores(server.url, secret, sample, generation=generation))
                log_tail = server.log.read_text()[-2000:]
            with open_store() as store:
                stored = {user: int(store.score_history(user)["score"].iloc[-1]) for user in sample}
                problems = check_store(store, ledger)
        mismatched = [user for user in sample if stored[user] != served[user]]

    label = (f"GraphQL mutations, {len(ids):,} users, {'Neo4j' if neo4j else 'SQLite'}, {args.workers} worker(s), "
             f"{args.clients} writers selecting {args.select}, {args.readers} readers at {args.read_rate:g}/s, loopback")  # fmt: skip
    report(results, label=label, cpus=cpus)
    writes = len(ledger.events) + len(ledger.links) + len(ledger.consent)
    print(f"checked: {len(ledger.events)} acknowledged events, {len(ledger.invalid)} invalid ones, "
          f"{len(ledger.links)} links, {len(ledger.consent)} consents against the store: {len(problems)} problems; "
          f"{len(sample) - len(mismatched)} of {len(sample)} served scores equal the latest stored snapshot")  # fmt: skip
    if results.failures or results.read_failures or problems or mismatched or not writes:
        print(f"server log (tail):\n{log_tail}")
        raise SystemExit(f"FAILED: {results.failures[:3]} {results.read_failures[:3]} {problems[:5]} "
                         f"mismatched scores {mismatched[:5]}")  # fmt: skip


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


def measured(
    server: Server, secret: str, ids: list[str], mix: Mix, args: argparse.Namespace
) -> tuple[Results, Ledger]:
    """The load, with the CPU time the server's processes and this client spent in it."""
    pids = server.pids()
    server_before, client_before = cpu_seconds(pids), client_cpu_seconds()
    results, ledger = run_async(load(server.url, secret, ids, mix=mix, clients=args.clients, readers=args.readers,
                                     read_rate=args.read_rate, seconds=args.seconds, warmup=args.warmup,
                                     seed=args.seed, select=args.select))  # fmt: skip
    # Includes the warm-up: the CPU per second is averaged over warm-up and counted part.
    total = results.seconds + args.warmup
    results.server_cpu = (cpu_seconds(pids) - server_before) * results.seconds / total
    results.client_cpu = (client_cpu_seconds() - client_before) * results.seconds / total
    return results, ledger


if __name__ == "__main__":
    main()
