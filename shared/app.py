"""The subgraph app factory: /graphql, /health, /ready, /metrics, with the outbox relay and subscribers."""

from __future__ import annotations

import asyncio
import contextlib
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
from strawberry.asgi import GraphQL
from strawberry.federation import Schema

from shared import messaging
from shared.auth import TokenValidator, bearer_token
from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from shared.errors import AuthError
from shared.graphql import BaseContext
from shared.logging import bind_correlation_id, configure_logging
from shared.metrics import metrics_endpoint
from shared.outbox import OutboxRelay

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
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class SubgraphGraphQL(GraphQL):
    """Strawberry's ASGI view with Finpace's context: principal from the bearer token, loaders per request."""

    def __init__(self, schema: Schema, *, runtime_ref: dict[str, Runtime], make_loaders: Callable[..., Any],
                 graphiql: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None, allow_queries_via_get=True)
        self.runtime_ref = runtime_ref
        self.make_loaders = make_loaders

    async def get_context(self, request: Any, response: Any) -> BaseContext:
        runtime = self.runtime_ref["runtime"]
        correlation_id = request.headers.get("x-correlation-id") or uuid.uuid4().hex
        bind_correlation_id(correlation_id)
        principal = None
        try:
            token = bearer_token(request.headers.get("authorization"))
            if token is not None:
                principal = await runtime.validator.validate_async(token)
        except AuthError as exc:
            raise HTTPException(401, exc.message) from None
        return BaseContext(
            request=request,
            response=response,
            principal=principal,
            correlation_id=correlation_id,
            sessions=runtime.sessions,
            loaders=self.make_loaders(runtime.sessions, principal),
            settings=runtime.settings,
        )


def create_subgraph_app(
    *,
    settings: Settings,
    domain: str,
    schema: Schema,
    make_loaders: Callable[..., Any],
    subscribers: Sequence[SubscriberSpec] = (),
) -> Starlette:
    """Builds one subgraph's ASGI app; engines and connections are made in its lifespan, not here."""
    runtime_ref: dict[str, Runtime] = {}
    graphql_app = SubgraphGraphQL(schema, runtime_ref=runtime_ref, make_loaders=make_loaders,
                                  graphiql=settings.graphiql_enabled)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(level=settings.log_level, json=settings.log_json)
        engine = create_engine(settings, domain)
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
            for spec in subscribers:
                sub = messaging.Subscriber(nc=runtime.nc, sessions=runtime.sessions, stream=spec.stream,
                                           durable=spec.durable, handler=spec.handler,
                                           max_deliver=spec.max_deliver)
                runtime.tasks.append(asyncio.create_task(sub.run(), name=f"{domain}-{spec.durable}"))
        log.info("subgraph_started", domain=domain)
        try:
            yield
        finally:
            for task in runtime.tasks:
                task.cancel()
            for task in runtime.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if runtime.nc is not None:
                with contextlib.suppress(Exception):
                    await runtime.nc.drain()
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
