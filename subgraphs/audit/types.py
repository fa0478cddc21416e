"""GraphQL types of the audit subgraph: evidence entries and the chain verification verdict."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.scalars import JSON

from shared.scalars import Long
from subgraphs.audit.models import Evidence
from subgraphs.audit.verify import VerifyResult


@strawberry.type(description="Who caused an event.")
class AuditActor:
    sub: str
    roles: list[str]
    client_id: str | None


@strawberry.federation.type(keys=["id"], description="One append-only, hash-chained evidence entry.")
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="The id of the event the entry records.")
    sequence: Long = strawberry.field(description="Position in the global chain (1, 2, ...).")
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    source: str = strawberry.field(description="The domain that published the event.")
    type: str
    event_subject: str = strawberry.field(description="The NATS subject the event travelled on.")
    subject: str = strawberry.field(description="The aggregate the event is about.")
    aggregate_version: int
    actor: AuditActor
    reason: str | None
    correlation_id: str
    causation_id: str | None
    before: JSON | None
    after: JSON | None
    data: JSON
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: Evidence) -> AuditEntry:
        actor = row.actor or {}
        return cls(id=strawberry.ID(str(row.event_id)), sequence=row.sequence, occurred_at=row.occurred_at,
                   recorded_at=row.recorded_at, source=row.source, type=row.event_type,
                   event_subject=row.nats_subject, subject=row.subject, aggregate_version=row.aggregate_version,
                   actor=AuditActor(sub=row.actor_sub, roles=list(actor.get("roles") or []),
                                    client_id=actor.get("client_id")),
                   reason=row.reason, correlation_id=row.correlation_id, causation_id=row.causation_id,
                   before=row.before, after=row.after, data=row.data, prev_hash=row.prev_hash, hash=row.hash)

    @classmethod
    async def resolve_reference(cls, info: strawberry.Info, id: strawberry.ID) -> AuditEntry | None:
        from sqlalchemy import select

        info.context.require("auditor", "admin", "ops")
        try:
            event_id = uuid.UUID(str(id))
        except ValueError:
            return None
        async with info.context.sessions() as session:
            row = (await session.execute(select(Evidence).where(Evidence.event_id == event_id))).scalar_one_or_none()
        return cls.of(row) if row else None


@strawberry.type(description="The verdict of verifying the evidence chain against its signed checkpoints.")
class AuditVerification:
    ok: bool
    entries_checked: int
    checkpoints_checked: int
    last_sequence: Long
    last_hash: str
    first_bad_sequence: Long | None
    first_bad_event_id: str | None
    problem: str | None = strawberry.field(
        description="MISSING_ENTRY, BROKEN_LINK, HASH_MISMATCH, CHECKPOINT_MISMATCH, MISSING_TAIL "
                    "or CHECKPOINT_INVALID.")
    message: str

    @classmethod
    def of(cls, result: VerifyResult) -> AuditVerification:
        return cls(**result.as_dict())
