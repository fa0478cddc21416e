"""The audit subgraph's Query: the audit trail and chain verification (evidence is written only by events)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from shared.errors import InputError
from shared.federation import Schema
from shared.graphql import (
    Connection,
    Edge,
    FinpaceErrors,
    PageInfo,
    any_role,
    check_page_size,
    decode_cursor,
    encode_cursor,
    operation_metrics,
)
from subgraphs.audit import queries
from subgraphs.audit.checkpoints import load_public_key
from subgraphs.audit.types import AuditActor, AuditEntry, AuditVerification
from subgraphs.audit.verify import verify_chain

READERS = ("auditor", "admin", "ops")


def _after(cursor: str | None) -> int | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    if len(values) != 1 or not isinstance(values[0], int):
        raise InputError(f"Cursor '{str(cursor)[:40]}' is not valid.", field="after")
    return int(values[0])


@strawberry.type
class Query:
    @strawberry.field(
        description="Evidence entries in chain order, filtered by aggregate, actor, type and time.",
        extensions=[any_role(*READERS)],
    )
    async def audit_trail(
        self,
        info: Info,
        subject: str | None = None,
        actor: str | None = None,
        type: str | None = None,
        from_: Annotated[dt.datetime | None, strawberry.argument(name="from")] = None,
        to: dt.datetime | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        if from_ and to and from_ >= to:
            raise InputError("'from' must be before 'to'.", field="from")
        trail = queries.TrailFilter(subject=subject, actor=actor, event_type=type, occurred_from=from_, occurred_to=to)
        async with info.context.sessions() as session:
            rows, has_next, total = await queries.trail_page(
                session, trail, first=check_page_size(first), after_seq=_after(after)
            )
        edges = [Edge(cursor=encode_cursor([r.sequence]), node=AuditEntry.of(r)) for r in rows]
        return Connection(
            edges=edges,
            page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
            total_count=total,
        )

    @strawberry.field(
        description="Verifies the whole chain and its signed checkpoints; names the first bad entry.",
        extensions=[any_role("auditor", "admin")],
    )
    async def verify_audit_chain(self, info: Info) -> AuditVerification:
        config: Any = info.context.request.app.state.runtime.audit_config
        public = load_public_key(config.public_key_path())
        result = await verify_chain(info.context.sessions, config.checkpoint_dir, public)
        return AuditVerification.of(result)


def build_schema() -> Schema:
    """Builds the audit subgraph schema (Federation 2.9)."""
    return Schema(
        query=Query,
        types=[AuditActor],
        federation_version="2.9",
        extensions=[lambda: FinpaceErrors("audit"), operation_metrics("audit")],
    )
