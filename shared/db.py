"""Database access: one async engine per domain database, the platform tables and the unit of work."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from shared.config import Settings
from shared.errors import IdempotencyKeyReused, InputError
from shared.events import Actor, DomainEvent, Envelope
from shared.jsonutil import request_hash, to_jsonable

log = structlog.get_logger(__name__)
M = TypeVar("M")

# The platform tables exist in every domain database (created by each domain's first migration).
platform_metadata = MetaData()

outbox_table = Table(
    "outbox",
    platform_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("nats_subject", String(255), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("aggregate_version", Integer, nullable=False),
    Column("envelope", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
)

inbox_table = Table(
    "inbox",
    platform_metadata,
    Column("consumer", String(128), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
)

idempotency_table = Table(
    "idempotency_keys",
    platform_metadata,
    Column("operation", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("result", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("operation", "key"),
)

# Who sees what (shared/access.py): the read model of the party domain's entitlements and RM portfolio,
# kept from its events by every subgraph that holds customer data.
access_entitlements_table = Table(
    "access_entitlements",
    platform_metadata,
    Column("entitlement_id", UUID(as_uuid=True), primary_key=True),
    Column("user_sub", String(128), nullable=False),
    Column("party_id", UUID(as_uuid=True), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("access_entitlements_by_sub", "user_sub"),
)

access_portfolio_table = Table(
    "access_portfolio",
    platform_metadata,
    Column("party_id", UUID(as_uuid=True), primary_key=True),
    Column("rm_id", String(64), nullable=False),
    Column("party_version", Integer, nullable=False),
    Index("access_portfolio_by_rm", "rm_id"),
)


def create_engine(settings: Settings, domain: str, *, role: str | None = None) -> AsyncEngine:
    """Creates the async engine of one domain's database (call from a composition root, never at import).

    `role`: every connection runs as this PostgreSQL role (a startup parameter, so `RESET ALL` keeps it),
    e.g. the audit domain's insert-only writer.
    """
    return create_async_engine(
        settings.domain_database_url(domain),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        json_serializer=lambda v: json.dumps(v, separators=(",", ":")),
        connect_args={"server_settings": {"role": role}} if role else {},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Returns the session factory used by units of work and read queries."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@dataclass(frozen=True)
class RequestContext:
    """Who asks and under which correlation: carried from the request into every event."""

    actor: Actor
    correlation_id: str
    causation_id: str | None = None


@dataclass
class UnitOfWork:
    """One business transaction: `async with uow:` → change aggregates → `emit` → `commit`.

    Leaving the block without `commit()` rolls everything back, outbox rows included, so an
    event is never published for a change that did not happen.
    """

    sessions: async_sessionmaker[AsyncSession]
    context: RequestContext
    # The caller's access scope (shared.access.Scope), resolved on first use by shared.access.require_party;
    # None for internal units of work (jobs, sagas, consumers), which may write every party's records.
    caller_scope: Callable[[], Awaitable[Any]] | None = None
    session: AsyncSession = field(init=False)
    _idempotency: tuple[str, str] | None = field(default=None, init=False)
    _committed: bool = field(default=False, init=False)

    async def __aenter__(self) -> Self:
        self.session = self.sessions()
        await self.session.begin()
        self._idempotency = None
        self._committed = False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                if exc_type is None:
                    # A command that found nothing to change returns what it read: detach it before the
                    # rollback, which would otherwise expire it and make the caller's reads fail.
                    self.session.expunge_all()
                await self.session.rollback()
        finally:
            await self.session.close()

    async def emit(
        self,
        event: DomainEvent,
        *,
        aggregate_id: Any,
        aggregate_version: int,
        reason: str | None = None,
        before: Any = None,
        after: Any = None,
    ) -> Envelope:
        """Writes the event to the outbox inside this transaction (after flushing the aggregate)."""
        # Flushing first means the aggregate row is written (and locked) before the outbox row,
        # so two transactions on one aggregate produce outbox rows in their commit order.
        await self.session.flush()
        envelope = Envelope.wrap(
            event,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
            actor=self.context.actor,
            reason=reason,
            correlation_id=self.context.correlation_id,
            causation_id=self.context.causation_id,
            before=before,
            after=after,
        )
        await self.session.execute(
            insert(outbox_table).values(
                event_id=envelope.id,
                nats_subject=envelope.nats_subject,
                aggregate_id=envelope.subject,
                aggregate_version=envelope.aggregate_version,
                envelope=envelope.to_dict(),
            )
        )
        return envelope

    async def claim_idempotency(self, operation: str, key: str | None, request: Any) -> dict[str, Any] | None:
        """Claims an idempotency key for this transaction; returns the stored result on a replay.

        The claim is an INSERT ... ON CONFLICT DO NOTHING: a concurrent request with the same key
        waits on the uncommitted row, then sees the committed result (or takes the key over if the
        first transaction rolled back). The same key with a different request is refused.
        """
        if key is None:
            return None
        key = key.strip()
        if not key or len(key) > 128:
            raise InputError(
                f"idempotencyKey '{key[:20]}' must be 1 to 128 characters.", field="idempotencyKey"
            )
        digest = request_hash(request)
        claimed = await self.session.execute(
            pg_insert(idempotency_table)
            .values(operation=operation, key=key, request_hash=digest, actor=self.context.actor.sub)
            .on_conflict_do_nothing()
            .returning(idempotency_table.c.key)
        )
        if claimed.first() is not None:
            self._idempotency = (operation, key)
            return None
        row = (
            await self.session.execute(
                select(idempotency_table.c.request_hash, idempotency_table.c.actor, idempotency_table.c.result).where(
                    idempotency_table.c.operation == operation, idempotency_table.c.key == key
                )
            )
        ).one()
        # Another caller's key is refused, not replayed: a replay would hand over that caller's result.
        if row.request_hash != digest or row.actor != self.context.actor.sub:
            raise IdempotencyKeyReused(
                f"Idempotency key '{key}' was already used for a different {operation} request.",
                key=key,
            )
        log.info("idempotent_replay", operation=operation, key=key)
        return dict(row.result or {})

    async def replayed(self, operation: str, key: str | None, request: Any, model: type[M]) -> M | None:
        """Claims the idempotency key; on a replay returns the stored result's row (by its "id"), else None."""
        prior = await self.claim_idempotency(operation, key, request)
        if prior is None:
            return None
        row = await self.session.get(model, uuid.UUID(str(prior["id"])))
        if row is not None:
            self.session.expunge(row)  # a replay commits nothing: keep the row readable after the rollback
        return row

    async def commit(self, result: dict[str, Any] | None = None) -> None:
        """Commits the transaction, storing `result` against the claimed idempotency key."""
        if self._idempotency is not None:
            operation, key = self._idempotency
            await self.session.execute(
                update(idempotency_table)
                .where(idempotency_table.c.operation == operation, idempotency_table.c.key == key)
                # The stored result is canonical JSON (Decimals and UUIDs as strings), as a replay returns it.
                .values(result=to_jsonable(result or {}), completed_at=func.now())
            )
        await self.session.commit()
        self._committed = True
