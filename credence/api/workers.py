"""Several worker processes, one writer: forwarding, the change feed and read-your-writes.

``credence serve --workers N`` starts N uvicorn processes on one public port. Each,
once it has restored its engine from the store, tries to take the election lock in a
private directory of the parent's (:func:`claim_primary`); the one that gets it is the
**primary**: it owns the writer (every change of every client goes through it) and
also serves a private Unix socket there. The others are **followers**:

* a follower forwards to the primary every request that changes something and every
  read of what only an exact engine can answer (network evidence, analyses, what-ifs,
  the audit log) — :func:`needs_primary` decides from the document — and answers the
  rest (scores, components, reasons, lists, statistics, histories) from its own memory;
* it keeps that memory current by tailing the snapshots the primary commits
  (:class:`SnapshotFollower`, :meth:`~credence.engine.ScoringEngine.follow`), and
  publishes what moved to its own subscribers, so a subscription works on whichever
  worker holds the socket;
* every response carries ``extensions.generation``: the sequence number of the newest
  snapshot the answering worker has (for a change: committed). A client that sends it
  back in the ``X-Credence-Generation`` header is answered only once the worker has
  caught up with it, so it reads its own writes on any worker.

If the primary dies, the kernel releases its lock; uvicorn starts a new process, which
restores from the store, takes the lock and becomes the primary. Until then followers
answer changes with ``STORE_UNAVAILABLE`` (nothing was applied), or with
``OUTCOME_UNKNOWN`` for a change that reached the primary before it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

from credence.api.asgi import ASGIApp, Receive, Scope, Send, read_body, replay_body
from credence.api.guard import document_of, send_error
from credence.core.errors import CredenceError, OutcomeUnknownError, StoreError
from credence.engine import ScoringEngine
from credence.graph.store import GraphStore, RecomputeRecord

__all__ = [
    "GENERATION_HEADER",
    "PRIMARY_FIELDS",
    "RELAYED_MUTATIONS",
    "ROLE_HEADER",
    "FeedMark",
    "ForwardingApp",
    "PrimaryClaim",
    "SnapshotFollower",
    "claim_primary",
    "feed_mark",
    "needs_primary",
    "post_to_primary",
    "primary_client",
    "primary_socket",
    "relay_socket",
]

log = logging.getLogger("credence.api.workers")

#: Fields only the primary's exact engine (or its writer) answers.
PRIMARY_FIELDS = frozenset({
    "network", "friends", "flags", "influencePaths", "suspiciousClusters", "sybilSuspects", "communities",
    "whatIf", "auditLog",
})  # fmt: skip

#: The request header that carries a read-your-writes token.
GENERATION_HEADER = "x-credence-generation"

#: The response header of a follower: ``primary`` (forwarded) or ``follower`` (answered here).
ROLE_HEADER = "x-credence-worker"

#: How long a worker waits to catch up with a token before it gives up.
CATCH_UP_SECONDS = 5.0


@dataclass(frozen=True)
class PrimaryClaim:
    """What the primary holds while it lives: the election lock and its private sockets.

    ``socket`` takes the followers' forwarded HTTP requests, ``relay`` their relayed
    changes (:mod:`credence.api.relay`).
    """

    lock: IO[bytes]
    relay: socket.socket  # before ``socket``, whose name hides the module in this class body
    socket: socket.socket

    def release(self) -> None:
        """Give up the claim (close the sockets, unlock)."""
        self.socket.close()
        self.relay.close()
        self.lock.close()


def claim_primary(directory: Path) -> PrimaryClaim | None:
    """Try to become the primary of the workers sharing ``directory``: the claim, or None if taken.

    The election is an exclusive ``flock`` on ``directory/primary.lock``, which the
    kernel releases when its holder dies, even by SIGKILL; the winner then listens on
    the Unix sockets ``directory/primary.sock`` (forwarded requests) and
    ``directory/relay.sock`` (relayed changes); the directory is the parent's, 0700.
    No TCP port is involved, so no outgoing connection can ever occupy it.

    Examples
    --------
    >>> import tempfile
    >>> directory = Path(tempfile.mkdtemp())
    >>> first = claim_primary(directory)
    >>> first is not None and (directory / "primary.sock").exists()
    True
    >>> claim_primary(directory) is None  # held: a second process would be a follower
    True
    >>> first.release()
    >>> again = claim_primary(directory)  # free again
    >>> again is not None
    True
    >>> again.release()
    """
    lock = (directory / "primary.lock").open("ab")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    sockets = []
    for path in (primary_socket(directory), relay_socket(directory)):
        path.unlink(missing_ok=True)  # a dead primary's; only the lock holder gets here
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.listen(128)
        sockets.append(sock)
    return PrimaryClaim(lock=lock, socket=sockets[0], relay=sockets[1])


def primary_socket(directory: Path) -> Path:
    """Where the primary of the workers sharing ``directory`` takes forwarded HTTP requests."""
    return directory / "primary.sock"


def relay_socket(directory: Path) -> Path:
    """Where the primary of the workers sharing ``directory`` takes relayed changes."""
    return directory / "relay.sock"


def primary_client(path: Path) -> httpx.AsyncClient:
    """A connection pool to the primary's private socket ``path`` (a change may take long; connecting may not)."""
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=str(path)), timeout=httpx.Timeout(120.0, connect=2.0)
    )


