"""A live Credence GraphQL server for tests: real store, real engine, uvicorn on 127.0.0.1.

The server runs in a background thread of the test process (uvicorn over real TCP);
clients talk to it with ``gql`` over HTTP and websockets, exactly as an app would.
"""

from __future__ import annotations

import calendar
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

from credence.api.app import create_app
from credence.api.config import ApiConfig, Limits
from credence.api.keys import issue_api_key, read_api_keys
from credence.api.service import CredenceService
from credence.engine import ScoringEngine

ROLES = ("app", "analyst", "admin")


def iso(seconds: float) -> str:
    """Epoch seconds as the API's ``DateTime`` text, made with ``time`` (not the code under test)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def epoch(text: str) -> int:
    """The epoch seconds of a ``DateTime`` the API answered (which must end in ``Z``)."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


@dataclass
class LiveApi:
    """A running server and what tests need to talk to it and check it."""

    url: str
    secrets: dict[str, str]
    service: CredenceService

    @property
    def engine(self) -> ScoringEngine:
        return self.service.engine

    @property
    def store(self) -> Any:
        return self.service.store

    def client(self, role: str | None) -> Client:
        headers = {} if role is None else {"Authorization": f"Bearer {self.secrets[role]}"}
        return Client(transport=HTTPXTransport(url=self.url, headers=headers, timeout=120),
                      fetch_schema_from_transport=False)  # fmt: skip

    def run(self, role: str | None, query: str, **variables: Any) -> dict[str, Any]:
        """Execute and return data (raises TransportQueryError on GraphQL errors)."""
        with self.client(role) as session:
            return session.execute(GraphQLRequest(query, variable_values=variables or None))  # type: ignore[no-any-return]

    def error(self, role: str | None, query: str, **variables: Any) -> dict[str, Any]:
        """Execute a request that must fail; return its first error."""
        code, payload = self.outcome(role, query, **variables)
        if code == "ok":
            raise AssertionError(f"expected an error from {query!r}, got {payload!r}")
        return payload

    def outcome(self, role: str | None, query: str, **variables: Any) -> tuple[str, dict[str, Any]]:
        """("ok", data) or (error code, first error) of one request."""
        try:
            return "ok", self.run(role, query, **variables)
        except TransportQueryError as failure:
            if not failure.errors:
                raise
            return str(failure.errors[0]["extensions"]["code"]), failure.errors[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_api(store: Any, now: int, tmp: Path, *, limits: Limits | None = None,
             cors_origins: tuple[str, ...] = (), allowed_queries: dict[str, str] | None = None) -> Iterator[LiveApi]:  # fmt: skip
    """Score ``store`` and serve it until the block ends."""
    engine = ScoringEngine(store, now=now)
    engine.recompute()
    keys_path = tmp / "keys.toml"
    secrets = {role: issue_api_key(keys_path, name=f"test-{role}", role=role) for role in ROLES}
    config = ApiConfig(keys=read_api_keys(keys_path), limits=limits or Limits(), cors_origins=cors_origins,
                       allowed_queries=allowed_queries)  # fmt: skip
    service = CredenceService(store=store, engine=engine)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service, config), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off", ws="websockets-sansio"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveApi(url=f"http://127.0.0.1:{port}/graphql", secrets=secrets, service=service)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        service.executor.shutdown(wait=True)


@contextmanager
def live_population(request: Any, tmp: Path, dataset: Any, now: int, **options: Any) -> Iterator[LiveApi]:
    """``dataset`` loaded into the store ``request.param`` names (sqlite, or the session's Neo4j), served.

    For module fixtures parametrized over the backends; a Neo4j store is cleared before
    and after. ``options`` go to :func:`live_api`.
    """
    if request.param == "sqlite":
        from credence.graph.sqlite import SQLiteStore

        store: Any = SQLiteStore(tmp / "credence.db")
    else:
        from credence.graph.neo4j_store import Neo4jStore

        store = Neo4jStore(request.getfixturevalue("neo4j_uri"))
        store.clear(forget_erasures=True)
    store.load(dataset)
    try:
        with live_api(store, now, tmp, **options) as server:
            yield server
    finally:
        if request.param == "neo4j":
            store.clear(forget_erasures=True)
        store.close()
