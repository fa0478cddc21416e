"""The audit subgraph's composition root: the shared app plus the audit consumers, checkpoints and health."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.app import create_subgraph_app
from shared.config import Settings
from subgraphs.audit.checkpoints import Checkpointer, load_or_create_key
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.consumers import AuditRuntime, audit_consumers
from subgraphs.audit.queries import make_loaders
from subgraphs.audit.schema import build_schema

DOMAIN = "audit"


def create_app(settings: Settings | None = None, *, config: AuditConfig | None = None,
               nats_folder: Path | None = None) -> Starlette:
    """Builds the audit subgraph ASGI app (uvicorn --factory)."""
    settings = settings or Settings()
    config = config or AuditConfig.from_settings(settings)
    app = create_subgraph_app(settings=settings, domain=DOMAIN, schema=build_schema(), make_loaders=make_loaders,
                              db_role=config.db_role)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Starlette) -> AsyncIterator[None]:
        async with inner(app_):
            runtime = app_.state.runtime
            runtime.audit_config = config
            key = await asyncio.to_thread(load_or_create_key, config.signing_key)
            checkpointer = Checkpointer(runtime.sessions, config.checkpoint_dir, key,
                                        every_entries=config.checkpoint_every_entries,
                                        every_seconds=config.checkpoint_every_seconds)
            audit = None
            if runtime.nc is not None:
                audit = AuditRuntime(nc=runtime.nc, sessions=runtime.sessions, config=config,
                                     checkpointer=checkpointer, definitions=audit_consumers(nats_folder),
                                     engine=runtime.engine)
                audit.start()
            app_.state.audit = audit
            app_.state.checkpointer = checkpointer
            try:
                yield
            finally:
                if audit is not None:
                    await audit.stop()

    app.router.lifespan_context = lifespan
    shared_ready = next(r for r in app.router.routes if getattr(r, "path", None) == "/ready").endpoint

    def consumer_checks(request: Request) -> tuple[bool, dict[str, object]]:
        audit: AuditRuntime | None = request.app.state.audit
        status = audit.status() if audit is not None else {}
        ok = audit is not None and all(s["healthy"] for s in status.values())
        return ok, status

    async def health(request: Request) -> Response:
        ok, status = consumer_checks(request)
        return JSONResponse({"status": "ok" if ok else "consumer down", "service": DOMAIN, "consumers": status},
                            status_code=200 if ok else 503)

    async def ready(request: Request) -> Response:
        base = await shared_ready(request)
        ok, status = consumer_checks(request)
        if base.status_code == 200 and ok:
            return base
        return JSONResponse({"status": "not ready", "consumers": status}, status_code=503)

    app.router.routes[:0] = [Route("/health", health), Route("/ready", ready)]
    return app