async def post_to_primary(
    client: httpx.AsyncClient, path: str, body: bytes, headers: Mapping[str, str]
) -> httpx.Response:
    """POST ``body`` to the primary's ``path``; its response.

    Raises
    ------
    StoreError
        When nothing reached the primary (nothing was applied: try again).
    OutcomeUnknownError
        When the request left and no answer came (a change may or may not have been applied).
    """
    try:
        return await client.post(f"http://primary{path}", content=body, headers=dict(headers))
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise StoreError(f"the writer process is not reachable ({error.__class__.__name__}); nothing was applied",
                         retry_after=1) from error  # fmt: skip
    except httpx.HTTPError as error:
        raise OutcomeUnknownError(f"the writer process stopped answering ({error.__class__.__name__}); the "
                                  "change may or may not have been applied", retry_after=1) from error  # fmt: skip


#: Mutations a follower runs itself, handing only the engine call to the writer (:mod:`credence.api.relay`).
RELAYED_MUTATIONS = frozenset({"recordRepayment", "recordSpending", "addLink", "removeLink", "setConsent"})


def needs_primary(body: bytes, *, relayed: frozenset[str] = frozenset()) -> bool:
    """Whether a GraphQL HTTP body must be answered by the primary.

    Changes (mutations) and reads of :data:`PRIMARY_FIELDS` (anywhere in the selection,
    fragments included) go to the primary; plain score reads, and anything that does
    not parse (the local schema then reports the error), stay. So does a mutation whose
    every root field is one of ``relayed`` (:data:`RELAYED_MUTATIONS` in a follower that
    relays them) and that selects none of :data:`PRIMARY_FIELDS`.

    Examples
    --------
    >>> needs_primary(b'{"query": "query($u: String!) { user(id: $u) { score reasons { code } } }"}')
    False
    >>> needs_primary(b'{"query": "mutation($u: String!) { setConsent(user: $u, consent: false) { users { score } } }"}')
    True
    >>> needs_primary(b'{"query": "query($u: String!) { user(id: $u) { ...F } } fragment F on User { network { value } }"}')
    True
    >>> consent = b'{"query": "mutation($u: String!) { setConsent(user: $u, consent: false) { users { score } } }"}'
    >>> needs_primary(consent, relayed=RELAYED_MUTATIONS), needs_primary(consent)
    (False, True)
    """
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return False
    document = document_of(payload["query"])
    if document is None:
        return False
    name = payload.get("operationName")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [op for op in operations if name is None or (op.name is not None and op.name.value == name)]
    if not chosen:
        return False
    operation = chosen[0]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if operation.operation == OperationType.MUTATION:
        roots = operation.selection_set.selections
        if not roots or not all(isinstance(f, FieldNode) and f.name.value in relayed for f in roots):
            return True
    elif operation.operation != OperationType.QUERY:
        return True
    return _selects_primary(operation.selection_set, fragments, set())


