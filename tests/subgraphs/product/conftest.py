"""Product test fixtures: the migrated product database, the running subgraph, a maker and a checker, and inputs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
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
from subgraphs.product.app import create_app
from subgraphs.product.models import Bundle, Product
from tests.helpers import GraphQLClient, serve

REPO_NATS = Path(__file__).resolve().parents[3] / "nats"


@pytest.fixture(scope="session")
async def product_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "product")
    engine = create_engine(settings, "product")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(product_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(product_db)


@pytest.fixture(scope="session")
async def provisioned(settings: Settings) -> None:
    nc = await connect(settings.nats_url or "", name="test-provision")
    try:
        await provision_from(nc, REPO_NATS)
    finally:
        await nc.close()


@pytest.fixture(scope="session")
async def product_url(settings: Settings, product_db: AsyncEngine, provisioned: None) -> AsyncIterator[str]:
    async with serve(create_app(settings)) as base:
        yield f"{base}/graphql"


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient, product_url: str, settings: Settings) -> GraphQLClient:
    """The maker: a product manager who drafts and submits."""
    return GraphQLClient(http, product_url, issue_dev_token(settings, role="ops", sub="maker-1"))


@pytest.fixture
def checker(gql: GraphQLClient, settings: Settings) -> GraphQLClient:
    """A second product manager who approves."""
    return gql.with_token(issue_dev_token(settings, role="ops", sub="checker-1"))


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    """Returns (product versions, bundles, outbox rows): what a refused command must leave unchanged."""
    async with sessions() as session:
        products = await session.scalar(select(func.count()).select_from(Product))
        bundles = await session.scalar(select(func.count()).select_from(Bundle))
        events = await session.scalar(select(func.count()).select_from(outbox_table))
    return int(products or 0), int(bundles or 0), int(events or 0)


async def outbox_types(sessions: async_sessionmaker[AsyncSession], aggregate_id: str) -> list[str]:
    """Returns the event types written for one aggregate, in outbox order."""
    async with sessions() as session:
        rows = await session.execute(select(outbox_table.c.envelope).where(outbox_table.c.aggregate_id ==
                                                                          aggregate_id).order_by(outbox_table.c.id))
    return [r.envelope["type"] for r in rows]


PRODUCT_FIELDS = """id code version family name currency status effectiveFrom effectiveTo supersedesVersion
  eligibleSegments revision submittedBy approvedBy
  pricing { interestRate { min default max } dayCount compounding postingFrequency overdraftRate }
  charges { code name feeType calculation frequency amount { amount currency } rate
            minCap { amount currency } maxCap { amount currency } }
  lending { principal { min { amount currency } default { amount } max { amount } }
            termMonths { min default max } interestMethod amortisation repaymentFrequency
            graceOnPrincipalPeriods graceOnInterestPeriods }"""
RESULT = f"__typename ... on Product {{ {PRODUCT_FIELDS} }} ... on DomainError {{ code message }}"

CREATE = f"""mutation($input: ProductDefinitionInput!, $key: String!) {{
  createProductDraft(input: $input, idempotencyKey: $key) {{ {RESULT} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: ProductDefinitionInput!) {{
  updateProductDraft(productId: $id, input: $input, reason: "tariff review") {{ {RESULT} }} }}"""
NEW_VERSION = f"""mutation($id: ID!, $key: String!) {{
  createProductVersion(fromProductId: $id, idempotencyKey: $key) {{ {RESULT} }} }}"""
SUBMIT = f"""mutation($id: ID!) {{ submitProductForApproval(productId: $id, reason: "ready") {{ {RESULT} }} }}"""
APPROVE = f"""mutation($id: ID!) {{ approveProductVersion(productId: $id, reason: "ok") {{ {RESULT} }} }}"""
REJECT = f"""mutation($id: ID!) {{ rejectProductVersion(productId: $id, reason: "fee too high") {{ {RESULT} }} }}"""
PUBLISH = f"""mutation($id: ID!, $from: Date!) {{
  publishProductVersion(productId: $id, effectiveFrom: $from, reason: "launch") {{ {RESULT} }} }}"""
WITHDRAW = f"""mutation($id: ID!, $at: Date) {{
  withdrawProduct(productId: $id, effectiveAt: $at, reason: "end of sale") {{ {RESULT} }} }}"""
RETIRE = f"""mutation($id: ID!) {{ retireProduct(productId: $id, reason: "no contracts left") {{ {RESULT} }} }}"""


def unique_code(prefix: str = "P") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def current_account(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": unique_code("BCA"), "family": "CURRENT_ACCOUNT", "name": "Business Current Account",
        "currency": "GBP", "eligibleSegments": ["SME"],
        "pricing": {"interestRate": {"min": "0", "default": "0.25", "max": "1.5"}, "dayCount": "ACTUAL_365",
                    "compounding": "NONE", "postingFrequency": "MONTHLY", "overdraftRate": "12.9"},
        "charges": [{"code": "MONTHLY_FEE", "name": "Monthly fee", "feeType": "ACCOUNT_MAINTENANCE",
                     "calculation": "FIXED", "amount": "6.50", "frequency": "MONTHLY"}],
    }
    body.update(overrides)
    return body


def term_loan(**overrides: Any) -> dict[str, Any]:
    body = current_account(code=unique_code("TL"), family="TERM_LOAN", name="Business Term Loan", charges=[
        {"code": "ARRANGEMENT", "name": "Arrangement fee", "feeType": "ARRANGEMENT", "calculation": "PERCENTAGE",
         "rate": "1.5", "minCap": "250.00", "maxCap": "5000.00", "frequency": "ONE_OFF"}],
        lending={"principalMin": "25000.00", "principalDefault": "100000.00", "principalMax": "1000000.00",
                 "termMinMonths": 12, "termDefaultMonths": 60, "termMaxMonths": 120,
                 "interestMethod": "DECLINING_BALANCE", "amortisation": "EQUAL_INSTALLMENTS",
                 "repaymentFrequency": "MONTHLY", "graceOnPrincipalPeriods": 3})
    body["pricing"] = {**body["pricing"], "interestRate": {"min": "5", "default": "7.5", "max": "12"},
                       "overdraftRate": None}
    body.update(overrides)
    return body


async def create(gql: GraphQLClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    result = (await gql.data(CREATE, {"input": body or current_account(), "key": uuid.uuid4().hex}))
    product: dict[str, Any] = result["createProductDraft"]
    assert product["__typename"] == "Product", product
    return product


async def step(client: GraphQLClient, mutation: str, **variables: Any) -> dict[str, Any]:
    data = await client.data(mutation, variables)
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def publish(gql: GraphQLClient, checker: GraphQLClient, product_id: str, effective_from: str) -> dict[str, Any]:
    """Submits (maker), approves (checker) and publishes a draft."""
    assert (await step(gql, SUBMIT, id=product_id))["status"] == "PENDING_APPROVAL"
    assert (await step(checker, APPROVE, id=product_id))["status"] == "APPROVED"
    published = await step(gql, PUBLISH, id=product_id, **{"from": effective_from})
    assert published["status"] == "ACTIVE", published
    return published


async def last_envelope(sessions: async_sessionmaker[AsyncSession], aggregate_id: str, event_type: str) -> dict:
    """Returns the newest outbox envelope of one type for one aggregate."""
    async with sessions() as session:
        rows = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == aggregate_id).order_by(outbox_table.c.id.desc()))).scalars().all()
    return next(e for e in rows if e["type"] == event_type)
