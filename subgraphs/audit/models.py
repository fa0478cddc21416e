"""The audit database: the append-only, hash-chained evidence table and its write-once guard."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the audit database."""


class Evidence(Base):
    """One evidence entry: a domain event as received, chained to its predecessor by SHA-256.

    Text columns are unbounded on purpose: evidence must never refuse an event for its length.
    """

    __tablename__ = "audit_evidence"

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(Text)
    nats_subject: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    aggregate_version: Mapped[int] = mapped_column(Integer)
    actor_sub: Mapped[str] = mapped_column(Text)
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str] = mapped_column(Text)
    causation_id: Mapped[str | None] = mapped_column(Text)
    schema_version: Mapped[int] = mapped_column(Integer)
    before: Mapped[Any] = mapped_column(JSONB, nullable=True)
    after: Mapped[Any] = mapped_column(JSONB, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("audit_evidence_subject", "subject", "sequence"),
        Index("audit_evidence_actor", "actor_sub", "sequence"),
        Index("audit_evidence_type", "event_type", "sequence"),
        Index("audit_evidence_occurred", "occurred_at"),
    )


# The role the audit service's connections run as: SELECT and INSERT on the evidence, nothing more
# (migration 0002). The trigger below refuses changes even to the owner; the role refuses them first.
WRITER_ROLE = "finpace_audit_writer"

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION finpace_audit_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_evidence is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
APPEND_ONLY_TRIGGERS = (
    "CREATE TRIGGER audit_evidence_no_update_delete BEFORE UPDATE OR DELETE ON audit_evidence "
    "FOR EACH ROW EXECUTE FUNCTION finpace_audit_refuse_change()",
    "CREATE TRIGGER audit_evidence_no_truncate BEFORE TRUNCATE ON audit_evidence "
    "FOR EACH STATEMENT EXECUTE FUNCTION finpace_audit_refuse_change()",
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_evidence FROM PUBLIC",
)


def install_append_only(connection: Connection) -> None:
    """Installs the triggers (and privilege revocation) that refuse UPDATE, DELETE and TRUNCATE."""
    connection.exec_driver_sql(APPEND_ONLY_FUNCTION)
    for statement in APPEND_ONLY_TRIGGERS:
        connection.exec_driver_sql(statement)


def remove_append_only(connection: Connection) -> None:
    """Drops the append-only triggers; for the first migration's downgrade."""
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_evidence_no_update_delete ON audit_evidence")
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_evidence_no_truncate ON audit_evidence")
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS finpace_audit_refuse_change()")
