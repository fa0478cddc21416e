"""Structured JSON logging with correlation ids, and PII and secrets kept out of the logs."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

MARK = "[redacted]"
# Keys whose values never reach a log line: personal data, matched exactly (lower case, '-' read as '_').
REDACTED_KEYS = frozenset(
    {
        "legal_name",
        "trading_name",
        "first_name",
        "last_name",
        "full_name",
        "customer_name",
        "holder_name",
        "email",
        "email_address",
        "phone",
        "phone_number",
        "mobile",
        "address",
        "addresses",
        "street",
        "postal_code",
        "date_of_birth",
        "birth_date",
        "tax_id",
        "national_id",
        "iban",
        "account_number",
        "card_number",
        "value",
        "contact_points",
        "identifiers",
        "authorization",
        "cookie",
        "set_cookie",
    }
)
# Any key containing one of these is a secret: db_password, webhook_secret, access_token, x_api_key, ...
_SECRET_PARTS = ("password", "passwd", "secret", "token", "api_key", "apikey", "private_key", "credential")
# Secrets and personal data inside free text (messages, exception text, URLs), most specific first.
_PATTERNS = [
    (re.compile(r"(?i)\bbearer\s+[a-z0-9._~+/=-]+"), "Bearer " + MARK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), MARK),  # a JWT (header starts '{"')
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@"), r"\1" + MARK + "@"),  # URL credentials
    (re.compile(r"(?i)\b((?:password|passwd|secret|api_key|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"), r"\1" + MARK),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), MARK),  # e-mail
    (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), MARK),  # IBAN
    (re.compile(r"(?<![\w+])\+\d[\d ().-]{6,}\d"), MARK),  # international phone number
    (re.compile(r"(?<![\w-])0\d{2,4} \d{3,4} ?\d{3,4}\b"), MARK),  # national phone number, spaced
]


def _secret_key(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return name in REDACTED_KEYS or any(part in name for part in _SECRET_PARTS)


def scrub(text: str) -> str:
    """Replaces tokens, credentials, e-mails, IBANs and phone numbers in free text with a marker."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: MARK if isinstance(k, str) and _secret_key(k) else _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replaces PII and secret values in a log event (nested values and exception text included)."""
    for key in list(event):
        if key.startswith("_"):  # structlog's own bookkeeping (the stdlib record), never rendered
            continue
        event[key] = MARK if _secret_key(key) else _clean(event[key])
    return event


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Configures structlog and stdlib logging (libraries, uvicorn) for one process, both redacted."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,  # after format_exc_info: exception text can carry SQL parameters and URLs
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handler.finpace = True  # type: ignore[attr-defined]  # ours to replace when logging is configured again
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "finpace", False)] + [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own handlers would print tracebacks unredacted
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def bind_correlation_id(correlation_id: str) -> None:
    """Binds the correlation id to every log line of the current request."""
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
