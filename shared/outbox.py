"""The outbox relay: claims committed, unpublished outbox rows and publishes them to JetStream exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field

import asyncpg
import structlog
from nats.js import JetStreamContext
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import metrics
from shared.db import outbox_table

log = structlog.get_logger(__name__)


def asyncpg_dsn(engine: AsyncEngine) -> str:
    """Returns a plain libpq DSN for the engine's database (for LISTEN connections)."""
    return make_url(engine.url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class OutboxRelay:
    """Publishes one domain's outbox in id order; woken by NOTIFY, with a safety poll.

    Claiming uses `FOR UPDATE SKIP LOCKED` on `published_at IS NULL` rows, never "id greater
    than the last one seen": an id is taken before commit, so a late-committing transaction
    would otherwise be skipped for ever. A crash between publishing and marking re-publishes
    on restart; JetStream drops the copy because `Nats-Msg-Id` is the event id.
    """

    engine: AsyncEngine
    js: JetStreamContext
    domain: str
    batch_size: int = 500
    poll_seconds: float = 1.0
    publish_timeout: float = 5.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _listener: asyncpg.Connection | None = field(default=None, init=False)
    published_total: int = field(default=0, init=False)

    async def publish_batch(self) -> int:
        """Publishes up to one batch of unpublished rows and marks them; returns how many."""
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(outbox_table.c.id, outbox_table.c.event_id, outbox_table.c.nats_subject,
                           outbox_table.c.envelope)
                    .where(outbox_table.c.published_at.is_(None))
                    .order_by(outbox_table.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            futures = [
                await self.js.publish_async(
                    row.nats_subject,
                    json.dumps(row.envelope, separators=(",", ":")).encode(),
                    headers={"Nats-Msg-Id": str(row.event_id)},
                )
                for row in rows
            ]
            async with asyncio.timeout(self.publish_timeout):
                acks = await asyncio.gather(*futures)
            await conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id.in_([row.id for row in rows]))
                .values(published_at=func.now())
            )
        duplicates = sum(1 for ack in acks if ack.duplicate)
        self.published_total += len(rows)
        metrics.OUTBOX_PUBLISHED.labels(self.domain).inc(len(rows))
        log.debug("outbox_published", domain=self.domain, count=len(rows), duplicates=duplicates)
        return len(rows)

    async def drain(self) -> int:
        """Publishes until no unpublished row is left; returns how many were published."""
        total = 0
        while (count := await self.publish_batch()) > 0:
            total += count
        return total

    async def backlog(self) -> int:
        """Returns how many committed rows wait to be published."""
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(
                    select(func.count()).select_from(outbox_table).where(outbox_table.c.published_at.is_(None))
                )).scalar_one()
            )

    async def _listen(self) -> None:
        with contextlib.suppress(Exception):
            if self._listener is not None and not self._listener.is_closed():
                return
        self._listener = await asyncpg.connect(asyncpg_dsn(self.engine))
        await self._listener.add_listener("outbox", lambda *_: self._wake.set())

    async def run(self) -> None:
        """Relays until cancelled; errors are logged and retried with backoff."""
        delay = 0.2
        try:
            while True:
                try:
                    await self._listen()
                    # Clear before draining: a NOTIFY that lands mid-drain wakes the next round.
                    self._wake.clear()
                    await self.drain()
                    metrics.OUTBOX_BACKLOG.labels(self.domain).set(0)
                    delay = 0.2
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_seconds):
                            await self._wake.wait()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("outbox_relay_error", domain=self.domain, error=repr(exc), retry_in=delay)
                    if self._listener is not None:
                        with contextlib.suppress(Exception):
                            await self._listener.close()
                        self._listener = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await self._listener.close()
