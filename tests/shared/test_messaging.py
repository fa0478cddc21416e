"""JetStream provisioning and the Subscriber: inbox de-duplication, redelivery, ack_wait and the dead-letter stream."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import inbox_table
from shared.events import Actor, Envelope
from shared.messaging import DLQ_PREFIX, DLQ_STREAM, Subscriber, nats_definitions_dir, provision_from
from tests.helpers import stop
from tests.shared.conftest import WidgetCreated, side_effects

pytestmark = pytest.mark.slow

STREAM = "KIT_MSG"
SUBJECT = "finpace.kitmsg.widget.created"
MS = 1_000_000  # JetStream durations are nanoseconds


def _consumer(durable: str, **config: Any) -> dict[str, Any]:
    return {"stream_name": STREAM, "config": {
        "durable_name": durable, "ack_policy": "explicit", "deliver_policy": "all",
        "filter_subject": "finpace.kitmsg.>", "max_ack_pending": 1000, **config,
    }}


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    """A nats/ folder of the kit: one stream and consumers with short timers so the tests are fast."""
    (tmp_path / "streams").mkdir()
    (tmp_path / "consumers").mkdir()
    (tmp_path / "streams" / f"{STREAM}.json").write_text(json.dumps({
        "name": STREAM, "subjects": ["finpace.kitmsg.>"], "retention": "limits", "storage": "file",
        "num_replicas": 1, "duplicate_window": 600 * 1000 * MS, "deny_delete": False, "deny_purge": False,
    }))
    consumers = {
        "kit-apply": _consumer("kit-apply", ack_wait=1000 * MS, max_deliver=5),
        "kit-other": _consumer("kit-other", ack_wait=1000 * MS, max_deliver=5),
        "kit-poison": _consumer("kit-poison", ack_wait=5000 * MS, max_deliver=3, backoff=[100 * MS, 200 * MS]),
    }
    for name, body in consumers.items():
        (tmp_path / "consumers" / f"{name}.json").write_text(json.dumps(body))
    return tmp_path


@pytest.fixture
async def provisioned(nc: NATS, js: JetStreamContext, definitions: Path) -> AsyncIterator[Path]:
    """A fresh KIT_MSG stream with its consumers, plus the repository's streams (FINPACE_DLQ)."""
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM)
    await provision_from(nc, nats_definitions_dir())
    await provision_from(nc, definitions)
    yield definitions
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM)


def _envelope() -> Envelope:
    widget_id = uuid.uuid4()
    return Envelope.wrap(WidgetCreated(widget_id=widget_id, label="w"), aggregate_id=widget_id, aggregate_version=1,
                         actor=Actor.system(), reason=None, correlation_id="corr")


async def publish(js: JetStreamContext, envelope: Envelope, *, msg_id: str | None = None) -> None:
    await js.publish(SUBJECT, json.dumps(envelope.to_dict()).encode(),
                     headers={"Nats-Msg-Id": msg_id or str(envelope.id)})


async def apply_widget(session: AsyncSession, envelope: Envelope) -> None:
    """The side effect: one business row per applied event, labelled with the event id."""
    await session.execute(insert(side_effects).values(id=uuid.uuid4(), label=str(envelope.id)))


async def effects(engine: AsyncEngine, envelope: Envelope) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(
            select(func.count()).select_from(side_effects).where(side_effects.c.label == str(envelope.id))
        )).scalar_one())


async def run_until(subscriber: Subscriber, done: Callable[[], Awaitable[bool]], *, within: float) -> None:
    deadline = time.monotonic() + within
    while not await done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {within} s")
        await subscriber.run_once()


def subscriber(nc: NATS, sessions: async_sessionmaker[AsyncSession], durable: str, handler: Any) -> Subscriber:
    return Subscriber(nc, sessions, STREAM, durable, handler, fetch_timeout=0.3)


async def test_provisioning_creates_the_repository_streams_with_financial_settings(
    nc: NATS, js: JetStreamContext
) -> None:
    done = await provision_from(nc, nats_definitions_dir())
    assert "stream FINPACE_PARTY" in done and f"stream {DLQ_STREAM}" in done
    party = (await js.stream_info("FINPACE_PARTY")).config
    assert party.subjects == ["finpace.party.>"]
    assert party.storage == "file"
    assert party.duplicate_window == 600
    assert party.deny_delete and party.deny_purge
    dlq = (await js.stream_info(DLQ_STREAM)).config
    assert dlq.subjects == [f"{DLQ_PREFIX}.>"]
    assert dlq.deny_delete
    # Provisioning again is harmless (an update with the same definition).
    assert await provision_from(nc, nats_definitions_dir()) == done


