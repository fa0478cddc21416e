"""Partner commands: register a partner, redeliver a dead webhook; each owns its transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import select

from shared.db import UnitOfWork
from shared.errors import Conflict, InvalidTransition, NotFound
from subgraphs.partner.commands import RegisterPartner
from subgraphs.partner.events import PartnerRegistered, PartnerWebhookRedelivered
from subgraphs.partner.models import DeliveryStatus, Partner, WebhookDelivery


async def register_partner(uow: UnitOfWork, *, data: RegisterPartner, idempotency_key: str) -> Partner:
    """Registers a partner with its entitlements and webhook."""
    async with uow:
        request = dataclasses.asdict(data)
        if (prior := await uow.replayed("registerPartner", idempotency_key, request, Partner)) is not None:
            return prior
        taken = await uow.session.scalar(select(Partner.id).where(Partner.client_id == data.client_id))
        if taken is not None:
            raise Conflict(f"A partner with client id '{data.client_id}' is already registered.")
        partner = Partner(id=uuid.uuid4(), client_id=data.client_id, name=data.name,
                          allowed_event_types=list(data.allowed_event_types), webhook_url=data.webhook_url,
                          webhook_secret=data.webhook_secret, active=True, version=1)
        uow.session.add(partner)
        await uow.emit(PartnerRegistered(partner_id=str(partner.id), client_id=partner.client_id,
                                         allowed_event_types=partner.allowed_event_types),
                       aggregate_id=partner.id, aggregate_version=1,
                       after={"client_id": partner.client_id, "name": partner.name,
                              "allowed_event_types": partner.allowed_event_types,
                              "webhook_url": partner.webhook_url})
        await uow.commit({"id": str(partner.id)})
        return partner


async def redeliver_webhook(uow: UnitOfWork, *, delivery_id: uuid.UUID, reason: str) -> WebhookDelivery:
    """Puts a dead-lettered webhook delivery back in the queue with fresh attempts."""
    async with uow:
        delivery = await uow.session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise NotFound(f"Webhook delivery '{delivery_id}' was not found.")
        if delivery.status != DeliveryStatus.DEAD.value:
            raise InvalidTransition(f"Only DEAD deliveries can be redelivered; this one is {delivery.status}.")
        partner = await uow.session.get(Partner, delivery.partner_id, with_for_update=True)
        assert partner is not None
        before = {"status": delivery.status, "attempts": delivery.attempts}
        delivery.status, delivery.attempts = DeliveryStatus.PENDING.value, 0
        delivery.next_attempt_at = dt.datetime.now(dt.UTC)
        partner.version += 1
        await uow.emit(PartnerWebhookRedelivered(partner_id=str(partner.id), delivery_id=str(delivery.id),
                                                 event_id=str(delivery.event_id)),
                       aggregate_id=partner.id, aggregate_version=partner.version, reason=reason, before=before,
                       after={"status": delivery.status, "attempts": 0})
        await uow.commit()
        return delivery
