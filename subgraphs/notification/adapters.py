"""Delivery adapters: e-mail over SMTP, SMS/push/secure message through an HTTP provider; webhook signatures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import smtplib
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import httpx

from subgraphs.notification.config import NotificationConfig


class DeliveryError(Exception):
    """A delivery attempt failed; `permanent` ones are not retried (e.g. the address was refused)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    """A rendered message ready for a channel."""

    notification_id: str
    channel: str
    recipient: str
    subject: str | None
    body: str


class Adapter(Protocol):
    async def send(self, message: Outgoing) -> str:
        """Sends a message; returns the provider's message id; raises DeliveryError."""


@dataclass
class SmtpAdapter:
    """Sends e-mail through an SMTP relay (blocking smtplib in a worker thread)."""

    host: str
    port: int
    sender: str
    timeout: float = 10.0

    def _send(self, message: Outgoing) -> str:
        email = EmailMessage()
        # The same Message-ID on every attempt: a relay or mailbox that sees a retry of an accepted
        # message (our crash after the relay's 250) can recognise it as the same message.
        message_id = f"<{message.notification_id}@finpace>"
        email["From"], email["To"], email["Subject"] = self.sender, message.recipient, message.subject or ""
        email["Message-ID"] = message_id
        email["X-Finpace-Notification"] = message.notification_id
        email.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc.recipients}", permanent=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}") from None
        return message_id

    async def send(self, message: Outgoing) -> str:
        return await asyncio.to_thread(self._send, message)


@dataclass
class HttpProviderAdapter:
    """Posts SMS, push and secure messages to an HTTP provider: POST {url}/messages → {"id": ...}."""

    url: str
    token: str | None = None
    timeout: float = 10.0

    async def send(self, message: Outgoing) -> str:
        # The notification id on every attempt: a retry after an unrecorded acceptance is a duplicate
        # the provider can discard (delivery to the provider is at least once).
        headers = {"Idempotency-Key": message.notification_id}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        payload = {"channel": message.channel, "to": message.recipient, "subject": message.subject,
                   "body": message.body, "reference": message.notification_id}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(f"{self.url.rstrip('/')}/messages", json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"provider unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryError(f"provider answered {response.status_code}")
        if response.status_code >= 400:
            raise DeliveryError(f"provider refused the message ({response.status_code})", permanent=True)
        try:
            provider_id = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            provider_id = None
        if isinstance(provider_id, bool) or not isinstance(provider_id, str | int) or not str(provider_id):
            # Perhaps accepted: the retry carries the same Idempotency-Key, so the provider can dedupe it.
            raise DeliveryError(f"provider answered {response.status_code} without a message id")
        return str(provider_id)


def adapters_for(config: NotificationConfig) -> dict[str, Adapter]:
    """Returns the adapter of each channel the config can serve."""
    found: dict[str, Adapter] = {"EMAIL": SmtpAdapter(config.smtp_host, config.smtp_port, config.smtp_sender)}
    if config.provider_url:
        provider = HttpProviderAdapter(config.provider_url, config.provider_token)
        found.update(SMS=provider, PUSH=provider, SECURE_MESSAGE=provider)
    return found


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """Returns the hex HMAC-SHA256 of `timestamp.body` (what providers send and partners receive)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_webhook(secret: str, timestamp: str | None, signature: str | None, body: bytes, *,
                   tolerance: int = 300, now: float | None = None) -> bool:
    """Checks a webhook's signature in constant time and refuses timestamps outside the tolerance."""
    if not timestamp or not signature:
        return False
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    expected = sign_webhook(secret, timestamp, body)
    return age <= tolerance and hmac.compare_digest(expected, signature.removeprefix("sha256="))


def new_reference() -> str:
    """Returns a fresh opaque id (used by the test provider)."""
    return uuid.uuid4().hex
