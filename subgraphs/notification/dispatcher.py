"""The dispatcher: claims due notifications, sends each through its channel's adapter, records the outcome."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import uuid
from dataclasses import dataclass, field

import structlog
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import outbox_table
from shared.events import Actor, Envelope
from subgraphs.notification.adapters import Adapter, DeliveryError, Outgoing
from subgraphs.notification.config import NotificationConfig
from subgraphs.notification.events import NotificationStatusChanged
from subgraphs.notification.models import Category, ConsentView, DeliveryStatus, Notification, Template
from subgraphs.notification.render import RenderError, render

log = structlog.get_logger(__name__)


async def marketing_consent_in_force(session: AsyncSession, party_id: object, channel: str,
                                     at: dt.datetime) -> bool:
    """Whether the party's latest MARKETING decision for the channel (or ALL) at `at` is an unexpired GRANTED."""
    latest = (await session.execute(
        select(ConsentView).where(
            ConsentView.party_id == party_id, ConsentView.purpose == "MARKETING",
            ConsentView.channel.in_([channel, "ALL"]), ConsentView.captured_at <= at,
        ).order_by(ConsentView.captured_at.desc()).limit(1)
    )).scalar_one_or_none()
    return (latest is not None and latest.decision == "GRANTED"
            and (latest.expires_at is None or latest.expires_at > at))


async def record_status(session: AsyncSession, n: Notification, from_status: str | None, to_status: str,
                        *, reason: str | None = None) -> None:
    """Moves a notification to a status and writes the status event to the outbox in the same transaction."""
    n.status = to_status
    n.version += 1
    n.updated_at = dt.datetime.now(dt.UTC)
    envelope = Envelope.wrap(
        NotificationStatusChanged(notification_id=str(n.id), party_id=str(n.party_id), channel=n.channel,
                                  from_status=from_status, to_status=to_status, attempts=n.attempts),
        aggregate_id=n.id, aggregate_version=n.version,
        actor=Actor.system("notification-dispatcher"), reason=reason, correlation_id=str(n.event_id),
        causation_id=str(n.event_id), before={"status": from_status}, after={"status": to_status},
    )
    await session.execute(insert(outbox_table).values(
        event_id=envelope.id, nats_subject=envelope.nats_subject, aggregate_id=envelope.subject,
        aggregate_version=envelope.aggregate_version, envelope=envelope.to_dict()))


@dataclass(frozen=True)
class Attempt:
    """One claimed attempt at a message: what sending needs outside any transaction, and the claim's fence."""

    notification_id: uuid.UUID
    number: int  # the claim's attempt count: its outcome is recorded only while the row still has it
    channel: str
    recipient: str
    context: str
    subject_template: str | None
    body_template: str | None  # None: the template is gone


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: SENT with the provider's id, or a failure (retried unless permanent)."""

    subject: str | None = None
    body: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    permanent: bool = False


