"""Notification test fixtures: the database, an in-process SMTP server, a local HTTP provider and the subgraph."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import nats
from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from shared.embedded import free_port
from shared.events import Envelope
from shared.messaging import connect, provision_from
from shared.migrations import alembic_config, ensure_database, upgrade
from subgraphs.notification.app import create_app
from subgraphs.notification.config import NotificationConfig
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.support import caught_up

REPO_NATS = Path(__file__).resolve().parents[3] / "nats"
WEBHOOK_SECRET = "test-webhook-secret"


class Mailbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[str]:
        return [body for rcpts, body in self.messages if address in rcpts]


@dataclass
class Provider:
    """A local SMS/push provider: POST /messages, answering a repeated Idempotency-Key with the same id.

    `failures` makes the next calls answer 503, `always_fail_to` recipients always get 503, and
    `malformed_to` recipients get a 200 whose body has no message id.
    """

    received: list[dict[str, Any]] = field(default_factory=list)  # every accepted request, repeats included
    keys: list[str] = field(default_factory=list)  # the Idempotency-Key of each of them
    ids: dict[str, str] = field(default_factory=dict)  # key → the id its first request was given
    failures: int = 0
    always_fail_to: set[str] = field(default_factory=set)
    malformed_to: set[str] = field(default_factory=set)

    async def messages(self, request: Request) -> JSONResponse:
        body = await request.json()
        if self.failures > 0 or body["to"] in self.always_fail_to:
            self.failures = max(0, self.failures - 1)
            return JSONResponse({"error": "try later"}, status_code=503)
        key = request.headers.get("idempotency-key") or uuid.uuid4().hex
        self.received.append(body)
        self.keys.append(key)
        if body["to"] in self.malformed_to:
            return JSONResponse({"status": "accepted"})
        return JSONResponse({"id": self.ids.setdefault(key, f"prov-{uuid.uuid4().hex}")})

    def to(self, recipient: str) -> list[str]:
        """The Idempotency-Keys of the accepted requests for a recipient, in order."""
        return [key for body, key in zip(self.received, self.keys, strict=True) if body["to"] == recipient]


@pytest.fixture(scope="session")
def mailbox() -> Any:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture(scope="session")
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    state = Provider()
    app = Starlette(routes=[Route("/messages", state.messages, methods=["POST"])])
    async with serve(app) as base:
        yield state, base


@dataclass
class Scratch:
    """A notification database of a test's own: its Alembic config and engine."""

    alembic: Config
    engine: AsyncEngine


@contextlib.asynccontextmanager
async def scratch_database(settings: Settings, revision: str = "head") -> AsyncIterator[Scratch]:
    """Creates a fresh notification database migrated to `revision`, out of the subgraph's reach; drops it after."""
    domain = f"notification_{uuid.uuid4().hex[:8]}"
    await ensure_database(settings, domain)
    cfg = alembic_config(settings, "notification")
    cfg.set_main_option("sqlalchemy.url", settings.domain_database_url(domain).replace("%", "%%"))
    await asyncio.to_thread(command.upgrade, cfg, revision)
    engine = create_engine(settings, domain)
    try:
        yield Scratch(cfg, engine)
    finally:
        await engine.dispose()
        url = make_url(settings.server_database_url("postgres")).set(drivername="postgresql")
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "finpace_{domain}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(scope="session")
async def notification_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "notification")
    engine = create_engine(settings, "notification")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def note_sessions(notification_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(notification_db)


@pytest.fixture(scope="session")
async def notification_url(settings: Settings, notification_db: AsyncEngine, mailbox: Any,
                           provider: tuple[Provider, str]) -> AsyncIterator[str]:
    nc = await connect(settings.nats_url or "", name="test-provision")
    try:
        await provision_from(nc, REPO_NATS)
    finally:
        await nc.close()
    config = NotificationConfig(smtp_port=mailbox[1], provider_url=provider[1], webhook_secret=WEBHOOK_SECRET,
                                max_attempts=3, backoff_seconds=(0.2, 0.2, 0.2), poll_seconds=0.1)
    async with serve(create_app(settings, config=config)) as base:
        await caught_up(settings, "notification")
        yield base


@pytest.fixture(scope="session")
async def note_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def ops(note_http: httpx.AsyncClient, notification_url: str, settings: Settings) -> GraphQLClient:
    return GraphQLClient(note_http, f"{notification_url}/graphql", issue_dev_token(settings, role="ops", sub="ops-1"))


async def publish_party_event(settings: Settings, event_type: str, party_id: str, **data: Any) -> Envelope:
    """Publishes a party-domain envelope to JetStream as the party outbox relay would."""
    subjects = {"ConsentRecorded": "finpace.party.consent.recorded",
                "PartyRegistered": "finpace.party.party.registered"}
    env = Envelope(id=uuid.uuid4(), type=event_type, source="party", subject=data.get("consent_id", party_id),
                   aggregate_version=1, occurred_at=dt.datetime.now(dt.UTC),
                   actor={"sub": "ops-1", "roles": ["ops"], "client_id": None}, reason=None,
                   correlation_id=uuid.uuid4().hex, causation_id=None, schema_version=1,
                   data={"party_id": party_id, **data},
                   nats_subject=subjects.get(event_type, "finpace.party.party.status_changed"))
    nc = await nats.connect(settings.nats_url)
    try:
        await nc.jetstream().publish(env.nats_subject, json.dumps(env.to_dict()).encode(),
                                     headers={"Nats-Msg-Id": str(env.id)})
    finally:
        await nc.close()
    return env
