"""Partner webhooks: queue entitled events per partner, POST them signed (HMAC-SHA256), retry, dead-letter."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import Envelope
from subgraphs.partner.entitlements import entitled
from subgraphs.partner.models import DeliveryStatus, Partner, WebhookDelivery

log = structlog.get_logger(__name__)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Returns `sha256=<hex HMAC-SHA256 of timestamp.body>`, as sent in X-Finpace-Signature."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def queue_webhooks(session: AsyncSession, envelope: Envelope) -> int:
    """Consumer handler: one PENDING delivery per active partner with a webhook entitled to the event.

    Webhooks carry what happens after a partner registers: an event that occurred before (a consumer catching
    up on its stream) goes to no partner registered since; the `events` subscription serves history.
    """
    partners = (await session.execute(select(Partner).where(
        Partner.active.is_(True), Partner.webhook_url.is_not(None), Partner.created_at <= envelope.occurred_at,
    ))).scalars().all()
    payload = json.dumps({**envelope.to_dict(), "event_type": envelope.nats_subject}, separators=(",", ":"))
    queued = 0
    for partner in partners:
        if not entitled(partner.allowed_event_types, envelope.nats_subject):
            continue
        result = await session.execute(pg_insert(WebhookDelivery).values(
            id=uuid.uuid4(), partner_id=partner.id, event_id=envelope.id, event_type=envelope.nats_subject,
            payload=payload, status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=dt.datetime.now(dt.UTC),
        ).on_conflict_do_nothing().returning(WebhookDelivery.id))
        queued += 1 if result.first() else 0
    return queued


@dataclass
class WebhookSender:
    """Claims due PENDING deliveries (SKIP LOCKED) and POSTs each once; DEAD after max_attempts."""

    sessions: async_sessionmaker[AsyncSession]
    max_attempts: int = 6
    backoff_seconds: tuple[float, ...] = (1, 5, 30, 120, 600)
    timeout: float = 10.0
    poll_seconds: float = 1.0
    batch: int = 20

    async def run_once(self) -> int:
        """Attempts one batch of due deliveries; returns how many."""
        now = dt.datetime.now(dt.UTC)
        async with self.sessions() as session, session.begin():
            due = (await session.execute(
                select(WebhookDelivery, Partner).join(Partner, Partner.id == WebhookDelivery.partner_id)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING.value,
                       WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at).limit(self.batch)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )).all()
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                for delivery, partner in due:
                    await self.attempt(client, delivery, partner, now)
        return len(due)

    async def attempt(self, client: httpx.AsyncClient, delivery: WebhookDelivery, partner: Partner,
                      now: dt.datetime) -> None:
        """POSTs one delivery and records the outcome."""
        body = delivery.payload.encode()
        stamp = str(int(time.time()))
        delivery.attempts += 1
        try:
            response = await client.post(partner.webhook_url or "", content=body, headers={
                "content-type": "application/json", "x-finpace-timestamp": stamp,
                "x-finpace-signature": signature(partner.webhook_secret or "", stamp, body),
                "x-finpace-event-id": str(delivery.event_id), "x-finpace-delivery-id": str(delivery.id),
                "x-finpace-event-type": delivery.event_type})
            delivery.last_status_code = response.status_code
            ok, error = 200 <= response.status_code < 300, f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}"
        if ok:
            delivery.status, delivery.delivered_at, delivery.last_error = DeliveryStatus.DELIVERED.value, now, None
            return
        delivery.last_error = error
        if delivery.attempts >= self.max_attempts:
            delivery.status = DeliveryStatus.DEAD.value
            log.warning("partner_webhook_dead", delivery=str(delivery.id), partner=partner.client_id)
        else:
            delay = self.backoff_seconds[min(delivery.attempts, len(self.backoff_seconds)) - 1]
            delivery.next_attempt_at = now + dt.timedelta(seconds=delay)

    async def run(self) -> None:
        """Sends until cancelled."""
        while True:
            try:
                if await self.run_once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("partner_webhook_sender_error", error=repr(exc))
            await asyncio.sleep(self.poll_seconds)
