"""The common changes of a follower worker: GraphQL in the follower, the engine call in the writer.

With several workers (:mod:`credence.api.workers`) one process, the primary, owns the
writer. A follower used to forward each mutation's whole HTTP request to it, so the
primary parsed, validated and executed the GraphQL of every write as well as the
change itself, all on one core. The common changes (:data:`RELAYED_CHANGES`:
repayments, spending, link changes, consent) now run in the follower up to the engine
call: the follower authenticates, checks the role and validates the input, then sends
only the call, as JSON (:func:`encode_change`), over the primary's private relay socket
(:class:`ChangeRelay` to :class:`RelayServer`). The primary checks it again
(:func:`decode_change`: a known change, plain arguments, records validated anew) and
runs it through its writer, grouped with every other client's changes under the same
transaction rules, and answers with the score changes and the generation its commit
reached. The follower waits until its change feed has applied that generation and
builds the client's answer from its own memory, so the client reads its own write there.

An error crosses as its class and facts (:func:`~credence.core.errors.error_payload`),
so the client gets what the primary would have said. A primary that cannot be reached
means nothing was applied (``STORE_UNAVAILABLE``); one that stops answering after the
call left means the outcome is unknown (``OUTCOME_UNKNOWN``), as for forwarded requests.

The socket lives in the parent's private directory (0700): only processes of the
server's own user, which could open the store directly anyway, can reach it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credence.core.errors import (
    CredenceError,
    OutcomeUnknownError,
    RequestError,
    StoreError,
    error_from_payload,
    error_payload,
)
from credence.engine import ScoreChange, ScoringEngine
from credence.graph.model import RECORD_COLUMNS, Records, repayment_records, spending_records

if TYPE_CHECKING:
    from credence.api.service import CredenceService

__all__ = ["RELAYED_CHANGES", "ChangeRelay", "RelayServer", "RelayedResult", "decode_change", "encode_change",
           "relayed_name"]  # fmt: skip

log = logging.getLogger("credence.api.relay")

#: Engine changes a follower hands to the writer as calls (the rest is forwarded whole).
RELAYED_CHANGES = frozenset(
    {"record_repayments", "record_spending", "add_link", "remove_link", "set_consent"}
)

#: The records a relayed change may carry, with the checks that validate them again.
_VALIDATORS: dict[str, Callable[[Any], Records]] = {
    "repayments": repayment_records,
    "spending": spending_records,
}

#: The most bytes of one relayed call (a change carries one record), and of one answer.
_MAX_CALL_BYTES = 64 * 1024
_MAX_ANSWER_BYTES = 256 * 1024 * 1024

#: Bytes of a message's length prefix on the relay socket.
_PREFIX_BYTES = 4

#: Seconds to open a connection to the primary's relay socket.
_CONNECT_SECONDS = 2.0


def relayed_name(engine: ScoringEngine, function: Callable[..., Any]) -> str | None:
    """The change's name if ``function`` is one of ``engine``'s :data:`RELAYED_CHANGES`, else None."""
    name = getattr(function, "__name__", None)
    if getattr(function, "__self__", None) is engine and name in RELAYED_CHANGES:
        return str(name)
    return None


def _encode_value(value: Any) -> Any:
    if isinstance(value, Records):
        if value.kind not in _VALIDATORS:
            raise TypeError(f"{value.kind} records are not relayed")
        return {"records": value.kind, "rows": [list(row) for row in value.rows]}
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TypeError(f"a relayed change takes plain values and records, not {type(value).__name__}")


def encode_change(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bytes:
    """A relayed change as the JSON message the primary's :class:`RelayServer` reads.

    Examples
    --------
    >>> encode_change("remove_link", ["ann", "bob"], {})
    b'{"change": "remove_link", "args": ["ann", "bob"], "kwargs": {}}'
    """
    if name not in RELAYED_CHANGES:
        raise ValueError(f"{name!r} is not a relayed change")
    payload = {"change": name, "args": [_encode_value(v) for v in args],
               "kwargs": {k: _encode_value(v) for k, v in kwargs.items()}}  # fmt: skip
    return json.dumps(payload, allow_nan=False).encode()


def _decode_value(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        kind, rows = value.get("records"), value.get("rows")
        validate = _VALIDATORS.get(kind) if isinstance(kind, str) else None
        if validate is None or not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise RequestError(f"relayed change: {where} is not a record set")
        columns = list(RECORD_COLUMNS[str(kind)])
        if any(len(row) != len(columns) for row in rows):
            raise RequestError(f"relayed change: {where}: every row needs {len(columns)} values")
        return validate([dict(zip(columns, row, strict=True)) for row in rows])
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise RequestError(f"relayed change: {where} is not a plain value")


def decode_change(body: bytes) -> tuple[str, list[Any], dict[str, Any]]:
    """The change, arguments and keyword arguments of a relayed call, checked (records validated again).

    Raises
    ------
    RequestError
        If the body is not a relayed call of a known change with plain arguments.
    ValidationError
        If its records do not pass the checks of their kind.

    Examples
    --------
    >>> decode_change(encode_change("set_consent", ["ann", False], {"actor": "app"}))
    ('set_consent', ['ann', False], {'actor': 'app'})
    >>> decode_change(b'{"change": "recompute", "args": [], "kwargs": {}}')
    Traceback (most recent call last):
    ...
    credence.core.errors.RequestError: relayed change: 'recompute' is not one of add_link, record_repayments, record_spending, remove_link, set_consent
    """
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise RequestError(f"relayed change: not JSON ({error})") from None
    if not isinstance(payload, dict):
        raise RequestError("relayed change: not a JSON object")
    name, args, kwargs = payload.get("change"), payload.get("args"), payload.get("kwargs")
    if name not in RELAYED_CHANGES:
        raise RequestError(f"relayed change: {name!r} is not one of {', '.join(sorted(RELAYED_CHANGES))}")
    if (
        not isinstance(args, list)
        or not isinstance(kwargs, dict)
        or not all(isinstance(k, str) for k in kwargs)
    ):
        raise RequestError("relayed change: args must be a list and kwargs an object")
    return (
        str(name),
        [_decode_value(v, f"argument {i}") for i, v in enumerate(args)],
        {k: _decode_value(v, f"argument {k!r}") for k, v in kwargs.items()},
    )


@dataclass(frozen=True)
class RelayedResult:
    """What the primary answered a relayed change: the score changes and its commit's generation."""

    changes: list[ScoreChange]
    generation: int


