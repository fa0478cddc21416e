"""Access evidence end to end: a staff read through the party subgraph becomes one chained evidence entry."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

import nats
from shared.access_evidence import ACCESS_STREAM, DROPPED, PUBLISHED, RETRIED, EvidenceRecorder
from shared.auth import Principal, issue_dev_token
from shared.config import Settings
from shared.db import RequestContext, UnitOfWork, create_sessionmaker
from shared.embedded import EmbeddedNats
from shared.events import Actor
from shared.migrations import upgrade
from shared.outbox import OutboxRelay
from subgraphs.party import service as party_service
from subgraphs.party.app import create_app as create_party
from subgraphs.party.commands import GrantEntitlement, RegisterParty
from subgraphs.party.models import PartyType
from tests.helpers import GraphQLClient, serve, stop
from tests.subgraphs.audit.test_app import TRAIL, VERIFY, wait_for
from tests.subgraphs.support import eventually as until

READ = "query OpsLooksUp($id: ID!) { party(id: $id) { legalName } again: party(id: $id) { id } }"
EVIDENCE = """query($subject: String) { auditTrail(subject: $subject, type: "ReadRecorded", first: 50) {
  totalCount edges { node { type source subject correlationId actor { sub roles } data } } } }"""


@pytest.fixture(scope="module")
async def party_url(settings: Settings, audit_app: tuple[Starlette, str]) -> AsyncIterator[str]:
    await upgrade(settings, "party")
    async with serve(create_party(settings)) as base:
        yield f"{base}/graphql"


async def _registered_and_entitled(settings: Settings, party_engine: AsyncEngine, user_sub: str) -> str:
    sessions = create_sessionmaker(party_engine)
    ctx = RequestContext(actor=Actor(sub="ops-1", roles=("ops",)), correlation_id=uuid.uuid4().hex)
    party = await party_service.register_party(
        UnitOfWork(sessions, ctx),
        data=RegisterParty(party_type=PartyType.ORGANISATION, legal_name=f"Evidence {uuid.uuid4().hex[:8]} Ltd"),
        idempotency_key=uuid.uuid4().hex,
    )
    await party_service.grant_entitlement(
        UnitOfWork(sessions, ctx),
        data=GrantEntitlement(
            party_id=str(party.id), user_sub=user_sub, permissions=("VIEW",), valid_from=party.created_at.date()
        ),
        idempotency_key=uuid.uuid4().hex,
    )
    nc = await nats.connect(settings.nats_url)
    try:
        await OutboxRelay(engine=party_engine, js=nc.jetstream(), domain="party").drain()
    finally:
        await nc.close()
    return str(party.id)


async def test_a_staff_read_is_one_evidence_entry_and_a_customer_read_none(
    settings: Settings, party_engine: AsyncEngine, party_url: str, auditor: GraphQLClient
) -> None:
    user = f"cust-{uuid.uuid4().hex[:8]}"
    party_id = await _registered_and_entitled(settings, party_engine, user)
    async with httpx.AsyncClient(timeout=30) as http:
        ops = GraphQLClient(http, party_url, issue_dev_token(settings, role="ops", sub="ops-evidence"))
        customer = GraphQLClient(http, party_url, issue_dev_token(settings, role="customer", sub=user))

        async def customer_sees() -> bool:
            return (await customer.data(READ, {"id": party_id}))["party"] is not None

        await wait_for(customer_sees)  # the customer's own reads (several) are not access evidence
        first = await ops.raw(READ, {"id": party_id}, **{"x-correlation-id": "corr-evidence-1"})
        assert first.json()["data"]["party"]["legalName"].startswith("Evidence")

        async def entries(n: int) -> bool:
            return int((await auditor.data(EVIDENCE, {"subject": party_id}))["auditTrail"]["totalCount"]) >= n

        await wait_for(lambda: entries(1))
        await ops.data(READ, {"id": party_id})  # a second request: a second entry, after which none can be late
        await wait_for(lambda: entries(2))
    trail = (await auditor.data(EVIDENCE, {"subject": party_id}))["auditTrail"]
    assert trail["totalCount"] == 2  # one per request, though the party was read twice in each
    entry = trail["edges"][0]["node"]
    assert entry["type"] == "ReadRecorded" and entry["source"] == "party" and entry["subject"] == party_id
    assert entry["actor"] == {"sub": "ops-evidence", "roles": ["ops"]}
    assert entry["correlationId"] == "corr-evidence-1"
    assert entry["data"]["operation"] == "OpsLooksUp" and entry["data"]["party_id"] == party_id
    assert {e["node"]["actor"]["sub"] for e in trail["edges"]} == {"ops-evidence"}
    full = (await auditor.data(TRAIL, {"subject": party_id, "first": 10}))["auditTrail"]
    assert {e["node"]["type"] for e in full["edges"]} >= {"PartyRegistered", "EntitlementGranted", "ReadRecorded"}
    assert (await auditor.data(VERIFY))["verifyAuditChain"]["ok"]


async def test_evidence_waits_out_a_broker_outage_and_is_published_once(
    broker: tuple[EmbeddedNats, NATS],
) -> None:
    server, nc = broker
    service = f"kit-{uuid.uuid4().hex[:8]}"
    recorder = EvidenceRecorder(nc=nc, service=service, retry_max=0.5)
    ops = Principal(sub="ops-1", roles=frozenset({"ops"}))
    task = asyncio.create_task(recorder.run())
    try:
        assert recorder.record(ops, ["p-0"], operation="Before", correlation_id="c0") == 1
        await until(lambda: _stored(nc, 1), what="the first record")
        await asyncio.to_thread(server.stop)  # the broker goes away; reads go on and are noted
        assert recorder.record(ops, ["p-1", "p-2", "p-3"], operation="During", correlation_id="c1") == 3

        async def retried() -> bool:
            return RETRIED.labels(service)._value.get() >= 3

        await until(retried, what="a retry of the unacknowledged records")
        assert recorder.pending == 3
        await asyncio.to_thread(server.start)  # back (same port and store): the records are published
        await until(lambda: _stored(nc, 4), within=60, what="the records noted during the outage")
        await until(lambda: _pending_is(recorder, 0), what="nothing pending")
    finally:
        await stop(task)
    js = nc.jetstream()
    bodies = [(await js.get_msg(ACCESS_STREAM, seq)).data for seq in range(1, 5)]
    parties = sorted(json.loads(body)["data"]["party_id"] for body in bodies)
    assert parties == ["p-0", "p-1", "p-2", "p-3"]  # each once
    assert DROPPED.labels(service)._value.get() == 0
    assert PUBLISHED.labels(service)._value.get() == 4


async def test_evidence_is_dropped_and_counted_only_when_the_queue_is_full_or_at_shutdown_without_a_broker(
    settings: Settings,
) -> None:
    nc = await nats.connect(settings.nats_url)
    service = f"kit-{uuid.uuid4().hex[:8]}"
    recorder = EvidenceRecorder(nc=nc, service=service, capacity=2)
    await nc.close()
    ops = Principal(sub="ops-1", roles=frozenset({"ops"}))
    queued = recorder.record(ops, ["p-1", "p-2", "p-3"], operation="Op", correlation_id="c")
    assert queued == 2  # recording never waits for the broker; the third found the queue full
    assert DROPPED.labels(service)._value.get() == 1
    await recorder.drain()  # shutdown with no broker: what was pending is dropped and counted
    assert DROPPED.labels(service)._value.get() == 3 and recorder.pending == 0


async def _stored(nc: NATS, n: int) -> bool:
    try:
        return (await nc.jetstream().stream_info(ACCESS_STREAM)).state.messages >= n
    except Exception:
        return False


async def _pending_is(recorder: EvidenceRecorder, n: int) -> bool:
    return recorder.pending == n
