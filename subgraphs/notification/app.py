"""The notification subgraph's composition root: the shared app, the party consumer, the dispatcher, webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.access import access_subscriber
from shared.app import SubscriberSpec, create_subgraph_app
from shared.config import Settings
from shared.tasks import stop_tasks
from subgraphs.notification.adapters import Adapter, adapters_for, verify_webhook
from subgraphs.notification.config import NotificationConfig
from subgraphs.notification.dispatcher import PROVIDER_STATUSES, Dispatcher, apply_provider_status
from subgraphs.notification.schema import build_schema
from subgraphs.notification.subscribers import handle_party_event

DOMAIN = "notification"
SIGNATURE_HEADER = "x-finpace-signature"
TIMESTAMP_HEADER = "x-finpace-timestamp"


def create_app(settings: Settings | None = None, *, config: NotificationConfig | None = None,
               adapters: dict[str, Adapter] | None = None) -> Starlette:
    """Builds the notification subgraph ASGI app (uvicorn --factory)."""
    settings = settings or Settings()
    config = config or NotificationConfig.from_env()
    app = create_subgraph_app(
        settings=settings, domain=DOMAIN, schema=build_schema(), make_loaders=lambda *_: {},
        subscribers=[SubscriberSpec(stream="FINPACE_PARTY", durable="notification-party",
                                    handler=handle_party_event), access_subscriber(DOMAIN)],
    )
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Starlette) -> AsyncIterator[None]:
        async with inner(app_):
            runtime = app_.state.runtime
            dispatcher = Dispatcher(runtime.sessions, adapters if adapters is not None else adapters_for(config),
                                    config)
            app_.state.dispatcher = dispatcher
            task = asyncio.create_task(dispatcher.run(), name="notification-dispatcher")
            try:
                yield
            finally:
                await stop_tasks([task])

    app.router.lifespan_context = lifespan

    async def delivery_status(request: Request) -> Response:
        """Provider delivery reports: {"providerMessageId", "status"} signed with HMAC-SHA256 over timestamp.body."""
        body = await request.body()
        if not verify_webhook(config.webhook_secret, request.headers.get(TIMESTAMP_HEADER),
                              request.headers.get(SIGNATURE_HEADER), body,
                              tolerance=config.webhook_tolerance_seconds):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            report = json.loads(body)
            message_id, status = str(report["providerMessageId"]), str(report["status"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "malformed report"}, status_code=400)
        if status not in PROVIDER_STATUSES:
            return JSONResponse({"error": f"unknown status {status[:20]}"}, status_code=400)
        outcome = await apply_provider_status(request.app.state.runtime.sessions, message_id, status)
        return JSONResponse({"result": outcome}, status_code=404 if outcome == "unknown" else 200)

    app.router.routes.append(Route("/webhooks/delivery-status", delivery_status, methods=["POST"]))
    return app