def _frame(body: bytes) -> bytes:
    """``body`` behind its length (4 bytes, big-endian): one message on the relay socket."""
    return len(body).to_bytes(_PREFIX_BYTES, "big") + body


async def _read_frame(reader: asyncio.StreamReader, limit: int) -> bytes:
    """The next message on ``reader`` (``IncompleteReadError`` at the end of the stream)."""
    size = int.from_bytes(await reader.readexactly(_PREFIX_BYTES), "big")
    if size > limit:
        raise RequestError(f"relayed change: a message of {size} bytes, above {limit}")
    return await reader.readexactly(size)


class ChangeRelay:
    """A follower's line to the primary's writer for :data:`RELAYED_CHANGES`.

    Calls go over the primary's relay socket as length-prefixed JSON messages, one call
    at a time per connection; idle connections are kept for the next call (no HTTP
    client on this path: it costs milliseconds of CPU per request, the relay tens of
    microseconds).

    Parameters
    ----------
    path : Path
        The primary's relay socket (:func:`~credence.api.workers.relay_socket`).
    timeout : float
        Seconds to wait for the answer to a call that has left.
    """

    def __init__(self, path: Path, *, timeout: float = 120.0) -> None:
        self.path = path
        self.timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()  # the primary went away since: its replacement listens anew
        try:
            return await asyncio.wait_for(asyncio.open_unix_connection(str(self.path)), _CONNECT_SECONDS)
        except (OSError, TimeoutError) as error:
            raise StoreError(f"the writer process is not reachable ({error.__class__.__name__}); nothing was "
                             "applied", retry_after=1) from error  # fmt: skip

    async def apply(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> RelayedResult:
        """Have the primary's writer apply the change; its result once committed.

        Raises
        ------
        CredenceError
            The error the primary's writer raised (same class and facts); a
            ``StoreError`` when the primary cannot be reached (nothing was applied);
            an ``OutcomeUnknownError`` when the call left and no answer came.
        """
        body = encode_change(name, args, kwargs)
        reader, writer = await self._connect()
        try:
            writer.write(_frame(body))
            await writer.drain()
            answer = await asyncio.wait_for(_read_frame(reader, _MAX_ANSWER_BYTES), self.timeout)
        except (OSError, EOFError, TimeoutError, RequestError) as error:
            writer.close()
            raise OutcomeUnknownError(f"the writer process stopped answering ({error.__class__.__name__}); the "
                                      "change may or may not have been applied", retry_after=1) from error  # fmt: skip
        except BaseException:
            writer.close()  # cancelled mid-call: the stream is out of step
            raise
        self._idle.append((reader, writer))
        try:
            payload = json.loads(answer)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise CredenceError("the writer answered a relayed change with something unreadable")
        if "error" in payload:
            raise error_from_payload(payload["error"])
        return RelayedResult(
            changes=[ScoreChange(str(u), int(b), int(a)) for u, b, a in payload["changes"]],
            generation=int(payload["generation"]),
        )

    async def close(self) -> None:
        """Close the idle connections."""
        while self._idle:
            self._idle.pop()[1].close()


class RelayServer:
    """The primary's end of the relay: each follower's calls, run by this process's writer.

    Parameters
    ----------
    service : CredenceService
        The primary's service (its writer applies the changes).
    """

    def __init__(self, service: CredenceService) -> None:
        self.service = service
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self, sock: socket.socket) -> None:
        """Serve the listening relay socket ``sock`` (the claim's) until :meth:`close`."""
        self._server = await asyncio.start_unix_server(self._serve, sock=sock)

    async def close(self) -> None:
        """Stop listening and close every follower's connection (they reconnect to the next primary)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                try:
                    body = await _read_frame(reader, _MAX_CALL_BYTES)
                except asyncio.IncompleteReadError:
                    return  # the follower closed the connection
                except RequestError as error:  # too big: answered, then closed (the stream is out of step)
                    writer.write(_frame(json.dumps({"error": error_payload(error)}).encode()))
                    await writer.drain()
                    return
                writer.write(_frame(await self.answer(body)))
                await writer.drain()
        except OSError:
            pass  # the follower went away mid-answer; its client hears OUTCOME_UNKNOWN
        finally:
            self._connections.discard(writer)
            writer.close()

    async def answer(self, body: bytes) -> bytes:
        """The answer to one relayed call: ``{"changes", "generation"}`` or ``{"error"}``, as JSON."""
        service = self.service
        try:
            name, args, kwargs = decode_change(body)
            changes = await service.mutate(getattr(service.engine, name), *args, **kwargs)
            answer: dict[str, Any] = {
                "changes": [[c.user, c.before, c.after] for c in changes if c.moved],
                "generation": service.generation_token(),
            }
        except CredenceError as error:
            answer = {"error": error_payload(error)}
        except Exception:
            log.exception("a relayed change failed")
            answer = {"error": error_payload(CredenceError("the writer failed on this change (see its log)"))}
        return json.dumps(answer).encode()
