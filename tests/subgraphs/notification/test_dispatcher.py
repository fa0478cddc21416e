"""The dispatcher's delivery guarantees on real PostgreSQL, the local SMTP server and the local HTTP provider.

Each test queues rows in a database of this module's own, so the subgraph's running dispatcher never sees them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_sessionmaker, outbox_table
from subgraphs.notification.adapters import Adapter, Outgoing, adapters_for
from subgraphs.notification.config import NotificationConfig
from subgraphs.notification.dispatcher import Attempt, Dispatcher, Outcome
from subgraphs.notification.models import DeliveryStatus, Notification, Template
from tests.helpers import stop
from tests.subgraphs.notification.conftest import Mailbox, Provider, scratch_database
from tests.subgraphs.support import eventually as until

Sessions = async_sessionmaker[AsyncSession]
SETTLED = {DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value}


@pytest.fixture(scope="module")
async def sessions(settings: Settings) -> AsyncIterator[Sessions]:
    async with scratch_database(settings) as scratch:
        yield create_sessionmaker(scratch.engine)


@pytest.fixture
def config(mailbox: tuple[Mailbox, int], provider: tuple[Provider, str]) -> NotificationConfig:
    return NotificationConfig(smtp_port=mailbox[1], provider_url=provider[1], max_attempts=3,
                              backoff_seconds=(0.05, 0.05, 0.05), poll_seconds=0.05, lease_seconds=2.0,
                              send_timeout_seconds=1.5)


@dataclass
class StopsBeforeRecording(Dispatcher):
    """A dispatcher that stands still after the adapter answered and before the outcome is recorded.

    Its task is then cancelled: the closest an asyncio test gets to a process dying at that point.
    """

    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def settle(self, attempt: Attempt, outcome: Outcome) -> bool:
        self.reached.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@dataclass
class Explodes:
    """An adapter that raises an unexpected exception for one recipient and delegates the rest."""

    inner: Adapter
    recipient: str

    async def send(self, message: Outgoing) -> str:
        if message.recipient == self.recipient:
            raise LookupError(f"no route for {message.recipient}")
        return await self.inner.send(message)


async def queue(sessions: Sessions, channel: str, recipients: Sequence[str]) -> list[uuid.UUID]:
    """Queues one due SERVICE message per recipient, as the party consumer would."""
    template = uuid.uuid4()
    ids = [uuid.uuid4() for _ in recipients]
    async with sessions() as session, session.begin():
        await session.execute(insert(Template).values(
            id=template, event_type=f"DispatchTest{uuid.uuid4().hex[:8]}", channel=channel, locale="en", version=1,
            category="SERVICE", subject="Hello {{ name }}" if channel == "EMAIL" else None,
            body="Dear {{ name }}, your statement is ready.", created_by="test"))
        await session.execute(insert(Notification), [
            {"id": i, "party_id": uuid.uuid4(), "event_id": uuid.uuid4(), "event_type": "StatementReady",
             "template_id": template, "channel": channel, "category": "SERVICE", "recipient": r,
             "context": json.dumps({"name": r.split("@")[0]}), "status": DeliveryStatus.QUEUED.value,
             "attempts": 0, "version": 1}
            for i, r in zip(ids, recipients, strict=True)])
    return ids


async def rows(sessions: Sessions, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Notification]:
    async with sessions() as session:
        found = (await session.execute(select(Notification).where(Notification.id.in_(ids)))).scalars().all()
    return {n.id: n for n in found}


async def status_events(sessions: Sessions, note: uuid.UUID) -> list[str]:
    async with sessions() as session:
        envelopes = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == str(note)).order_by(outbox_table.c.id))).scalars().all()
    return [e["data"]["to_status"] for e in envelopes]


async def drain(dispatcher: Dispatcher, sessions: Sessions, ids: Sequence[uuid.UUID]) -> None:
    """Runs the dispatcher until every message is SENT or FAILED (retries wait out their backoff)."""
    async def settled() -> bool:
        await dispatcher.run_once()
        return all(n.status in SETTLED for n in (await rows(sessions, ids)).values())

    await until(settled)


def message_ids(mailbox: Mailbox, address: str) -> list[str]:
    return [str(email.message_from_string(body)["Message-ID"]) for body in mailbox.to(address)]


async def test_a_malformed_provider_answer_fails_that_message_alone(
        sessions: Sessions, config: NotificationConfig, provider: tuple[Provider, str]) -> None:
    state, _ = provider
    tag = uuid.uuid4().hex[:6]
    phones = [f"+4477009{tag}{i}" for i in range(5)]
    state.malformed_to.add(phones[2])  # a 200 without an id: perhaps accepted, so retried with the same key
    ids = await queue(sessions, "SMS", phones)

    await drain(Dispatcher(sessions, adapters_for(config), config), sessions, ids)

    found = await rows(sessions, ids)
    bad = found[ids[2]]
    assert bad.status == "FAILED" and bad.attempts == 3 and "without a message id" in (bad.last_error or "")
    assert state.to(phones[2]) == [str(ids[2])] * 3
    assert await status_events(sessions, ids[2]) == ["FAILED"]
    for note, phone in zip(ids, phones, strict=True):
        if note == ids[2]:
            continue
        # Sent exactly once: the bad answer in the same batch neither rolled back nor repeated it.
        assert state.to(phone) == [str(note)]
        n = found[note]
        assert (n.status, n.attempts, n.provider_message_id) == ("SENT", 1, state.ids[str(note)])
        assert await status_events(sessions, note) == ["SENT"]


async def test_an_unexpected_exception_is_contained_to_its_message(
        sessions: Sessions, config: NotificationConfig, mailbox: tuple[Mailbox, int]) -> None:
    tag = uuid.uuid4().hex[:8]
    addresses = [f"x{i}-{tag}@example.com" for i in range(3)]
    ids = await queue(sessions, "EMAIL", addresses)
    adapters = {"EMAIL": Explodes(adapters_for(config)["EMAIL"], addresses[0])}

    await drain(Dispatcher(sessions, adapters, config), sessions, ids)

    found = await rows(sessions, ids)
    assert found[ids[0]].status == "FAILED" and found[ids[0]].attempts == 3
    assert "LookupError: no route for" in (found[ids[0]].last_error or "")
    for note, address in zip(ids[1:], addresses[1:], strict=True):
        assert (found[note].status, found[note].attempts) == ("SENT", 1)
        assert message_ids(mailbox[0], address) == [f"<{note}@finpace>"]


@pytest.mark.parametrize("channel", ["EMAIL", "SMS"])
async def test_a_crash_after_acceptance_is_retried_after_the_lease_with_the_same_key(
        channel: str, sessions: Sessions, config: NotificationConfig, mailbox: tuple[Mailbox, int],
        provider: tuple[Provider, str]) -> None:
    tag = uuid.uuid4().hex[:8]
    recipient = f"crash-{tag}@example.com" if channel == "EMAIL" else f"+44770{int(tag, 16) % 10**8:08d}"
    [note] = await queue(sessions, channel, [recipient])

    def seen() -> list[str]:  # what the provider (SMTP server or HTTP provider) saw, as idempotency keys
        return message_ids(mailbox[0], recipient) if channel == "EMAIL" else provider[0].to(recipient)

    key = f"<{note}@finpace>" if channel == "EMAIL" else str(note)
    # The provider accepts the message; the dispatcher dies before recording SENT.
    crashing = StopsBeforeRecording(sessions, adapters_for(config), config)
    task = asyncio.create_task(crashing.run_once())
    await asyncio.wait_for(crashing.reached.wait(), 20)
    await stop(task)
    held = (await rows(sessions, [note]))[note]
    assert (held.status, held.attempts, held.claimed_by) == ("SENDING", 1, crashing.name)
    assert seen() == [key]

    # Another replica leaves it alone while the lease holds...
    survivor = Dispatcher(sessions, adapters_for(config), config)
    assert await survivor.run_once() == 0 and seen() == [key]

    # ...and re-sends it with the same key once the lease expired.
    async def resent() -> bool:
        return await survivor.run_once() == 1

    await until(resent, within=config.lease_seconds + 20)
    done = (await rows(sessions, [note]))[note]
    assert seen() == [key, key]
    assert (done.status, done.attempts, done.claimed_by) == ("SENT", 2, survivor.name)
    assert done.claimed_at is not None and held.claimed_at is not None
    assert (done.claimed_at - held.claimed_at).total_seconds() >= config.lease_seconds
    # The provider recognised the repeat: the id recorded is the one its first acceptance gave.
    assert done.provider_message_id == (key if channel == "EMAIL" else provider[0].ids[key])
    assert await status_events(sessions, note) == ["SENT"]


async def test_a_message_whose_every_attempt_dies_fails_without_another_send(
        sessions: Sessions, config: NotificationConfig, provider: tuple[Provider, str]) -> None:
    config = dataclasses.replace(config, lease_seconds=1.0, send_timeout_seconds=0.9)
    device = f"device-{uuid.uuid4().hex}"
    [note] = await queue(sessions, "PUSH", [device])
    for _ in range(config.max_attempts):
        # Each crashed attempt's lease must run out before the next dispatcher claims it.
        crashing = StopsBeforeRecording(sessions, adapters_for(config), config)
        task = asyncio.create_task(crashing.run())
        await asyncio.wait_for(crashing.reached.wait(), config.lease_seconds + 20)
        await stop(task)
    assert provider[0].to(device) == [str(note)] * config.max_attempts

    survivor = Dispatcher(sessions, adapters_for(config), config)

    async def given_up() -> bool:
        await survivor.run_once()
        return (await rows(sessions, [note]))[note].status == "FAILED"

    await until(given_up, within=config.lease_seconds + 20)
    failed = (await rows(sessions, [note]))[note]
    assert failed.attempts == config.max_attempts and "outcome unknown" in (failed.last_error or "")
    assert provider[0].to(device) == [str(note)] * config.max_attempts
    assert await status_events(sessions, note) == ["FAILED"]


async def test_two_dispatchers_deliver_fifty_messages_exactly_once(
        sessions: Sessions, config: NotificationConfig, mailbox: tuple[Mailbox, int]) -> None:
    tag = uuid.uuid4().hex[:8]
    addresses = [f"pair{i}-{tag}@example.com" for i in range(50)]
    ids = await queue(sessions, "EMAIL", addresses)
    first, second = (Dispatcher(sessions, adapters_for(config), config, batch=5) for _ in range(2))

    async def run(dispatcher: Dispatcher) -> int:
        total = 0
        while handled := await dispatcher.run_once():
            total += handled
        return total

    counts: list[Any] = await asyncio.gather(run(first), run(second))

    assert sum(counts) == 50 and min(counts) > 0, counts
    found = await rows(sessions, ids)
    assert {(n.status, n.attempts) for n in found.values()} == {("SENT", 1)}
    assert {n.claimed_by for n in found.values()} == {first.name, second.name}
    for note, address in zip(ids, addresses, strict=True):
        assert message_ids(mailbox[0], address) == [f"<{note}@finpace>"]
