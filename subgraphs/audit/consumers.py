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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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


@dataclass
class AuditRuntime:
    """Starts, watches and stops the audit consumers and the checkpointer."""

    nc: NATS
    sessions: async_sessionmaker[AsyncSession]
    config: AuditConfig
    checkpointer: Checkpointer
    definitions: list[ConsumerDefinition]
    consumers: dict[str, ConsumerState] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def start(self) -> None:
        """Starts every consumer, the checkpoint loop and the monitor loop."""
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
            state = ConsumerState(subscriber=sub)
            self.consumers[d.durable] = state
            self.start_consumer(d.durable)
        self.tasks.append(asyncio.create_task(self._checkpoint_loop(), name="audit-checkpoints"))
        self.tasks.append(asyncio.create_task(self._monitor_loop(), name="audit-monitor"))

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
        """Stops every task this runtime started."""
        for durable in list(self.consumers):
            await self.stop_consumer(durable)
        await stop_tasks(self.tasks)

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
        """Whether a consumer runs and has not sat on pending events for longer than stall_seconds."""
        state = self.consumers[durable]
        stalled = state.pending > 0 and time.monotonic() - state.last_progress > self.config.stall_seconds
        return state.running and not stalled

    def status(self) -> dict[str, dict[str, Any]]:
        """Returns each consumer's health as reported by /health and /ready."""
        return {
            durable: {"running": state.running, "pending": state.pending, "healthy": self.healthy(durable)}
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