def _dispatcher_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Dispatcher:
    """Sends due notifications in three short steps, so no failure re-sends a message the provider accepted.

    1. `claim`: one transaction takes a batch of due rows with FOR UPDATE SKIP LOCKED (replicas never take
       the same row), checks consent, and marks each SENDING with attempts + 1 and a lease (`next_attempt_at`).
    2. `send`: renders each and hands it to its adapter, concurrently and outside any transaction; every send
       starts at once and is bounded by the send timeout, which is shorter than the lease.
    3. `settle`: one transaction per message records SENT, a retry or FAILED, but only if the row is still
       SENDING with this claim's attempt number; a claim that lost its lease records nothing.

    Any exception while sending is that message's failure alone. A dispatcher that dies between 2 and 3
    leaves the row SENDING: once the lease expires it is claimed again and re-sent with the same
    idempotency key (Idempotency-Key, Message-ID), so the provider can discard the duplicate. A lease that
    expires on the last permitted attempt makes the message FAILED instead of sending it once more.
    """

    sessions: async_sessionmaker[AsyncSession]
    adapters: dict[str, Adapter]
    config: NotificationConfig
    batch: int = 20
    name: str = field(default_factory=_dispatcher_id)

    async def run_once(self) -> int:
        """Claims one batch of due notifications and sends them concurrently; returns how many it handled."""
        handled, attempts = await self.claim()
        await asyncio.gather(*(self.deliver(a) for a in attempts))
        return handled

    async def claim(self) -> tuple[int, list[Attempt]]:
        """Claims up to a batch of due messages, suppressing unconsented ones; returns (handled, to send)."""
        now = dt.datetime.now(dt.UTC)
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(
                select(Notification).where(
                    Notification.status.in_([DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value]),
                    Notification.next_attempt_at <= now)
                .order_by(Notification.next_attempt_at).limit(self.batch).with_for_update(skip_locked=True)
            )).scalars().all()
            attempts: list[Attempt] = []
            for n in rows:
                if n.status == DeliveryStatus.SENDING.value:
                    log.warning("notification_lease_expired", notification=str(n.id), attempts=n.attempts,
                                claimed_by=n.claimed_by)
                    if n.attempts >= self.config.max_attempts:
                        n.last_error = (f"outcome unknown: attempt {n.attempts} by {n.claimed_by} was never "
                                        "recorded (its lease expired)")
                        await record_status(session, n, DeliveryStatus.QUEUED.value, DeliveryStatus.FAILED.value,
                                            reason=n.last_error)
                        continue
                if n.category == Category.MARKETING.value and not await marketing_consent_in_force(
                        session, n.party_id, n.channel, now):
                    n.last_error = "no GRANTED marketing consent in force at send time"
                    await record_status(session, n, DeliveryStatus.QUEUED.value, DeliveryStatus.SUPPRESSED.value,
                                        reason=n.last_error)
                    continue
                template = await session.get(Template, n.template_id)
                n.status, n.attempts = DeliveryStatus.SENDING.value, n.attempts + 1
                n.claimed_at, n.claimed_by = now, self.name
                n.next_attempt_at = now + dt.timedelta(seconds=self.config.lease_seconds)
                attempts.append(Attempt(n.id, n.attempts, n.channel, n.recipient, n.context,
                                        template.subject if template else None,
                                        template.body if template else None))
        return len(rows), attempts

    async def deliver(self, attempt: Attempt) -> None:
        """Sends one claimed message and records the outcome; never raises for that message's failures."""
        try:
            outcome = await self.send(attempt)
        except Exception as exc:  # one message's surprise (a bug, a malformed answer) must not touch the others
            log.exception("notification_send_crashed", notification=str(attempt.notification_id))
            outcome = Outcome(error=f"{type(exc).__name__}: {exc}")
        try:
            await self.settle(attempt, outcome)
        except Exception:
            # Left SENDING: the lease expiry retries it, with the same idempotency key.
            log.exception("notification_settle_failed", notification=str(attempt.notification_id))

    async def send(self, attempt: Attempt) -> Outcome:
        """Renders the message and hands it to its channel's adapter, once."""
        adapter = self.adapters.get(attempt.channel)
        if attempt.body_template is None or adapter is None:
            missing = "template" if attempt.body_template is None else "adapter"
            return Outcome(error=f"no {missing} for {attempt.channel}", permanent=True)
        try:
            context = json.loads(attempt.context)
            subject = render(attempt.subject_template, context) if attempt.subject_template else None
            body = render(attempt.body_template, context)
        except RenderError as exc:
            return Outcome(error=str(exc), permanent=True)
        message = Outgoing(str(attempt.notification_id), attempt.channel, attempt.recipient, subject, body)
        try:
            async with asyncio.timeout(self.config.send_timeout_seconds):
                provider_id = await adapter.send(message)
        except DeliveryError as exc:
            return Outcome(subject, body, error=str(exc), permanent=exc.permanent)
        except TimeoutError:
            return Outcome(subject, body, error=f"no answer within {self.config.send_timeout_seconds} s "
                                                "(perhaps accepted; retried with the same idempotency key)")
        return Outcome(subject, body, provider_message_id=provider_id)

    async def settle(self, attempt: Attempt, outcome: Outcome) -> bool:
        """Records an attempt's outcome if its claim still holds; returns whether it did."""
        now = dt.datetime.now(dt.UTC)
        async with self.sessions() as session, session.begin():
            n = await session.get(Notification, attempt.notification_id, with_for_update=True)
            if n is None or n.status != DeliveryStatus.SENDING.value or n.attempts != attempt.number:
                log.warning("notification_claim_lost", notification=str(attempt.notification_id),
                            attempt=attempt.number)
                return False
            if outcome.body is not None:
                n.subject, n.body = outcome.subject, outcome.body
            # SENDING is a lease, not a published status: the events go from QUEUED, the last one published.
            if outcome.error is None:
                n.provider_message_id, n.last_error = outcome.provider_message_id, None
                await record_status(session, n, DeliveryStatus.QUEUED.value, DeliveryStatus.SENT.value)
                return True
            n.last_error = outcome.error[:1000]
            if outcome.permanent or n.attempts >= self.config.max_attempts:
                await record_status(session, n, DeliveryStatus.QUEUED.value, DeliveryStatus.FAILED.value,
                                    reason=n.last_error)
            else:
                n.status = DeliveryStatus.QUEUED.value
                n.next_attempt_at = now + dt.timedelta(seconds=self.config.backoff(n.attempts))
            log.warning("notification_attempt_failed", notification=str(n.id), attempts=n.attempts,
                        error=n.last_error)
            return True

    async def run(self) -> None:
        """Dispatches until cancelled."""
        while True:
            try:
                if await self.run_once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dispatcher_error", error=repr(exc))
            await asyncio.sleep(self.config.poll_seconds)


PROVIDER_STATUSES = {"DELIVERED": DeliveryStatus.DELIVERED, "BOUNCED": DeliveryStatus.BOUNCED,
                     "FAILED": DeliveryStatus.FAILED}


async def apply_provider_status(sessions: async_sessionmaker[AsyncSession], provider_message_id: str,
                                status: str) -> str:
    """Applies a provider's delivery report to a SENT notification; returns 'applied', 'ignored' or 'unknown'."""
    target = PROVIDER_STATUSES[status]
    async with sessions() as session, session.begin():
        n = (await session.execute(select(Notification).where(
            Notification.provider_message_id == provider_message_id).with_for_update())).scalar_one_or_none()
        if n is None:
            return "unknown"
        if n.status != DeliveryStatus.SENT.value:
            return "ignored"  # a repeated or late report: the first terminal status stands
        await record_status(session, n, n.status, target.value, reason=f"provider reported {status}")
        return "applied"
