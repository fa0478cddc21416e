"""The outbox relay against real PostgreSQL and JetStream: nothing lost, nothing published twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import outbox_table
from shared.outbox import OutboxRelay, asyncpg_dsn
from tests.helpers import stop
from tests.shared.conftest import (
    WidgetCreated,
    make_uow,
    recreate_stream,
    side_effects,
    stream_msg_ids,
    write_widget,
)

pytestmark = pytest.mark.slow


async def outbox_event_ids(engine: AsyncEngine, *, unpublished_only: bool = False) -> set[str]:
    query = select(outbox_table.c.event_id)
    if unpublished_only:
        query = query.where(outbox_table.c.published_at.is_(None))
    async with engine.connect() as conn:
        return {str(i) for i in (await conn.execute(query)).scalars()}


async def write_many(sessions: async_sessionmaker[AsyncSession], n: int, *, concurrency: int = 20) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore, make_uow(sessions) as uow:
            await write_widget(uow, f"w-{i}")
            await uow.commit()

    await asyncio.gather(*[one(i) for i in range(n)])


async def wait_until(condition: Callable[[], Awaitable[bool]], *, within: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)


async def test_thousand_transactions_with_rollbacks_publish_each_committed_event_exactly_once(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, kit_stream: str
) -> None:
    # 1,000 business transactions; every tenth is rolled back after its outbox insert.
    semaphore = asyncio.Semaphore(20)

    async def one(i: int) -> None:
        async with semaphore, make_uow(sessions) as uow:
            await write_widget(uow, f"w-{i}")
            if i % 10 != 0:
                await uow.commit()

    await asyncio.gather(*[one(i) for i in range(1000)])
    async with kit_db.connect() as conn:
        business = {str(i) for i in (await conn.execute(select(side_effects.c.id))).scalars()}
        aggregates = set((await conn.execute(select(outbox_table.c.aggregate_id))).scalars())
    assert len(business) == 900
    assert aggregates == business

    # The relay publishes every committed row once and marks it.
    relay = OutboxRelay(kit_db, js, "kit", batch_size=128)
    assert await relay.backlog() == 900
    assert await relay.drain() == 900
    assert await relay.backlog() == 0
    assert await relay.drain() == 0
    info = await js.stream_info(kit_stream, subjects_filter="finpace.kit.>")
    assert info.state.messages == 900
    assert info.state.subjects == {"finpace.kit.widget.created": 900}
    ids = await stream_msg_ids(js, kit_stream)
    assert len(ids) == len(set(ids)) == 900
    assert set(ids) == await outbox_event_ids(kit_db)

    # Each message is the event's envelope, keyed by its id.
    first = await js.get_msg(kit_stream, 1)
    body = json.loads(first.data)
    assert body["id"] == first.headers["Nats-Msg-Id"]
    assert body["type"] == "WidgetCreated" and body["source"] == "kit"
    assert first.subject == "finpace.kit.widget.created"


async def test_a_crash_between_publish_and_mark_is_absorbed_by_msg_id_dedup(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, kit_stream: str
) -> None:
    await write_many(sessions, 300)
    # A relay published the first 200 rows, then died before marking them: re-enact exactly
    # what it sent (same subject, payload and Nats-Msg-Id) and leave the rows unpublished.
    async with kit_db.connect() as conn:
        rows = (await conn.execute(select(outbox_table).order_by(outbox_table.c.id).limit(200))).all()
    acks = await asyncio.gather(*[
        await js.publish_async(row.nats_subject, json.dumps(row.envelope, separators=(",", ":")).encode(),
                               headers={"Nats-Msg-Id": str(row.event_id)})
        for row in rows
    ])
    assert not any(ack.duplicate for ack in acks)
    assert len(await outbox_event_ids(kit_db, unpublished_only=True)) == 300

    # The restarted relay publishes all 300 again; JetStream keeps one copy of each.
    relay = OutboxRelay(kit_db, js, "kit", batch_size=64)
    assert await relay.drain() == 300
    info = await js.stream_info(kit_stream)
    assert info.state.messages == 300
    ids = await stream_msg_ids(js, kit_stream)
    assert len(set(ids)) == 300 and set(ids) == await outbox_event_ids(kit_db)
    # Re-publishing a message the stream already holds is acknowledged as a duplicate.
    again = await js.publish(rows[0].nats_subject, b"{}", headers={"Nats-Msg-Id": str(rows[0].event_id)})
    assert again.duplicate
    assert (await js.stream_info(kit_stream)).state.messages == 300


async def test_relay_cancelled_at_random_points_publishes_each_event_exactly_once(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], nc: NATS, js: JetStreamContext, kit_stream: str
) -> None:
    # A plain NATS subscriber sees every publish, duplicates included, so it shows the re-sends.
    sent: list[str] = []

    seen = asyncio.Event()

    async def tap(msg: Msg) -> None:
        sent.append(msg.headers["Nats-Msg-Id"])
        seen.set()

    await nc.subscribe("finpace.kit.>", cb=tap)
    rng = random.Random(7)
    writers = asyncio.create_task(write_many(sessions, 600, concurrency=10))
    relay = OutboxRelay(kit_db, js, "kit", batch_size=40, poll_seconds=0.05)
    # Kill the relay 16 times while writers keep committing: half the kills land as soon as a
    # publish is seen on the wire (between publish and mark), half at random points.
    for kill in range(16):
        seen.clear()
        task = asyncio.create_task(relay.run())
        if kill % 2 == 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await seen.wait()
        else:
            await asyncio.sleep(rng.uniform(0.0, 0.15))
        await stop(task)
    await writers
    # A clean drain publishes whatever was left; the stream holds every event once.
    await relay.drain()
    assert await relay.backlog() == 0
    info = await js.stream_info(kit_stream)
    assert info.state.messages == 600
    ids = await stream_msg_ids(js, kit_stream)
    assert len(ids) == len(set(ids)) == 600
    assert set(ids) == await outbox_event_ids(kit_db)
    await nc.flush()
    await asyncio.sleep(0.1)
    assert set(sent) == set(ids)
    assert len(sent) > 600, "no kill landed between publish and mark"
    print(f"relay kills: {len(sent) - 600} re-sent events absorbed by de-duplication")


async def test_late_committing_writers_are_never_skipped(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, kit_stream: str
) -> None:
    # 50 writers take their outbox ids, sleep 0-200 ms, then commit: ids commit out of order.
    # The safety poll is 30 s, so only NOTIFY can wake the relay in time.
    relay = OutboxRelay(kit_db, js, "kit", poll_seconds=30)
    task = asyncio.create_task(relay.run())
    rng = random.Random(50)

    async def writer(i: int) -> None:
        async with make_uow(sessions) as uow:
            await write_widget(uow, f"late-{i}")
            await asyncio.sleep(rng.uniform(0, 0.2))
            await uow.commit()

    try:
        await asyncio.sleep(0.2)  # the relay is listening
        await asyncio.gather(*[writer(i) for i in range(50)])

        async def all_published() -> bool:
            return (await js.stream_info(kit_stream)).state.messages >= 50 and await relay.backlog() == 0

        await wait_until(all_published, within=10)
    finally:
        await stop(task)
    ids = await stream_msg_ids(js, kit_stream)
    assert len(ids) == len(set(ids)) == 50
    assert set(ids) == await outbox_event_ids(kit_db)


async def test_nothing_is_marked_published_without_a_pub_ack(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext
) -> None:
    # No stream captures finpace.kit.> yet: publishing fails and the rows stay unpublished.
    if await _stream_exists(js, "FINPACE_KIT"):
        await js.delete_stream("FINPACE_KIT")
    await write_many(sessions, 5)
    relay = OutboxRelay(kit_db, js, "kit", publish_timeout=2)
    with pytest.raises(Exception):  # noqa: B017 - whichever error nats-py raises for no responders
        await relay.publish_batch()
    assert await relay.backlog() == 5
    # Once the stream exists the same rows go out.
    await recreate_stream(js, "FINPACE_KIT", ["finpace.kit.>"])
    assert await relay.drain() == 5
    assert (await js.stream_info("FINPACE_KIT")).state.messages == 5


async def _stream_exists(js: JetStreamContext, name: str) -> bool:
    try:
        await js.stream_info(name)
    except Exception:
        return False
    return True


async def test_relay_recovers_after_a_failure_while_running(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext
) -> None:
    if await _stream_exists(js, "FINPACE_KIT"):
        await js.delete_stream("FINPACE_KIT")
    relay = OutboxRelay(kit_db, js, "kit", poll_seconds=0.2, publish_timeout=1)
    task = asyncio.create_task(relay.run())
    try:
        await write_many(sessions, 10)
        await asyncio.sleep(0.5)  # the relay fails and backs off
        assert await relay.backlog() == 10
        await recreate_stream(js, "FINPACE_KIT", ["finpace.kit.>"])

        async def drained() -> bool:
            return await relay.backlog() == 0

        await wait_until(drained, within=10)
    finally:
        await stop(task)
    assert (await js.stream_info("FINPACE_KIT")).state.messages == 10


async def test_notify_is_sent_on_commit_only(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    listener = await asyncpg.connect(asyncpg_dsn(kit_db))
    received: list[str] = []
    await listener.add_listener("outbox", lambda *args: received.append(args[2]))
    try:
        async with make_uow(sessions) as uow:
            await write_widget(uow, "rolled back")
        async with make_uow(sessions) as uow:
            await write_widget(uow, "kept")
            await asyncio.sleep(0.2)
            assert received == []  # not before commit
            await uow.commit()
        for _ in range(40):
            if received:
                break
            await asyncio.sleep(0.05)
        assert received == ["outbox"]
    finally:
        await listener.close()


async def test_msg_id_dedup_holds_for_ten_thousand_events(js: JetStreamContext) -> None:
    # A dedicated stream: 10,000 events published twice with the same Nats-Msg-Id.
    await recreate_stream(js, "KIT_DEDUP", ["kitdedup.>"])
    ids = [str(uuid.uuid4()) for _ in range(10_000)]

    async def publish_all() -> list[bool]:
        duplicates: list[bool] = []
        for start in range(0, len(ids), 1000):
            futures = [
                await js.publish_async(f"kitdedup.e.{n % 7}", msg_id.encode(), headers={"Nats-Msg-Id": msg_id})
                for n, msg_id in enumerate(ids[start:start + 1000])
            ]
            duplicates += [ack.duplicate for ack in await asyncio.gather(*futures)]
        return duplicates

    first = await publish_all()
    second = await publish_all()
    assert not any(first)
    assert all(second)
    info = await js.stream_info("KIT_DEDUP")
    assert info.state.messages == 10_000
    await js.delete_stream("KIT_DEDUP")


async def test_one_aggregates_events_are_published_in_version_order(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, kit_stream: str
) -> None:
    widget_id = uuid.uuid4()
    for version in range(1, 101):
        async with make_uow(sessions) as uow:
            await uow.emit(WidgetCreated(widget_id=widget_id, label=f"v{version}"), aggregate_id=widget_id,
                           aggregate_version=version)
            await uow.commit()
    relay = OutboxRelay(kit_db, js, "kit", batch_size=30)
    assert await relay.drain() == 100
    versions = []
    for seq in range(1, 101):
        versions.append(json.loads((await js.get_msg(kit_stream, seq)).data)["aggregate_version"])
    assert versions == list(range(1, 101))


async def test_competing_relays_never_publish_a_row_twice(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], nc: NATS, js: JetStreamContext, kit_stream: str
) -> None:
    # Two relays (two replicas of a service) drain one outbox: SKIP LOCKED splits the rows.
    sent: list[str] = []

    async def tap(msg: Msg) -> None:
        sent.append(msg.headers["Nats-Msg-Id"])

    await nc.subscribe("finpace.kit.>", cb=tap)
    await write_many(sessions, 500)
    relays = [OutboxRelay(kit_db, js, "kit", batch_size=25) for _ in range(2)]
    totals = await asyncio.gather(*[relay.drain() for relay in relays])
    assert sum(totals) == 500
    await nc.flush()
    await asyncio.sleep(0.1)
    assert len(sent) == len(set(sent)) == 500  # not even a de-duplicated second send
    assert (await js.stream_info(kit_stream)).state.messages == 500
