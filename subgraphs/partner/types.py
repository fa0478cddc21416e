"""GraphQL types of the partner subgraph."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from shared.graphql import ConflictError, IdempotencyKeyReusedError, InvalidTransitionError, NotFoundError
from shared.scalars import Long
from subgraphs.partner import models
from subgraphs.partner.feed import FeedItem

WebhookStatus = strawberry.enum(  # type: ignore[misc]
    Enum("WebhookDeliveryStatus", {c.name: c.value for c in models.DeliveryStatus}),
    description="PENDING → DELIVERED, or DEAD after the last attempt (redeliverWebhook re-queues it).")


@strawberry.type(name="PartnerRegistration", description="A registered partner; its webhook secret is never returned.")
class Partner:
    id: strawberry.ID
    client_id: str
    name: str
    allowed_event_types: list[str]
    webhook_url: str | None
    active: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, p: models.Partner) -> Partner:
        return cls(id=strawberry.ID(str(p.id)), client_id=p.client_id, name=p.name,
                   allowed_event_types=list(p.allowed_event_types), webhook_url=p.webhook_url, active=p.active,
                   created_at=p.created_at)


@strawberry.type(description="One event POSTed (or to be POSTed) to a partner's webhook.")
class WebhookDelivery:
    id: strawberry.ID
    partner_id: strawberry.ID
    event_id: strawberry.ID
    event_type: str
    status: WebhookStatus  # type: ignore[valid-type]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, d: models.WebhookDelivery) -> WebhookDelivery:
        return cls(id=strawberry.ID(str(d.id)), partner_id=strawberry.ID(str(d.partner_id)),
                   event_id=strawberry.ID(str(d.event_id)), event_type=d.event_type, status=WebhookStatus(d.status),
                   attempts=d.attempts, last_status_code=d.last_status_code, last_error=d.last_error,
                   delivered_at=d.delivered_at, created_at=d.created_at)


@strawberry.type(description="An event on a partner stream; resume with fromSequence = sequence + 1.")
class PartnerEvent:
    stream: str
    sequence: Long
    type: str
    id: strawberry.ID
    occurred_at: str
    subject: str
    data: JSON

    @classmethod
    def of(cls, item: FeedItem) -> PartnerEvent:
        e = item.envelope
        return cls(stream=item.stream, sequence=item.sequence, type=item.event_type, id=strawberry.ID(e["id"]),
                   occurred_at=e["occurred_at"], subject=e["subject"], data=e.get("data") or {})


Errors = NotFoundError | ConflictError | IdempotencyKeyReusedError | InvalidTransitionError
PartnerResult = Annotated[Partner | Errors, strawberry.union("PartnerResult")]  # type: ignore[valid-type]
WebhookDeliveryResult = Annotated[WebhookDelivery | Errors, strawberry.union("WebhookDeliveryResult")]  # type: ignore[valid-type]
