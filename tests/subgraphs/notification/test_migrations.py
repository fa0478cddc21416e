"""The notification migrations build exactly the tables the models describe, fresh or from the first schema."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Settings
from shared.db import platform_metadata
from subgraphs.notification.models import Base
from tests.subgraphs.notification.conftest import scratch_database

# What the first migration created before the delivery claims existed.
FIRST_SCHEMA = ("DROP INDEX notifications_due", "ALTER TABLE notifications DROP COLUMN claimed_at",
                "ALTER TABLE notifications DROP COLUMN claimed_by")


def diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={
        "include_name": lambda name, kind, _parent: kind != "table" or name in Base.metadata.tables,
        "compare_type": True,
    })
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_agree(notification_db: AsyncEngine) -> None:
    async with notification_db.connect() as conn:
        assert await conn.run_sync(diff) == []
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        indexes = await conn.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes("notifications")})
    assert set(platform_metadata.tables) <= tables
    assert "notification_alembic_version" in tables and "notifications_due" in indexes


async def test_delivery_claims_upgrade_a_first_schema_database_and_downgrade(settings: Settings) -> None:
    async with scratch_database(settings, revision="0001") as scratch:
        async with scratch.engine.begin() as conn:
            for statement in FIRST_SCHEMA:
                await conn.execute(text(statement))
            assert await conn.run_sync(diff) != []
        await asyncio.to_thread(command.upgrade, scratch.alembic, "head")
        async with scratch.engine.begin() as conn:
            assert await conn.run_sync(diff) == []
            # An in-flight message when the dispatcher is rolled back to one that knows no SENDING.
            note = uuid.uuid4()
            await conn.execute(text(
                "INSERT INTO notifications (id, party_id, event_id, event_type, template_id, channel, category, "
                "recipient, context, status, attempts, version, next_attempt_at, claimed_at, claimed_by, "
                "created_at, updated_at) VALUES (:id, :id, :id, 'E', :id, 'SMS', 'SERVICE', '+447700900000', "
                "'{}', 'SENDING', 1, 1, :now, :now, 'd-1', :now, :now)"), {"id": note, "now": dt.datetime.now(dt.UTC)})
        await asyncio.to_thread(command.downgrade, scratch.alembic, "0001")
        async with scratch.engine.connect() as conn:
            status = (await conn.execute(text("SELECT status FROM notifications WHERE id = :id"), {"id": note})
                      ).scalar_one()
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("notifications")})
    assert status == "QUEUED" and not {"claimed_at", "claimed_by"} & columns
