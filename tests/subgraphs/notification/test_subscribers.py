"""The party-event consumer on the real broker: a redelivered event queues no second notification."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import nats
from shared.config import Settings
from shared.db import inbox_table
from subgraphs.notification.models import Notification
from tests.helpers import GraphQLClient
from tests.subgraphs.notification.conftest import publish_party_event
from tests.subgraphs.notification.test_notifications import event_type, notes, prefer, template
from tests.subgraphs.support import eventually as until


async def test_a_redelivered_party_event_sends_one_notification(
        ops: GraphQLClient, settings: Settings, mailbox: Any,
        note_sessions: async_sessionmaker[AsyncSession]) -> None:
    etype, party = event_type(), str(uuid.uuid4())
    address = f"again-{party[:8]}@example.com"
    await template(ops, etype)
    await prefer(ops, party, "EMAIL", address)
    env = await publish_party_event(settings, etype, party, to_status="ACTIVE")

    async def sent() -> bool:
        return any(n["status"] == "SENT" for n in await notes(ops, party))

    await until(sent)
    # The same envelope again under a new Nats-Msg-Id, as a relay re-publishing after the stream's
    # duplicate window would: JetStream delivers it a second time.
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        ack = await js.publish(env.nats_subject, json.dumps(env.to_dict()).encode(),
                               headers={"Nats-Msg-Id": uuid.uuid4().hex})
        assert not ack.duplicate

        async def consumed() -> bool:
            info = await js.consumer_info("FINPACE_PARTY", "notification-party")
            return bool(info.ack_floor and info.ack_floor.stream_seq >= ack.seq)

        await until(consumed)
    finally:
        await nc.close()

    async with note_sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(Notification).where(
            Notification.event_id == env.id))
        inbox = await session.scalar(select(func.count()).select_from(inbox_table).where(
            inbox_table.c.consumer == "notification-party", inbox_table.c.event_id == env.id))
    assert rows == 1 and inbox == 1
    assert [n["status"] for n in await notes(ops, party)] == ["SENT"]
    assert len(mailbox[0].to(address)) == 1
