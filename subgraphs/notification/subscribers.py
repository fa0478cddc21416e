"""The party-event consumer: keeps the consent read model and queues notifications for templated events."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Envelope
from subgraphs.notification.models import ConsentView, DeliveryStatus, Notification, Preference, Template

CONSENT_RECORDED = "ConsentRecorded"


def _ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


async def handle_party_event(session: AsyncSession, envelope: Envelope) -> None:
    """Handles one party event inside the Subscriber's inbox transaction."""
    if envelope.type == CONSENT_RECORDED:
        await record_consent(session, envelope)
    await queue_notifications(session, envelope)


async def record_consent(session: AsyncSession, envelope: Envelope) -> None:
    """Stores a consent decision in the local read model."""
    d = envelope.data
    await session.execute(pg_insert(ConsentView).values(
        consent_id=uuid.UUID(d["consent_id"]), party_id=uuid.UUID(d["party_id"]), purpose=d["purpose"],
        channel=d["channel"], decision=d["decision"], captured_at=_ts(d["captured_at"]) or envelope.occurred_at,
        expires_at=_ts(d.get("expires_at")), event_id=envelope.id,
    ).on_conflict_do_nothing())


async def queue_notifications(session: AsyncSession, envelope: Envelope) -> int:
    """Queues one notification per enabled channel preference that has a template for the event type."""
    party = envelope.data.get("party_id")
    if not party:
        return 0
    party_id = uuid.UUID(str(party))
    prefs = (await session.execute(select(Preference).where(Preference.party_id == party_id,
                                                            Preference.enabled.is_(True)))).scalars().all()
    queued = 0
    for pref in prefs:
        template = await latest_template(session, envelope.type, pref.channel, pref.locale)
        if template is None:
            continue
        context = {"event": {"type": envelope.type, "occurred_at": envelope.occurred_at.isoformat(),
                             "subject": envelope.subject}, **envelope.data}
        result = await session.execute(pg_insert(Notification).values(
            id=uuid.uuid4(), party_id=party_id, event_id=envelope.id, event_type=envelope.type,
            template_id=template.id, channel=pref.channel, category=template.category, recipient=pref.address,
            context=json.dumps(context), status=DeliveryStatus.QUEUED.value, attempts=0, version=1,
            next_attempt_at=dt.datetime.now(dt.UTC),
        ).on_conflict_do_nothing().returning(Notification.id))
        queued += 1 if result.first() else 0
    return queued


async def latest_template(session: AsyncSession, event_type: str, channel: str, locale: str) -> Template | None:
    """Returns the newest template for the event type and channel in the locale (else its language, else en)."""
    candidates = [locale, locale.split("-")[0], "en"]
    for candidate in dict.fromkeys(candidates):
        template = (await session.execute(
            select(Template).where(Template.event_type == event_type, Template.channel == channel,
                                   Template.locale == candidate).order_by(Template.version.desc()).limit(1)
        )).scalar_one_or_none()
        if template is not None:
            return template
    return None
