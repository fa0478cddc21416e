"""Audit test fixtures: the migrated audit database, a running audit subgraph, fresh throw-away chains, envelopes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from starlette.applications import Starlette

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import create_engine, create_sessionmaker, platform_metadata
from shared.events import Envelope
from shared.messaging import connect, provision_from
from shared.migrations import upgrade
from subgraphs.audit.app import create_app
from subgraphs.audit.checkpoints import Checkpointer, load_or_create_key
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.models import Base, install_append_only
from tests.helpers import GraphQLClient, serve

REPO_NATS = Path(__file__).resolve().parents[3] / "nats"


@pytest.fixture(scope="session")
async def audit_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "audit")
    engine = create_engine(settings, "audit")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def audit_sessions(audit_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(audit_db)


@pytest.fixture(scope="session")
async def party_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "party")
    engine = create_engine(settings, "party")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def audit_provisioned(settings: Settings) -> None:
    nc = await connect(settings.nats_url or "", name="test-provision")
    try:
        await provision_from(nc, REPO_NATS)
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def audit_config(tmp_path_factory: pytest.TempPathFactory) -> AuditConfig:
    base = tmp_path_factory.mktemp("audit")
    return AuditConfig(checkpoint_dir=base / "checkpoints", signing_key=base / "keys" / "checkpoint.pem",
                       checkpoint_every_entries=5, checkpoint_every_seconds=1.0, checkpoint_poll_seconds=0.2,
                       monitor_seconds=0.2, stall_seconds=30)


@pytest.fixture(scope="session")
async def audit_app(settings: Settings, audit_db: AsyncEngine, audit_provisioned: None,
                    audit_config: AuditConfig) -> AsyncIterator[tuple[Starlette, str]]:
    app = create_app(settings, config=audit_config)
    async with serve(app) as base:
        yield app, base


@pytest.fixture(scope="session")
async def audit_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def auditor(audit_http: httpx.AsyncClient, audit_app: tuple[Starlette, str], settings: Settings) -> GraphQLClient:
    token = issue_dev_token(settings, role="auditor", sub="auditor-1")
    return GraphQLClient(audit_http, f"{audit_app[1]}/graphql", token)


def envelope(subject: str | None = None, *, version: int = 1, event_type: str = "PartyStatusChanged",
             actor: str = "ops-1", reason: str | None = "customer request", **data: Any) -> Envelope:
    """Builds a party-like envelope (as the outbox would publish it)."""
    body = {"party_id": subject or str(uuid.uuid4()), "before": {"status": "PROSPECT"},
            "after": {"status": "ACTIVE"}, "amount": "10.50", **data}
    return Envelope(id=uuid.uuid4(), type=event_type, source="party", subject=body["party_id"],
                    aggregate_version=version, occurred_at=dt.datetime.now(dt.UTC),
                    actor={"sub": actor, "roles": ["ops"], "client_id": None}, reason=reason,
                    correlation_id=uuid.uuid4().hex, causation_id=None, schema_version=1, data=body,
                    nats_subject="finpace.party.party.status_changed")


@pytest.fixture
async def fresh_chain(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession],
                                                                                  Checkpointer, AuditConfig]]:
    """A throw-away audit database (same schema and guard) with its own checkpoint directory and key."""
    name = f"finpace_audit_t{uuid.uuid4().hex[:12]}"
    admin = make_url(settings.server_database_url("postgres")).set(drivername="postgresql")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(settings.server_database_url(name)).render_as_string(hide_password=False)
    engine = create_async_engine(url)
    async with engine.begin() as c:
        await c.run_sync(Base.metadata.create_all)
        await c.run_sync(install_append_only)
        await c.run_sync(platform_metadata.create_all)
    config = AuditConfig(checkpoint_dir=tmp_path / "checkpoints", signing_key=tmp_path / "key.pem",
                         checkpoint_every_entries=5, checkpoint_every_seconds=3600)
    sessions = create_sessionmaker(engine)
    checkpointer = Checkpointer(sessions, config.checkpoint_dir, load_or_create_key(config.signing_key),
                                every_entries=5, every_seconds=3600)
    try:
        yield sessions, checkpointer, config
    finally:
        await engine.dispose()
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.close()
