"""Consumer guarantees on a private nats-server: crash before ack, broker restart, pause past ack wait, poison."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import metrics
from shared.embedded import EmbeddedNats, free_port
from shared.events import Envelope
from shared.messaging import Subscriber, connect
from subgraphs.audit.checkpoints import Checkpointer, load_public_key
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.consumers import audit_consumers
from subgraphs.audit.models import Evidence
from subgraphs.audit.service import handle_event
from subgraphs.audit.verify import verify_chain
from tests.subgraphs.audit.conftest import REPO_NATS, envelope

Chain = tuple[async_sessionmaker[AsyncSession], Checkpointer, AuditConfig]
DURABLE = "audit-party"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedNats, NATS]]:
    """A private nats-server with the repo's streams and the audit consumer, ack_wait shortened to 1 s."""
    server = await asyncio.to_thread(EmbeddedNats(tmp_path / "nats", port=free_port()).start)
    nc = await connect(server.url, name="test-guarantees")
    try:
        for path in sorted((REPO_NATS / "streams").glob("*.json")):
            config = json.loads(path.read_text())
            await nc.request(f"$JS.API.STREAM.CREATE.{config['name']}", json.dumps(config).encode(), timeout=5)
        definition = json.loads((REPO_NATS / "consumers" / f"{DURABLE}.json").read_text())
        config = {**definition["config"], "ack_wait": 1_000_000_000, "max_deliver": 3}
        config.pop("backoff")  # the production schedule (1 s … 10 min) would make the test slow
        reply = await nc.request(f"$JS.API.CONSUMER.CREATE.FINPACE_PARTY.{DURABLE}",
                                 json.dumps({"stream_name": "FINPACE_PARTY", "config": config}).encode(), timeout=5)
        assert "error" not in json.loads(reply.data), reply.data
        yield server, nc
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        await asyncio.to_thread(server.stop)


async def publish(js: JetStreamContext, env: Envelope) -> None:
    """Publishes like the outbox relay: Nats-Msg-Id = event id, retried until JetStream acknowledges."""
    body = json.dumps(env.to_dict()).encode()
    for _ in range(200):
        try:
            await js.publish(env.nats_subject, body, headers={"Nats-Msg-Id": str(env.id)}, timeout=2)
            return
        except Exception:
            await asyncio.sleep(0.1)
    raise AssertionError("could not publish")


def events(aggregates: int, versions: range) -> list[Envelope]:
    subjects = [f"00000000-0000-4000-8000-{i:012d}" for i in range(aggregates)]
    return [envelope(s, version=v) for v in versions for s in subjects]


async def stored(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Evidence))).scalar_one())


