"""Validated partner commands."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from shared import validation as v
from shared.errors import InputError
from subgraphs.partner.entitlements import check_event_type


@dataclass(frozen=True)
class RegisterPartner:
    client_id: str
    name: str
    allowed_event_types: tuple[str, ...]
    webhook_url: str | None = None
    webhook_secret: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "client_id", v.required_text(self.client_id, field="clientId", max_length=128))
        set_(self, "name", v.required_text(self.name, field="name"))
        if not self.allowed_event_types:
            raise InputError("allowedEventTypes must name at least one event type.", field="allowedEventTypes")
        set_(self, "allowed_event_types", tuple(sorted({check_event_type(t, field="allowedEventTypes")
                                                        for t in self.allowed_event_types})))
        if (self.webhook_url is None) != (self.webhook_secret is None):
            raise InputError("webhookUrl and webhookSecret go together.", field="webhookUrl")
        if self.webhook_url is not None:
            url = urlparse(self.webhook_url)
            if url.scheme not in ("https", "http") or not url.netloc:
                raise InputError("webhookUrl must be an http(s) URL.", field="webhookUrl")
            if self.webhook_secret is None or len(self.webhook_secret) < 16:
                raise InputError("webhookSecret must be at least 16 characters.", field="webhookSecret")
