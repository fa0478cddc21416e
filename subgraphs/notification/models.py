"""The notification database: templates as data, preferences, the consent read model and deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the notification database."""


class Channel(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    PUSH = "PUSH"
    SECURE_MESSAGE = "SECURE_MESSAGE"


class Category(StrEnum):
    SERVICE = "SERVICE"  # always allowed
    MARKETING = "MARKETING"  # needs a GRANTED marketing consent in force at send time


class DeliveryStatus(StrEnum):
    QUEUED = "QUEUED"
    SENDING = "SENDING"  # claimed by a dispatcher and possibly handed to the provider; outcome not yet recorded
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    BOUNCED = "BOUNCED"
    SUPPRESSED = "SUPPRESSED"  # never sent: no consent, or the party opted out


TERMINAL = {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED, DeliveryStatus.SUPPRESSED}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Template(Base):
    """One version of the message for an event type, channel and locale (the newest active version is used)."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("event_type", "channel", "locale", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Preference(Base):
    """Whether and where a party wants messages on one channel."""

    __tablename__ = "preferences"

    party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    address: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class ConsentView(Base):
    """The party domain's consent decisions (from finpace.party.consent.recorded), kept locally."""

    __tablename__ = "consents"

    consent_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    captured_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))


class Notification(Base):
    """One message to one party on one channel, caused by one event; its delivery status and attempts."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "channel"),
        # What the dispatchers claim from: due QUEUED messages and SENDING ones whose lease expired.
        Index("notifications_due", "next_attempt_at", postgresql_where=text("status IN ('QUEUED', 'SENDING')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_type: Mapped[str] = mapped_column(String(128))
    template_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    context: Mapped[str] = mapped_column(Text)  # JSON of the event data the template renders
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # QUEUED: when the message is due; SENDING: when the claim's lease expires and another attempt may start.
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # the latest claim
    claimed_by: Mapped[str | None] = mapped_column(String(128))  # the dispatcher that made it
    provider_message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
