"""Consumer lending and account together: a contracted loan is disbursed onto the borrower's current account."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from shared.migrations import upgrade
from subgraphs.account.app import create_app as create_account
from subgraphs.account.models import Disbursement, JournalEntry
from subgraphs.consumer_lending.app import create_app as create_consumer_lending
from subgraphs.consumer_lending.models import Application
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.account.conftest import ACCOUNT, OpenFn
from tests.subgraphs.consumer_lending.conftest import publish_consumer_products
from tests.subgraphs.consumer_lending.test_journey import APPLY, DISBURSE, LOAN_BODY, QUOTE, application, quote_input
from tests.subgraphs.support import customer_client, eventually, token

# The account domain's lending consumers read their streams from the start: on a worker that ran other lending
# tests first, a request waits behind their backlog.
SAGA_WITHIN = 120


@pytest.fixture(scope="module")
async def lending_url(settings: Settings, account_url: str) -> AsyncIterator[str]:
    """Serves consumer lending (migrated) next to an account instance that runs the disbursement saga."""
    await upgrade(settings, "consumer_lending")
    async with serve(create_account(settings)), serve(create_consumer_lending(settings)) as base:
        engine = create_engine(settings, "consumer_lending")
        await publish_consumer_products(settings, create_sessionmaker(engine))
        await engine.dispose()
        yield f"{base}/graphql"


@pytest.fixture(scope="module")
async def lending_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings, "consumer_lending")
    yield engine
    await engine.dispose()


async def test_consumer_loan_is_disbursed_onto_the_current_account(
        lending_url: str, settings: Settings, http: httpx.AsyncClient, gql: GraphQLClient,
        open_active: OpenFn, sessions, lending_engine: AsyncEngine) -> None:
    party = str(uuid.uuid4())
    account_id = await open_active(partyId=party, funded="50.00")
    customer = customer_client(http, lending_url, settings, create_sessionmaker(lending_engine), party)
    ops = GraphQLClient(http, lending_url, token(settings, "ops", "ops-1"))

    q = (await customer.data(QUOTE, {"input": quote_input(party=party), "key": uuid.uuid4().hex}))["requestQuote"]
    body = {**application(q["id"], party), "settlementAccountId": account_id}
    app = (await customer.data(APPLY, {"input": body, "key": uuid.uuid4().hex}))["submitLoanApplication"]
    assert app["status"] == "APPROVED", app
    issued = await ops.data("""mutation($id: ID!) { issueLoanContract(applicationId: $id) {
        __typename ... on Contract { status } } }""", {"id": app["id"]})
    assert issued["issueLoanContract"]["status"] == "ISSUED"
    accepted = await customer.data("""mutation($id: ID!) { acceptLoanContract(applicationId: $id,
        evidence: {signatureMethod: "OTP", ipAddress: "192.0.2.1"}) { __typename ... on Contract { status } } }""",
        {"id": app["id"]})
    assert accepted["acceptLoanContract"]["status"] == "ACCEPTED"
    loan = (await ops.data(DISBURSE, {"id": app["id"], "key": uuid.uuid4().hex}))["disburseLoan"]
    assert loan["status"] == "DISBURSEMENT_PENDING", loan

    read = f"query($id: ID!) {{ loan(id: $id) {{ {LOAN_BODY} }} }}"

    async def active() -> bool:
        return (await customer.data(read, {"id": loan["id"]}))["loan"]["status"] == "ACTIVE"

    await eventually(active, within=SAGA_WITHIN)
    live = (await customer.data(read, {"id": loan["id"]}))["loan"]
    assert live["scheduleVersion"] == 1 and live["schedule"]
    assert sum(Decimal(i["principal"]["amount"]) for i in live["schedule"]) == Decimal("10000.00")
    acc = (await gql.data(ACCOUNT, {"id": account_id}))["account"]
    assert acc["bookedBalance"] == {"amount": "10050.00", "currency": "EUR"}
    async with sessions() as session:
        row = (await session.execute(select(Disbursement).where(Disbursement.source_ref == loan["id"]))).scalar_one()
        entry = await session.get(JournalEntry, row.journal_entry_id)
    assert row.status == "EXECUTED" and row.party_id == party and entry is not None
    assert entry.entry_type == "DISBURSEMENT"
    engine = create_engine(settings, "consumer_lending")
    try:
        async with create_sessionmaker(engine)() as session:
            assert (await session.get(Application, uuid.UUID(app["id"]))).status == "DISBURSED"  # type: ignore[union-attr]
    finally:
        await engine.dispose()
