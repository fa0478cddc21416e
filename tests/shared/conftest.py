"""Kit fixtures: a throw-away `finpace_kit` database with the platform tables, and JetStream helpers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import Column, DateTime, MetaData, String, Table, func, insert
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import nats
from shared.config import Settings
from shared.db import RequestContext, UnitOfWork, create_engine, create_sessionmaker
from shared.events import Actor, DomainEvent
from shared.migrations import create_platform_tables, drop_platform_tables, ensure_database

KIT_DOMAIN = "kit"
KIT_STREAM = "FINPACE_KIT"

kit_metadata = MetaData()

# The business table of the kit domain: one row per committed business transaction.
side_effects = Table(
    "side_effects",
    kit_metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("label", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


@dataclass(frozen=True, kw_only=True)
class WidgetCreated(DomainEvent):
    """The kit's test event: finpace.kit.widget.created."""

    domain = KIT_DOMAIN
    aggregate = "widget"

    widget_id: uuid.UUID
    label: str


@pytest.fixture(scope="session")
async def kit_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The `finpace_kit` database, rebuilt once per session with the platform tables and side_effects."""
    await ensure_database(settings, KIT_DOMAIN)
    engine = create_engine(settings, KIT_DOMAIN)
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.drop_all)
        await conn.run_sync(drop_platform_tables)
        await conn.run_sync(create_platform_tables)
        await conn.run_sync(kit_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def kit_db(kit_engine: AsyncEngine) -> AsyncEngine:
    """The kit database emptied before each test, so every count a test asserts is its own."""
    async with kit_engine.begin() as conn:
        await conn.exec_driver_sql("TRUNCATE outbox, inbox, idempotency_keys, side_effects RESTART IDENTITY")
    return kit_engine


@pytest.fixture
def sessions(kit_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(kit_db)


def make_uow(sessions: async_sessionmaker[AsyncSession], sub: str = "tester") -> UnitOfWork:
    """A unit of work acting as `sub`, with a fresh correlation id."""
    return UnitOfWork(sessions, RequestContext(actor=Actor(sub=sub, roles=("ops",)), correlation_id=str(uuid.uuid4())))


async def write_widget(uow: UnitOfWork, label: str) -> uuid.UUID:
    """Inserts one business row and its event in the unit of work's transaction (no commit)."""
    widget_id = uuid.uuid4()
    await uow.session.execute(insert(side_effects).values(id=widget_id, label=label))
    await uow.emit(WidgetCreated(widget_id=widget_id, label=label), aggregate_id=widget_id, aggregate_version=1)
    return widget_id


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url, name="kit-tests", connect_timeout=5)
    yield client
    await client.close()


@pytest.fixture
async def js(nc: NATS) -> JetStreamContext:
    return nc.jetstream()


async def recreate_stream(js: JetStreamContext, name: str, subjects: list[str], **config: Any) -> None:
    """Deletes a test stream if present and creates it afresh (financial settings minus deny_delete)."""
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(name)
    await js.add_stream(
        name=name, subjects=subjects, storage="file", duplicate_window=600.0, **config
    )


@pytest.fixture
async def kit_stream(js: JetStreamContext) -> str:
    """A fresh FINPACE_KIT stream (finpace.kit.>) for each test."""
    await recreate_stream(js, KIT_STREAM, ["finpace.kit.>"])
    return KIT_STREAM


async def stream_msg_ids(js: JetStreamContext, stream: str) -> list[str]:
    """Returns the Nats-Msg-Id of every message in the stream, in sequence order."""
    info = await js.stream_info(stream)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))
    return ids
