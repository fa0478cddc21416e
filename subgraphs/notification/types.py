"""GraphQL types of the notification subgraph: notifications, templates, preferences and the Party extension."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from shared import access
from shared.graphql import ConflictError, IdempotencyKeyReusedError, NotFoundError
from subgraphs.notification import models

Channel = strawberry.enum(Enum("NotificationChannel", {c.name: c.value for c in models.Channel}),  # type: ignore[misc]
                          description="Where a message goes.")
Category = strawberry.enum(Enum("NotificationCategory", {c.name: c.value for c in models.Category}),  # type: ignore[misc]
                           description="SERVICE messages are always allowed; MARKETING ones need consent.")
Status = strawberry.enum(Enum("DeliveryStatus", {c.name: c.value for c in models.DeliveryStatus}),  # type: ignore[misc]
                         description="QUEUED → SENDING → SENT → DELIVERED | FAILED | BOUNCED; "
                                     "SUPPRESSED when never sent.")


async def visible(info: Info, party_id: uuid.UUID) -> bool:
    """Whether the caller's scope (shared/access.py) admits the party; another party's data answers like none."""
    info.context.require()
    return (await access.scope(info)).admits(party_id)


@strawberry.federation.type(keys=["id"], description="One message to one party on one channel.")
class Notification:
    id: strawberry.ID
    party_id: strawberry.ID
    event_type: str
    channel: Channel  # type: ignore[valid-type]
    category: Category  # type: ignore[valid-type]
    recipient: str
    subject: str | None
    body: str | None
    status: Status  # type: ignore[valid-type]
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, n: models.Notification) -> Notification:
        return cls(id=strawberry.ID(str(n.id)), party_id=strawberry.ID(str(n.party_id)), event_type=n.event_type,
                   channel=Channel(n.channel), category=Category(n.category), recipient=n.recipient,
                   subject=n.subject, body=n.body, status=Status(n.status), attempts=n.attempts,
                   last_error=n.last_error, created_at=n.created_at, updated_at=n.updated_at)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Notification | None:
        return await load_notification(info, str(id))


async def load_notification(info: Info, notification_id: str) -> Notification | None:
    """Returns a notification the caller may see, else None (exactly like a missing one)."""
    try:
        key = uuid.UUID(notification_id)
    except ValueError:
        return None
    async with info.context.sessions() as session:
        row = await session.get(models.Notification, key)
    return Notification.of(row) if row is not None and await visible(info, row.party_id) else None


@strawberry.type(description="One version of a message template.")
class NotificationTemplate:
    id: strawberry.ID
    event_type: str
    channel: Channel  # type: ignore[valid-type]
    locale: str
    version: int
    category: Category  # type: ignore[valid-type]
    subject: str | None
    body: str
    created_by: str
    created_at: dt.datetime

    @classmethod
    def of(cls, t: models.Template) -> NotificationTemplate:
        return cls(id=strawberry.ID(str(t.id)), event_type=t.event_type, channel=Channel(t.channel), locale=t.locale,
                   version=t.version, category=Category(t.category), subject=t.subject, body=t.body,
                   created_by=t.created_by, created_at=t.created_at)


@strawberry.type(description="Whether and where a party receives messages on a channel.")
class NotificationPreference:
    channel: Channel  # type: ignore[valid-type]
    enabled: bool
    address: str
    locale: str

    @classmethod
    def of(cls, p: models.Preference) -> NotificationPreference:
        return cls(channel=Channel(p.channel), enabled=p.enabled, address=p.address, locale=p.locale)


@strawberry.federation.type(keys=["id"], description="A party (owned by the party subgraph).")
class Party:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Party:
        return cls(id=id)

    def _uid(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(self.id))
        except ValueError:
            return None

    @strawberry.field(description="The party's notifications, newest first.")
    async def notifications(self, info: Info, first: int = 20) -> list[Notification]:
        uid = self._uid()
        info.context.require()
        if uid is None:
            return []
        async with info.context.sessions() as session:
            rows = (await session.execute(select(models.Notification).where(models.Notification.party_id == uid)
                                          .order_by(models.Notification.created_at.desc())
                                          .limit(max(1, min(first, 100))))).scalars().all()
        return [Notification.of(r) for r in rows] if rows and await visible(info, uid) else []

    @strawberry.field(description="The party's channel preferences.")
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        uid = self._uid()
        info.context.require()
        if uid is None:
            return []
        async with info.context.sessions() as session:
            rows = (await session.execute(select(models.Preference).where(models.Preference.party_id == uid)
                                          .order_by(models.Preference.channel))).scalars().all()
        return [NotificationPreference.of(r) for r in rows] if rows and await visible(info, uid) else []


Errors = NotFoundError | ConflictError | IdempotencyKeyReusedError
TemplateResult = Annotated[NotificationTemplate | Errors, strawberry.union("NotificationTemplateResult")]  # type: ignore[valid-type]
PreferenceResult = Annotated[NotificationPreference | Errors, strawberry.union("NotificationPreferenceResult")]  # type: ignore[valid-type]
