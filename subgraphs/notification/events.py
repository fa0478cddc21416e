"""Events the notification domain publishes on finpace.notification.> (the only module other domains may import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class TemplatePublished(DomainEvent):
    domain: ClassVar[str] = "notification"
    aggregate: ClassVar[str] = "template"
    template_id: str
    event_type: str
    channel: str
    locale: str
    version: int
    category: str


@dataclass(frozen=True, kw_only=True)
class PreferenceSet(DomainEvent):
    domain: ClassVar[str] = "notification"
    aggregate: ClassVar[str] = "preference"
    party_id: str
    channel: str
    enabled: bool


@dataclass(frozen=True, kw_only=True)
class NotificationStatusChanged(DomainEvent):
    domain: ClassVar[str] = "notification"
    aggregate: ClassVar[str] = "notification"
    notification_id: str
    party_id: str
    channel: str
    from_status: str | None
    to_status: str
    attempts: int
