"""The dead-letter path never loses a message: a failed dead-letter copy is retried, and the server's
MAX_DELIVERIES advisory copies a message whose last delivery got no verdict at all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import messaging
from shared.events import Envelope
from shared.messaging import DLQ_PREFIX, DLQ_STREAM, Subscriber, nats_definitions_dir, provision_from
from tests.helpers import stop
from tests.shared.conftest import recreate_stream

pytestmark = pytest.mark.slow

STREAM = "KIT_DLQ"
SUBJECT = "finpace.kitdlq.widget.created"
MS = 1_000_000


async def _consumer(nc: NATS, durable: str, **config: Any) -> None:
    """Creates a durable consumer through the JetStream API, as provisioning does (durations in nanoseconds)."""
    body = {
        "stream_name": STREAM,
        "config": {
            "durable_name": durable,
            "ack_policy": "explicit",
            "deliver_policy": "all",
            "filter_subject": "finpace.kitdlq.>",
            **config,
        },
    }
    reply = await nc.request(f"$JS.API.CONSUMER.CREATE.{STREAM}.{durable}", json.dumps(body).encode(), timeout=5)
    assert "error" not in json.loads(reply.data), reply.data


async def _dead_letters(js: JetStreamContext, durable: str) -> list[Any]:
    with contextlib.suppress(NotFoundError):
        info = await js.stream_info(DLQ_STREAM, subjects_filter=f"{DLQ_PREFIX}.{durable}")
        if (info.state.subjects or {}).get(f"{DLQ_PREFIX}.{durable}"):
            return [await js.get_last_msg(DLQ_STREAM, f"{DLQ_PREFIX}.{durable}")]
    return []


async def _eventually(check: Any, *, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.fixture
async def kit_dlq(nc: NATS, js: JetStreamContext) -> Any:
    await provision_from(nc, nats_definitions_dir())
    await recreate_stream(js, STREAM, ["finpace.kitdlq.>"])
    yield STREAM
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM)
    await provision_from(nc, nats_definitions_dir())  # FINPACE_DLQ back for the next test, whatever happened


async def test_a_dead_letter_that_cannot_be_stored_is_retried_not_dropped(
    nc: NATS,
    js: JetStreamContext,
    sessions: async_sessionmaker[AsyncSession],
    kit_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(messaging, "DLQ_RETRY_SECONDS", (0.1, 0.3))
    durable = f"kit-dlq-{uuid.uuid4().hex[:8]}"
    await _consumer(nc, durable, ack_wait=1000 * MS, max_deliver=2, backoff=[100 * MS])

    async def poison(session: AsyncSession, envelope: Envelope) -> None:
        raise ValueError("cannot apply this event")

    await js.delete_stream(DLQ_STREAM)  # the dead-letter stream is down when the last delivery fails
    await js.publish(SUBJECT, b'{"not": "an envelope"}', headers={"Nats-Msg-Id": "dlq-retry-1"})
    sub = Subscriber(nc, sessions, STREAM, durable, poison, fetch_timeout=0.3)
    task = asyncio.create_task(sub.run())
    try:
        await asyncio.sleep(2.5)  # both deliveries fail (the envelope does not parse), then copies keep failing
        assert await _dead_letters(js, durable) == []
        info = await js.consumer_info(STREAM, durable)
        assert info.num_ack_pending == 1, "the message must stay in progress while its dead letter is not stored"
        await provision_from(nc, nats_definitions_dir())  # the dead-letter stream is back
        await _eventually(lambda: _dead_letters(js, durable), within=10)
    finally:
        await stop(task)
    [dead] = await _dead_letters(js, durable)
    assert dead.data == b'{"not": "an envelope"}'
    assert dead.headers["Finpace-Dlq-Deliveries"] == "2" and dead.headers["Finpace-Dlq-Consumer"] == durable
    info = await js.consumer_info(STREAM, durable)
    assert (info.num_ack_pending, info.num_pending, info.delivered.consumer_seq) == (0, 0, 2)  # terminated
    dlq = await js.stream_info(DLQ_STREAM, subjects_filter=f"{DLQ_PREFIX}.{durable}")
    assert dlq.state.subjects == {f"{DLQ_PREFIX}.{durable}": 1}  # one dead letter, whichever path stored it


async def test_the_max_deliveries_advisory_dead_letters_a_message_left_without_a_verdict(
    nc: NATS,
    js: JetStreamContext,
    sessions: async_sessionmaker[AsyncSession],
    kit_dlq: str,
) -> None:
    durable = f"kit-adv-{uuid.uuid4().hex[:8]}"
    await _consumer(nc, durable, ack_wait=2000 * MS, max_deliver=1)

    async def never(session: AsyncSession, envelope: Envelope) -> None:
        raise AssertionError("the message must not be delivered again")

    await js.publish(SUBJECT, b"lost in a crash", headers={"Nats-Msg-Id": "dlq-advisory-1"})
    # Another process fetches the only delivery and dies before any verdict: its ack_wait will run out.
    crashed = await js.pull_subscribe_bind(durable=durable, stream=STREAM)
    [msg] = await crashed.fetch(1, timeout=2)
    assert msg.data == b"lost in a crash"
    await crashed.unsubscribe()
    sub = Subscriber(nc, sessions, STREAM, durable, never, fetch_timeout=0.3)
    task = asyncio.create_task(sub.run())
    try:
        await _eventually(lambda: _dead_letters(js, durable), within=15)
    finally:
        await stop(task)
    [dead] = await _dead_letters(js, durable)
    assert dead.data == b"lost in a crash"
    assert dead.headers["Finpace-Dlq-Subject"] == SUBJECT
    assert dead.headers["Nats-Msg-Id"] == f"{durable}:1"
