"""Access evidence: staff reads of a party's data, published after the response on FINPACE_ACCESS, never in its way.

A request notes each party a staff principal was admitted to (shared/access.py); when the operation has
run, `RequestAccess.flush` hands the notes to this process's `EvidenceRecorder` with a non-blocking put.
The recorder's own task publishes them in batches as `ReadRecorded` envelopes on
`finpace.access.read.recorded`; the audit subgraph stores each as an evidence entry. What JetStream does not
acknowledge (a broker that is down, restarting or slow) is kept and published again with a capped backoff,
under the same Nats-Msg-Id, so a retry that had in fact landed is not stored twice. Records wait in a
bounded queue meanwhile: only when it is full (`capacity` reads pending, 10,000 by default), or at shutdown
with the broker still away, is a record dropped, and counted in `finpace_access_evidence_dropped_total`. The
read itself never waits for, nor fails because of, its evidence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from nats.aio.client import Client as NATS
from prometheus_client import Counter

from shared.auth import Principal
from shared.events import Actor, DomainEvent, Envelope

log = structlog.get_logger(__name__)

ACCESS_STREAM = "FINPACE_ACCESS"
PUBLISHED = Counter("finpace_access_evidence_published_total", "Staff reads published as access evidence", ["service"])
DROPPED = Counter(
    "finpace_access_evidence_dropped_total",
    "Staff reads whose access evidence was dropped (queue full, or broker unavailable at shutdown)",
    ["service"],
)
RETRIED = Counter(
    "finpace_access_evidence_retried_total",
    "Access evidence publishes JetStream did not acknowledge, to be tried again",
    ["service"],
)
_OPERATION = re.compile(r"^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


@dataclass(frozen=True, kw_only=True)
class ReadRecorded(DomainEvent):
    """A staff principal was admitted to a party's data by a subgraph while serving an operation."""

    domain: ClassVar[str] = "access"
    aggregate: ClassVar[str] = "read"
    party_id: str
    operation: str
    service: str


def count_dropped(service: str, n: int = 1) -> None:
    """Counts evidence that could not be handed to a recorder."""
    DROPPED.labels(service).inc(n)


def operation_name(name: str | None, query: str | None) -> str:
    """The operation's name: the one the request gives, else the document's first, else `anonymous`."""
    if name:
        return name[:128]
    match = _OPERATION.match(query or "")
    return match.group(1)[:128] if match else "anonymous"


def envelope_for(principal: Principal, party_id: str, *, operation: str, service: str, correlation_id: str) -> Envelope:
    """The evidence envelope of one admitted read: actor, subject = party id, operation, correlation, time."""
    actor = Actor(sub=principal.sub, roles=tuple(sorted(principal.roles)), client_id=principal.client_id)
    envelope = Envelope.wrap(
        ReadRecorded(party_id=party_id, operation=operation, service=service),
        aggregate_id=party_id,
        aggregate_version=1,
        actor=actor,
        reason=None,
        correlation_id=correlation_id,
    )
    return dataclasses.replace(envelope, source=service)


@dataclass
class EvidenceRecorder:
    """Publishes noted reads from a bounded queue in batches; one per subgraph process."""

    nc: NATS
    service: str
    capacity: int = 10_000
    batch: int = 100
    publish_timeout: float = 2.0
    retry_initial: float = 0.2  # seconds before the first retry of what was not acknowledged; doubles each time
    retry_max: float = 5.0
    _queue: asyncio.Queue[Envelope] = dataclasses.field(init=False)
    _unacknowledged: list[Envelope] = dataclasses.field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.capacity)

    def record(self, principal: Principal, parties: list[str], *, operation: str | None, correlation_id: str) -> int:
        """Queues one envelope per party without waiting; returns how many were queued (the rest are dropped)."""
        queued = 0
        for party_id in parties:
            envelope = envelope_for(
                principal,
                party_id,
                operation=operation or "anonymous",
                service=self.service,
                correlation_id=correlation_id,
            )
            try:
                self._queue.put_nowait(envelope)
                queued += 1
            except asyncio.QueueFull:
                count_dropped(self.service)
        return queued

    @property
    def pending(self) -> int:
        """Records not yet acknowledged by JetStream: queued, or being retried."""
        return self._queue.qsize() + len(self._unacknowledged)

    async def run(self) -> None:
        """Publishes until cancelled: waits for one record, takes up to `batch` more, publishes them together;
        what is not acknowledged is published again (with a capped backoff) before anything newer."""
        delay = self.retry_initial
        while True:
            batch = self._unacknowledged or [await self._queue.get()]
            while len(batch) < self.batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._unacknowledged = batch  # a cancellation mid-publish leaves them to drain()
            self._unacknowledged = await self.publish(batch)
            if not self._unacknowledged:
                delay = self.retry_initial
                continue
            RETRIED.labels(self.service).inc(len(self._unacknowledged))
            log.warning("access_evidence_unacknowledged", service=self.service, records=len(self._unacknowledged),
                        retry_in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    async def publish(self, batch: list[Envelope]) -> list[Envelope]:
        """Publishes a batch concurrently (Nats-Msg-Id = event id); returns the envelopes not acknowledged."""
        if not self.nc.is_connected:
            return batch
        js = self.nc.jetstream()
        results = await asyncio.gather(
            *[
                js.publish(
                    e.nats_subject,
                    json.dumps(e.to_dict(), separators=(",", ":")).encode(),
                    timeout=self.publish_timeout,
                    headers={"Nats-Msg-Id": str(e.id)},
                )
                for e in batch
            ],
            return_exceptions=True,
        )
        failed = [e for e, r in zip(batch, results, strict=True) if isinstance(r, BaseException)]
        PUBLISHED.labels(self.service).inc(len(batch) - len(failed))
        return failed

    async def drain(self) -> None:
        """Publishes what is still pending (at shutdown), once; what the broker does not take is dropped."""
        batch, self._unacknowledged = self._unacknowledged, []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if not batch:
            return
        failed = batch
        try:
            failed = await self.publish(batch)
        except Exception as exc:  # whatever it was, the records are counted below
            log.warning("access_evidence_publish_failed", service=self.service, error=repr(exc))
        finally:  # also when the shutdown's time limit cancels the publish
            if failed:
                count_dropped(self.service, len(failed))
                log.warning("access_evidence_dropped", service=self.service, dropped=len(failed))


def started_recorder(nc: NATS, service: str, tasks: list[asyncio.Task[Any]]) -> EvidenceRecorder:
    """Creates a recorder and starts its publishing task (appended to `tasks`, cancelled at shutdown)."""
    recorder = EvidenceRecorder(nc=nc, service=service)
    tasks.append(asyncio.create_task(recorder.run(), name=f"{service}-access-evidence"))
    return recorder
