"""Partners: registration, entitled resumable event subscriptions over graphql-transport-ws, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import outbox_table
from subgraphs.partner.models import Partner
from subgraphs.partner.schema import build_schema
from tests.helpers import GraphQLClient
from tests.subgraphs.partner.conftest import REGISTER, Receiver, publish, register, ws_connect
from tests.subgraphs.support import eventually as until

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema" / "partner.graphql"
REGISTERED, CONSENT = "finpace.party.party.registered", "finpace.party.consent.recorded"
EVENTS = """subscription E($types: [String!]!, $from: Long) {
  events(types: $types, fromSequence: $from) { stream sequence type id subject data } }"""
DELIVERIES = """query D($p: ID!, $s: String) { webhookDeliveries(partnerId: $p, status: $s) {
  id status attempts lastStatusCode eventId } }"""
REDELIVER = """mutation X($id: ID!) { redeliverWebhook(deliveryId: $id, reason: "endpoint fixed") {
  __typename ... on WebhookDelivery { status attempts } ... on DomainError { code } } }"""


async def test_sdl_snapshot_is_current() -> None:
    assert SNAPSHOT.read_text() == build_schema().as_str() + "\n"


async def test_register_partner_is_idempotent_validated_and_admin_only(
        admin: GraphQLClient, settings: Settings, partner_sessions: async_sessionmaker[AsyncSession]) -> None:
    async def counts() -> tuple[int, int]:
        async with partner_sessions() as session:
            return (int(await session.scalar(select(func.count()).select_from(Partner)) or 0),
                    int(await session.scalar(select(func.count()).select_from(outbox_table)) or 0))

    body = {"clientId": f"p-{uuid.uuid4().hex[:8]}", "name": "Acme Payments", "allowedEventTypes": [REGISTERED]}
    before, key = await counts(), uuid.uuid4().hex
    first = await admin.data(REGISTER, {"key": key, "input": body})
    again = await admin.data(REGISTER, {"key": key, "input": body})
    assert first == again and await counts() == (before[0] + 1, before[1] + 1)
    dup = await admin.data(REGISTER, {"key": uuid.uuid4().hex, "input": body})
    assert dup["registerPartner"]["code"] == "CONFLICT"
    middle = await counts()
    for bad in ({"allowedEventTypes": ["party.*"]}, {"allowedEventTypes": []},
                {"webhookUrl": "ftp://x", "webhookSecret": "0123456789abcdef"},
                {"webhookUrl": "https://x.example", "webhookSecret": "short"}, {"webhookUrl": "https://x.example"}):
        answer = await admin(REGISTER, {"key": uuid.uuid4().hex, "input": {**body, "clientId": "new", **bad}})
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (bad, answer)
    ops = admin.with_token(issue_dev_token(settings, role="ops", sub="o"))
    refused = await ops(REGISTER, {"key": uuid.uuid4().hex, "input": {**body, "clientId": "other"}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await counts() == middle


async def test_subscription_is_entitled_ordered_and_resumable(admin: GraphQLClient, settings: Settings,
                                                              partner_base: str) -> None:
    a = await register(admin, [REGISTERED])
    b = await register(admin, [CONSENT])
    mine = []
    first_seq = None
    for i in range(3):
        env, seq = await publish(settings, REGISTERED, n=i)
        first_seq = first_seq or seq
        mine.append(str(env.id))
        await publish(settings, CONSENT, n=i)
    token_a = issue_dev_token(settings, role="partner", sub=a["clientId"])
    token_b = issue_dev_token(settings, role="partner", sub=b["clientId"])

    async def read(token: str, types: list[str], start: int, stop_after: int) -> list[dict[str, Any]]:
        cm, client = await ws_connect(partner_base, token)
        try:
            await client.subscribe(EVENTS, {"types": types, "from": start})
            got: list[dict[str, Any]] = []
            while len(got) < stop_after:
                message = await client.receive()
                assert message["type"] == "next", message
                got.append(message["payload"]["data"]["events"])
            return got
        finally:
            await cm.__aexit__(None, None, None)  # a disconnect mid-stream

    def ours(items: list[dict[str, Any]]) -> list[str]:
        return [i["id"] for i in items if i["id"] in mine]

    got: list[dict[str, Any]] = []
    while len(ours(got)) < 2:
        got += await read(token_a, [REGISTERED], int(got[-1]["sequence"]) + 1 if got else first_seq, 1)
    resumed = await read(token_a, [REGISTERED], int(got[-1]["sequence"]) + 1, 1)
    while mine[2] not in ours(got + resumed):
        resumed += await read(token_a, [REGISTERED], int(resumed[-1]["sequence"]) + 1, 1)
    everything = got + resumed
    sequences = [int(i["sequence"]) for i in everything]
    assert ours(everything) == mine and sequences == sorted(set(sequences))  # no gap in ours, no duplicate
    assert {i["type"] for i in everything} == {REGISTERED} and {i["stream"] for i in everything} == {"FINPACE_PARTY"}

    from_b = await read(token_b, [CONSENT], first_seq, 3)
    assert {i["type"] for i in from_b} == {CONSENT}
    assert not set(mine) & {i["id"] for i in from_b}

    cm, client = await ws_connect(partner_base, token_a)
    try:
        await client.subscribe(EVENTS, {"types": [CONSENT], "from": 1})
        refused = await client.receive()
        assert refused["type"] in {"error", "next"}
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    finally:
        await cm.__aexit__(None, None, None)


async def test_signed_webhooks_retry_dead_letter_and_redeliver(admin: GraphQLClient, settings: Settings,
                                                               receiver: tuple[Receiver, str]) -> None:
    state, base = receiver
    secret = "s3cret-" + uuid.uuid4().hex
    good_name, bad_name = uuid.uuid4().hex, uuid.uuid4().hex
    good = await register(admin, [REGISTERED], webhook=f"{base}/hook/{good_name}", secret=secret)
    bad = await register(admin, [REGISTERED], webhook=f"{base}/hook/{bad_name}", secret=secret)
    outsider = await register(admin, [CONSENT], webhook=f"{base}/hook/outsider-{good_name}", secret=secret)
    state.failing.add(bad_name)
    env, _ = await publish(settings, REGISTERED, n=1)

    async def delivered() -> bool:
        return any(json.loads(b)["id"] == str(env.id) for _, b in state.received(good_name))

    await until(delivered)
    headers, body = next((h, b) for h, b in state.received(good_name) if json.loads(b)["id"] == str(env.id))
    expected = hmac.new(secret.encode(), headers["x-finpace-timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["x-finpace-signature"] == f"sha256={expected}"
    assert headers["x-finpace-event-id"] == str(env.id) and json.loads(body)["event_type"] == REGISTERED
    # The outsider may get consent events from elsewhere in the run, never a type it is not entitled to.
    assert {json.loads(b)["event_type"] for _, b in state.received(f"outsider-{good_name}")} <= {CONSENT}

    async def dead() -> bool:
        rows = (await admin.data(DELIVERIES, {"p": bad["id"], "s": "DEAD"}))["webhookDeliveries"]
        return any(r["eventId"] == str(env.id) for r in rows)

    await until(dead)
    row = next(r for r in (await admin.data(DELIVERIES, {"p": bad["id"], "s": "DEAD"}))["webhookDeliveries"]
               if r["eventId"] == str(env.id))
    assert row["attempts"] == 3 and row["lastStatusCode"] == 500
    assert len([1 for _, b in state.received(bad_name) if json.loads(b)["id"] == str(env.id)]) == 3
    state.failing.discard(bad_name)
    redone = await admin.data(REDELIVER, {"id": row["id"]})
    assert redone["redeliverWebhook"] == {"__typename": "WebhookDelivery", "status": "PENDING", "attempts": 0}

    async def recovered() -> bool:
        rows = (await admin.data(DELIVERIES, {"p": bad["id"], "s": "DELIVERED"}))["webhookDeliveries"]
        return any(r["eventId"] == str(env.id) for r in rows)

    await until(recovered)
    again = await admin.data(REDELIVER, {"id": row["id"]})
    assert again["redeliverWebhook"]["code"] == "INVALID_TRANSITION"
    assert (await admin.data(REDELIVER, {"id": str(uuid.uuid4())}))["redeliverWebhook"]["code"] == "NOT_FOUND"
    delivered_good = (await admin.data(DELIVERIES, {"p": good["id"], "s": None}))["webhookDeliveries"]
    assert [r["status"] for r in delivered_good if r["eventId"] == str(env.id)] == ["DELIVERED"]
    assert outsider["id"]
