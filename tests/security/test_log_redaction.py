"""PII and secrets stay out of the logs: structlog events, nested values, free text, exceptions, stdlib loggers."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator

import pytest
import structlog

from shared.logging import configure_logging, scrub

NAME, EMAIL, PHONE, NATIONAL_PHONE = "Jane Austen-Doe", "jane.doe@example.com", "+44 20 7946 0958", "020 7946 0958"
IBAN, SPACED_IBAN = "GB29NWBK60161331926819", "DE89 3704 0044 0532 0130 00"
JWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJjdXN0LTEifQ.c2lnbmF0dXJlLWJ5dGVz"
OPAQUE, PASSWORD, SECRET, DB_PASSWORD = "opaque-token-value-42", "hunter2-Pa55", "whsec_7f3a9c", "pg-pw-8812"
PII = [
    NAME,
    "Jane",
    "Austen",
    EMAIL,
    PHONE,
    NATIONAL_PHONE,
    IBAN,
    SPACED_IBAN,
    JWT,
    OPAQUE,
    PASSWORD,
    SECRET,
    DB_PASSWORD,
    "eyJzdWIiOiJjdXN0LTEifQ",
]


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[dict]]]:
    """Logging configured as a process does, into a buffer; returns the JSON lines written so far."""
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(level="INFO", json=True)

    def read() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]

    yield read
    structlog.reset_defaults()
    root.handlers, root.level = saved[0], saved[1]


def assert_clean(output: str) -> None:
    leaked = [value for value in PII if value in output]
    assert not leaked, f"leaked {leaked} in {output}"


def test_pii_keys_nested_values_and_free_text_are_redacted(lines) -> None:
    structlog.get_logger("party").info(
        f"party created for {EMAIL}, call {PHONE} or {NATIONAL_PHONE}",
        legal_name=NAME,
        first_name="Jane",
        last_name="Austen",
        party={"email": EMAIL, "iban": IBAN, "kind": "person", "contact": [{"value": PHONE}]},
        note=f"pay to {SPACED_IBAN} with {JWT}",
        authorization=f"Bearer {OPAQUE}",
        access_token=OPAQUE,
        password=PASSWORD,
        webhook_secret=SECRET,
        database_url=f"postgresql://finpace:{DB_PASSWORD}@db.internal:5432/finpace_party",
        party_id="0b6f1f0e-9a57-4c1e-8a53-3c1f4c7a2d10",
        status="ACTIVE",
        count=3,
    )
    [line] = lines()
    assert_clean(json.dumps(line))
    # What is not personal survives, so the log stays useful.
    assert line["party_id"] == "0b6f1f0e-9a57-4c1e-8a53-3c1f4c7a2d10"
    assert line["status"] == "ACTIVE" and line["count"] == 3
    assert line["party"]["kind"] == "person"
    assert line["database_url"] == "postgresql://finpace:[redacted]@db.internal:5432/finpace_party"
    assert line["event"].startswith("party created for [redacted]")


def test_exception_text_and_stdlib_loggers_are_redacted(lines) -> None:
    try:
        raise RuntimeError(f"INSERT failed for {EMAIL} password={PASSWORD} token {JWT}")
    except RuntimeError:
        structlog.get_logger("party").exception("unexpected_error", error_id="e-1")
        logging.getLogger("sqlalchemy.engine").exception("statement failed for %s (%s)", EMAIL, IBAN)
    first, second = lines()
    assert_clean(json.dumps(first))
    assert_clean(json.dumps(second))
    assert first["error_id"] == "e-1" and "RuntimeError: INSERT failed for [redacted]" in first["exception"]
    assert second["logger"] == "sqlalchemy.engine" and "Traceback" in second["exception"]


def test_names_in_free_text_are_not_guessed_but_keys_are_kept_out() -> None:
    # A name inside a sentence cannot be told from other words: code logs ids, never names, and the
    # name-bearing keys are redacted (above). Identifiers, amounts and dates are left alone.
    text = "posting 42 of 1250.00 EUR on 2024-01-02 for party 0b6f1f0e-9a57-4c1e-8a53-3c1f4c7a2d10"
    assert scrub(text) == text
