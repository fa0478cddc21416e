"""Canonical JSON for events, idempotency hashes and stored results: Decimals as strings, never floats."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Converts a value into JSON-ready data (Decimal and UUID to str, datetimes to ISO 8601 UTC)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise TypeError("Floats are not allowed in Finpace JSON; use Decimal.")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"Decimal {value} is not a finite number.")
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"Naive datetime {value!r} in event data; use UTC.")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if hasattr(value, "wire_amount") and hasattr(value, "currency"):
        return {"amount": value.wire_amount(), "currency": value.currency}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    raise TypeError(f"Cannot encode {type(value).__name__} as Finpace JSON.")


def canonical_json(value: Any) -> str:
    """Returns the canonical JSON text of a value: sorted keys, no spaces, UTF-8."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(value: Any) -> str:
    """Returns the SHA-256 hex digest of a value's canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def request_hash(value: Any) -> str:
    """Returns the hash idempotency keys compare: equal Decimals hash alike ("10.5" and "10.50")."""
    return sha256_hex(_normalised(value))


def _normalised(value: Any) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        # normalize() drops trailing zeros; adding 0 turns a negative zero into zero.
        return value.normalize() + 0 if value != 0 else Decimal(0)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _normalised(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    return value
