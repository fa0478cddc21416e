"""Account test fixtures: the migrated account database, the running subgraph, tokens and ready-made accounts."""

from __future__ import annotations

import datetime as dt
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
from shared.db import RequestContext, UnitOfWork, create_engine, create_sessionmaker, idempotency_table, outbox_table
from shared.events import Actor
from shared.messaging import connect, provision_from
from shared.migrations import upgrade
from subgraphs.account.app import create_app
from subgraphs.account.models import Account, Hold, JournalEntry, Mandate, Payment, Posting, ProductVersion
from subgraphs.product import events as product_events
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.support import product_id, publish_product_event
from tests.subgraphs.support import wait_for_products as wait_for

REPO_NATS = Path(__file__).resolve().parents[3] / "nats"


@pytest.fixture(scope="session")
async def account_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "account")
    engine = create_engine(settings, "account")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(account_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(account_db)


@pytest.fixture(scope="session")
async def provisioned(settings: Settings) -> None:
    nc = await connect(settings.nats_url or "", name="test-provision")
    try:
        await provision_from(nc, REPO_NATS)
    finally:
        await nc.close()


def _product(code: str, family: str, currency: str) -> uuid.UUID:
    return product_id(code, family, currency)


PRODUCTS = {ccy: _product(f"BCA-{ccy}", "CURRENT_ACCOUNT", ccy) for ccy in ("EUR", "USD", "GBP", "JPY")}
TERM_LOAN = _product("TL-EUR", "TERM_LOAN", "EUR")
WITHDRAWN = _product("BCA-OLD", "CURRENT_ACCOUNT", "EUR")
FUTURE = _product("BCA-NEXT", "CURRENT_ACCOUNT", "EUR")


async def wait_for_products(sessions: async_sessionmaker[AsyncSession], ids: list[uuid.UUID],
                            check: Callable[[ProductVersion], bool] = lambda _: True) -> None:
    """Waits until the account's read model holds every product (and each passes check)."""
    await wait_for(sessions, ProductVersion, ids, check)


@pytest.fixture(scope="session")
async def account_url(settings: Settings, account_db: AsyncEngine, provisioned: None,
                      sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    # Without the lending saga: other suites' disbursement requests are not booked while they run
    # (test_lending_saga.py serves its own instance with it).
    async with serve(create_app(settings, lending_saga=False)) as base:
        today = dt.date.today()
        catalogue = [(pid, f"BCA-{ccy}", "CURRENT_ACCOUNT", ccy, today) for ccy, pid in PRODUCTS.items()]
        catalogue += [(TERM_LOAN, "TL-EUR", "TERM_LOAN", "EUR", today),
                      (WITHDRAWN, "BCA-OLD", "CURRENT_ACCOUNT", "EUR", today - dt.timedelta(days=400)),
                      (FUTURE, "BCA-NEXT", "CURRENT_ACCOUNT", "EUR", today + dt.timedelta(days=30))]
        for pid, code, family, ccy, start in catalogue:
            await publish_product_event(settings, product_events.ProductVersionPublished(
                product_id=str(pid), code=code, version=1, family=family, currency=ccy,
                effective_from=start.isoformat(), supersedes_version=None, superseded_product_id=None))
        await publish_product_event(settings, product_events.ProductWithdrawn(
            product_id=str(WITHDRAWN), code="BCA-OLD", version=1, effective_at=today.isoformat()))
        await wait_for_products(sessions, [c[0] for c in catalogue])
        await wait_for_products(sessions, [WITHDRAWN], lambda r: r.sale_until is not None)
        yield f"{base}/graphql"


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200, keepalive_expiry=2)) as client:
        yield client


@pytest.fixture
def ops_token(settings: Settings) -> str:
    # Minted per test: a dev token lives 10 minutes, and a session on a loaded machine outlasts that.
    return issue_dev_token(settings, role="ops", sub="ops-1")


@pytest.fixture
def gql(http: httpx.AsyncClient, account_url: str, ops_token: str) -> GraphQLClient:
    return GraphQLClient(http, account_url, ops_token)


