"""The notification subgraph's Query and Mutation: thin resolvers over service.py."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from shared.errors import DomainError, NotFound
from shared.federation import Schema
from shared.graphql import (
    FinpaceErrors,
    any_role,
    authenticated,
    domain_error,
    operation_metrics,
    parse_uuid,
    unit_of_work,
)
from subgraphs.notification import models, service
from subgraphs.notification.inputs import PublishTemplateInput, SetPreferenceInput
from subgraphs.notification.types import (
    Notification,
    NotificationPreference,
    NotificationTemplate,
    Party,
    PreferenceResult,
    TemplateResult,
    load_notification,
    visible,
)


@strawberry.type
class Query:
    @strawberry.field(
        description="One notification and its delivery status; null when missing or not visible.",
        extensions=[authenticated()],
    )
    async def notification(self, info: Info, id: strawberry.ID) -> Notification | None:
        return await load_notification(info, str(id))

    @strawberry.field(
        description="Every template version for an event type, newest first.",
        extensions=[any_role("ops", "admin", "auditor")],
    )
    async def notification_templates(self, info: Info, event_type: str) -> list[NotificationTemplate]:
        async with info.context.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(models.Template)
                        .where(models.Template.event_type == event_type)
                        .order_by(models.Template.channel, models.Template.locale, models.Template.version.desc())
                    )
                )
                .scalars()
                .all()
            )
        return [NotificationTemplate.of(r) for r in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Publishes the next version of a template (rendered in a sandbox at send time).",
        extensions=[any_role("ops", "admin")],
    )
    async def publish_notification_template(
        self, info: Info, input: PublishTemplateInput, idempotency_key: str
    ) -> TemplateResult:
        command = input.to_command()
        try:
            row = await service.publish_template(unit_of_work(info), data=command, idempotency_key=idempotency_key)
        except DomainError as exc:
            return domain_error(exc)
        return NotificationTemplate.of(row)

    @strawberry.mutation(
        description="Sets whether and where a party receives messages on a channel.",
        extensions=[any_role("customer", "ops", "rm", "admin")],
    )
    async def set_notification_preference(
        self, info: Info, party_id: strawberry.ID, input: SetPreferenceInput
    ) -> PreferenceResult:
        uid = parse_uuid(party_id, field="partyId")
        command = input.to_command()
        if not await visible(info, uid):
            return domain_error(NotFound(f"Party '{uid}' was not found."))
        uow = unit_of_work(info)
        try:
            row = await service.set_preference(uow, party_id=uid, data=command)
        except DomainError as exc:
            return domain_error(exc)
        return NotificationPreference.of(row)


def build_schema() -> Any:
    """Builds the notification subgraph schema (Federation 2.9)."""
    return Schema(
        query=Query,
        mutation=Mutation,
        types=[Party, Notification],
        federation_version="2.9",
        extensions=[lambda: FinpaceErrors("notification"), operation_metrics("notification")],
    )
