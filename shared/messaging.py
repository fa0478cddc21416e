"""JetStream: stream and consumer provisioning from nats/*.json, and the durable pull-consumer base with an inbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import nats
from shared import metrics
from shared.config import Settings
from shared.db import inbox_table
from shared.events import Envelope

log = structlog.get_logger(__name__)

DLQ_STREAM = "FINPACE_DLQ"
DLQ_PREFIX = "finpace.dlq"
DLQ_RETRY_SECONDS = (0.5, 10.0)  # first and longest wait between attempts to store a dead letter


def nats_definitions_dir() -> Path:
    """Returns the repository's nats/ folder (data only, never a Python package)."""
    return Path(__file__).resolve().parent.parent / "nats"


async def connect(url: str, *, name: str) -> NATS:
    """Connects to NATS with reconnects forever, naming the connection after the service."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
        drain_timeout=5,
    )


async def _js_api(nc: NATS, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await nc.request(f"$JS.API.{subject}", json.dumps(body).encode(), timeout=5)
    response: dict[str, Any] = json.loads(reply.data)
    return response


async def provision_from(nc: NATS, folder: Path) -> list[str]:
    """Creates or updates the streams and consumers defined in folder/streams and folder/consumers."""
    done: list[str] = []
    for path in sorted((folder / "streams").glob("*.json")):
        config = json.loads(path.read_text())
        name = config["name"]
        response = await _js_api(nc, f"STREAM.CREATE.{name}", config)
        if "error" in response and response["error"].get("err_code") == 10058:  # stream name in use
            response = await _js_api(nc, f"STREAM.UPDATE.{name}", config)
        if "error" in response:
            raise RuntimeError(f"Stream '{name}' from {path.name} was refused: {response['error']}")
        done.append(f"stream {name}")
    for path in sorted((folder / "consumers").glob("*.json")):
        definition = json.loads(path.read_text())
        stream, config = definition["stream_name"], definition["config"]
        durable = config["durable_name"]
        response = await _js_api(nc, f"CONSUMER.CREATE.{stream}.{durable}", {"stream_name": stream, "config": config})
        if "error" in response:
            raise RuntimeError(f"Consumer '{durable}' from {path.name} was refused: {response['error']}")
        done.append(f"consumer {stream}/{durable}")
    return done


async def provision(settings: Settings, folder: Path | None = None) -> list[str]:
    """Provisions every stream and consumer of the nats/ folder on the configured server (idempotent)."""
    if not settings.nats_url:
        raise RuntimeError("FINPACE_NATS_URL is not set and no embedded server was started.")
    nc = await connect(settings.nats_url, name="finpace-provision")
    try:
        return await provision_from(nc, folder or nats_definitions_dir())
    finally:
        await nc.close()


Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


@dataclass
class Subscriber:
    """A durable pull consumer whose handler runs in one transaction with an inbox row.

    A redelivered event finds its `(consumer, event_id)` inbox row and is acked without running
    the handler again. The ack is sent only after the commit: a crash in between redelivers, and
    the inbox absorbs it. When the last permitted delivery fails, the message is copied to the
    dead-letter stream and only then terminated; the server's MAX_DELIVERIES advisory is a fallback.
    """

    nc: NATS
    sessions: async_sessionmaker[AsyncSession]
    stream: str
    durable: str
    handler: Handler
    max_deliver: int = 6
    batch: int = 50
    fetch_timeout: float = 1.0
    handled: int = field(default=0, init=False)
    _sub: Any = field(default=None, init=False)
    _backoff: list[float] = field(default_factory=list, init=False)
    _ack_wait: float = field(default=30.0, init=False)
    _advisory_tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    async def _subscription(self) -> Any:
        if self._sub is None:
            self._sub = await self.nc.jetstream().pull_subscribe_bind(durable=self.durable, stream=self.stream)
            self._configure((await self._sub.consumer_info()).config)
        return self._sub

    def _configure(self, config: Any) -> None:
        """Takes the server-side consumer's limits (its ConsumerConfig) as the ones this subscriber works by."""
        # The server stops delivering at the consumer's own max_deliver: dead-letter on that
        # delivery, or a message whose limit is below ours would vanish without a dead letter.
        if config.max_deliver is not None and config.max_deliver > 0:
            self.max_deliver = config.max_deliver
        self._backoff = list(config.backoff or [])
        if config.ack_wait:
            self._ack_wait = float(config.ack_wait)

    def backoff_delay(self, delivered: int) -> float | None:
        """The consumer's backoff before the attempt after `delivered` failed ones (None: no schedule)."""
        return self._backoff[min(delivered, len(self._backoff)) - 1] if self._backoff else None

    async def apply(self, session: AsyncSession, msg: Msg) -> bool:
        """Writes the inbox row and runs the handler in the caller's transaction; False for a duplicate."""
        envelope = Envelope.from_dict(json.loads(msg.data), nats_subject=msg.subject)
        fresh = await session.execute(
            pg_insert(inbox_table)
            .values(consumer=self.durable, event_id=envelope.id, event_type=envelope.type)
            .on_conflict_do_nothing()
            .returning(inbox_table.c.event_id)
        )
        if fresh.first() is None:
            return False
        await self.handler(session, envelope)
        return True

    async def process(self, msg: Msg) -> bool:
        """Handles one message in its own transaction; returns True when it was applied (False for a duplicate)."""
        async with self.sessions() as session, session.begin():
            return await self.apply(session, msg)

    def failed(self, msg: Msg, exc: Exception, delivery: int) -> None:
        """Counts and logs one failed attempt at a message."""
        metrics.CONSUMER_PROCESSED.labels(self.durable, "error").inc()
        log.warning(
            "event_handler_failed", consumer=self.durable, subject=msg.subject, delivery=delivery, error=repr(exc)
        )

    def done(self, applied: bool) -> None:
        """Counts one acknowledged message (the lag monitor watches `handled`)."""
        self.handled += 1
        metrics.CONSUMER_PROCESSED.labels(self.durable, "applied" if applied else "duplicate").inc()

    async def _handle(self, msg: Msg) -> None:
        delivered = msg.metadata.num_delivered
        if delivered > 1:
            metrics.CONSUMER_REDELIVERED.labels(self.durable).inc()
        try:
            applied = await self.process(msg)
        except Exception as exc:
            self.failed(msg, exc, delivered)
            if delivered >= self.max_deliver:
                await self._dead_letter_then_term(msg, exc)
            else:
                # A plain NAK redelivers at once (the consumer's backoff only paces ack_wait expiries),
                # so pass the schedule's delay for this attempt explicitly.
                await msg.nak(delay=self.backoff_delay(delivered))
            return
        await msg.ack_sync()
        self.done(applied)

    async def dead_letter(self, msg: Msg, exc: Exception, deliveries: int | None = None) -> None:
        """Copies a message that exhausted its deliveries (attempts, by default the server's count) to the DLQ."""
        await self._publish_dead_letter(
            msg.subject,
            msg.data,
            msg.headers,
            msg.metadata.sequence.stream,
            deliveries or msg.metadata.num_delivered,
            repr(exc),
        )

    async def _publish_dead_letter(
        self, subject: str, data: bytes, headers: dict[str, str] | None, stream_seq: int, deliveries: int, error: str
    ) -> None:
        dead = dict(headers or {})
        dead.update(
            {
                "Finpace-Dlq-Consumer": self.durable,
                "Finpace-Dlq-Subject": subject,
                "Finpace-Dlq-Error": error[:500],
                "Finpace-Dlq-Deliveries": str(deliveries),
                # One dead letter per (consumer, stream sequence), whichever path writes it first.
                "Nats-Msg-Id": f"{self.durable}:{stream_seq}",
            }
        )
        await self.nc.jetstream().publish(f"{DLQ_PREFIX}.{self.durable}", data, headers=dead)
        log.error("event_dead_lettered", consumer=self.durable, subject=subject, stream_seq=stream_seq)

    async def _dead_letter_then_term(self, msg: Msg, exc: Exception, deliveries: int | None = None) -> None:
        """Terminates a message only once its dead letter is stored: a failed copy is retried, never dropped.

        The server delivers nothing more after max_deliver, so a NAK here would abandon the message. It is
        kept in progress (its ack_wait restarted) while the copy is retried with backoff; this blocks the
        consumer, which keeps its order and shows as lag until the dead-letter stream is back.
        """
        delay = DLQ_RETRY_SECONDS[0]
        while True:
            try:
                await self.dead_letter(msg, exc, deliveries)
                break
            except Exception as dlq_exc:
                log.error(
                    "dead_letter_failed",
                    consumer=self.durable,
                    subject=msg.subject,
                    stream_seq=msg.metadata.sequence.stream,
                    error=repr(dlq_exc),
                    retry_in=delay,
                )
            with contextlib.suppress(Exception):
                await msg.in_progress()
            await asyncio.sleep(delay)
            delay = min(delay * 2, DLQ_RETRY_SECONDS[1])
        await msg.term()

    async def _on_max_deliveries(self, advisory: Msg) -> None:
        """Server advisory fallback: a message that ran out of deliveries without our own verdict (e.g. its
        last delivery's ack_wait expired in a process that died) is copied to the dead-letter stream."""
        body = json.loads(advisory.data)
        stream_seq, deliveries = int(body["stream_seq"]), int(body.get("deliveries") or self.max_deliver)
        delay = DLQ_RETRY_SECONDS[0]
        while True:
            try:
                stored = await self.nc.jetstream().get_msg(self.stream, stream_seq)
                await self._publish_dead_letter(
                    stored.subject or "",
                    stored.data or b"",
                    stored.headers,
                    stream_seq,
                    deliveries,
                    "max deliveries reached (server advisory)",
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "dead_letter_failed", consumer=self.durable, stream_seq=stream_seq, error=repr(exc), retry_in=delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, DLQ_RETRY_SECONDS[1])

    async def _watch_max_deliveries(self) -> Any:
        subject = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.stream}.{self.durable}"

        async def on_advisory(advisory: Msg) -> None:
            task = asyncio.create_task(self._on_max_deliveries(advisory))
            self._advisory_tasks.add(task)
            task.add_done_callback(self._advisory_tasks.discard)

        return await self.nc.subscribe(subject, cb=on_advisory)

    async def run_once(self) -> int:
        """Fetches and handles one batch; returns how many messages were handled."""
        sub = await self._subscription()
        try:
            msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout)
        except (TimeoutError, NatsTimeoutError):
            return 0
        for msg in msgs:
            await self._handle(msg)
        return len(msgs)

    async def run(self) -> None:
        """Consumes until cancelled, then closes the pull subscription (an open one holds up the connection's drain)."""
        advisories = await self._watch_max_deliveries()
        try:
            while True:
                try:
                    await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("consumer_error", consumer=self.durable, error=repr(exc))
                    with contextlib.suppress(Exception):
                        self._sub = None
                    await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await advisories.unsubscribe()
            for task in list(self._advisory_tasks):
                task.cancel()
            await self.close()

    async def close(self) -> None:
        """Unsubscribes the pull subscription, if any; the durable consumer stays on the server."""
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
