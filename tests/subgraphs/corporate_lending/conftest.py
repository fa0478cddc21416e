"""Corporate lending fixtures: migrated database, provisioned NATS (with an account stream), the served app, tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import create_engine, create_sessionmaker, outbox_table
from shared.messaging import connect, provision_from
from shared.migrations import upgrade
from subgraphs.corporate_lending.app import create_app
from tests.helpers import GraphQLClient, serve

REPO = Path(__file__).resolve().parents[3]


async def provision(nats_url: str) -> None:
    """Provisions the repo's nats/ folder (streams, including FINPACE_ACCOUNT, and the reply consumers)."""
    nc = await connect(nats_url, name="test-provision")
    try:
        await provision_from(nc, REPO / "nats")
    finally:
        await nc.close()


@pytest.fixture(scope="session")
async def co_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "corporate_lending")
    engine = create_engine(settings, "corporate_lending")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def co_sessions(co_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(co_db)


@pytest.fixture(scope="session")
async def co_url(settings: Settings, co_db: AsyncEngine) -> AsyncIterator[str]:
    await provision(settings.nats_url or "")
    async with serve(create_app(settings)) as base:
        yield f"{base}/graphql"


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def token(settings: Settings, role: str, sub: str, party_ids: list[str] | None = None) -> str:
    return issue_dev_token(settings, role=role, sub=sub, party_ids=party_ids)


@pytest.fixture
def staff(http: httpx.AsyncClient, co_url: str, settings: Settings) -> Callable[[str, str], GraphQLClient]:
    return lambda role, sub: GraphQLClient(http, co_url, token(settings, role, sub))


@pytest.fixture
def anon(http: httpx.AsyncClient, co_url: str) -> GraphQLClient:
    return GraphQLClient(http, co_url, None)


@pytest.fixture
def customer_for(http: httpx.AsyncClient, co_url: str, settings: Settings) -> Callable[[str], GraphQLClient]:
    return lambda party_id: GraphQLClient(http, co_url, token(settings, "customer", f"cust-{party_id[:8]}",
                                                              [party_id]))


async def counts(sessions: async_sessionmaker[AsyncSession], model: Any) -> tuple[int, int]:
    """Returns (rows of model, outbox rows): what a refused command must leave unchanged."""
    async with sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(model))
        events = await session.scalar(select(func.count()).select_from(outbox_table))
    return int(rows or 0), int(events or 0)


async def outbox_types(sessions: async_sessionmaker[AsyncSession], aggregate_id: str) -> list[str]:
    async with sessions() as session:
        rows = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == aggregate_id).order_by(outbox_table.c.id))).scalars().all()
    return [r["type"] for r in rows]


async def publish_reply(settings: Settings, subject: str, data: dict[str, Any], *, event_id: str | None = None,
                        msg_id: str | None = None) -> str:
    """Publishes an account-domain reply envelope into JetStream, as the account subgraph would."""
    eid = event_id or str(uuid.uuid4())
    envelope = {"id": eid, "type": "Payment" + subject.rsplit(".", 1)[1].title(), "source": "account",
                "subject": str(uuid.uuid4()), "aggregate_version": 1,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
                "actor": {"sub": "system", "roles": ["system"], "client_id": None}, "reason": None,
                "correlation_id": "test", "causation_id": None, "schema_version": 1, "data": data}
    nc = await connect(settings.nats_url or "", name="test-account")
    try:
        await nc.jetstream().publish(subject, json.dumps(envelope).encode(), headers={"Nats-Msg-Id": msg_id or eid})
    finally:
        await nc.close()
    return eid


async def eventually(probe: Callable[[], Awaitable[bool]], within: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await probe():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)
