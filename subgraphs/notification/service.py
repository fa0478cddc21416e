"""Notification commands: publish a template version, set a preference; each owns its transaction."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import func, select, text

from shared.db import UnitOfWork
from subgraphs.notification.commands import PublishTemplate, SetPreference
from subgraphs.notification.events import PreferenceSet, TemplatePublished
from subgraphs.notification.models import Preference, Template


async def publish_template(uow: UnitOfWork, *, data: PublishTemplate, idempotency_key: str) -> Template:
    """Publishes the next version of the template for (event type, channel, locale)."""
    async with uow:
        request = {k: str(v) for k, v in dataclasses.asdict(data).items()}
        if (prior := await uow.replayed("publishTemplate", idempotency_key, request, Template)) is not None:
            return prior
        lock = f"template:{data.event_type}:{data.channel}:{data.locale}"
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": lock})
        latest = await uow.session.scalar(select(func.max(Template.version)).where(
            Template.event_type == data.event_type, Template.channel == data.channel.value,
            Template.locale == data.locale))
        template = Template(id=uuid.uuid4(), event_type=data.event_type, channel=data.channel.value,
                            locale=data.locale, version=(latest or 0) + 1, category=data.category.value,
                            subject=data.subject, body=data.body, created_by=uow.context.actor.sub)
        uow.session.add(template)
        await uow.emit(TemplatePublished(template_id=str(template.id), event_type=template.event_type,
                                         channel=template.channel, locale=template.locale, version=template.version,
                                         category=template.category),
                       aggregate_id=template.id, aggregate_version=1, after=_template_state(template))
        await uow.commit({"id": str(template.id)})
        return template


def _template_state(t: Template) -> dict[str, Any]:
    return {"event_type": t.event_type, "channel": t.channel, "locale": t.locale, "version": t.version,
            "category": t.category, "subject": t.subject, "body": t.body}


async def set_preference(uow: UnitOfWork, *, party_id: uuid.UUID, data: SetPreference) -> Preference:
    """Sets whether and where a party receives messages on a channel."""
    async with uow:
        pref = await uow.session.get(Preference, (party_id, data.channel.value), with_for_update=True)
        before = None
        if pref is None:
            pref = Preference(party_id=party_id, channel=data.channel.value, enabled=data.enabled,
                              address=data.address, locale=data.locale, version=1)
            uow.session.add(pref)
        else:
            before = {"enabled": pref.enabled, "address": pref.address, "locale": pref.locale}
            pref.enabled, pref.address, pref.locale = data.enabled, data.address, data.locale
            pref.version += 1
        await uow.emit(PreferenceSet(party_id=str(party_id), channel=pref.channel, enabled=pref.enabled),
                       aggregate_id=party_id, aggregate_version=pref.version, before=before,
                       after={"enabled": pref.enabled, "address": pref.address, "locale": pref.locale})
        await uow.commit()
        return pref
