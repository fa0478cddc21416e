"""Events the partner domain publishes on finpace.partner.> (the only module other domains may import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class PartnerRegistered(DomainEvent):
    domain: ClassVar[str] = "partner"
    aggregate: ClassVar[str] = "partner"
    partner_id: str
    client_id: str
    allowed_event_types: list[str]


@dataclass(frozen=True, kw_only=True)
class PartnerWebhookRedelivered(DomainEvent):
    domain: ClassVar[str] = "partner"
    aggregate: ClassVar[str] = "partner"
    partner_id: str
    delivery_id: str
    event_id: str