async def test_provisioning_creates_consumers_and_updates_changed_definitions(
    nc: NATS, js: JetStreamContext, provisioned: Path
) -> None:
    info = await js.consumer_info(STREAM, "kit-poison")
    assert info.config.max_deliver == 3
    assert info.config.backoff == [0.1, 0.2]
    assert info.config.ack_policy == "explicit"
    # A changed stream definition is applied in place; consumers are re-applied idempotently.
    path = provisioned / "streams" / f"{STREAM}.json"
    config = json.loads(path.read_text())
    config["description"] = "changed"
    path.write_text(json.dumps(config))
    done = await provision_from(nc, provisioned)
    assert f"consumer {STREAM}/kit-poison" in done
    assert (await js.stream_info(STREAM)).config.description == "changed"


async def test_provisioning_refuses_a_bad_definition_naming_its_file(
    nc: NATS, provisioned: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    (bad / "streams").mkdir(parents=True)
    (bad / "consumers").mkdir()
    # Overlaps KIT_MSG's subjects: the server refuses it.
    overlapping = {"name": "KIT_OVERLAP", "subjects": ["finpace.kitmsg.>"]}
    (bad / "streams" / "KIT_OVERLAP.json").write_text(json.dumps(overlapping))
    with pytest.raises(RuntimeError, match=r"KIT_OVERLAP\.json"):
        await provision_from(nc, bad)


async def test_the_same_message_processed_twice_applies_once(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    envelope = _envelope()
    await publish(js, envelope)
    sub = subscriber(nc, sessions, "kit-apply", apply_widget)
    psub = await sub._subscription()
    [msg] = await psub.fetch(1, timeout=2)
    assert await sub.process(msg) is True
    assert await sub.process(msg) is False  # the inbox row absorbs the second run
    await msg.ack_sync()
    assert await effects(kit_db, envelope) == 1
    async with kit_db.connect() as conn:
        row = (await conn.execute(select(inbox_table))).one()
    assert (row.consumer, row.event_id, row.event_type) == ("kit-apply", envelope.id, "WidgetCreated")


async def test_a_failed_attempt_is_nakked_and_the_redelivery_applies_once(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    attempts: list[int] = []

    async def flaky(session: AsyncSession, envelope: Envelope) -> None:
        await apply_widget(session, envelope)  # written, then rolled back with the failure
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database hiccup")

    envelope = _envelope()
    await publish(js, envelope)
    sub = subscriber(nc, sessions, "kit-apply", flaky)

    async def applied() -> bool:
        return await effects(kit_db, envelope) == 1

    await run_until(sub, applied, within=10)
    assert len(attempts) == 2
    assert sub.handled == 1
    # Nothing is left to deliver.
    assert await sub.run_once() == 0
    info = await js.consumer_info(STREAM, "kit-apply")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_an_event_delivered_twice_under_two_msg_ids_applies_once(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    # A re-publication outside the duplicate window reaches the consumer a second time.
    envelope = _envelope()
    await publish(js, envelope)
    await publish(js, envelope, msg_id=f"{envelope.id}-replayed")
    sub = subscriber(nc, sessions, "kit-apply", apply_widget)
    assert await sub.run_once() == 2
    assert await effects(kit_db, envelope) == 1
    assert sub.handled == 2


async def test_each_consumer_has_its_own_inbox(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    envelope = _envelope()
    await publish(js, envelope)
    for durable in ["kit-apply", "kit-other", "kit-apply"]:
        await subscriber(nc, sessions, durable, apply_widget).run_once()
    assert await effects(kit_db, envelope) == 2


async def test_a_consumer_paused_past_ack_wait_gets_a_redelivery_and_applies_once(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    envelope = _envelope()
    await publish(js, envelope)
    sub = subscriber(nc, sessions, "kit-apply", apply_widget)
    psub = await sub._subscription()
    # The consumer commits its side effect, then stalls before acking (a GC pause, a lost ack).
    [msg] = await psub.fetch(1, timeout=2)
    assert await sub.process(msg) is True
    await asyncio.sleep(1.5)  # past ack_wait (1 s)
    [again] = await psub.fetch(1, timeout=3)
    assert again.metadata.num_delivered == 2
    assert again.metadata.sequence.stream == msg.metadata.sequence.stream
    await sub._handle(again)
    assert await effects(kit_db, envelope) == 1
    assert sub.handled == 1
    # The late ack of the first delivery is harmless, and nothing comes back.
    with contextlib.suppress(Exception):
        await msg.ack()
    await asyncio.sleep(1.2)
    assert await sub.run_once() == 0
    assert await effects(kit_db, envelope) == 1


async def _dead_letters(js: JetStreamContext, durable: str) -> list[Any]:
    info = await js.stream_info(DLQ_STREAM, subjects_filter=f"{DLQ_PREFIX}.{durable}")
    if not (info.state.subjects or {}).get(f"{DLQ_PREFIX}.{durable}"):
        return []
    return [await js.get_last_msg(DLQ_STREAM, f"{DLQ_PREFIX}.{durable}")]


async def test_a_handler_that_always_fails_gets_max_deliver_attempts_then_dead_letters(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    durable = f"kit-poison-{uuid.uuid4().hex[:8]}"
    (provisioned / "consumers" / "kit-poison.json").write_text(json.dumps(
        _consumer(durable, ack_wait=5000 * MS, max_deliver=3, backoff=[100 * MS, 200 * MS])
    ))
    await provision_from(nc, provisioned)
    deliveries: list[float] = []

    async def poison(session: AsyncSession, envelope: Envelope) -> None:
        await apply_widget(session, envelope)
        deliveries.append(time.monotonic())
        raise ValueError("cannot apply this event")

    envelope = _envelope()
    await publish(js, envelope)
    # The Subscriber is not told max_deliver: the consumer's definition is the one the server enforces.
    sub = Subscriber(nc, sessions, STREAM, durable, poison, fetch_timeout=0.3)

    async def dead_lettered() -> bool:
        return bool(await _dead_letters(js, durable))

    await run_until(sub, dead_lettered, within=15)
    assert len(deliveries) == 3
    [dead] = await _dead_letters(js, durable)
    assert json.loads(dead.data)["id"] == str(envelope.id)
    assert dead.headers["Finpace-Dlq-Consumer"] == durable
    assert dead.headers["Finpace-Dlq-Subject"] == SUBJECT
    assert dead.headers["Finpace-Dlq-Deliveries"] == "3"
    assert "cannot apply this event" in dead.headers["Finpace-Dlq-Error"]
    # Nothing was applied and nothing is delivered again.
    for _ in range(3):
        assert await sub.run_once() == 0
    await asyncio.sleep(0.5)
    assert await sub.run_once() == 0
    assert len(deliveries) == 3
    assert await effects(kit_db, envelope) == 0
    info = await js.consumer_info(STREAM, durable)
    assert info.num_ack_pending == 0
    # Retries waited for the backoff schedule (100 ms, then 200 ms) instead of spinning.
    gaps = [b - a for a, b in itertools.pairwise(deliveries)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, gaps


async def test_a_malformed_message_is_dead_lettered_not_lost(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    durable = f"kit-bad-{uuid.uuid4().hex[:8]}"
    (provisioned / "consumers" / "kit-poison.json").write_text(json.dumps(
        _consumer(durable, ack_wait=5000 * MS, max_deliver=2, backoff=[50 * MS])
    ))
    await provision_from(nc, provisioned)
    await js.publish(SUBJECT, b"{not json", headers={"Nats-Msg-Id": str(uuid.uuid4())})
    sub = Subscriber(nc, sessions, STREAM, durable, apply_widget, fetch_timeout=0.3)

    async def dead_lettered() -> bool:
        return bool(await _dead_letters(js, durable))

    await run_until(sub, dead_lettered, within=15)
    [dead] = await _dead_letters(js, durable)
    assert dead.data == b"{not json"


async def test_run_consumes_a_stream_of_events_once_each(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    envelopes = [_envelope() for _ in range(200)]
    for envelope in envelopes:
        await publish(js, envelope)
    for envelope in envelopes[:50]:  # duplicates inside the window are dropped by the stream
        await publish(js, envelope)
    applied: list[uuid.UUID] = []
    all_applied = asyncio.Event()

    async def counting(session: AsyncSession, envelope: Envelope) -> None:
        await apply_widget(session, envelope)
        applied.append(envelope.id)
        if len(applied) == 200:
            all_applied.set()

    sub = subscriber(nc, sessions, "kit-apply", counting)
    task = asyncio.create_task(sub.run())
    try:
        await asyncio.wait_for(all_applied.wait(), timeout=15)
        await asyncio.sleep(0.5)  # room for any stray redelivery to show up
    finally:
        await stop(task)
    assert sub.handled == 200
    async with kit_db.connect() as conn:
        labels = list((await conn.execute(select(side_effects.c.label))).scalars())
    assert sorted(labels) == sorted(str(e.id) for e in envelopes)


async def test_two_replicas_and_a_handler_slower_than_ack_wait_apply_once(
    nc: NATS, js: JetStreamContext, kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
    provisioned: Path,
) -> None:
    # Replica A is still inside its transaction when ack_wait (1 s) expires and replica B gets
    # the redelivery: B's inbox insert waits on A's uncommitted row, then finds it and skips.
    calls: list[str] = []

    def slow(name: str) -> Any:
        async def handler(session: AsyncSession, envelope: Envelope) -> None:
            calls.append(name)
            await apply_widget(session, envelope)
            await asyncio.sleep(1.5)

        return handler

    envelope = _envelope()
    await publish(js, envelope)
    replicas = [subscriber(nc, sessions, "kit-apply", slow(name)) for name in ("a", "b")]
    tasks = [asyncio.create_task(replica.run()) for replica in replicas]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            info = await js.consumer_info(STREAM, "kit-apply")
            if info.num_ack_pending == 0 and info.num_pending == 0 and calls:
                break
    finally:
        await stop(*tasks)
    assert len(calls) == 1
    assert await effects(kit_db, envelope) == 1
    info = await js.consumer_info(STREAM, "kit-apply")
    assert info.num_ack_pending == 0
    assert [r.handled for r in replicas] == [1, 1]  # B got the redelivery and acked it as a duplicate
