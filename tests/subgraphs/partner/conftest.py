"""Partner test fixtures: the database, a webhook receiver, the running subgraph, and a graphql-transport-ws client."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from websockets.asyncio.client import ClientConnection, connect

import nats
from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from shared.events import Envelope
from shared.messaging import connect as nats_connect
from shared.messaging import provision_from
from shared.migrations import upgrade
from subgraphs.partner.app import create_app
from subgraphs.partner.webhooks import WebhookSender
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.support import caught_up

REPO_NATS = Path(__file__).resolve().parents[3] / "nats"


@dataclass
class Receiver:
    """A partner's webhook endpoint: records each POST; answers 500 for names in `failing`."""

    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    async def hook(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        self.calls.append((name, dict(request.headers), await request.body()))
        return JSONResponse({}, status_code=500 if name in self.failing else 200)

    def received(self, name: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for n, h, b in self.calls if n == name]


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    state = Receiver()
    async with serve(Starlette(routes=[Route("/hook/{name}", state.hook, methods=["POST"])])) as base:
        yield state, base


@pytest.fixture(scope="session")
async def partner_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "partner")
    engine = create_engine(settings, "partner")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def partner_sessions(partner_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(partner_db)


@pytest.fixture(scope="session")
async def partner_base(settings: Settings, partner_db: AsyncEngine,
                       partner_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    nc = await nats_connect(settings.nats_url or "", name="test-provision")
    try:
        await provision_from(nc, REPO_NATS)
    finally:
        await nc.close()
    sender = WebhookSender(partner_sessions, max_attempts=3, backoff_seconds=(0.1, 0.1, 0.1), poll_seconds=0.1)
    async with serve(create_app(settings, sender=sender)) as base:
        await caught_up(settings, "partner")
        yield base


@pytest.fixture(scope="session")
async def partner_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def admin(partner_http: httpx.AsyncClient, partner_base: str, settings: Settings) -> GraphQLClient:
    return GraphQLClient(partner_http, f"{partner_base}/graphql", issue_dev_token(settings, role="admin", sub="adm"))


REGISTER = """
mutation R($input: RegisterPartnerInput!, $key: String!) {
  registerPartner(input: $input, idempotencyKey: $key) {
    __typename
    ... on PartnerRegistration { id clientId allowedEventTypes webhookUrl }
    ... on DomainError { code message }
  }
}"""


async def register(admin: GraphQLClient, types: list[str], *, webhook: str | None = None,
                   secret: str | None = None) -> dict[str, Any]:
    client_id = f"partner-{uuid.uuid4().hex[:8]}"
    data = await admin.data(REGISTER, {"key": uuid.uuid4().hex, "input": {
        "clientId": client_id, "name": f"Partner {client_id}", "allowedEventTypes": types,
        "webhookUrl": webhook, "webhookSecret": secret}})
    result: dict[str, Any] = data["registerPartner"]
    assert result["__typename"] == "PartnerRegistration", result
    return result


async def publish(settings: Settings, nats_subject: str, *, occurred_at: dt.datetime | None = None,
                  **data: Any) -> tuple[Envelope, int]:
    """Publishes a party envelope to JetStream; returns it and its stream sequence."""
    party = str(uuid.uuid4())
    env = Envelope(id=uuid.uuid4(), type="Test", source="party", subject=party, aggregate_version=1,
                   occurred_at=occurred_at or dt.datetime.now(dt.UTC),
                   actor={"sub": "ops-1", "roles": ["ops"], "client_id": None},
                   reason=None, correlation_id=uuid.uuid4().hex, causation_id=None, schema_version=1,
                   data={"party_id": party, **data}, nats_subject=nats_subject)
    nc = await nats.connect(settings.nats_url)
    try:
        ack = await nc.jetstream().publish(nats_subject, json.dumps(env.to_dict()).encode(),
                                           headers={"Nats-Msg-Id": str(env.id)})
    finally:
        await nc.close()
    return env, ack.seq


class WsClient:
    """A minimal graphql-transport-ws client."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def subscribe(self, query: str, variables: dict[str, Any], op_id: str = "1") -> None:
        await self.ws.send(json.dumps({"id": op_id, "type": "subscribe",
                                       "payload": {"query": query, "variables": variables}}))

    async def receive(self, within: float = 10) -> dict[str, Any]:
        import asyncio

        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), within))
            if message["type"] != "ping":
                return message
            await self.ws.send(json.dumps({"type": "pong"}))


async def ws_connect(base: str, token: str) -> tuple[Any, WsClient]:
    cm = connect(base.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"],
                 additional_headers={"authorization": f"Bearer {token}"})
    ws = await cm.__aenter__()
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    ack = json.loads(await ws.recv())
    assert ack["type"] == "connection_ack", ack
    return cm, WsClient(ws)
