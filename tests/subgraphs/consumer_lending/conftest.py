"""Consumer lending fixtures: migrated database, provisioned NATS (with an account stream), the served app, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from shared.migrations import upgrade
from subgraphs.consumer_lending.app import create_app
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.support import (  # noqa: F401 - re-exported to the tests
    counts,
    customer_client,
    eventually,
    outbox_types,
    provision,
    publish_reply,
    token,
)

REPO = Path(__file__).resolve().parents[3]




@pytest.fixture(scope="session")
async def cl_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "consumer_lending")
    engine = create_engine(settings, "consumer_lending")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def cl_sessions(cl_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(cl_db)


@pytest.fixture(scope="session")
async def cl_url(settings: Settings, cl_db: AsyncEngine) -> AsyncIterator[str]:
    await provision(settings.nats_url or "")
    async with serve(create_app(settings)) as base:
        yield f"{base}/graphql"


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client




@pytest.fixture
def staff(http: httpx.AsyncClient, cl_url: str, settings: Settings) -> Callable[[str, str], GraphQLClient]:
    return lambda role, sub: GraphQLClient(http, cl_url, token(settings, role, sub))


@pytest.fixture
def anon(http: httpx.AsyncClient, cl_url: str) -> GraphQLClient:
    return GraphQLClient(http, cl_url, None)


@pytest.fixture
def customer_for(http: httpx.AsyncClient, cl_url: str, settings: Settings,
                 cl_sessions: async_sessionmaker[AsyncSession]) -> Callable[[str], GraphQLClient]:
    """A customer entitled to the party (in this domain's access read model)."""
    return lambda party_id: customer_client(http, cl_url, settings, cl_sessions, party_id)
