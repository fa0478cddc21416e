"""The router's composition root: `create_app(settings)` returns the Starlette ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route, WebSocketRoute, websocket_session

from router.authorization import Authorizer
from router.client import SubgraphClient
from router.config import RouterSettings
from router.engine import Engine
from router.graphiql import ASSET_ROUTE, asset_files, graphiql_html
from router.http import TokenValidator, graphql_endpoint, health, metrics, ready
from router.metrics import RouterMetrics
from router.persisted import PersistedOperations, PersistedWebSocket
from router.ratelimit import RateLimiter
from router.subscriptions import graphql_ws_endpoint
from router.supergraph import Supergraph


class RouterState:
    """Per-app state: settings, the loaded supergraph and engine, metrics and the auth hook."""

    def __init__(self, settings: RouterSettings, token_validator: TokenValidator | None) -> None:
        self.settings = settings
        self.token_validator = token_validator
        self.metrics = RouterMetrics()
        self.graphiql_html = graphiql_html(settings) if settings.graphiql else None
        self.limiter = (
            RateLimiter(
                settings.rate_limit_per_second, settings.rate_limit_burst, max_clients=settings.rate_limit_clients
            )
            if settings.rate_limit
            else None
        )
        # Read when the app is built, so a malformed operation file stops start-up.
        self.persisted = PersistedOperations.load(settings.operations_dir)
        self.load_error: str | None = None
        self._engine: Engine | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def load(self) -> Engine:
        """Load the supergraph and build the engine; raises SupergraphError for supergraphs we refuse."""
        try:
            supergraph = Supergraph.from_file(self.settings.supergraph, self.settings.url_overrides())
        except Exception as exc:
            self.load_error = str(exc)
            raise
        client = SubgraphClient(
            timeout=self.settings.subgraph_timeout,
            max_connections=self.settings.max_connections_per_subgraph,
            coalesce=self.settings.coalesce_requests,
            transport=self.settings.subgraph_transport,
        )
        self._engine = Engine(
            supergraph,
            client,
            cache_size=self.settings.plan_cache_size,
            limits=self.settings.limits(),
            observer=self.metrics.observe_fetch,
            include_subgraph_errors=self.settings.include_subgraph_errors,
            override_labels=frozenset(self.settings.override_labels),
            authorizer=Authorizer(
                supergraph.authorization,
                supergraph.api_schema,
                policies=self.settings.authorization_policies,
                reject_unauthorized=self.settings.reject_unauthorized,
            ),
            introspection=self.settings.introspection,
            field_suggestions=self.settings.field_suggestions,
        )
        self.load_error = None
        return self._engine

    async def engine(self) -> Engine:
        if self._engine is None:
            async with self._lock:
                if self._engine is None:
                    self.load()
        assert self._engine is not None
        return self._engine

    def subgraph_names(self) -> list[str]:
        return [] if self._engine is None else self._engine.supergraph.graph_order()

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.client.aclose()


# Young collections run after this many new container objects instead of Python's 700.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for a router process (reference counting frees almost everything).

    A request allocates thousands of dicts and lists (subgraph answers, the data tree, the response) that die
    with it, and with tens of requests in flight the collector would keep walking them and, in full
    collections, everything loaded at start-up. So what exists after start-up (modules, the supergraph, its
    schemas) moves to the permanent generation, and young collections run less often; cycles are still
    collected. Only the collector's timing changes: none of the router's answers.

    Once per process: a process that starts router apps again and again (the test suite) freezes only what
    existed at the first, so later garbage with cycles is still collected.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


_gc_tuned = False


class RouterApp(Starlette):
    """Starlette, with GET and POST /graphql handed straight to the endpoint.

    Routing and Starlette's two exception middlewares cost about a fifth of a single-subgraph query's CPU, and
    the endpoint needs neither: it answers every refusal and every failure of the graph itself. An exception that
    still escapes it reaches uvicorn, which logs it and answers 500, as Starlette's middleware would. Everything
    else (the WebSocket, /health, /metrics, the GraphiQL assets, HEAD, lifespan) goes through Starlette.
    """

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/graphql" and scope["method"] in ("POST", "GET"):
            scope["app"] = self
            response = await graphql_endpoint(Request(scope, receive, send))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: RouterSettings | None = None, *, token_validator: TokenValidator | None = None) -> Starlette:
    """Build the router app; the supergraph is loaded at start-up (lifespan) or on the first request."""
    settings = settings or RouterSettings()
    state = RouterState(settings, token_validator)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.load()
        tune_gc()
        try:
            yield
        finally:
            await state.aclose()

    app = RouterApp(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
            WebSocketRoute(
                "/graphql",
                PersistedWebSocket(
                    websocket_session(graphql_ws_endpoint), state.persisted, persisted_only=settings.persisted_only
                ),
            ),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    assets = asset_files(settings) if settings.graphiql else None
    if assets:

        async def graphiql_asset(request: Request) -> Response:
            path = assets.get(request.path_params["name"])
            return FileResponse(path) if path else Response(status_code=404)

        app.add_route(f"{ASSET_ROUTE}/{{name}}", graphiql_asset, methods=["GET"])
    app.state.router = state
    return app
