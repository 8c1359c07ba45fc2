"""The HTTP door of ``/graphql``: a request body is checked before GraphQL sees it.

A POST body must be at most :attr:`~credence.api.config.Limits.max_body_bytes` long
(``Content-Length`` is believed only as far as it is true: the body is counted as it
arrives), valid UTF-8, and JSON whose top level is an object. Anything else is answered
here in the GraphQL response shape, with the status GraphQL over HTTP gives request
errors: 413 ``LIMIT_EXCEEDED`` (with ``limit``, ``value`` and ``maximum``) for a body
too large, 400 ``BAD_REQUEST`` naming what is wrong and where (the byte offset of
invalid UTF-8, the line and column of a JSON syntax error, the JSON type found, the
operations to choose from when a document has several and no ``operationName``).
Persisted queries (:mod:`credence.api.persisted`) are resolved here too: a known hash
gets its query text; a miss is answered 200 ``PERSISTED_QUERY_NOT_FOUND``, a query off
the allow-list 403 ``PERSISTED_QUERY_NOT_IN_LIST``. A checked body is handed on
unchanged, or with the query a hash stands for.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, parse

from credence.api.asgi import ASGIApp, Receive, Scope, Send, read_body, replay_body
from credence.api.persisted import PersistedQueries
from credence.api.tracing import current_request_id
from credence.core.errors import (
    CredenceError,
    LimitExceededError,
    PersistedQueryNotFoundError,
    QueryNotAllowedError,
    RequestError,
)

__all__ = [
    "RequestGuard",
    "check_operation",
    "document_of",
    "parse_body",
    "send_error",
]

_JSON_TYPES = {int: "a number", float: "a number", str: "a string", bool: "a boolean", list: "an array",
               type(None): "null"}  # fmt: skip


@functools.lru_cache(maxsize=1_024)
def document_of(query: str) -> DocumentNode | None:
    """The parsed document of ``query`` (cached per distinct text), or None if it does not parse."""
    try:
        return parse(query)
    except GraphQLError:
        return None


def parse_body(body: bytes, content_type: str = "application/json") -> dict[str, Any] | None:
    r"""The JSON object of a GraphQL POST body; refuses one that is not UTF-8 JSON with an object at its top.

    Only JSON bodies are read; other content types (multipart uploads, form posts) are
    left to GraphQL's own handling (None).

    Raises
    ------
    RequestError
        Naming what is wrong and where.

    Examples
    --------
    >>> parse_body(b'{"query": "{ scoreStats { count } }"}')
    {'query': '{ scoreStats { count } }'}
    >>> parse_body(b"42")
    Traceback (most recent call last):
    ...
    credence.core.errors.RequestError: the request body is JSON but a number, not an object with "query"
    >>> parse_body(b'{"query": "\xff"}')
    Traceback (most recent call last):
    ...
    credence.core.errors.RequestError: the request body is not valid UTF-8: byte 0xff at offset 11
    """
    if "json" not in content_type:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(
            f"the request body is not valid UTF-8: byte 0x{body[error.start]:02x} at offset {error.start}"
        ) from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(
            f"the request body is not JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    if not isinstance(payload, dict):
        found = _JSON_TYPES.get(type(payload), type(payload).__name__)
        raise RequestError(f'the request body is JSON but {found}, not an object with "query"')
    return payload


def check_operation(payload: dict[str, Any]) -> None:
    """Refuse a document with several operations and no ``operationName`` (the first would run).

    Examples
    --------
    >>> check_operation({"query": "query A { scoreStats { count } } query B { scoreStats { count } }"})
    Traceback (most recent call last):
    ...
    credence.core.errors.RequestError: the query has 2 operations (A, B): say which to run in "operationName"
    """
    query = payload.get("query")
    if isinstance(query, str) and payload.get("operationName") is None:
        document = document_of(query)
        operations = [] if document is None else [d for d in document.definitions
                                                   if isinstance(d, OperationDefinitionNode)]  # fmt: skip
        if len(operations) > 1:
            names = ", ".join(op.name.value if op.name else "(anonymous)" for op in operations)
            raise RequestError(f"the query has {len(operations)} operations ({names}): say which to run in "
                               '"operationName"')  # fmt: skip


class RequestGuard:
    """ASGI wrapper of the GraphQL app: checks POST bodies and their size, resolves persisted queries.

    Parameters
    ----------
    app : ASGI app
        What serves the checked requests.
    max_body_bytes : int
        The largest body accepted.
    persisted : PersistedQueries, optional
        Persisted queries (automatic, or an allow-list); None turns them off.
    """

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, persisted: PersistedQueries | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.persisted = persisted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request: refuse a bad POST body here, hand everything else on."""
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > self.max_body_bytes:
                raise LimitExceededError("body_bytes", declared, self.max_body_bytes)
            body = await read_body(receive, max_bytes=self.max_body_bytes)
            payload = parse_body(body, headers.get("content-type", "application/json"))
            if payload is not None:
                resolved = payload if self.persisted is None else self.persisted.resolve(payload)
                check_operation(resolved)
                if resolved is not payload:
                    body = json.dumps(resolved).encode()
        except (LimitExceededError, RequestError, QueryNotAllowedError, PersistedQueryNotFoundError) as error:
            # A persisted-query miss is HTTP 200: the client's cue to send the query with its hash.
            status = {LimitExceededError: 413, PersistedQueryNotFoundError: 200, QueryNotAllowedError: 403}
            await send_error(send, status.get(type(error), 400), error)
            return
        await self.app(scope, replay_body(body), send)


async def send_error(send: Send, status: int, error: CredenceError) -> None:
    """Answer an HTTP request with ``error`` alone, in the GraphQL response shape (with the request id)."""
    rid = current_request_id()
    extensions = {**error.extensions, **({} if rid is None else {"request_id": rid})}
    body = json.dumps({"data": None, "errors": [{"message": str(error), "extensions": extensions}]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
