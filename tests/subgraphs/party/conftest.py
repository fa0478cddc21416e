"""Party test fixtures: the migrated party database, the running subgraph and tokens for each role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import RequestContext, UnitOfWork, create_engine, create_sessionmaker, outbox_table
from shared.events import Actor
from shared.messaging import connect, provision_from
from shared.migrations import upgrade
from subgraphs.party.app import create_app
from subgraphs.party.models import Party
from tests.helpers import GraphQLClient, serve

REPO_NATS = __import__("pathlib").Path(__file__).resolve().parents[3] / "nats"


@pytest.fixture(scope="session")
async def party_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "party")
    engine = create_engine(settings, "party")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(party_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(party_db)


@pytest.fixture(scope="session")
async def provisioned(settings: Settings) -> None:
    nc = await connect(settings.nats_url or "", name="test-provision")
    try:
        await provision_from(nc, REPO_NATS)
    finally:
        await nc.close()


@pytest.fixture(scope="session")
async def party_url(settings: Settings, party_db: AsyncEngine, provisioned: None) -> AsyncIterator[str]:
    async with serve(create_app(settings)) as base:
        yield f"{base}/graphql"


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def ops_token(settings: Settings) -> str:
    # Minted per test: a dev token lives 10 minutes, and a session on a loaded machine outlasts that.
    return issue_dev_token(settings, role="ops", sub="ops-1")


@pytest.fixture
def gql(http: httpx.AsyncClient, party_url: str, ops_token: str) -> GraphQLClient:
    return GraphQLClient(http, party_url, ops_token)


@pytest.fixture
def uow(sessions: async_sessionmaker[AsyncSession]) -> UnitOfWork:
    return UnitOfWork(sessions, RequestContext(actor=Actor(sub="tester", roles=("ops",)), correlation_id="test"))


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """Returns (parties, outbox rows): what a refused command must leave unchanged."""
    async with sessions() as session:
        parties = await session.scalar(select(func.count()).select_from(Party))
        events = await session.scalar(select(func.count()).select_from(outbox_table))
    return int(parties or 0), int(events or 0)


REGISTER = """
mutation Register($input: RegisterPartyInput!, $key: String!) {
  registerParty(input: $input, idempotencyKey: $key) {
    __typename
    ... on Party { id status legalName partyType externalId version }
    ... on DomainError { code message }
  }
}"""


def org_input(**overrides: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    body: dict[str, Any] = {
        "partyType": "ORGANISATION", "legalName": f"Acme Trading {suffix} Ltd", "externalId": f"EXT-{suffix}",
        "legalForm": "Private limited company", "registrationNumber": f"0{suffix}",
        "incorporationDate": "2015-03-01", "industryCode": "46.90", "segment": "SME", "taxResidences": ["GB"],
        "addresses": [{"addressType": "REGISTERED", "lines": ["1 High Street"], "city": "London",
                       "postalCode": "EC1A 1AA", "country": "GB"}],
        "contactPoints": [{"contactType": "EMAIL", "value": f"finance-{suffix}@acme.example", "isPrimary": True}],
    }
    body.update(overrides)
    return body
