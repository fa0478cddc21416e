"""Consumer lending fixtures: migrated database, provisioned NATS (with an account stream), the served app, tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from shared.migrations import upgrade
from subgraphs.consumer_lending.app import create_app
from subgraphs.consumer_lending.models import ProductVersion
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.support import (  # noqa: F401 - re-exported to the tests
    counts,
    customer_client,
    eventually,
    lending_terms,
    outbox_types,
    provision,
    publish_products,
    publish_reply,
    published,
    token,
)

REPO = Path(__file__).resolve().parents[3]

# The consumer loans the product directory publishes for these tests (PERSONAL_LOAN prices the worked example:
# 10,000.00 at 12 % over 12 months on 30/360, 888.49 a month; HOME_IMPROVEMENT counts actual days).
CONSUMER_PRODUCTS = {
    "personal": published("PERSONAL_LOAN", "CONSUMER_LOAN", "EUR",
                          terms=lending_terms(rate=("6.9", "12", "24.9"), principal=("1000.00", "50000.00"),
                                              months=(6, 84), day_count="THIRTY_360")),
    "grace": published("GRACE_LOAN", "CONSUMER_LOAN", "EUR", terms=lending_terms(
        rate=("6", "12", "18"), principal=("1000.00", "50000.00"), months=(6, 60), day_count="THIRTY_360",
        grace=(2, 1))),
    "home": published("HOME_IMPROVEMENT", "CONSUMER_LOAN", "EUR", terms=lending_terms(
        rate=("5", "7.5", "15"), principal=("5000.00", "75000.00"), months=(12, 120),
        charges=({"calculation": "PERCENTAGE", "rate": "2", "min_cap": "150.00", "max_cap": "900.00"},))),
    "gbp": published("PERSONAL_LOAN_GBP", "CONSUMER_LOAN", "GBP", terms=lending_terms()),
    "quarterly": published("QUARTERLY_LOAN", "CONSUMER_LOAN", "EUR", terms=lending_terms(frequency="QUARTERLY")),
    "legacy": published("LEGACY_LOAN", "CONSUMER_LOAN", "EUR", terms=None),  # before versions carried terms
    "next": published("NEXT_LOAN", "CONSUMER_LOAN", "EUR", start=dt.date.today() + dt.timedelta(days=30),
                      terms=lending_terms()),
    "business": published("TL-TEST", "TERM_LOAN", "EUR", terms=lending_terms()),
}


async def publish_consumer_products(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Publishes CONSUMER_PRODUCTS through the broker and waits for consumer lending's read model (idempotent)."""
    await publish_products(settings, sessions, ProductVersion, *CONSUMER_PRODUCTS.values())




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
        await publish_consumer_products(settings, create_sessionmaker(cl_db))
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
