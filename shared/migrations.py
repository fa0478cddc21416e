"""Migrations: create each domain's database, run its Alembic history, and the platform tables it includes."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import asyncpg
import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.config import Settings
from shared.db import platform_metadata

log = structlog.get_logger(__name__)

NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION finpace_outbox_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION finpace_outbox_notify();
"""
UNPUBLISHED_INDEX = "CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL"


def create_platform_tables(connection: Connection) -> None:
    """Creates the outbox (with its NOTIFY trigger), inbox and idempotency tables; for a first migration."""
    platform_metadata.create_all(connection)
    connection.exec_driver_sql(UNPUBLISHED_INDEX)
    connection.exec_driver_sql(NOTIFY_FUNCTION)
    connection.exec_driver_sql(NOTIFY_TRIGGER)


def drop_platform_tables(connection: Connection) -> None:
    """Drops the platform tables; for a first migration's downgrade."""
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS finpace_outbox_notify()")
    platform_metadata.drop_all(connection)


def migrations_dir(domain: str) -> Path:
    """Returns the Alembic folder of a domain package, located without importing it."""
    spec = importlib.util.find_spec(f"subgraphs.{domain}")
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"Domain '{domain}' has no package subgraphs.{domain}.")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def alembic_config(settings: Settings, domain: str) -> Config:
    """Builds the Alembic configuration of one domain (its folder, its database, its version table)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir(domain)))
    cfg.set_main_option("sqlalchemy.url", settings.domain_database_url(domain).replace("%", "%%"))
    cfg.attributes["domain"] = domain
    return cfg


def run_env(target_metadata: MetaData) -> None:
    """Runs a domain's migrations; called from its migrations/env.py."""
    from alembic import context

    cfg = context.config
    domain = cfg.attributes.get("domain") or Path(cfg.get_main_option("script_location") or "").parent.name
    url = cfg.get_main_option("sqlalchemy.url")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=f"{domain}_alembic_version",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())


async def ensure_database(settings: Settings, domain: str) -> None:
    """Creates the domain's database on the server if it does not exist yet."""
    url = make_url(settings.server_database_url("postgres"))
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        name = f"finpace_{domain}"
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("database_created", database=name)
            # Created concurrently by another process: a racing CREATE DATABASE fails on the
            # catalog's unique index rather than with DuplicateDatabaseError.
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass
    finally:
        await conn.close()


async def upgrade(settings: Settings, domain: str) -> None:
    """Creates the domain database if needed and upgrades it to the latest migration."""
    await ensure_database(settings, domain)
    cfg = alembic_config(settings, domain)
    await asyncio.to_thread(command.upgrade, cfg, "head")
    await ensure_platform_tables(settings, domain)


async def ensure_platform_tables(settings: Settings, domain: str) -> None:
    """Creates platform tables added after the database's first migration ran (the access read model); idempotent."""
    engine = create_async_engine(settings.domain_database_url(domain), poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: platform_metadata.create_all(c, checkfirst=True))
    finally:
        await engine.dispose()


async def upgrade_all(settings: Settings, domains: list[str]) -> None:
    """Upgrades every named domain database, one after another."""
    for domain in domains:
        await upgrade(settings, domain)
