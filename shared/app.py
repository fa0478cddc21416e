"""The subgraph app factory: /graphql, /health, /ready, /metrics, with the outbox relay and subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from cross_web import HTTPException
from nats.aio.client import Client as NATS
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import DisableIntrospection, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.federation import Schema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from shared import messaging
from shared.access import RequestAccess
from shared.access_evidence import EvidenceRecorder, operation_name, started_recorder
from shared.auth import (
    BEARER_PARAM,
    MISPLACED_BEARER_MESSAGE,
    WS_MISPLACED_BEARER_MESSAGE,
    Principal,
    TokenValidator,
    bearer_token,
    token_outside_header,
)
from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from shared.errors import AuthError
from shared.graphql import BaseContext
from shared.logging import bind_correlation_id, configure_logging
from shared.metrics import metrics_endpoint
from shared.outbox import OutboxRelay
from shared.tasks import stop_tasks

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SubscriberSpec:
    """A consumer a subgraph runs: its durable name on a stream and its handler."""

    stream: str
    durable: str
    handler: messaging.Handler
    max_deliver: int = 6


@dataclass
class Runtime:
    """The process-wide resources of one subgraph, created in the lifespan and closed at shutdown."""

    settings: Settings
    domain: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    validator: TokenValidator
    nc: NATS | None = None
    relay: OutboxRelay | None = None
    recorder: EvidenceRecorder | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def profiled_schema(schema: Schema, settings: Settings) -> Schema:
    """The schema as the settings serve it: operation limits always; outside dev, `__schema` and `__type` refused.

    `_service` (composition), `_entities` and `__typename` (the router's entity fetches) are ordinary
    fields, not introspection, so they still answer. Suggestions are dropped by FinpaceErrors, which
    also gives the limits' errors the router's codes (MAX_DEPTH_EXCEEDED, ...).
    """
    hardened = copy.copy(schema)  # the caller's schema object stays as it was built
    limits = (QueryDepthLimiter(max_depth=settings.subgraph_max_depth),
              MaxAliasesLimiter(max_alias_count=settings.subgraph_max_aliases),
              MaxTokensLimiter(max_token_count=settings.subgraph_max_tokens))
    hardened.extensions = (*schema.extensions, *limits, *(() if settings.is_dev else (DisableIntrospection,)))
    return hardened


async def _refuse_ws_upgrade(websocket: WebSocket) -> None:
    """Refuses a WebSocket upgrade with `access_token` in its URL: 401 where the server can say so, else 4401."""
    refusal = {"errors": [{"message": WS_MISPLACED_BEARER_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}]}
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(refusal, status_code=401))
    else:
        await websocket.close(code=4401, reason="Unauthorized")


class SubgraphGraphQL(GraphQL):
    """Strawberry's ASGI view with Finpace's context: principal from the bearer token, loaders per request."""

    def __init__(self, schema: Schema, *, runtime_ref: dict[str, Runtime], make_loaders: Callable[..., Any],
                 graphiql: bool, allow_queries_via_get: bool = True) -> None:
        # graphql-transport-ws only: the legacy graphql-ws protocol has a history of skipping connection_init.
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None,
                         allow_queries_via_get=allow_queries_via_get,
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        self.runtime_ref = runtime_ref
        self.make_loaders = make_loaders

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Refuses a token outside the Authorization header (query string, form or JSON body) with 401."""
        if scope["type"] == "websocket" and BEARER_PARAM in (socket := WebSocket(scope, receive, send)).query_params:
            return await _refuse_ws_upgrade(socket)
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        body = b"" if scope.get("method") == "GET" else await request.body()
        if token_outside_header(request.query_params, request.headers.get("content-type"), body):
            refusal = {"errors": [{"message": MISPLACED_BEARER_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}]}
            return await JSONResponse(refusal, status_code=401)(scope, receive, send)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed and scope.get("method") != "GET":
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await super().__call__(scope, replay, send)

    async def get_context(self, request: Any, response: Any) -> BaseContext:
        correlation_id = request.headers.get("x-correlation-id") or uuid.uuid4().hex
        bind_correlation_id(correlation_id)
        try:
            principal = await self._principal(request.headers.get("authorization"))
        except AuthError as exc:
            raise HTTPException(401, exc.message) from None
        return self._context(request, response, principal, correlation_id)

    async def on_ws_connect(self, context: BaseContext) -> Any:
        """graphql-transport-ws: a token in the connection_init payload authenticates the connection.

        Browsers cannot set headers on a WebSocket, and the router forwards the client's token this way.
        An invalid token closes the connection with 4403; a token on the upgrade request takes precedence.
        """
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        auth = params.get("authorization") or params.get("Authorization")
        if context.principal is None and auth is not None:
            try:
                principal = await self._principal(auth if isinstance(auth, str) else "invalid")
            except AuthError:
                raise ConnectionRejectionError({"code": "UNAUTHENTICATED"}) from None
            fresh = self._context(context.request, context.response, principal, context.correlation_id)
            fresh.connection_params = context.connection_params
            for name in ("principal", "loaders", "access"):
                setattr(context, name, getattr(fresh, name))
        return await super().on_ws_connect(context)

    async def _principal(self, authorization: str | None) -> Principal | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        return await self.runtime_ref["runtime"].validator.validate_async(token)

    def _context(self, request: Any, response: Any, principal: Principal | None, correlation_id: str) -> BaseContext:
        runtime = self.runtime_ref["runtime"]
        access = RequestAccess(sessions=runtime.sessions, principal=principal, correlation_id=correlation_id,
                               service=runtime.domain, recorder=runtime.recorder)
        return BaseContext(
            request=request,
            response=response,
            principal=principal,
            correlation_id=correlation_id,
            sessions=runtime.sessions,
            loaders=self.make_loaders(runtime.sessions, principal, access),
            settings=runtime.settings,
            access=access,
        )

    async def execute_operation(self, **kwargs: Any) -> Any:
        """Runs the operation, then hands the staff reads it noted to the evidence recorder (never waiting)."""
        access, data = getattr(kwargs.get("context"), "access", None), kwargs.get("request_data")
        if isinstance(access, RequestAccess) and data is not None and not isinstance(data, list):
            access.operation = operation_name(data.operation_name, data.query)
        try:
            return await super().execute_operation(**kwargs)
        finally:
            if isinstance(access, RequestAccess):
                access.flush()


def create_subgraph_app(
    *,
    settings: Settings,
    domain: str,
    schema: Schema,
    make_loaders: Callable[..., Any],
    subscribers: Sequence[SubscriberSpec] = (),
    jobs: Sequence[Callable[[Any], Any]] = (),
    db_role: str | None = None,
) -> Starlette:
    """Builds one subgraph's ASGI app; engines and connections are made in its lifespan, not here.

    `jobs` are background coroutines started with the sessionmaker (e.g. the scheduled end of day, shared/eod.py).
    `db_role`: the PostgreSQL role its connections run as (see `create_engine`).
    """
    runtime_ref: dict[str, Runtime] = {}
    graphql_app = SubgraphGraphQL(profiled_schema(schema, settings), runtime_ref=runtime_ref,
                                  make_loaders=make_loaders, graphiql=settings.graphiql_enabled,
                                  allow_queries_via_get=settings.is_dev)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(level=settings.log_level, json=settings.log_json)
        engine = create_engine(settings, domain, role=db_role)
        runtime = Runtime(settings=settings, domain=domain, engine=engine,
                          sessions=create_sessionmaker(engine), validator=TokenValidator(settings))
        runtime_ref["runtime"] = runtime
        app.state.runtime = runtime
        if settings.nats_url:
            runtime.nc = await messaging.connect(settings.nats_url, name=f"finpace-{domain}")
            js = runtime.nc.jetstream()
            runtime.relay = OutboxRelay(engine=engine, js=js, domain=domain,
                                        batch_size=settings.outbox_batch_size,
                                        poll_seconds=settings.outbox_poll_seconds)
            runtime.tasks.append(asyncio.create_task(runtime.relay.run(), name=f"{domain}-outbox"))
            runtime.recorder = started_recorder(runtime.nc, domain, runtime.tasks)
            for spec in subscribers:
                sub = messaging.Subscriber(nc=runtime.nc, sessions=runtime.sessions, stream=spec.stream,
                                           durable=spec.durable, handler=spec.handler,
                                           max_deliver=spec.max_deliver)
                runtime.tasks.append(asyncio.create_task(sub.run(), name=f"{domain}-{spec.durable}"))
        for i, job in enumerate(jobs):
            runtime.tasks.append(asyncio.create_task(job(runtime.sessions), name=f"{domain}-job-{i}"))
        log.info("subgraph_started", domain=domain)
        try:
            yield
        finally:
            await stop_tasks(runtime.tasks)
            # Each step is bounded: with NATS gone the client reconnects forever and a drain would never end.
            if runtime.recorder is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await runtime.recorder.drain()
            if runtime.nc is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(6):
                        await runtime.nc.drain()
                with contextlib.suppress(Exception):
                    await runtime.nc.close()
            await engine.dispose()
            log.info("subgraph_stopped", domain=domain)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": domain})

    async def ready(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                async with runtime.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if settings.nats_url:
            checks["nats"] = "ok" if runtime.nc is not None and runtime.nc.is_connected else "unreachable"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                            status_code=200 if ok else 503)

    return Starlette(
        routes=[
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
    )
