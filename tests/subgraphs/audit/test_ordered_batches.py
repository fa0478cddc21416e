"""The ordered batch subscriber on a private nats-server: a failing message holds back the rest of its batch,
a redelivered batch applies once, and consumers killed at any point mid-batch lose and duplicate nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import metrics
from shared.embedded import EmbeddedNats
from shared.events import Envelope
from shared.ordered_consumer import OrderedBatchSubscriber
from subgraphs.audit.checkpoints import Checkpointer, load_public_key
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.models import Evidence
from subgraphs.audit.service import handle_event
from subgraphs.audit.verify import verify_chain
from tests.helpers import stop
from tests.subgraphs.audit.conftest import (
    BATCH,
    DURABLE,
    CrashBeforeAck,
    at_least,
    events,
    publish,
    run_until_it_crashes,
    stored,
    subscriber,
)
from tests.subgraphs.support import eventually as until

Chain = tuple[async_sessionmaker[AsyncSession], Checkpointer, AuditConfig]


async def chain_order(sessions: async_sessionmaker[AsyncSession]) -> list[uuid.UUID]:
    async with sessions() as session:
        return list((await session.execute(select(Evidence.event_id).order_by(Evidence.sequence))).scalars().all())


@pytest.mark.parametrize("at_once", [True, False], ids=["batch-handler", "per-message"])
async def test_a_failing_message_holds_back_the_rest_of_its_batch_until_it_is_applied(
    broker: tuple[EmbeddedNats, NATS], fresh_chain: Chain, at_once: bool
) -> None:
    _, nc = broker
    sessions = fresh_chain[0]
    js = nc.jetstream()
    batch = events(4, range(1, 5))  # 16 events: exactly one batch
    assert len(batch) == BATCH
    for env in batch:
        await publish(js, env)
    flaky = batch[7].id
    calls: list[uuid.UUID] = []

    async def fails_twice(session: AsyncSession, env: Envelope) -> None:
        calls.append(env.id)
        if env.id == flaky and calls.count(flaky) <= 2:
            if calls.count(flaky) == 2:
                await asyncio.sleep(1.5)  # longer than ack_wait: only the keep-alives stop a redelivery
            raise RuntimeError("transient")
        await handle_event(session, env)

    # A second client on the same durable: anything the server redelivered would go to it, out of order.
    rival = await nc.jetstream().pull_subscribe_bind(durable=DURABLE, stream="FINPACE_PARTY")
    stolen: list[Msg] = []

    async def watch() -> None:
        while True:
            with contextlib.suppress(Exception):
                stolen.extend(await rival.fetch(BATCH, timeout=0.3))

    redelivered = metrics.CONSUMER_REDELIVERED.labels(DURABLE)
    redelivered_before = redelivered._value.get()
    worker = asyncio.create_task(subscriber(nc, sessions, fails_twice, at_once=at_once).run())
    await until(lambda: _called(calls), what="the first delivery")
    watcher = asyncio.create_task(watch())
    try:
        await until(lambda: at_least(sessions, BATCH), within=30)
    finally:
        await stop(worker)
        await stop(watcher)
        with contextlib.suppress(Exception):
            await rival.unsubscribe()

    assert stolen == []
    assert await chain_order(sessions) == [e.id for e in batch]  # nothing after the flaky one went first
    assert calls.count(flaky) == 3  # the batch, then two attempts of its own in this process
    # The batch ran once whole (rolled back at the flaky one), then one by one: the ones before it once more,
    # the flaky one until it passed, the rest once.
    assert calls == [e.id for e in batch[:8]] + [e.id for e in batch[:8]] + [flaky] + [e.id for e in batch[8:]]
    assert redelivered._value.get() == redelivered_before
    assert (await js.stream_info("FINPACE_DLQ")).state.messages == 0


async def _called(calls: list[uuid.UUID]) -> bool:
    return bool(calls)


@pytest.mark.parametrize("at_once", [True, False], ids=["batch-handler", "per-message"])
async def test_a_committed_batch_that_is_redelivered_applies_once(
    broker: tuple[EmbeddedNats, NATS], fresh_chain: Chain, at_once: bool
) -> None:
    _, nc = broker
    sessions, _, config = fresh_chain
    js = nc.jetstream()
    batch = events(8, range(1, 3))
    for env in batch:
        await publish(js, env)
    await run_until_it_crashes(subscriber(nc, sessions, cls=CrashBeforeAck, at_once=at_once))
    assert await stored(sessions) == BATCH  # committed, never acknowledged

    duplicates = metrics.CONSUMER_PROCESSED.labels(DURABLE, "duplicate")
    applied = metrics.CONSUMER_PROCESSED.labels(DURABLE, "applied")
    duplicates_before, applied_before = duplicates._value.get(), applied._value.get()
    restarted = subscriber(nc, sessions, at_once=at_once)
    task = asyncio.create_task(restarted.run())
    try:
        await until(lambda: _handled(restarted, BATCH), within=30)
    finally:
        await stop(task)
    assert duplicates._value.get() - duplicates_before == BATCH  # every one came back after ack_wait
    assert applied._value.get() == applied_before  # and none was applied again
    assert await chain_order(sessions) == [e.id for e in batch]
    info = await js.consumer_info("FINPACE_PARTY", DURABLE)
    assert info.num_pending == 0 and info.num_ack_pending == 0
    result = await verify_chain(sessions, config.checkpoint_dir, load_public_key(config.public_key_path()))
    assert result.ok and result.last_sequence == BATCH


async def _handled(sub: OrderedBatchSubscriber, n: int) -> bool:
    return sub.handled >= n


@pytest.mark.parametrize("at_once", [True, False], ids=["batch-handler", "per-message"])
async def test_consumers_killed_mid_batch_lose_nothing_and_duplicate_nothing(
    broker: tuple[EmbeddedNats, NATS], fresh_chain: Chain, at_once: bool
) -> None:
    _, nc = broker
    sessions, _, config = fresh_chain
    js = nc.jetstream()
    rng = random.Random(20260501)
    published = events(10, range(1, 13))  # 120 events over 10 aggregates

    async def publisher() -> None:
        for env in published:
            await publish(js, env)
            await asyncio.sleep(rng.uniform(0, 0.01))

    feeding = asyncio.create_task(publisher())
    kills = 0
    try:
        while kills < 8 or not feeding.done():
            # Killed at a random point: while fetching, inside the transaction, between the commit and the
            # acks, or half way through the acks.
            task = asyncio.create_task(subscriber(nc, sessions, at_once=at_once).run())
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            await stop(task)
            kills += 1
        await feeding
        survivor = asyncio.create_task(subscriber(nc, sessions, at_once=at_once).run())
        try:
            await until(lambda: at_least(sessions, len(published)), within=60)
            await asyncio.sleep(1.5)  # room for a late redelivery to show up as a second entry
        finally:
            await stop(survivor)
    finally:
        await stop(feeding)

    assert await chain_order(sessions) == [e.id for e in published]  # all, once each, in stream order
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM inbox"))).scalar_one() == len(published)
    result = await verify_chain(sessions, config.checkpoint_dir, load_public_key(config.public_key_path()))
    assert result.ok and result.last_sequence == len(published)


async def test_the_same_event_twice_in_one_batch_is_one_entry(
    broker: tuple[EmbeddedNats, NATS], fresh_chain: Chain
) -> None:
    _, nc = broker
    sessions, _, config = fresh_chain
    js = nc.jetstream()
    batch = events(3, range(1, 3))
    # Published again under another Nats-Msg-Id (as after the duplicate window): the stream holds it twice.
    again = batch[2]
    for env in batch:
        await publish(js, env)
    await js.publish(again.nats_subject, json.dumps(again.to_dict()).encode(), headers={"Nats-Msg-Id": "copy"})
    sub = subscriber(nc, sessions)
    task = asyncio.create_task(sub.run())
    try:
        await until(lambda: _handled(sub, len(batch) + 1), within=30)
    finally:
        await stop(task)
    assert await chain_order(sessions) == [e.id for e in batch]
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM inbox"))).scalar_one() == len(batch)
    result = await verify_chain(sessions, config.checkpoint_dir, load_public_key(config.public_key_path()))
    assert result.ok and result.last_sequence == len(batch)
