"""The ASGI app and the server: GraphQL at ``/graphql``, the analyst console at ``/console``, health at ``/healthz``.

:func:`create_app` wires a :class:`~credence.api.service.CredenceService` and an
:class:`~credence.api.config.ApiConfig` into a Starlette app; :func:`open_service` opens the
store and brings the engine up to date (recomputing only when the store holds no
scores of the current model); :func:`serve` runs it all under uvicorn. With several
workers each process opens its own service (uvicorn's factory mode reads the
settings from ``CREDENCE_SERVE``); one of them is the writer and the others follow it
(:mod:`credence.api.workers`).

Callers authenticate with ``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``),
on HTTP and on the websocket handshake of subscriptions (graphql-transport-ws).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from credence.api import console
from credence.api.budget import CostBuckets
from credence.api.config import ApiConfig, Limits
from credence.api.context import Context
from credence.api.graphiql import STATIC_DIR, STATIC_PATH, render_page
from credence.api.guard import RequestGuard
from credence.api.keys import KeyFile
from credence.api.persisted import PersistedQueries, read_manifest
from credence.api.relay import ChangeRelay, RelayServer
from credence.api.schema import build_schema
from credence.api.service import CredenceService
from credence.api.tracing import RequestIds
from credence.api.workers import (
    GENERATION_HEADER,
    RELAYED_MUTATIONS,
    ROLE_HEADER,
    ForwardingApp,
    PrimaryClaim,
    SnapshotFollower,
    claim_primary,
    feed_mark,
    primary_socket,
    relay_socket,
)
from credence.core.errors import ParameterError, StoreError
from credence.engine import ScoringEngine
from credence.graph.config import StoreConfig, open_store, store_config_from_dict
from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy

__all__ = [
    "SERVING_SWITCH_INTERVAL",
    "ServeSettings",
    "create_app",
    "open_service",
    "serve",
    "settle_serving_process",
]

log = logging.getLogger("credence.api")
SERVE_ENV = "CREDENCE_SERVE"

#: Seconds a thread may hold the GIL while another waits for it, in a serving process.
#: Python's 5 ms default lets the request loop hold the writer (or the feed follower)
#: up to 5 ms after each store call, which releases the GIL; 1 ms measured 1.2x the
#: mutations per second (docs/benchmarks.md#writes).
SERVING_SWITCH_INTERVAL = 0.001


def settle_serving_process() -> None:
    """Tune a process that is about to serve: the GIL hand-over and the cyclic GC.

    Everything loaded so far (the engine's arrays and dictionaries, the schema, the
    modules) lives as long as the process; ``gc.freeze`` keeps the cyclic collector from
    walking it again, since a full collection of it stalled every request by 120-140 ms
    at 100k users.
    """
    sys.setswitchinterval(SERVING_SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()


def _secret(headers: Any) -> str | None:
    auth = headers.get("authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return str(value.strip())
    key = headers.get("x-api-key")
    return str(key).strip() if key else None


class _CredenceGraphQL(GraphQL[Context, None]):
    def __init__(self, service: CredenceService, config: ApiConfig) -> None:
        super().__init__(
            build_schema(config), graphql_ide="graphiql" if config.graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )  # fmt: skip
        self.service = service
        self.config = config

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        key = self.config.keys.authenticate(_secret(request.headers))
        return Context(service=self.service, config=self.config, key=key,
                       response=None if isinstance(response, WebSocket) else response)  # fmt: skip

    async def render_graphql_ide(self, request: Request) -> Response:
        """Credence's GraphiQL page, with its assets from the package (never a CDN)."""
        return HTMLResponse(render_page(endpoint=str(request.url.path)))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Accept a websocket only with a key: from the handshake headers, or in ``connection_init``.

        Browsers cannot set headers on a websocket, so the payload may carry
        ``{"authorization": "Bearer <key>"}`` (or ``{"apiKey": "<key>"}``). Without a valid
        key the socket is closed with 4403 before any subscription starts.
        """
        if context.key is None:
            params = {str(k).lower(): v for k, v in (context.connection_params or {}).items()}
            secret = params.get("apikey") or params.get("x-api-key")
            if secret is None:
                secret = _secret({"authorization": params.get("authorization") or ""})
            context.key = self.config.keys.authenticate(secret if isinstance(secret, str) else None)
        if context.key is None:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED",
                                            "message": "no valid API key in the handshake headers or connection_init"})  # fmt: skip
        return UNSET


def create_app(
    service: CredenceService,
    config: ApiConfig,
    *,
    on_shutdown: Callable[[], None] | None = None,
    primary_claim: PrimaryClaim | None = None,
    primary: Path | None = None,
) -> Starlette:
    """The ASGI app serving ``service`` with ``config``.

    Parameters
    ----------
    service, config
        What to serve and how.
    on_shutdown
        Called when the app stops (closes the service).
    primary_claim
        A primary worker's claim: the same app is also served on its private socket,
        for the followers' forwarded requests.
    primary
        A follower's forwarding target (the primary's private socket); with it,
        ``service.follower`` must be set.
    """
    limits = config.limits
    if service.buckets is None and limits.rate_budget:
        service.buckets = CostBuckets(
            budget=limits.rate_budget, refill_per_second=limits.rate_refill_per_second
        )
    graphql: Any = _CredenceGraphQL(service, config)
    forwarding: ForwardingApp | None = None
    if primary is not None:
        assert service.follower is not None
        relayed = RELAYED_MUTATIONS if service.relay is not None else frozenset()
        forwarding = ForwardingApp(graphql, primary=primary, follower=service.follower, relayed=relayed)

    async def health(_: Request) -> Response:
        # Liveness: the process serves (from memory, even while the store is away).
        engine = service.engine
        return JSONResponse({
            "status": "ok" if engine.ready else "starting", "model": engine.model_version,
            "generation": engine.generation, "computed_at": engine.computed_at, "read_only": config.read_only,
            "stale_since": service.stale_since(),
        })  # fmt: skip

    async def ready(_: Request) -> Response:
        # Readiness: the store answers within 2 s and the engine is in step with it.
        error = await service.probe(timeout=2.0)
        stale = service.engine.stale_since
        if error is None and stale is None and service.engine.ready:
            return JSONResponse({"status": "ready", "generation": service.engine.generation})
        reason = str(error) if error is not None else "the scores are being rebuilt from the store"
        return JSONResponse({"status": "unavailable", "reason": reason, "retry_after": 2,
                             "stale_since": service.stale_since()}, status_code=503, headers={"Retry-After": "2"})  # fmt: skip

    async def console_page(_: Request) -> Response:
        # The analyst console: a static page calling /graphql with the caller's own key.
        return HTMLResponse(console.render_page(endpoint="/graphql"))

    persisted = PersistedQueries(None if config.allowed_queries is None else dict(config.allowed_queries))
    guarded = RequestGuard(forwarding if forwarding is not None else graphql,
                           max_body_bytes=config.limits.max_body_bytes, persisted=persisted)  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        private = None
        if primary_claim is not None:
            import uvicorn

            # The followers' forwarded requests, on the private socket (lifespan off: it is this app's),
            # and their relayed changes on the relay socket.
            private = uvicorn.Server(
                uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio")
            )
            relay_server = RelayServer(service)
            await relay_server.start(primary_claim.relay)
            private_task = asyncio.create_task(private.serve(sockets=[primary_claim.socket]))
        if service.follower is not None:
            service.follower.start()
        try:
            yield
        finally:
            if private is not None:
                private.should_exit = True
                await private_task
                await relay_server.close()
            if primary_claim is not None:
                primary_claim.release()
            if forwarding is not None:
                await forwarding.close()
            if service.relay is not None:
                await service.relay.close()
            if on_shutdown is not None:
                on_shutdown()

    middleware = [Middleware(RequestIds), Middleware(GZipMiddleware, minimum_size=1_024)]
    if config.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-api-key", "x-request-id", GENERATION_HEADER],
            expose_headers=["x-request-id", ROLE_HEADER], max_age=600,
        ))  # fmt: skip
    return Starlette(
        middleware=middleware,
        routes=[
            Route("/healthz", health),
            Route("/readyz", ready),
            Mount(
                STATIC_PATH, app=StaticFiles(directory=STATIC_DIR, check_dir=False), name="graphiql-static"
            ),
            Route(console.CONSOLE_PATH, console_page),
            Mount(
                console.STATIC_PATH,
                app=StaticFiles(directory=console.STATIC_DIR, check_dir=False),
                name="console-static",
            ),
            Route("/graphql", guarded, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
    )


def open_service(store_config: StoreConfig, *, policy_path: Path | None = None, now: int | None = None,
                 progress: Any = None, restore_only: bool = False, image: Path | None = None) -> CredenceService:  # fmt: skip
    """Open the store and bring its scores into memory.

    When the store holds a recompute of the current model version, the engine is
    restored from it without writing: the evaluation time and the prior are the
    recorded ones and the served scores are the stored latest snapshots
    (:meth:`~credence.engine.ScoringEngine.restore`). Otherwise everyone is scored at
    ``now`` and the snapshots written with the recompute's record — unless
    ``restore_only`` (a worker of several, whose parent scored the store first: two
    processes must never both recompute), which raises :class:`StoreError` instead.

    With ``image`` (a directory, :mod:`credence.engine.image`) the restore maps the
    engine's image when it is of the store's current data, and otherwise writes one
    after restoring or scoring, for the next start.
    """
    store = open_store(store_config)
    try:
        policy = read_policy(policy_path or DEFAULT_POLICY_PATH)
        engine = ScoringEngine(store, policy=policy, image=image)
        restored = engine.restore(progress=progress, from_image=True) if now is None else None
        if restored is None and restore_only:
            raise StoreError(f"the store holds no recompute of model {policy.version} to restore")
        if restored is None:
            engine.recompute(write=True, now=now, progress=progress)
            engine.save_image()
    except BaseException:
        store.close()
        raise
    return CredenceService(store=store, engine=engine)


@dataclass(frozen=True, kw_only=True)
class ServeSettings:
    """What ``credence serve`` was asked for (passed to worker processes as JSON)."""

    store: StoreConfig
    keys_path: Path
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    graphiql: bool = True
    policy_path: Path | None = None
    limits: Limits = field(default_factory=Limits)
    #: With several workers: the private directory (0700) where the primary (the writer) is elected.
    workers_dir: Path | None = None
    read_only: bool = False
    cors_origins: tuple[str, ...] = ()
    #: A persisted-query manifest: only its queries run (allow-list mode).
    allow_queries: Path | None = None
    #: The engine's image directory (:mod:`credence.engine.image`); None: restore from the store each start.
    image_dir: Path | None = None

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ParameterError("workers", self.workers, "must be an integer >= 1")
        if not (isinstance(self.port, int) and 0 <= self.port <= 65535):
            raise ParameterError("port", self.port, "must be in 0..65535")

    def config(self) -> ApiConfig:
        """The API configuration of one server process: the keys read now, the limits, GraphiQL.

        With several workers every process takes writes: followers hand them to the
        primary (see :mod:`credence.api.workers`).

        Raises
        ------
        ValidationError
            If the key file cannot be read or an entry in it is invalid.
        """
        return ApiConfig(keys=KeyFile(self.keys_path), limits=self.limits, graphiql=self.graphiql,
                         read_only=self.read_only, cors_origins=self.cors_origins,
                         allowed_queries=None if self.allow_queries is None else read_manifest(self.allow_queries))  # fmt: skip

    def to_json(self) -> str:
        """What a worker process needs, as JSON (read back by :meth:`from_json`).

        Host and port are left out (the parent binds them), and so are Neo4j
        credentials: workers read those from the environment.

        Examples
        --------
        >>> from credence.graph.config import SQLiteConfig
        >>> store = SQLiteConfig(path=Path("credence.db"))
        >>> settings = ServeSettings(store=store, keys_path=Path("keys.json"), workers=2)
        >>> ServeSettings.from_json(settings.to_json()) == settings
        True
        """
        return json.dumps({
            "store": self.store.as_dict(),
            "keys_path": str(self.keys_path), "workers": self.workers, "graphiql": self.graphiql,
            "policy_path": str(self.policy_path) if self.policy_path else None,
            "limits": vars(self.limits), "workers_dir": str(self.workers_dir) if self.workers_dir else None, "read_only": self.read_only, "cors_origins": list(self.cors_origins),
            "allow_queries": str(self.allow_queries) if self.allow_queries else None,
            "image_dir": str(self.image_dir) if self.image_dir else None,
        })  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        """The settings :meth:`to_json` wrote (default host and port), validated again."""
        data = json.loads(text)
        return cls(store=store_config_from_dict(data["store"]), keys_path=Path(data["keys_path"]), workers=int(data["workers"]),
                   graphiql=bool(data["graphiql"]),
                   policy_path=Path(data["policy_path"]) if data["policy_path"] else None,
                   limits=Limits(**data["limits"]), workers_dir=Path(data["workers_dir"]) if data.get("workers_dir") else None,
                   read_only=bool(data.get("read_only", False)),
                   cors_origins=tuple(data.get("cors_origins", ())),
                   allow_queries=Path(data["allow_queries"]) if data.get("allow_queries") else None,
                   image_dir=Path(data["image_dir"]) if data.get("image_dir") else None)  # fmt: skip


def worker_app() -> Starlette:
    """The app of one uvicorn worker process (a factory), with settings from ``$CREDENCE_SERVE``."""
    settings = ServeSettings.from_json(os.environ[SERVE_ENV])
    directory = settings.workers_dir
    assert directory is not None
    with open_store(settings.store) as store:
        mark = feed_mark(store)  # before the restore, so that nothing committed meanwhile is missed
    service = open_service(settings.store, policy_path=settings.policy_path, restore_only=True,
                           image=settings.image_dir)  # fmt: skip
    # Claimed after the restore, so that followers are never forwarded to a primary still loading.
    claim = claim_primary(directory)
    settle_serving_process()
    if claim is None:
        service.follower = SnapshotFollower(service.engine, service.store, service.publish, since=mark)
        service.relay = ChangeRelay(relay_socket(directory))
        return create_app(
            service, settings.config(), on_shutdown=service.close, primary=primary_socket(directory)
        )
    if feed_mark(service.store) != mark:
        # A primary that has just gone away wrote during the restore: restore again (nobody writes now).
        service.engine.restore()
        service.writer.committed_seq = service.store.latest_snapshot_seq()
    log.warning("worker %d is the primary (the writer)", os.getpid())
    return create_app(service, settings.config(), on_shutdown=service.close, primary_claim=claim)


def serve(settings: ServeSettings, *, service: CredenceService | None = None,
          ready: Callable[[str], None] | None = None) -> None:  # fmt: skip
    """Run the server until interrupted (one process, or ``settings.workers`` processes)."""
    import uvicorn

    config = settings.config()  # fail early on a bad key file
    url = f"http://{settings.host}:{settings.port}/graphql"
    if settings.workers > 1:
        # Score the store here if it must be, so that every worker only restores.
        if service is None:
            service = open_service(settings.store, policy_path=settings.policy_path, image=settings.image_dir)
        service.close()
        directory = Path(tempfile.mkdtemp(prefix="credence-workers-"))  # 0700
        settings = replace(settings, workers_dir=directory)
        os.environ[SERVE_ENV] = settings.to_json()
        if ready is not None:
            ready(url)
        try:
            uvicorn.run("credence.api.app:worker_app", factory=True, host=settings.host, port=settings.port,
                        workers=settings.workers, log_level="warning", ws="websockets-sansio")  # fmt: skip
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if service is None:
        service = open_service(settings.store, policy_path=settings.policy_path, image=settings.image_dir)
    app = create_app(service, config, on_shutdown=service.close)
    settle_serving_process()
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", ws="websockets-sansio",
                                           lifespan="on"))  # fmt: skip
    if ready is not None:
        ready(url)
    server.run()


SDL_PATH = Path(__file__).with_name("schema.graphql")


def schema_sdl() -> str:
    """The schema's SDL as checked in at ``credence/api/schema.graphql``."""
    from credence.api.keys import ApiKeys

    return build_schema(ApiConfig(keys=ApiKeys())).as_str() + "\n"
