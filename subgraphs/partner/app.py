"""The partner subgraph's composition root: the shared app, the webhook consumers and the webhook sender."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette

from shared.app import SubscriberSpec, create_subgraph_app
from shared.config import Settings
from shared.messaging import nats_definitions_dir
from shared.tasks import stop_tasks
from subgraphs.partner.schema import build_schema
from subgraphs.partner.webhooks import WebhookSender, queue_webhooks

DOMAIN = "partner"


def partner_consumers(folder: Path | None = None) -> list[SubscriberSpec]:
    """One subscriber per consumer file whose durable name starts with `partner` (a new stream: one file)."""
    specs = []
    for path in sorted(((folder or nats_definitions_dir()) / "consumers").glob("*.json")):
        definition = json.loads(path.read_text())
        config = definition["config"]
        if config["durable_name"].startswith("partner"):
            specs.append(SubscriberSpec(stream=definition["stream_name"], durable=config["durable_name"],
                                        handler=queue_webhooks, max_deliver=int(config.get("max_deliver", 6))))
    return specs


def create_app(settings: Settings | None = None, *, sender: WebhookSender | None = None) -> Starlette:
    """Builds the partner subgraph ASGI app (uvicorn --factory)."""
    settings = settings or Settings()
    app = create_subgraph_app(settings=settings, domain=DOMAIN, schema=build_schema(), make_loaders=lambda *_: {},
                              subscribers=partner_consumers())
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Starlette) -> AsyncIterator[None]:
        async with inner(app_):
            runtime = app_.state.runtime
            webhook_sender = sender or WebhookSender(
                runtime.sessions, max_attempts=int(os.environ.get("FINPACE_PARTNER_WEBHOOK_MAX_ATTEMPTS") or 6))
            webhook_sender.sessions = runtime.sessions
            task = asyncio.create_task(webhook_sender.run(), name="partner-webhooks")
            try:
                yield
            finally:
                await stop_tasks([task])

    app.router.lifespan_context = lifespan
    return app
