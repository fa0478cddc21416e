"""The party migrations produce exactly the tables the models describe, plus the platform tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import platform_metadata
from subgraphs.party.models import Base


async def test_models_and_migrations_agree(party_db: AsyncEngine) -> None:
    def diff(connection) -> list:
        context = MigrationContext.configure(connection, opts={
            "include_name": lambda name, kind, _parent: kind != "table" or name in Base.metadata.tables,
            "compare_type": True,
        })
        return compare_metadata(context, Base.metadata)

    async with party_db.connect() as conn:
        assert await conn.run_sync(diff) == []
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert set(platform_metadata.tables) <= tables
    assert "party_alembic_version" in tables
