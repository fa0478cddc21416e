"""Corporate lending fixtures: migrated database, provisioned NATS (with an account stream), the served app, tokens."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from shared.migrations import upgrade
from subgraphs.corporate_lending.app import create_app
from subgraphs.corporate_lending.models import ProductVersion
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.support import (  # noqa: F401 - re-exported to the tests
    apply_access,
    counts,
    customer_client,
    eventually,
    lending_terms,
    outbox_types,
    product_id,
    provision,
    publish_products,
    publish_reply,
    published,
    rm_assigned,
    token,
)

REPO = Path(__file__).resolve().parents[3]




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




class Staff:
    """Staff clients by (role, sub); `assign` puts a party in an RM's portfolio (this domain's read model)."""

    def __init__(self, http: httpx.AsyncClient, url: str, settings: Settings,
                 sessions: async_sessionmaker[AsyncSession]) -> None:
        self.http, self.url, self.settings, self.sessions = http, url, settings, sessions
        self.versions = itertools.count(1)

    def __call__(self, role: str, sub: str) -> GraphQLClient:
        return GraphQLClient(self.http, self.url, token(self.settings, role, sub))

    async def assign(self, party_id: str, rm_id: str) -> None:
        await apply_access(self.sessions, rm_assigned(party_id, rm_id, version=next(self.versions)))


@pytest.fixture
def staff(http: httpx.AsyncClient, co_url: str, settings: Settings,
          co_sessions: async_sessionmaker[AsyncSession]) -> Staff:
    return Staff(http, co_url, settings, co_sessions)


@pytest.fixture
def anon(http: httpx.AsyncClient, co_url: str) -> GraphQLClient:
    return GraphQLClient(http, co_url, None)


@pytest.fixture
def customer_for(http: httpx.AsyncClient, co_url: str, settings: Settings,
                 co_sessions: async_sessionmaker[AsyncSession]) -> Callable[[str], GraphQLClient]:
    """A customer entitled to the party (in this domain's access read model)."""
    return lambda party_id: customer_client(http, co_url, settings, co_sessions, party_id)


# Versions the product directory publishes for these tests, keyed by what the offer tests call them.
CORPORATE_PRODUCTS = {
    "rcf": published("CORP-RCF-EUR", "REVOLVING_FACILITY", "EUR",
                     terms=lending_terms(rate=("2", "6", "9"), principal=("250000.00", "5000000.00"))),
    "term": published("CORP-TL-EUR", "TERM_LOAN", "EUR", terms=lending_terms()),
    "gbp": published("CORP-RCF-GBP", "REVOLVING_FACILITY", "GBP", terms=lending_terms()),
    "future": published("CORP-RCF-NEXT", "REVOLVING_FACILITY", "EUR", start=dt.date.today() + dt.timedelta(days=30),
                        terms=lending_terms()),
    "account": published("CORP-BCA-EUR", "CURRENT_ACCOUNT", "EUR", terms=None),
    "legacy": published("CORP-RCF-OLD", "REVOLVING_FACILITY", "EUR", terms=None),  # before terms travelled
}


@pytest.fixture(scope="session")
async def co_products(settings: Settings, co_url: str, co_sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Publishes CORPORATE_PRODUCTS through the broker; returns their ids once the read model holds them."""
    await publish_products(settings, co_sessions, ProductVersion, *CORPORATE_PRODUCTS.values())
    return {name: str(product_id(e.code, e.family, e.currency)) for name, e in CORPORATE_PRODUCTS.items()}
