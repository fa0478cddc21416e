"""Partner streams beyond the party domain: webhooks from every domain stream, and 64-bit stream sequences."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from pathlib import Path

from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

import nats
from shared.auth import issue_dev_token
from shared.config import Settings
from subgraphs.partner.app import partner_consumers
from tests.helpers import GraphQLClient
from tests.subgraphs.partner.conftest import Receiver, publish, register, ws_connect
from tests.subgraphs.support import eventually as until

NATS_DIR = Path(__file__).resolve().parents[3] / "nats"
NOT_FOR_PARTNERS = {"FINPACE_DLQ", "FINPACE_ACCESS"}  # dead letters and staff-access evidence are internal
OPENED, CLOSED = "finpace.account.account.opened", "finpace.account.account.closed"
PUBLISHED = "finpace.product.product.version_published"
EVENTS = """subscription E($types: [String!]!, $from: Long) {
  events(types: $types, fromSequence: $from) { stream sequence type id } }"""


async def test_a_webhook_carries_only_what_happened_after_the_partner_registered(
    admin: GraphQLClient, settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    # A consumer catching up on its stream meets events older than a partner registered since: not for it.
    state, base = receiver
    name = uuid.uuid4().hex
    await register(admin, [OPENED], webhook=f"{base}/hook/{name}", secret="s3cret-" + uuid.uuid4().hex)
    before, _ = await publish(settings, OPENED, occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
                              account_id=str(uuid.uuid4()))
    after, _ = await publish(settings, OPENED, account_id=str(uuid.uuid4()))

    async def delivered() -> bool:
        return str(after.id) in {json.loads(b)["id"] for _, b in state.received(name)}

    await until(delivered, what="the webhook of the event after registration")
    assert str(before.id) not in {json.loads(b)["id"] for _, b in state.received(name)}  # consumed before it


def test_every_domain_stream_has_a_partner_webhook_consumer() -> None:
    streams = {json.loads(p.read_text())["name"] for p in (NATS_DIR / "streams").glob("*.json")}
    specs = partner_consumers(NATS_DIR)
    assert sorted(s.stream for s in specs) == sorted(streams - NOT_FOR_PARTNERS), "add nats/consumers/partner-*.json"
    for spec in specs:
        definition = json.loads((NATS_DIR / "consumers" / f"{spec.durable}.json").read_text())
        domain = spec.stream.removeprefix("FINPACE_").lower()
        assert definition["config"]["filter_subject"] == f"finpace.{domain}.>"


async def test_webhooks_come_from_two_domains_filtered_to_the_entitled_types(
    admin: GraphQLClient, settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    state, base = receiver
    name = uuid.uuid4().hex
    await register(admin, [OPENED, PUBLISHED], webhook=f"{base}/hook/{name}", secret="s3cret-" + uuid.uuid4().hex)
    opened, _ = await publish(settings, OPENED, account_id=str(uuid.uuid4()))
    closed, _ = await publish(settings, CLOSED, account_id=str(uuid.uuid4()))  # same stream, not entitled
    published, _ = await publish(settings, PUBLISHED, product_id=str(uuid.uuid4()))
    wanted = {str(opened.id), str(published.id)}

    async def both() -> bool:
        return wanted <= {json.loads(b)["id"] for _, b in state.received(name)}

    await until(both)
    await asyncio.sleep(0.5)  # a wrongly queued delivery for the closed event would have been sent by now
    received = [json.loads(b) for _, b in state.received(name)]
    assert {r["event_type"] for r in received} <= {OPENED, PUBLISHED}
    assert str(closed.id) not in {r["id"] for r in received}
    assert sorted(r["event_type"] for r in received if r["id"] in wanted) == sorted([OPENED, PUBLISHED])


async def test_stream_sequences_beyond_two_to_the_31_are_exact(
    admin: GraphQLClient, settings: Settings, partner_base: str
) -> None:
    subject, start = "finpace.bigseq.thing.happened", 2**31 + 7
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream("FINPACE_BIGSEQ")
    await js.add_stream(StreamConfig(name="FINPACE_BIGSEQ", subjects=["finpace.bigseq.>"], first_seq=start))
    try:
        _, seq1 = await publish(settings, subject, n=1)
        second, seq2 = await publish(settings, subject, n=2)
        assert (seq1, seq2) == (start, start + 1)
        partner = await register(admin, [subject])
        cm, client = await ws_connect(partner_base, issue_dev_token(settings, role="partner", sub=partner["clientId"]))
        try:
            await client.subscribe(EVENTS, {"types": [subject], "from": str(start + 1)})
            message = await client.receive()
        finally:
            await cm.__aexit__(None, None, None)
        assert message["type"] == "next", message
        event = message["payload"]["data"]["events"]
        assert event == {"stream": "FINPACE_BIGSEQ", "sequence": str(start + 1), "type": subject, "id": str(second.id)}
        cm, client = await ws_connect(partner_base, issue_dev_token(settings, role="partner", sub=partner["clientId"]))
        try:
            await client.subscribe(EVENTS, {"types": [subject], "from": "9223372036854775808"})  # 2^63
            refused = await client.receive()
        finally:
            await cm.__aexit__(None, None, None)
        assert refused["type"] == "error" or refused["payload"].get("errors"), refused
    finally:
        await js.delete_stream("FINPACE_BIGSEQ")
        await nc.close()
