"""A Neo4j store that cannot be opened: a clear StoreError, and no connection left behind.

No Neo4j is needed: one URI points at a port nobody listens on, the other at a TCP
server that accepts the connection and then speaks no Bolt (the driver's handshake
fails after the socket is connected, which is when a half-opened store could leak it).
"""

from __future__ import annotations

import gc
import socket
import threading
from collections.abc import Iterator

import pytest

from credence.core.errors import StoreError
from credence.graph.neo4j_store import Neo4jStore


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def not_bolt() -> Iterator[int]:
    """A loopback server that answers every connection with garbage and hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_nobody_listening_is_store_unavailable() -> None:
    port = _closed_port()
    with pytest.raises(StoreError) as info:
        Neo4jStore(f"bolt://127.0.0.1:{port}")
    assert info.value.code == "STORE_UNAVAILABLE"
    assert f"127.0.0.1:{port}" in str(info.value)
    gc.collect()  # a leaked driver socket would raise ResourceWarning here (warnings are errors)


def test_a_server_that_is_not_neo4j_is_store_unavailable_and_leaks_nothing(not_bolt: int) -> None:
    for _ in range(3):
        with pytest.raises(StoreError) as info:
            Neo4jStore(f"bolt://127.0.0.1:{not_bolt}")
        assert info.value.code == "STORE_UNAVAILABLE"
    gc.collect()
