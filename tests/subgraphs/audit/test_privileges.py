"""The audit service runs as an insert-only role: evidence is read and appended, never changed, trigger or not."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from subgraphs.audit.models import WRITER_ROLE


async def test_the_service_connects_as_the_writer_role(audit_app: tuple[Starlette, str]) -> None:
    async with audit_app[0].state.runtime.engine.connect() as conn:
        current, session = (await conn.execute(text("SELECT current_user, session_user"))).one()
    assert current == WRITER_ROLE and session != WRITER_ROLE


async def test_every_table_is_granted_and_the_evidence_only_select_and_insert(audit_db: AsyncEngine) -> None:
    async with audit_db.connect() as conn:
        tables = (await conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))).scalars().all()
        granted = {
            table: {
                p for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
                if (await conn.execute(text("SELECT has_table_privilege(:r, :t, :p)"),
                                       {"r": WRITER_ROLE, "t": table, "p": p})).scalar()
            }
            for table in tables
        }
    assert {"audit_evidence", "inbox", "outbox"} <= set(tables)
    assert granted["audit_evidence"] == {"SELECT", "INSERT"}
    for table, privileges in granted.items():
        if table != "audit_evidence":
            assert {"SELECT", "INSERT", "UPDATE", "DELETE"} <= privileges, f"{table}: grant it to {WRITER_ROLE}"


@pytest.mark.parametrize("statement", [
    "UPDATE audit_evidence SET reason = 'rewritten'",
    "DELETE FROM audit_evidence",
    "TRUNCATE audit_evidence",
])
async def test_privileges_refuse_changes_even_with_the_trigger_disabled(audit_db: AsyncEngine, statement: str) -> None:
    async with audit_db.connect() as conn:
        outer = await conn.begin()
        try:
            # As the owner, in a transaction that is rolled back: switch the guard trigger off, become the writer.
            await conn.execute(text("ALTER TABLE audit_evidence DISABLE TRIGGER USER"))
            await conn.execute(text(f"SET LOCAL ROLE {WRITER_ROLE}"))
            with pytest.raises(DBAPIError, match="permission denied for table audit_evidence"):
                await conn.execute(text(statement))
        finally:
            await outer.rollback()
