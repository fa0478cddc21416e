"""The audit runtime: an ordered batch subscriber per audit consumer file, the checkpointer and the lag monitor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared import metrics
from shared.messaging import nats_definitions_dir
from shared.ordered_consumer import OrderedBatchSubscriber
from shared.tasks import stop_tasks
from subgraphs.audit.checkpoints import Checkpointer
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.service import handle_event, handle_events

log = structlog.get_logger(__name__)

CONSUMER_UP = Gauge("finpace_audit_consumer_up", "1 while the audit consumer runs and keeps up", ["consumer"])
CONSUMER_STALLED_SECONDS = Gauge(
    "finpace_audit_consumer_stalled_seconds",
    "Seconds since the consumer last made progress with events pending",
    ["consumer"],
)
LEADER = Gauge("finpace_audit_leader", "1 while this audit replica holds the leader lock and consumes")
LAST_CHECKPOINT = Gauge("finpace_audit_checkpoint_sequence", "Chain sequence of the last signed checkpoint")


@dataclass(frozen=True)
class ConsumerDefinition:
    """An audit consumer file: its stream, durable name, max_deliver and max_ack_pending (the batch size)."""

    stream: str
    durable: str
    max_deliver: int
    max_ack_pending: int = 1


def audit_consumers(folder: Path | None = None) -> list[ConsumerDefinition]:
    """Returns every consumer defined in nats/consumers/ whose durable name starts with `audit`."""
    found = []
    for path in sorted(((folder or nats_definitions_dir()) / "consumers").glob("*.json")):
        definition = json.loads(path.read_text())
        config = definition["config"]
        if config["durable_name"].startswith("audit"):
            found.append(
                ConsumerDefinition(
                    definition["stream_name"],
                    config["durable_name"],
                    int(config.get("max_deliver", 6)),
                    int(config.get("max_ack_pending", 1)),
                )
            )
    return found


@dataclass
class ConsumerState:
    """A running consumer with what the monitor last saw of it."""

    subscriber: OrderedBatchSubscriber
    task: asyncio.Task[Any] | None = None
    pending: int = 0
    last_handled: int = 0
    last_progress: float = field(default_factory=time.monotonic)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


@contextlib.asynccontextmanager
async def _discarded(conn: Any) -> Any:
    """Closes the connection afterwards instead of pooling it: a pooled one would keep the session lock."""
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            await conn.invalidate()


# pg_advisory_lock key held (session-level) by the one audit replica that consumes ("FPAUDLDR").
LEADER_LOCK_KEY = 0x46504155444C4452


@dataclass
class AuditRuntime:
    """Starts, watches and stops the audit consumers and the checkpointer.

    Only one replica consumes: each batch keeps stream order, but two replicas could interleave their
    batches and apply an aggregate's events out of order. The replica that holds a PostgreSQL session
    advisory lock on the audit database is the leader and runs the consumers and the checkpointer; the
    others are standbys that serve queries and try for the lock every `leader_poll_seconds`. The lock goes
    with the leader's connection (a crash, a network split or a database restart releases it), so the
    leader checks its connection on the same period and stops consuming at once when it is gone; a
    standby then takes over. Messages the old leader had in hand are redelivered after `ack_wait` and the
    inbox absorbs what it had committed.
    """

    nc: NATS
    sessions: async_sessionmaker[AsyncSession]
    config: AuditConfig
    checkpointer: Checkpointer
    definitions: list[ConsumerDefinition]
    engine: AsyncEngine | None = None  # for the leader lock; without it this replica always consumes (tests)
    consumers: dict[str, ConsumerState] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    leader: bool = False
    _consuming: list[asyncio.Task[Any]] = field(default_factory=list)

    def start(self) -> None:
        """Builds the consumers; starts them with the checkpointer now, or once this replica is the leader."""
        for d in self.definitions:
            # Strict stream order in batches: one transaction and one commit per fetched batch.
            sub = OrderedBatchSubscriber(
                nc=self.nc,
                sessions=self.sessions,
                stream=d.stream,
                durable=d.durable,
                handler=handle_event,
                batch_handler=handle_events,
                max_deliver=d.max_deliver,
                batch=d.max_ack_pending,
            )
            self.consumers[d.durable] = ConsumerState(subscriber=sub)
        self.tasks.append(asyncio.create_task(self._monitor_loop(), name="audit-monitor"))
        if self.engine is None:
            self._lead()
        else:
            self.tasks.append(asyncio.create_task(self._leadership_loop(), name="audit-leadership"))

    def _lead(self) -> None:
        self.leader = True
        LEADER.set(1)
        for durable in self.consumers:
            self.start_consumer(durable)
        self._consuming = [asyncio.create_task(self._checkpoint_loop(), name="audit-checkpoints")]

    async def _follow(self) -> None:
        """Stops consuming (the lock is gone, or shutdown)."""
        self.leader = False
        LEADER.set(0)
        for durable in list(self.consumers):
            await self.stop_consumer(durable)
        await stop_tasks(self._consuming)
        self._consuming = []

    async def _leadership_loop(self) -> None:
        assert self.engine is not None
        while True:
            try:
                async with self.engine.connect() as conn, _discarded(conn):
                    while not (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY})
                               ).scalar():
                        await conn.commit()  # no transaction left open while standing by
                        await asyncio.sleep(self.config.leader_poll_seconds)
                    await conn.commit()
                    log.info("audit_leader_elected")
                    self._lead()
                    try:
                        while True:
                            await asyncio.sleep(self.config.leader_poll_seconds)
                            async with asyncio.timeout(max(5.0, 2 * self.config.leader_poll_seconds)):
                                await conn.execute(text("SELECT 1"))
                                await conn.commit()
                    finally:
                        await self._follow()
                        log.warning("audit_leadership_lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("audit_leadership_check_failed", error=repr(exc))
            await asyncio.sleep(self.config.leader_poll_seconds)

    def start_consumer(self, durable: str) -> None:
        """(Re)starts one consumer's task."""
        state = self.consumers[durable]
        if not state.running:
            state.task = asyncio.create_task(state.subscriber.run(), name=f"audit-{durable}")

    async def stop_consumer(self, durable: str) -> None:
        """Stops one consumer's task (operations, and tests of the health check)."""
        state = self.consumers[durable]
        if state.task is not None:
            await stop_tasks([state.task])
        subscription, state.subscriber._sub = state.subscriber._sub, None
        if subscription is not None:  # an open pull subscription would hold up the connection's drain
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def stop(self) -> None:
        """Stops every task this runtime started (the leader lock goes with its connection)."""
        await stop_tasks(self.tasks)
        self.tasks = []
        await self._follow()

    async def _checkpoint_loop(self) -> None:
        while True:
            try:
                await self.checkpointer.run_once()
                LAST_CHECKPOINT.set(self.checkpointer.last_seq or 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("audit_checkpoint_failed", error=repr(exc))
            await asyncio.sleep(self.config.checkpoint_poll_seconds)

    async def observe(self) -> None:
        """Reads each consumer's pending count from JetStream and updates the lag metrics."""
        js = self.nc.jetstream()
        now = time.monotonic()
        for durable, state in self.consumers.items():
            stream = state.subscriber.stream
            try:
                info = await js.consumer_info(stream, durable, timeout=2)
                state.pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            except Exception as exc:
                log.warning("audit_consumer_info_failed", consumer=durable, error=repr(exc))
            handled = state.subscriber.handled
            if handled != state.last_handled or state.pending == 0:
                state.last_handled, state.last_progress = handled, now
            metrics.CONSUMER_PENDING.labels(durable).set(state.pending)
            CONSUMER_STALLED_SECONDS.labels(durable).set(now - state.last_progress)
            CONSUMER_UP.labels(durable).set(1 if self.healthy(durable) else 0)

    def healthy(self, durable: str) -> bool:
        """Whether a consumer runs and has not sat on pending events for longer than stall_seconds.

        A standby replica's consumers are not its to run: it is healthy as long as it stands by.
        """
        if not self.leader:
            return True
        state = self.consumers[durable]
        stalled = state.pending > 0 and time.monotonic() - state.last_progress > self.config.stall_seconds
        return state.running and not stalled

    def status(self) -> dict[str, dict[str, Any]]:
        """Returns each consumer's health as reported by /health and /ready."""
        role = "leader" if self.leader else "standby"
        return {
            durable: {"running": state.running, "pending": state.pending, "healthy": self.healthy(durable),
                      "role": role}
            for durable, state in self.consumers.items()
        }

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.observe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("audit_monitor_failed", error=repr(exc))
            await asyncio.sleep(self.config.monitor_seconds)