async def until(predicate: Any, within: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


class CrashBeforeAck(Subscriber):
    """Commits the n-th event, then dies before acknowledging it (a process killed mid-batch)."""

    crash_at: int = 0

    async def _handle(self, msg: Msg) -> None:
        if self.handled + 1 == self.crash_at:
            await self.process(msg)
            raise asyncio.CancelledError
        await super()._handle(msg)


def test_every_domain_stream_has_exactly_one_ordered_audit_consumer() -> None:
    streams = {json.loads(p.read_text())["name"] for p in (REPO_NATS / "streams").glob("FINPACE_*.json")}
    found = audit_consumers(REPO_NATS)
    audited = sorted(d.stream for d in found)
    # A new stream needs one file: nats/consumers/audit-<domain>.json (copy audit-party.json).
    assert audited == sorted(streams - {"FINPACE_DLQ"}), "add an audit consumer file for each FINPACE_* stream"
    for d in found:
        config = json.loads((REPO_NATS / "consumers" / f"{d.durable}.json").read_text())["config"]
        assert config["max_ack_pending"] == 1 and config["ack_policy"] == "explicit", d.durable


async def test_crash_restart_and_pause_lose_nothing_and_apply_once(
        broker: tuple[EmbeddedNats, NATS], fresh_chain: Chain) -> None:
    server, nc = broker
    sessions, _, config = fresh_chain
    js = nc.jetstream()
    duplicates = metrics.CONSUMER_PROCESSED.labels(DURABLE, "duplicate")
    duplicates_before = duplicates._value.get()
    first = events(6, range(1, 11))
    for env in first:
        await publish(js, env)

    crasher = CrashBeforeAck(nc=nc, sessions=sessions, stream="FINPACE_PARTY", durable=DURABLE,
                             handler=handle_event, batch=1)
    crasher.crash_at = 15
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(crasher.run(), 30)
    assert await stored(sessions) == 15  # the 15th is committed but unacknowledged

    paused: set[str] = set()

    async def slow_once(session: AsyncSession, env: Envelope) -> None:
        if await stored(sessions) == 20 and not paused:
            paused.add(str(env.id))
            await asyncio.sleep(1.5)  # longer than ack_wait: JetStream redelivers it
        await handle_event(session, env)

    worker = Subscriber(nc=nc, sessions=sessions, stream="FINPACE_PARTY", durable=DURABLE, handler=slow_once,
                        batch=1)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _at_least(sessions, 30))
        await asyncio.to_thread(server.stop)  # broker down mid-run
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)
        second = events(4, range(11, 21))
        for env in second:
            await publish(js, env)
        total = len(first) + len(second)
        await until(lambda: _at_least(sessions, total), within=90)
        await asyncio.sleep(1.5)  # room for any late redelivery to show up as a second entry
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async with sessions() as session:
        rows = (await session.execute(select(Evidence.event_id, Evidence.subject, Evidence.aggregate_version)
                                      .order_by(Evidence.sequence))).all()
        inbox = (await session.execute(text("SELECT count(*) FROM inbox"))).scalar_one()
    assert len(rows) == total == inbox and {r.event_id for r in rows} == {e.id for e in first + second}
    assert paused, "the pause past ack wait did happen"
    assert duplicates._value.get() - duplicates_before >= 1  # the crash victim came back and was absorbed
    by_aggregate: dict[str, list[int]] = {}
    for row in rows:
        by_aggregate.setdefault(row.subject, []).append(row.aggregate_version)
    assert all(versions == sorted(versions) for versions in by_aggregate.values())
    result = await verify_chain(sessions, config.checkpoint_dir, load_public_key(config.public_key_path()))
    assert result.ok and result.last_sequence == total
    info = await js.stream_info("FINPACE_DLQ")
    assert info.state.messages == 0


async def _at_least(sessions: async_sessionmaker[AsyncSession], n: int) -> bool:
    return await stored(sessions) >= n


async def test_poison_message_goes_to_the_dead_letter_stream_after_max_deliver(
        broker: tuple[EmbeddedNats, NATS], fresh_chain: Chain) -> None:
    _, nc = broker
    sessions = fresh_chain[0]
    js = nc.jetstream()
    await js.publish("finpace.party.party.status_changed", b"{not json", headers={"Nats-Msg-Id": "poison-1"})
    good = envelope()
    await publish(js, good)
    worker = Subscriber(nc=nc, sessions=sessions, stream="FINPACE_PARTY", durable=DURABLE, handler=handle_event,
                        batch=1, max_deliver=3)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _at_least(sessions, 1), within=30)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    dead = await js.get_last_msg("FINPACE_DLQ", f"finpace.dlq.{DURABLE}")
    assert dead.data == b"{not json"
    assert dead.headers is not None and dead.headers["Finpace-Dlq-Deliveries"] == "3"
    assert dead.headers["Finpace-Dlq-Subject"] == "finpace.party.party.status_changed"
    async with sessions() as session:
        ids = (await session.execute(select(Evidence.event_id))).scalars().all()
    assert ids == [good.id]  # the poison did not block the stream for ever, and left no evidence
