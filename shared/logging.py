"""Structured JSON logging with correlation ids, and PII kept out of the logs."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values never reach a log line: secrets and personal data.
REDACTED_KEYS = frozenset({
    "authorization", "token", "access_token", "password", "secret", "webhook_secret", "api_key",
    "legal_name", "trading_name", "first_name", "last_name", "email", "phone", "address", "addresses",
    "date_of_birth", "tax_id", "iban", "value", "contact_points", "identifiers",
})
_BEARER = re.compile(r"(?i)bearer\s+[a-z0-9._~+/=-]+")


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replaces PII and secret values in a log event with a marker."""
    for key in list(event):
        if key.lower() in REDACTED_KEYS:
            event[key] = "[redacted]"
        elif isinstance(event[key], str) and "earer " in event[key]:
            event[key] = _BEARER.sub("Bearer [redacted]", event[key])
    return event


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Configures structlog and stdlib logging for one process."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
        structlog.processors.format_exc_info,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")


def bind_correlation_id(correlation_id: str) -> None:
    """Binds the correlation id to every log line of the current request."""
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
