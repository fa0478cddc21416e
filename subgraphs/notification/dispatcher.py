"""The dispatcher: sends due notifications through their channel's adapter, with consent, retries and backoff."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass

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


@dataclass
class Dispatcher:
    """Claims due QUEUED notifications (SKIP LOCKED, so several dispatchers may run) and attempts each once."""

    sessions: async_sessionmaker[AsyncSession]
    adapters: dict[str, Adapter]
    config: NotificationConfig
    batch: int = 20

    async def run_once(self) -> int:
        """Attempts one batch of due notifications; returns how many were attempted."""
        now = dt.datetime.now(dt.UTC)
        async with self.sessions() as session, session.begin():
            due = (await session.execute(
                select(Notification).where(Notification.status == DeliveryStatus.QUEUED.value,
                                           Notification.next_attempt_at <= now)
                .order_by(Notification.next_attempt_at).limit(self.batch).with_for_update(skip_locked=True)
            )).scalars().all()
            for n in due:
                await self.attempt(session, n, now)
        return len(due)

    async def attempt(self, session: AsyncSession, n: Notification, now: dt.datetime) -> None:
        """Checks consent, renders and sends one notification, recording the outcome."""
        if n.category == Category.MARKETING.value and not await marketing_consent_in_force(
                session, n.party_id, n.channel, now):
            n.last_error = "no GRANTED marketing consent in force at send time"
            await record_status(session, n, n.status, DeliveryStatus.SUPPRESSED.value, reason=n.last_error)
            return
        template = await session.get(Template, n.template_id)
        adapter = self.adapters.get(n.channel)
        try:
            if template is None or adapter is None:
                raise DeliveryError(f"no {'template' if template is None else 'adapter'} for {n.channel}",
                                    permanent=True)
            context = json.loads(n.context)
            n.subject = render(template.subject, context) if template.subject else None
            n.body = render(template.body, context)
            provider_id = await adapter.send(Outgoing(str(n.id), n.channel, n.recipient, n.subject, n.body))
        except (DeliveryError, RenderError) as exc:
            n.attempts += 1
            n.last_error = str(exc)[:1000]
            permanent = isinstance(exc, RenderError) or exc.permanent
            if permanent or n.attempts >= self.config.max_attempts:
                await record_status(session, n, n.status, DeliveryStatus.FAILED.value, reason=n.last_error)
            else:
                n.next_attempt_at = now + dt.timedelta(seconds=self.config.backoff(n.attempts))
            log.warning("notification_attempt_failed", notification=str(n.id), attempts=n.attempts,
                        error=n.last_error)
            return
        n.attempts += 1
        n.provider_message_id, n.last_error = provider_id, None
        await record_status(session, n, n.status, DeliveryStatus.SENT.value)

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
