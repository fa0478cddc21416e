"""The hash chain: the canonical form of an evidence entry and its SHA-256 link to the previous entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64

# The fields an entry's hash covers, in a fixed set (the canonical JSON sorts them anyway).
CHAINED_FIELDS = (
    "sequence",
    "event_id",
    "occurred_at",
    "recorded_at",
    "source",
    "event_type",
    "nats_subject",
    "subject",
    "aggregate_version",
    "actor",
    "reason",
    "correlation_id",
    "causation_id",
    "schema_version",
    "before",
    "after",
    "data",
)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_DECODE = json.JSONDecoder().decode
_UTC = dt.UTC


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is not _UTC:
        value = value.astimezone(_UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_entry(entry: Any) -> bytes:
    """Returns the canonical bytes of an entry (row or mapping): sorted compact UTF-8 JSON of the chained fields."""
    if isinstance(entry, dict):
        body = {name: entry[name] for name in CHAINED_FIELDS}
    else:
        body = {name: getattr(entry, name) for name in CHAINED_FIELDS}
    body["occurred_at"] = _timestamp(body["occurred_at"])
    body["recorded_at"] = _timestamp(body["recorded_at"])
    body["event_id"] = str(body["event_id"])
    return _ENCODER.encode(body).encode()


# The same fields as one JSON array built by PostgreSQL (timestamps already in the canonical UTC form, the
# rest as JSON values): the verifier decodes it, names the values and re-encodes them with _ENCODER, which
# gives canonical_entry's bytes without ORM rows. (json_build_array is ~3x cheaper here than json_build_object.)
_SQL_TIMESTAMP = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
CANONICAL_JSON_SQL = "json_build_array({})::text".format(
    ", ".join(_SQL_TIMESTAMP.format(name) if name.endswith("_at") else name for name in CHAINED_FIELDS)
)


def canonical_from_json(text: str) -> bytes:
    """Returns the canonical bytes of an entry given as CANONICAL_JSON_SQL's text (equal to canonical_entry's)."""
    return _ENCODER.encode(dict(zip(CHAINED_FIELDS, _DECODE(text), strict=True))).encode()


def event_id_from_json(text: str) -> str:
    """Returns the event id of an entry given as CANONICAL_JSON_SQL's text."""
    return str(_DECODE(text)[CHAINED_FIELDS.index("event_id")])


def link_hash(prev_hash: str, canonical: bytes) -> str:
    """Returns SHA-256(previous hash ‖ canonical entry) as hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def entry_hash(prev_hash: str, entry: Any) -> str:
    """Returns the hash an entry must carry given its predecessor's hash."""
    return link_hash(prev_hash, canonical_entry(entry))
