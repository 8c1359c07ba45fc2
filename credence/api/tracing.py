"""Request ids: every HTTP request gets one, echoed back and named in its errors and log lines.

A client may send its own ``X-Request-Id`` (1-128 characters of letters, digits and
``._:-``, so that it is safe in a log line and a header); otherwise one is made. It is
returned in the ``X-Request-Id`` response header, added to the ``extensions`` of every
error of the response (``request_id``), and named in what the server logs about the
request. A follower worker forwards it to the primary, so both logs carry the same id.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from credence.api.asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID_HEADER", "RequestIds", "current_request_id", "request_id_of"]

REQUEST_ID_HEADER = "x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CURRENT: ContextVar[str | None] = ContextVar("credence_request_id", default=None)


def request_id_of(sent: str | None) -> str:
    r"""The id of a request: the client's if it is well formed, else a new one.

    Examples
    --------
    >>> request_id_of("checkout-42")
    'checkout-42'
    >>> len(request_id_of("no spaces or\nnewlines")), len(request_id_of(None))
    (32, 32)
    """
    if sent is not None and _VALID.match(sent):
        return sent
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served in this context, or None outside one."""
    return _CURRENT.get()


class RequestIds:
    """ASGI middleware: give each HTTP request its id and echo it in the response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request with its id set for everything it runs."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"x-request-id"), None
        )
        rid = request_id_of(sent)
        token = _CURRENT.set(rid)

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            _CURRENT.reset(token)
