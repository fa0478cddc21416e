"""Appending evidence: the consumer handler that stores each event once, under one global chain lock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Envelope
from subgraphs.audit.chain import GENESIS_HASH, entry_hash
from subgraphs.audit.models import Evidence

# pg_advisory_xact_lock key serialising appends to the chain ("FPAUDIT" as an integer).
CHAIN_LOCK_KEY = 0x4650415544495400


def entry_from_envelope(envelope: Envelope, *, sequence: int, recorded_at: dt.datetime) -> dict[str, Any]:
    """Maps an event envelope to the column values of its evidence entry (without hashes)."""
    data = dict(envelope.data)
    actor = dict(envelope.actor or {})
    return {
        "sequence": sequence,
        "event_id": envelope.id,
        "occurred_at": envelope.occurred_at,
        "recorded_at": recorded_at,
        "source": envelope.source,
        "event_type": envelope.type,
        "nats_subject": envelope.nats_subject,
        "subject": envelope.subject,
        "aggregate_version": envelope.aggregate_version,
        "actor_sub": str(actor.get("sub") or "unknown"),
        "actor": actor,
        "reason": envelope.reason,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "schema_version": envelope.schema_version,
        "before": data.get("before"),
        "after": data.get("after"),
        "data": data,
    }


async def append_evidence_batch(session: AsyncSession, envelopes: list[Envelope]) -> list[dict[str, Any]]:
    """Appends envelopes to the chain, in order, inside the caller's transaction; returns the stored values.

    One chain lock, one head read and one multi-row INSERT however many entries: the lock is held until
    the caller commits, so no other transaction can read the same head and fork the chain.
    """
    if not envelopes:
        return []
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    head = (
        await session.execute(select(Evidence.sequence, Evidence.hash).order_by(Evidence.sequence.desc()).limit(1))
    ).first()
    sequence, prev_hash = (head.sequence, head.hash) if head else (0, GENESIS_HASH)
    recorded_at = dt.datetime.now(dt.UTC)
    rows = []
    for envelope in envelopes:
        sequence += 1
        values = entry_from_envelope(envelope, sequence=sequence, recorded_at=recorded_at)
        values["prev_hash"] = prev_hash
        values["hash"] = prev_hash = entry_hash(prev_hash, values)
        rows.append(values)
    await session.execute(insert(Evidence), rows)
    return rows


async def append_evidence(session: AsyncSession, envelope: Envelope) -> dict[str, Any]:
    """Appends one envelope to the chain inside the caller's transaction; returns the stored values."""
    [values] = await append_evidence_batch(session, [envelope])
    return values


async def handle_event(session: AsyncSession, envelope: Envelope) -> None:
    """Consumer handler: the Subscriber's inbox row makes this run once per event id."""
    await append_evidence(session, envelope)


async def handle_events(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """Batch consumer handler: the batch's inbox rows make this run once per event id."""
    await append_evidence_batch(session, envelopes)