@pytest.fixture
def uow(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(sessions, RequestContext(actor=Actor(sub="tester", roles=("ops",)),
                                                       correlation_id="test"))


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, ...]:
    """Returns row counts of every business table, the outbox and idempotency keys (unchanged by a refusal)."""
    async with sessions() as session:
        out = []
        for table in (Account, JournalEntry, Posting, Hold, Mandate, Payment):
            out.append(int(await session.scalar(select(func.count()).select_from(table)) or 0))
        for table in (outbox_table, idempotency_table):
            out.append(int(await session.scalar(select(func.count()).select_from(table)) or 0))
    return tuple(out)


OPEN = """
mutation Open($input: OpenAccountInput!, $key: String!) {
  openAccount(input: $input, idempotencyKey: $key) {
    __typename
    ... on Account { id status currency accountNumber bookedBalance { amount currency } }
    ... on DomainError { code message }
  }
}"""
ACTIVATE = """mutation($id: ID!) { activateAccount(accountId: $id, reason: "KYC complete") {
  __typename ... on Account { id status } ... on DomainError { code message } } }"""
RECEIVE = """mutation($id: ID!, $amount: MoneyInput!, $key: String!, $valueDate: Date) {
  receivePayment(accountId: $id, amount: $amount, idempotencyKey: $key, reference: "incoming", valueDate: $valueDate) {
    __typename ... on JournalEntry { id } ... on DomainError { code message } } }"""
OVERDRAFT = """mutation($id: ID!, $limit: MoneyInput!, $rate: Decimal) {
  setOverdraftLimit(accountId: $id, limit: $limit, debitRatePct: $rate, reason: "credit approved") {
    __typename ... on Account { id overdraft { limit { amount } } availableBalance { amount } }
    ... on DomainError { code message } } }"""
PAY = """mutation($input: MakePaymentInput!, $key: String!) {
  makePayment(input: $input, idempotencyKey: $key) {
    __typename ... on Payment { id status approvals journalEntryId amount { amount currency } }
    ... on DomainError { code message } } }"""
APPROVE = """mutation($id: ID!, $party: ID!) { approvePayment(paymentId: $id, signatoryPartyId: $party) {
  __typename ... on Payment { id status approvals } ... on DomainError { code message } } }"""
ACCOUNT = """query($id: ID!) { account(id: $id) { id status restrictions version
  bookedBalance { amount currency } availableBalance { amount currency } heldAmount { amount }
  overdraft { limit { amount } } } }"""


def open_input(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"partyId": str(uuid.uuid4()), "currency": "EUR",
                            "overdraftDebitRatePct": "12.5", "dayCount": "ACT_365", "monthlyFee": "5.00"}
    body.update(overrides)
    body.setdefault("productId", str(PRODUCTS.get(body["currency"], PRODUCTS["EUR"])))
    return body


OpenFn = Callable[..., Awaitable[str]]


@pytest.fixture
def open_active(gql: GraphQLClient) -> OpenFn:
    """Opens and activates an account, optionally funded and with an overdraft; returns its id."""

    async def make(*, funded: str | None = None, overdraft: str | None = None, **overrides: Any) -> str:
        result = (await gql.data(OPEN, {"input": open_input(**overrides), "key": uuid.uuid4().hex}))["openAccount"]
        assert result["__typename"] == "Account", result
        account_id: str = result["id"]
        assert (await gql.data(ACTIVATE, {"id": account_id}))["activateAccount"]["status"] == "ACTIVE"
        currency = overrides.get("currency", "EUR")
        if funded:
            r = await gql.data(RECEIVE, {"id": account_id, "amount": {"amount": funded, "currency": currency},
                                         "key": uuid.uuid4().hex})
            assert r["receivePayment"]["__typename"] == "JournalEntry", r
        if overdraft:
            r = await gql.data(OVERDRAFT, {"id": account_id, "limit": {"amount": overdraft, "currency": currency},
                                           "rate": None})
            assert r["setOverdraftLimit"]["__typename"] == "Account", r
        return account_id

    return make