def _selects_primary(
    selection: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> bool:
    if selection is None:
        return False
    for node in selection.selections:
        if isinstance(node, FieldNode):
            if node.name.value in PRIMARY_FIELDS or _selects_primary(node.selection_set, fragments, seen):
                return True
        elif isinstance(node, InlineFragmentNode):
            if _selects_primary(node.selection_set, fragments, seen):
                return True
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            seen.add(node.name.value)
            fragment = fragments.get(node.name.value)
            if fragment is not None and _selects_primary(fragment.selection_set, fragments, seen):
                return True
    return False


#: A point in the primary's history: the newest snapshot's sequence number and the newest recompute.
FeedMark = tuple[int, RecomputeRecord | None]


def feed_mark(store: GraphStore) -> FeedMark:
    """Where the store's history stands now (read before restoring a follower's engine)."""
    return store.latest_snapshot_seq(), store.latest_recompute()


class SnapshotFollower:
    """A follower's thread that applies the primary's committed snapshots to the local engine.

    Parameters
    ----------
    engine : ScoringEngine
        The follower's engine (restored from the store at start).
    store : GraphStore
        The shared store (the thread reads it on a connection of its own).
    publish : callable
        Receives the score changes each batch moved (the follower's subscribers).
    since : FeedMark
        Where the engine's restore started from (:func:`feed_mark`, read *before* the
        restore): the snapshots after it are applied again, which is harmless, and
        none committed during the restore is missed.
    interval : float
        Seconds between looks at the feed when nobody is waiting.
    """

    def __init__(self, engine: ScoringEngine, store: GraphStore, publish: Callable[[list[Any]], object],
                 *, since: FeedMark, interval: float = 0.05) -> None:  # fmt: skip
        self.engine = engine
        self.store = store
        self.publish = publish
        self.interval = interval
        self.applied, self._recompute = since
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="credence-follower", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start following."""
        self._thread.start()

    def stop(self) -> None:
        """Stop following (waits for the thread)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def poke(self) -> None:
        """Look at the feed now (someone waits for a token)."""
        self._wake.set()

    async def caught_up(self, seq: int, timeout: float = CATCH_UP_SECONDS) -> bool:
        """Wait until the snapshots up to ``seq`` are applied; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.applied < seq:
            if time.monotonic() > deadline:
                return False
            self.poke()
            await asyncio.sleep(0.005)
        return True

    async def wait_for_commit(self, seq: int) -> None:
        """Wait until a change this worker handed on (committed at ``seq``) is applied here; log if it never is.

        The change is stored either way: a follower that lags answers with what it has.
        """
        if not await self.caught_up(seq):
            log.warning(
                "worker has applied generation %d, not yet the %d its change committed", self.applied, seq
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.step()
                self.error = None
            except CredenceError as error:
                if self.error is None:
                    log.warning("following the primary's snapshots failed: %s", error)
                self.error = error
                self._stop.wait(1.0)

    def step(self) -> int:
        """Apply what the feed holds now; the number of snapshots applied."""
        record = self.store.latest_recompute()
        if record != self._recompute:
            # A full recompute moved the evaluation time and the prior: take it whole.
            seq = self.store.latest_snapshot_seq()
            self.engine.restore()
            self._recompute, self.applied = record, seq
            return 0
        applied = 0
        while True:
            feed, last = self.store.snapshots_after(self.applied, limit=5_000)
            if feed.empty:
                return applied
            changes = self.engine.follow(feed)
            self.applied = last
            applied += len(feed)
            if changes:
                self.publish(changes)


class ForwardingApp:
    """A follower's ``/graphql``: forward to the primary what it must answer, serve the rest.

    A forwarded change's answer carries the primary's commit token; the follower waits
    until it has applied it before answering, so the same client then reads its own
    write here too. A token sent in :data:`GENERATION_HEADER` is waited for likewise.

    Parameters
    ----------
    local : ASGI app
        The follower's own GraphQL app (reads it may answer, and websockets).
    primary : Path
        The primary's private Unix socket (:func:`primary_socket`).
    follower : SnapshotFollower
        The thread that keeps the follower's engine current.
    relayed : frozenset of str
        Mutations answered here, their engine call relayed to the writer
        (:data:`RELAYED_MUTATIONS`, :mod:`credence.api.relay`); any other is forwarded.
    """

    def __init__(self, local: ASGIApp, *, primary: Path, follower: SnapshotFollower,
                 relayed: frozenset[str] = frozenset()) -> None:  # fmt: skip
        self.local = local
        self.primary = primary
        self.follower = follower
        self.relayed = relayed
        self.client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        """Close the connection pool to the primary."""
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request (HTTP forwarded or served; anything else served)."""
        local, follower = self.local, self.follower
        if self.client is None:
            self.client = primary_client(self.primary)
        client = self.client
        if scope["type"] != "http":
            await local(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        wanted = _token(headers.get(GENERATION_HEADER))
        if wanted is not None and not await follower.caught_up(wanted):
            lag = StoreError(f"this worker has not caught up with generation {wanted} yet", retry_after=1)
            await send_error(send, 200, lag)
            return
        if scope.get("method") == "POST":
            body = await read_body(receive)
            if not needs_primary(body, relayed=self.relayed):
                await local(scope, replay_body(body), _with_role(send, b"follower"))
                return
        else:
            # A query over GET that only the primary may answer goes to it as the same query over POST.
            as_post = _get_as_body(scope.get("query_string", b""))
            if as_post is None or not needs_primary(as_post):
                await local(scope, receive, _with_role(send, b"follower"))
                return
            body, headers["content-type"] = as_post, "application/json"
        forward = {
            k: v
            for k, v in headers.items()
            if k in ("authorization", "x-api-key", "content-type", "x-request-id")
        }
        try:
            response = await post_to_primary(client, "/graphql", body, forward)
        except StoreError as failure:
            await send_error(send, 200, failure)
            return
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            await follower.wait_for_commit(int(response.json().get("extensions", {}).get("generation")))
        content_type = response.headers.get("content-type", "application/json").encode()
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(b"content-type", content_type), (ROLE_HEADER.encode(), b"primary")]})  # fmt: skip
        await send({"type": "http.response.body", "body": response.content})


def _get_as_body(query_string: bytes) -> bytes | None:
    """A GraphQL GET request's parameters as the JSON body of the same request over POST (None without a query).

    Examples
    --------
    >>> _get_as_body(b"query=%7B%20model%20%7B%20version%20%7D%20%7D")
    b'{"query": "{ model { version } }"}'
    >>> _get_as_body(b"") is None
    True
    """
    params = urllib.parse.parse_qs(query_string.decode("latin-1"))
    if "query" not in params:
        return None
    payload: dict[str, Any] = {"query": params["query"][0]}
    if "operationName" in params:
        payload["operationName"] = params["operationName"][0]
    if "variables" in params:
        with contextlib.suppress(ValueError):
            payload["variables"] = json.loads(params["variables"][0])
    return json.dumps(payload).encode()


def _with_role(send: Send, role: bytes) -> Send:
    async def tagged(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (ROLE_HEADER.encode(), role)]}
        await send(message)

    return tagged


def _token(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        token = int(value)
    except ValueError:
        return None
    return token if token >= 0 else None
