"""Consumer guarantees on a private nats-server: crash before ack, broker stopped, killed or frozen, stalled process,
poison."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest
from nats.aio.client import Client as NATS
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import metrics
from shared.embedded import EmbeddedNats
from shared.events import Envelope
from shared.messaging import provision_from
from subgraphs.audit.checkpoints import Checkpointer, load_public_key
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.consumers import audit_consumers
from subgraphs.audit.models import Evidence
from subgraphs.audit.service import handle_event
from subgraphs.audit.verify import verify_chain
from tests.helpers import stop
from tests.subgraphs.audit.conftest import (
    BATCH,
    DURABLE,
    REPO_NATS,
    CrashBeforeAck,
    at_least,
    envelope,
    events,
    publish,
    stored,
    subscriber,
)
from tests.subgraphs.support import eventually as until

Chain = tuple[async_sessionmaker[AsyncSession], Checkpointer, AuditConfig]


def test_every_domain_stream_has_exactly_one_ordered_audit_consumer() -> None:
    streams = {json.loads(p.read_text())["name"] for p in (REPO_NATS / "streams").glob("FINPACE_*.json")}
    found = audit_consumers(REPO_NATS)
    audited = sorted(d.stream for d in found)
    # A new stream needs one file: nats/consumers/audit-<domain>.json (copy audit-party.json).
    assert audited == sorted(streams - {"FINPACE_DLQ"}), "add an audit consumer file for each FINPACE_* stream"
    for d in found:
        config = json.loads((REPO_NATS / "consumers" / f"{d.durable}.json").read_text())["config"]
        # The ordered batch subscriber fetches up to max_ack_pending: the batch and the in-flight bound are one.
        assert config["max_ack_pending"] == d.max_ack_pending == 256 and config["ack_policy"] == "explicit", d.durable


async def test_reprovisioning_raises_an_existing_consumers_max_ack_pending(broker: tuple[EmbeddedNats, NATS]) -> None:
    _, nc = broker
    js = nc.jetstream()
    assert (await js.consumer_info("FINPACE_PARTY", DURABLE)).config.max_ack_pending == BATCH  # as deployed
    await provision_from(nc, REPO_NATS)  # finpace provision / up
    info = await js.consumer_info("FINPACE_PARTY", DURABLE)
    assert info.config.max_ack_pending == 256 and info.config.max_deliver == 6


async def broker_fault(server: EmbeddedNats, fault: str) -> None:
    """Takes the broker away mid-run and brings it back: a clean stop, a SIGKILL, or a freeze past ack_wait."""
    if fault == "stopped":
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)
    elif fault == "killed":
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # no shutdown, no flush: JetStream recovers from its files
        await asyncio.to_thread(server.stop, 1)  # reaps the dead process
        await asyncio.to_thread(server.start)
    else:
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the broker freezes: clients time out, ack_wait (1 s) passes
        try:
            await asyncio.sleep(2.5)
        finally:
            os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("fault", ["stopped", "killed", "paused"])
async def test_crash_restart_and_stall_lose_nothing_and_apply_once_in_stream_order(
    broker: tuple[EmbeddedNats, NATS], fresh_chain: Chain, fault: str
) -> None:
    server, nc = broker
    sessions, _, config = fresh_chain
    js = nc.jetstream()
    duplicates = metrics.CONSUMER_PROCESSED.labels(DURABLE, "duplicate")
    duplicates_before = duplicates._value.get()
    first = events(6, range(1, 11))
    for env in first:
        await publish(js, env)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(subscriber(nc, sessions, cls=CrashBeforeAck).run(), 30)
    assert await stored(sessions) == BATCH  # the first batch is committed but unacknowledged

    stalled: set[str] = set()

    async def stall_once(session: AsyncSession, env: Envelope) -> None:
        if not stalled:
            stalled.add(str(env.id))
            # The whole process stalls (its keep-alives too) for longer than ack_wait: JetStream redelivers.
            time.sleep(1.5)  # noqa: ASYNC251
        await handle_event(session, env)

    task = asyncio.create_task(subscriber(nc, sessions, stall_once).run())
    try:
        await until(lambda: at_least(sessions, 30))
        await broker_fault(server, fault)  # broker down mid-run
        second = events(4, range(11, 21))
        for env in second:
            await publish(js, env)
        total = len(first) + len(second)
        await until(lambda: at_least(sessions, total), within=90)
        await asyncio.sleep(1.5)  # room for any late redelivery to show up as a second entry
    finally:
        await stop(task)

    async with sessions() as session:
        rows = (await session.execute(select(Evidence.event_id).order_by(Evidence.sequence))).scalars().all()
        inbox = (await session.execute(text("SELECT count(*) FROM inbox"))).scalar_one()
    assert len(rows) == total == inbox
    assert rows == [e.id for e in first + second]  # stream order, so each aggregate's events in order
    assert stalled, "the stall past ack wait did happen"
    assert duplicates._value.get() - duplicates_before >= BATCH  # the crashed batch came back and was absorbed
    result = await verify_chain(sessions, config.checkpoint_dir, load_public_key(config.public_key_path()))
    assert result.ok and result.last_sequence == total
    info = await js.stream_info("FINPACE_DLQ")
    assert info.state.messages == 0


async def test_poison_message_mid_batch_goes_to_the_dead_letter_stream_and_the_rest_follow_in_order(
    broker: tuple[EmbeddedNats, NATS], fresh_chain: Chain
) -> None:
    _, nc = broker
    sessions = fresh_chain[0]
    js = nc.jetstream()
    before, after = [envelope() for _ in range(5)], [envelope() for _ in range(5)]
    for env in before:
        await publish(js, env)
    await js.publish("finpace.party.party.status_changed", b"{not json", headers={"Nats-Msg-Id": "poison-1"})
    for env in after:
        await publish(js, env)
    task = asyncio.create_task(subscriber(nc, sessions).run())
    try:
        await until(lambda: at_least(sessions, 10), within=30)
    finally:
        await stop(task)
    dead = await js.get_last_msg("FINPACE_DLQ", f"finpace.dlq.{DURABLE}")
    assert dead.data == b"{not json"
    assert dead.headers is not None and dead.headers["Finpace-Dlq-Deliveries"] == "3"
    assert dead.headers["Finpace-Dlq-Subject"] == "finpace.party.party.status_changed"
    async with sessions() as session:
        ids = (await session.execute(select(Evidence.event_id).order_by(Evidence.sequence))).scalars().all()
    assert ids == [e.id for e in before + after]  # the poison did not block the stream, and left no evidence
