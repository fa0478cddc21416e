"""A partner's event stream end to end through the router: party commands → outbox → JetStream → partner
subgraph → router → graphql-transport-ws client; resumed after a disconnect; another partner's types refused."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

import nats
from router.app import create_app as create_router
from router.config import RouterSettings
from shared.auth import issue_dev_token
from shared.cli import router_token_validator
from shared.config import Settings
from shared.db import RequestContext, UnitOfWork, create_engine, create_sessionmaker
from shared.events import Actor
from shared.migrations import upgrade
from shared.outbox import OutboxRelay
from subgraphs.party import service as party_service
from subgraphs.party.commands import RegisterParty
from subgraphs.party.models import LifecycleAction, PartyType
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.partner.conftest import WsClient, register

SUPERGRAPH = Path(__file__).resolve().parents[3] / "schema" / "supergraph.graphql"
REGISTERED, CHANGED = "finpace.party.party.registered", "finpace.party.party.status_changed"
CONSENT = "finpace.party.consent.recorded"
EVENTS = """subscription E($types: [String!]!, $from: Long) {
  events(types: $types, fromSequence: $from) { stream sequence type id subject } }"""


@pytest.fixture
async def router_ws(settings: Settings, partner_base: str) -> AsyncIterator[str]:
    router = create_router(
        RouterSettings(supergraph=SUPERGRAPH, subgraph_urls={"partner": f"{partner_base}/graphql"}),
        token_validator=router_token_validator(settings),
    )
    async with serve(router) as base:
        yield base.replace("http://", "ws://") + "/graphql"


async def _party_commands(settings: Settings) -> list[str]:
    """Registers two parties and submits one for verification, as the party subgraph would; relays the outbox."""
    await upgrade(settings, "party")
    engine = create_engine(settings, "party")
    sessions = create_sessionmaker(engine)
    ctx = RequestContext(actor=Actor(sub="rm-7", roles=("rm",)), correlation_id=uuid.uuid4().hex)
    try:
        parties = [
            await party_service.register_party(
                UnitOfWork(sessions, ctx),
                idempotency_key=uuid.uuid4().hex,
                data=RegisterParty(
                    party_type=PartyType.ORGANISATION, legal_name=f"Stream {i} {uuid.uuid4().hex[:6]} Ltd"
                ),
            )
            for i in range(2)
        ]
        await party_service.change_party_status(
            UnitOfWork(sessions, ctx),
            party_id=str(parties[0].id),
            action=LifecycleAction.SUBMIT_FOR_VERIFICATION,
            reason="KYC pack",
        )
        nc = await nats.connect(settings.nats_url)
        try:
            await OutboxRelay(engine=engine, js=nc.jetstream(), domain="party").drain()
        finally:
            await nc.close()
    finally:
        await engine.dispose()
    return [str(p.id) for p in parties]


async def _read(url: str, token: str, types: list[str], start: int, count: int) -> list[dict[str, Any]]:
    """Subscribes through the router with the token in connection_init; returns `count` events, then hangs up."""
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] == "connection_ack"
        client = WsClient(ws)
        await client.subscribe(EVENTS, {"types": types, "from": str(start)})
        got = []
        while len(got) < count:
            message = await client.receive(within=15)
            assert message["type"] == "next" and not message["payload"].get("errors"), message
            got.append(message["payload"]["data"]["events"])
        return got


async def _until_quiet(client: WsClient, quiet: float = 2.0, limit: float = 60.0) -> list[dict[str, Any]]:
    """Collects `next` messages until none arrives for `quiet` seconds (or `limit` seconds have passed)."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + limit
    while asyncio.get_running_loop().time() < deadline:
        try:
            message = await client.receive(within=quiet)
        except TimeoutError:
            break
        if message["type"] == "next":
            seen.append(message)
    return seen


async def test_partner_stream_through_the_router_resumes_without_gap_or_duplicate(
    admin: GraphQLClient, settings: Settings, router_ws: str
) -> None:
    a = await register(admin, [REGISTERED, CHANGED])
    b = await register(admin, [CONSENT])
    nc = await nats.connect(settings.nats_url)
    try:
        start = (await nc.jetstream().stream_info("FINPACE_PARTY")).state.last_seq + 1
    finally:
        await nc.close()
    parties = await _party_commands(settings)
    token_a = issue_dev_token(settings, role="partner", sub=a["clientId"])

    def ours(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i["subject"] in parties]

    first = await _read(router_ws, token_a, [REGISTERED, CHANGED], start, 2)  # then a disconnect
    got = list(first)
    while len(ours(got)) < 3:
        got += await _read(router_ws, token_a, [REGISTERED, CHANGED], int(got[-1]["sequence"]) + 1, 1)
    sequences = [int(i["sequence"]) for i in got]
    assert sequences == sorted(set(sequences)) and sequences[0] >= start  # resumed: no duplicate, in order
    mine = ours(got)
    assert [(i["type"], i["subject"]) for i in mine] == [
        (REGISTERED, parties[0]),
        (REGISTERED, parties[1]),
        (CHANGED, parties[0]),
    ]
    assert {i["stream"] for i in got} == {"FINPACE_PARTY"} and {i["type"] for i in got} <= {REGISTERED, CHANGED}

    token_b = issue_dev_token(settings, role="partner", sub=b["clientId"])
    async with connect(router_ws, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token_b}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] == "connection_ack"
        client = WsClient(ws)
        await client.subscribe(EVENTS, {"types": [REGISTERED], "from": str(start)})
        refused = await client.receive()
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"].get("errors")
        assert errors and errors[0]["extensions"]["code"] == "FORBIDDEN", refused
        await client.subscribe(EVENTS, {"types": [CONSENT], "from": str(start)}, op_id="2")
        seen = await _until_quiet(client)
    assert all(m["payload"]["data"]["events"]["type"] == CONSENT for m in seen), seen  # never A's types
    assert not {m["payload"]["data"]["events"]["subject"] for m in seen} & set(parties)
