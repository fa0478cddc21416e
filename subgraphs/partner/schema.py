"""The partner subgraph's Query, Mutation and Subscription: thin resolvers over service.py and feed.py."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from shared.errors import DomainError, InputError
from shared.federation import Schema
from shared.graphql import (
    FinpaceErrors,
    any_role,
    domain_error,
    operation_metrics,
    parse_uuid,
    unit_of_work,
)
from shared.scalars import Long
from shared.validation import reason as check_reason
from subgraphs.partner import models, service
from subgraphs.partner.commands import RegisterPartner
from subgraphs.partner.entitlements import effective_types
from subgraphs.partner.feed import event_feed
from subgraphs.partner.types import Partner, PartnerEvent, PartnerResult, WebhookDelivery, WebhookDeliveryResult

ADMINS = ("admin", "ops")


async def current_partner(info: Info) -> models.Partner | None:
    """Returns the calling partner: its token's `sub` is its client id (client-credentials grant, RFC 9068).

    Only fields declaring `any_role("partner")` call this, so the caller holds the partner role.
    """
    principal = info.context.require()
    async with info.context.sessions() as session:
        return (
            await session.execute(
                select(models.Partner).where(models.Partner.client_id == principal.sub, models.Partner.active.is_(True))
            )
        ).scalar_one_or_none()


@strawberry.input(description="A partner: its client id, entitlements and optional webhook.")
class RegisterPartnerInput:
    client_id: str
    name: str
    allowed_event_types: list[str]
    webhook_url: str | None = None
    webhook_secret: str | None = None


@strawberry.type
class Query:
    @strawberry.field(description="The calling partner's own registration.", extensions=[any_role("partner")])
    async def my_partner(self, info: Info) -> Partner | None:
        row = await current_partner(info)
        if row is None:
            return None
        partner = Partner.of(row)  # the types this token may receive: registration narrowed by its scopes
        partner.allowed_event_types = effective_types(row.allowed_event_types, info.context.principal.scopes)
        return partner

    @strawberry.field(description="Every registered partner (staff).", extensions=[any_role(*ADMINS)])
    async def partners(self, info: Info) -> list[Partner]:
        async with info.context.sessions() as session:
            rows = (await session.execute(select(models.Partner).order_by(models.Partner.client_id))).scalars()
            return [Partner.of(r) for r in rows]

    @strawberry.field(
        description="A partner's webhook deliveries, newest first, optionally by status (staff).",
        extensions=[any_role(*ADMINS)],
    )
    async def webhook_deliveries(
        self, info: Info, partner_id: strawberry.ID, status: str | None = None, first: int = 50
    ) -> list[WebhookDelivery]:
        stmt = select(models.WebhookDelivery).where(
            models.WebhookDelivery.partner_id == parse_uuid(partner_id, field="partnerId")
        )
        if status is not None:
            if status not in models.DeliveryStatus.__members__:
                raise InputError(f"status '{status[:20]}' is not a delivery status.", field="status")
            stmt = stmt.where(models.WebhookDelivery.status == status)
        async with info.context.sessions() as session:
            rows = (
                await session.execute(
                    stmt.order_by(models.WebhookDelivery.created_at.desc()).limit(max(1, min(first, 100)))
                )
            ).scalars()
            return [WebhookDelivery.of(r) for r in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Registers a partner with its entitlements and webhook.",
        extensions=[any_role("admin")],
    )
    async def register_partner(self, info: Info, input: RegisterPartnerInput, idempotency_key: str) -> PartnerResult:
        command = RegisterPartner(
            client_id=input.client_id,
            name=input.name,
            allowed_event_types=tuple(input.allowed_event_types),
            webhook_url=input.webhook_url,
            webhook_secret=input.webhook_secret,
        )
        try:
            return Partner.of(
                await service.register_partner(unit_of_work(info), data=command, idempotency_key=idempotency_key)
            )
        except DomainError as exc:
            return domain_error(exc)

    @strawberry.mutation(
        description="Re-queues a DEAD webhook delivery with fresh attempts.",
        extensions=[any_role(*ADMINS)],
    )
    async def redeliver_webhook(self, info: Info, delivery_id: strawberry.ID, reason: str) -> WebhookDeliveryResult:
        key, why = parse_uuid(delivery_id, field="deliveryId"), check_reason(reason)
        try:
            return WebhookDelivery.of(await service.redeliver_webhook(unit_of_work(info), delivery_id=key, reason=why))
        except DomainError as exc:
            return domain_error(exc)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The partner's entitled events of the given types, in stream order, "
        "from fromSequence (else only new ones); resumable with no gap or duplicate.",
        extensions=[any_role("partner")],
    )
    async def events(
        self, info: Info, types: list[str], from_sequence: Long | None = None
    ) -> AsyncGenerator[PartnerEvent, None]:
        partner = await current_partner(info)
        allowed = effective_types(partner.allowed_event_types, info.context.principal.scopes) if partner else []
        nc = info.context.request.app.state.runtime.nc
        async for item in event_feed(nc, allowed=allowed, types=types, from_sequence=from_sequence):
            yield PartnerEvent.of(item)


def build_schema() -> Any:
    """Builds the partner subgraph schema (Federation 2.9)."""
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        federation_version="2.9",
        extensions=[lambda: FinpaceErrors("partner"), operation_metrics("partner")],
    )
