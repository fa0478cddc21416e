"""Notification settings read from FINPACE_NOTIFICATION_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class NotificationConfig:
    """Where to deliver (SMTP relay, HTTP provider), the webhook secret, the retry schedule and the claim lease.

    A claimed message is SENDING for `lease_seconds`; only then may another dispatcher claim it again. A send
    is abandoned after `send_timeout_seconds`, so the lease must be longer: otherwise a slow send and the
    next claim's send would overlap.
    """

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "no-reply@finpace.local"
    provider_url: str | None = None
    provider_token: str | None = None
    webhook_secret: str = "dev-webhook-secret"  # noqa: S105 - dev default; set FINPACE_NOTIFICATION_WEBHOOK_SECRET
    webhook_tolerance_seconds: int = 300
    max_attempts: int = 5
    backoff_seconds: tuple[float, ...] = (1, 5, 30, 120, 600)
    poll_seconds: float = 1.0
    lease_seconds: float = 60.0
    send_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.send_timeout_seconds <= 0 or self.lease_seconds <= self.send_timeout_seconds:
            raise ValueError(f"Notification lease_seconds {self.lease_seconds} must exceed send_timeout_seconds "
                             f"{self.send_timeout_seconds} (and both be positive).")

    @classmethod
    def from_env(cls) -> NotificationConfig:
        """Builds the config from FINPACE_NOTIFICATION_* (dev defaults otherwise)."""
        env = os.environ.get
        return cls(
            smtp_host=env("FINPACE_NOTIFICATION_SMTP_HOST") or "127.0.0.1",
            smtp_port=int(env("FINPACE_NOTIFICATION_SMTP_PORT") or 1025),
            smtp_sender=env("FINPACE_NOTIFICATION_SMTP_SENDER") or "no-reply@finpace.local",
            provider_url=env("FINPACE_NOTIFICATION_PROVIDER_URL"),
            provider_token=env("FINPACE_NOTIFICATION_PROVIDER_TOKEN"),
            webhook_secret=env("FINPACE_NOTIFICATION_WEBHOOK_SECRET") or "dev-webhook-secret",
            max_attempts=int(env("FINPACE_NOTIFICATION_MAX_ATTEMPTS") or 5),
            lease_seconds=float(env("FINPACE_NOTIFICATION_LEASE_SECONDS") or 60),
            send_timeout_seconds=float(env("FINPACE_NOTIFICATION_SEND_TIMEOUT_SECONDS") or 30),
        )

    def backoff(self, attempts: int) -> float:
        """Returns the delay before the next attempt after `attempts` failed ones."""
        return self.backoff_seconds[min(attempts, len(self.backoff_seconds)) - 1] if attempts else 0.0
