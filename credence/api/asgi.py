"""Plain ASGI plumbing shared by the HTTP layers: the callable types, reading and replaying a body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from credence.core.errors import LimitExceededError

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send", "read_body", "replay_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def read_body(receive: Receive, *, max_bytes: int | None = None) -> bytes:
    """The whole body of an ASGI HTTP request; :class:`LimitExceededError` past ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise LimitExceededError("body_bytes", size, max_bytes)
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def replay_body(body: bytes) -> Receive:
    """An ASGI ``receive`` that hands on ``body`` already read, then a disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
