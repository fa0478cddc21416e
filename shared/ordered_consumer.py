"""Strictly ordered consumption in batches: a fetched batch is applied in one transaction, in stream order.

The audit chain needs each stream applied in stream order. One message at a time (`max_ack_pending` 1)
costs a fetch, a commit and an `ack_sync` per event. Here the consumer's `max_ack_pending` is the batch
size: the batch is fetched in stream order, applied in ONE transaction (each message with its inbox row,
duplicates skipped), committed once, and only then acknowledged. While a batch is in hand every message
still unacknowledged is kept alive with `in_progress()`, so the server redelivers none of them out of order.

When a handler fails, the batch transaction is rolled back and the batch is re-applied one message at a
time in order: the messages before the failing one are committed and acknowledged; the failing one is
retried in this process with the consumer's backoff schedule, its attempts counted from the server's
`num_delivered`, and after `max_deliver` attempts it is dead-lettered through Subscriber's
dead-letter-then-term path (which never drops a message); then the rest follow. A process that dies
mid-batch has its unacknowledged messages redelivered after `ack_wait`, and the inbox absorbs the
committed ones. So that a restarted consumer is not handed newer messages before them, it starts
fetching only once no message is left unacknowledged or `ack_wait` has passed (the server sends
redeliveries before new messages). One process per consumer: two replicas would each keep their
batch in order but could interleave two batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared import metrics
from shared.db import inbox_table
from shared.events import Envelope
from shared.messaging import Subscriber

log = structlog.get_logger(__name__)

# Applies the fresh envelopes of a batch, in stream order, inside the batch's transaction.
BatchHandler = Callable[[AsyncSession, list[Envelope]], Awaitable[None]]


@dataclass
class OrderedBatchSubscriber(Subscriber):
    """A Subscriber that keeps strict stream order with batches of up to the consumer's `max_ack_pending`.

    With a `batch_handler` a batch costs one inbox INSERT for all its messages and one handler call for
    the fresh ones (the audit chain appends them with one lock, one head read and one multi-row insert);
    without one, each message gets its own inbox row and handler call. Either way the batch is one
    transaction, and a failure falls back to one message per transaction through `handler`.
    """

    batch: int = 256
    batch_handler: BatchHandler | None = None

    def _configure(self, config: Any) -> None:
        super()._configure(config)
        # A fetch bigger than what the server lets be unacknowledged could not be filled.
        if config.max_ack_pending is not None and config.max_ack_pending > 0:
            self.batch = min(self.batch, config.max_ack_pending)

    async def _subscription(self) -> Any:
        fresh = self._sub is None
        sub = await super()._subscription()
        if fresh:
            await self._await_in_flight(sub)
        return sub

    async def _await_in_flight(self, sub: Any) -> None:
        """Waits until messages left unacknowledged by an earlier run are acknowledged or redeliverable."""
        deadline = time.monotonic() + self._ack_wait + 0.5
        while (pending := (await sub.consumer_info()).num_ack_pending) and time.monotonic() < deadline:
            log.info("ordered_consumer_waits_for_in_flight", consumer=self.durable, unacknowledged=pending)
            await asyncio.sleep(min(0.2, self._ack_wait / 5))

    async def run_once(self) -> int:
        """Fetches one batch and applies it in order; returns how many messages were in it."""
        sub = await self._subscription()
        try:
            msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout)
        except (TimeoutError, NatsTimeoutError):
            return 0
        if not msgs:  # nats-py can answer a fetch with an empty list (a status message and nothing else)
            return 0
        for msg in msgs:
            if msg.metadata.num_delivered > 1:
                metrics.CONSUMER_REDELIVERED.labels(self.durable).inc()
        unacked = list(msgs)  # the messages still to acknowledge, oldest first
        keeper = asyncio.create_task(self._keep_alive(unacked))
        try:
            try:
                applied = await self._apply_batch(msgs)
            except Exception as exc:
                log.warning("ordered_batch_failed", consumer=self.durable, size=len(msgs), error=repr(exc))
                await self._one_by_one(unacked)
            else:
                await self._ack_batch(msgs, applied)
                unacked.clear()
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        return len(msgs)

    async def _apply_batch(self, msgs: list[Msg]) -> list[bool]:
        """Applies every message in one transaction, in order; nothing is committed if one fails."""
        async with self.sessions() as session, session.begin():
            if self.batch_handler is None:
                return [await self.apply(session, msg) for msg in msgs]
            return await self._apply_batch_at_once(session, msgs)

    async def _apply_batch_at_once(self, session: AsyncSession, msgs: list[Msg]) -> list[bool]:
        """One inbox INSERT for the batch; the batch handler gets the envelopes seen for the first time."""
        assert self.batch_handler is not None
        # A message that does not decode raises here, and the one-by-one fallback dead-letters it.
        envelopes = [Envelope.from_dict(json.loads(msg.data), nats_subject=msg.subject) for msg in msgs]
        first: dict[Any, int] = {}
        for index, envelope in enumerate(envelopes):
            first.setdefault(envelope.id, index)  # the same event twice in a batch is applied once, first wins
        inserted = await session.execute(
            pg_insert(inbox_table)
            .values([{"consumer": self.durable, "event_id": envelopes[i].id, "event_type": envelopes[i].type}
                     for i in first.values()])
            .on_conflict_do_nothing()
            .returning(inbox_table.c.event_id)
        )
        fresh_ids = set(inserted.scalars())
        applied = [envelope.id in fresh_ids and first[envelope.id] == index
                   for index, envelope in enumerate(envelopes)]
        fresh = [envelope for envelope, is_fresh in zip(envelopes, applied, strict=True) if is_fresh]
        if fresh:
            await self.batch_handler(session, fresh)
        return applied

    async def _ack_batch(self, msgs: list[Msg], applied: list[bool]) -> None:
        """Acknowledges a committed batch: the last ack waits for the server, which has the earlier ones by then."""
        for msg in msgs[:-1]:
            await msg.ack()
        await msgs[-1].ack_sync()
        for fresh in applied:
            self.done(fresh)

    async def _one_by_one(self, unacked: list[Msg]) -> None:
        """Applies the messages one transaction each, in order, retrying a failing one here before moving on."""
        while unacked:
            msg = unacked[0]
            attempt = msg.metadata.num_delivered
            while True:
                try:
                    applied = await self.process(msg)
                except Exception as exc:
                    self.failed(msg, exc, attempt)
                    if attempt >= self.max_deliver:
                        await self._dead_letter_then_term(msg, exc, attempt)
                        break
                    # The later messages wait too (kept alive), so nothing overtakes this one.
                    await asyncio.sleep(self.backoff_delay(attempt) or 0.0)
                    attempt += 1
                    continue
                await msg.ack_sync()
                self.done(applied)
                break
            unacked.pop(0)

    async def _keep_alive(self, unacked: list[Msg]) -> None:
        """Restarts the ack_wait of every message still unacknowledged, well before it expires."""
        interval = max(self._ack_wait / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            for msg in list(unacked):
                with contextlib.suppress(Exception):
                    await msg.in_progress()
