"""Validated notification commands: publish a template version, set a party's channel preference."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared import validation as v
from shared.errors import InputError
from subgraphs.notification.models import Category, Channel
from subgraphs.notification.render import check_template

_LOCALE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
_EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]{2,127}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _locale(value: str) -> str:
    if not _LOCALE.match(value):
        raise InputError(f"locale '{value[:20]}' must look like 'en' or 'en-GB'.", field="locale")
    return value


@dataclass(frozen=True)
class PublishTemplate:
    event_type: str
    channel: Channel
    locale: str
    category: Category
    subject: str | None
    body: str

    def __post_init__(self) -> None:
        if not _EVENT_TYPE.match(self.event_type):
            raise InputError(f"eventType '{self.event_type[:40]}' is not an event type name.", field="eventType")
        _locale(self.locale)
        body = (self.body or "").strip()
        if not body or len(body) > 20_000:
            raise InputError("body must be 1 to 20,000 characters.", field="body")
        object.__setattr__(self, "body", body)
        check_template(body, field="body")
        if self.channel is Channel.EMAIL and not (self.subject and self.subject.strip()):
            raise InputError("An EMAIL template needs a subject.", field="subject")
        if self.subject is not None:
            object.__setattr__(self, "subject", v.required_text(self.subject, field="subject", max_length=500))
            check_template(self.subject or "", field="subject")


@dataclass(frozen=True)
class SetPreference:
    channel: Channel
    enabled: bool
    address: str
    locale: str = "en"

    def __post_init__(self) -> None:
        address = v.required_text(self.address, field="address", max_length=320)
        object.__setattr__(self, "address", address)
        _locale(self.locale)
        if self.channel is Channel.EMAIL and not _EMAIL.match(address):
            raise InputError(f"'{address[:40]}' is not an e-mail address.", field="address")
        if self.channel is Channel.SMS and not _PHONE.match(address):
            raise InputError(f"'{address[:40]}' is not an E.164 phone number.", field="address")
