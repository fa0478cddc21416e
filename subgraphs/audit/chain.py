"""The hash chain: the canonical form of an evidence entry and its SHA-256 link to the previous entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64

# The fields an entry's hash covers, in a fixed set (the canonical JSON sorts them anyway).
CHAINED_FIELDS = (
    "sequence", "event_id", "occurred_at", "recorded_at", "source", "event_type", "nats_subject", "subject",
    "aggregate_version", "actor", "reason", "correlation_id", "causation_id", "schema_version", "before",
    "after", "data",
)


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_entry(entry: Any) -> bytes:
    """Returns the canonical bytes of an entry (row or mapping): sorted compact UTF-8 JSON of the chained fields."""
    get = entry.get if isinstance(entry, dict) else lambda name: getattr(entry, name)
    body: dict[str, Any] = {}
    for name in CHAINED_FIELDS:
        value = get(name)
        if isinstance(value, dt.datetime):
            value = _timestamp(value)
        elif name == "event_id":
            value = str(value)
        body[name] = value
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def link_hash(prev_hash: str, canonical: bytes) -> str:
    """Returns SHA-256(previous hash ‖ canonical entry) as hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def entry_hash(prev_hash: str, entry: Any) -> str:
    """Returns the hash an entry must carry given its predecessor's hash."""
    return link_hash(prev_hash, canonical_entry(entry))
