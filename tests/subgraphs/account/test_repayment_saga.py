"""The repayment saga end to end: lending asks the borrower's current account for a repayment, the account
debits it once (within the available balance and overdraft) and answers; lending allocates or compensates."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker, outbox_table
from shared.migrations import upgrade
from shared.money import Money
from subgraphs.account.app import create_app as create_account
from subgraphs.account.models import Collection, JournalEntry, Posting
from subgraphs.consumer_lending import events as consumer_events
from subgraphs.consumer_lending.app import create_app as create_consumer_lending
from subgraphs.consumer_lending.models import Loan
from subgraphs.consumer_lending.models import RepaymentRequest as LoanRepaymentRequest
from subgraphs.corporate_lending import events as corporate_events
from subgraphs.corporate_lending.app import create_app as create_corporate_lending
from subgraphs.corporate_lending.models import Drawdown, Repayment, RepaymentRequest
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.account.conftest import ACCOUNT, OpenFn
from tests.subgraphs.account.test_lending_saga import publish
from tests.subgraphs.consumer_lending.conftest import publish_consumer_products
from tests.subgraphs.consumer_lending.test_journey import APPLY, DISBURSE, QUOTE, application, quote_input
from tests.subgraphs.corporate_lending.conftest import Staff
from tests.subgraphs.corporate_lending.test_journey import DRAW, available_facility, eur
from tests.subgraphs.support import customer_client, eventually, token

# The account domain's lending consumers read their streams from the start: on a worker that ran other lending
# tests first, a request waits behind their backlog.
SAGA_WITHIN = 120

REPAY = """mutation($id: ID!, $amount: MoneyInput, $key: String!) {
  requestDrawdownRepayment(drawdownId: $id, amount: $amount, idempotencyKey: $key) { __typename
  ... on DrawdownRepaymentRequest { id status purpose installmentNumber amount { amount currency } }
  ... on DomainError { code message } } }"""
HOLD = """mutation($id: ID!, $amount: MoneyInput!, $key: String!) { placeHold(accountId: $id, amount: $amount,
  reason: "card authorisation", idempotencyKey: $key) { __typename ... on DomainError { code message } } }"""


@pytest.fixture(scope="module")
async def co_sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade(settings, "corporate_lending")
    engine = create_engine(settings, "corporate_lending")
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
async def corporate_url(settings: Settings, account_url: str, co_sessions: Any) -> AsyncIterator[str]:
    """Corporate lending beside an account instance that runs the lending sagas."""
    async with serve(create_account(settings)), serve(create_corporate_lending(settings)) as base:
        yield f"{base}/graphql"


@pytest.fixture
def staff(http: httpx.AsyncClient, corporate_url: str, settings: Settings,
          co_sessions: async_sessionmaker[AsyncSession]) -> Staff:
    return Staff(http, corporate_url, settings, co_sessions)


async def balance(gql: GraphQLClient, account_id: str, field: str = "bookedBalance") -> Decimal:
    return Decimal((await gql.data(ACCOUNT, {"id": account_id}))["account"][field]["amount"])


async def backdate(co_sessions: async_sessionmaker[AsyncSession], drawdown_id: str, days: int) -> None:
    """Moves a drawdown's value date and schedule into the past, as if it had been drawn `days` ago."""
    async with co_sessions() as s, s.begin():
        d = await s.get(Drawdown, uuid.UUID(drawdown_id))
        assert d is not None
        shift = dt.timedelta(days=days)
        d.value_date -= shift
        d.schedule = [{**r, "from_date": (dt.date.fromisoformat(r["from_date"]) - shift).isoformat(),
                       "due_date": (dt.date.fromisoformat(r["due_date"]) - shift).isoformat()} for r in d.schedule]


async def drawn(staff: Any, gql: GraphQLClient, party: str, account_id: str,
                co_sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """An AVAILABLE facility, a settled 12,000.00 drawdown onto the account, backdated 40 days."""
    f = await available_facility(staff, party)
    d = (await staff("rm", "rm-maker").data(DRAW, {"id": f["id"], "amount": eur("12000.00"), "acct": account_id,
                                                   "key": uuid.uuid4().hex}))["executeDrawdown"]
    assert d["status"] == "PENDING_SETTLEMENT", d

    async def settled() -> bool:
        async with co_sessions() as s:
            return (await s.get(Drawdown, uuid.UUID(d["id"]))).status == "ACTIVE"  # type: ignore[union-attr]

    await eventually(settled, within=SAGA_WITHIN)
    await backdate(co_sessions, d["id"], 40)
    return d


async def request_state(sessions: async_sessionmaker[AsyncSession], request_id: str, status: str,
                        model: Any = RepaymentRequest) -> Any:
    """Waits until the lending domain's repayment request has the status (the account answered); returns it."""
    found: Any = None

    async def answered() -> bool:
        nonlocal found
        async with sessions() as s:
            found = await s.get(model, uuid.UUID(request_id))
        return found is not None and found.status == status

    await eventually(answered, within=SAGA_WITHIN)
    assert found is not None
    return found


async def ledger_balances(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        totals = (await s.execute(select(Posting.currency, func.sum(Posting.amount)).group_by(Posting.currency))).all()
    assert totals and all(total == 0 for _, total in totals), totals


async def outbox_of(co_sessions: async_sessionmaker[AsyncSession], drawdown_id: str) -> list[dict[str, Any]]:
    async with co_sessions() as s:
        return list((await s.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == drawdown_id).order_by(outbox_table.c.id))).scalars().all())


async def test_due_instalment_is_collected_once_and_allocated(
        staff: Any, settings: Settings, gql: GraphQLClient, open_active: OpenFn, sessions: Any,
        co_sessions: async_sessionmaker[AsyncSession]) -> None:
    party = str(uuid.uuid4())
    account_id = await open_active(partyId=party, funded="100.00")
    d = await drawn(staff, gql, party, account_id, co_sessions)
    assert await balance(gql, account_id) == Decimal("12100.00")
    async with co_sessions() as s:
        first = (await s.get(Drawdown, uuid.UUID(d["id"]))).schedule[0]  # type: ignore[union-attr]
    due = Decimal(first["total"])

    customer = customer_client(gql.http, staff.url, settings, co_sessions, party)
    req = (await customer.data(REPAY, {"id": d["id"], "amount": None, "key": uuid.uuid4().hex}))[
        "requestDrawdownRepayment"]
    assert req["status"] == "PENDING" and req["purpose"] == "CUSTOMER", req
    assert Decimal(req["amount"]["amount"]) == due
    again = (await customer.data(REPAY, {"id": d["id"], "amount": eur("10.00"), "key": uuid.uuid4().hex}))[
        "requestDrawdownRepayment"]
    assert again["code"] == "INVALID_TRANSITION"  # one pending request per drawdown

    await request_state(co_sessions, req["id"], "EXECUTED")
    assert await balance(gql, account_id) == Decimal("12100.00") - due
    async with co_sessions() as s:
        dd = await s.get(Drawdown, uuid.UUID(d["id"]))
        [rep] = (await s.execute(select(Repayment).where(Repayment.drawdown_id == dd.id))).scalars().all()  # type: ignore[union-attr]
    assert dd is not None
    row = dd.schedule[0]
    # fees → interest → principal: the instalment's interest is paid in full before its principal.
    assert Decimal(row["paid_interest"]) == Decimal(first["interest"]) == rep.interest
    assert Decimal(row["paid_principal"]) == Decimal(first["principal"]) == rep.principal
    assert dd.principal_outstanding == Decimal("12000.00") - Decimal(first["principal"])
    types = [e["type"] for e in await outbox_of(co_sessions, d["id"])]
    assert types.count("DrawdownRepaymentRequested") == 1 and types.count("RepaymentReceived") == 1
    await ledger_balances(sessions)
    async with sessions() as s:
        coll = (await s.execute(select(Collection).where(Collection.idempotency_id == req["id"]))).scalar_one()
        entry = await s.get(JournalEntry, coll.journal_entry_id)
    assert entry is not None and entry.entry_type == "LOAN_REPAYMENT"

    # Redelivered: the same request under a new event id books nothing and lending applies nothing twice.
    event = corporate_events.DrawdownRepaymentRequested(
        drawdown_id=d["id"], facility_id=str(dd.facility_id), borrower_party_id=party,
        settlement_account_id=account_id, amount=Money.of(str(due), "EUR"), idempotency_id=req["id"],
        purpose="CUSTOMER")
    await publish(settings, event, d["id"])
    await publish(settings, event, d["id"])

    async def replayed() -> bool:
        async with sessions() as s:
            return (await s.scalar(select(Collection.replies).where(Collection.idempotency_id == req["id"]))) >= 3

    await eventually(replayed, within=SAGA_WITHIN)
    assert await balance(gql, account_id) == Decimal("12100.00") - due
    async with co_sessions() as s:
        n = await s.scalar(select(func.count()).select_from(Repayment).where(Repayment.drawdown_id == dd.id))
    assert n == 1


async def test_insufficient_funds_fails_and_marks_the_instalment_overdue(
        staff: Any, settings: Settings, gql: GraphQLClient, open_active: OpenFn, sessions: Any,
        co_sessions: async_sessionmaker[AsyncSession]) -> None:
    party = str(uuid.uuid4())
    account_id = await open_active(partyId=party)
    d = await drawn(staff, gql, party, account_id, co_sessions)
    held = await gql.data(HOLD, {"id": account_id, "amount": eur("11900.00"), "key": uuid.uuid4().hex})
    assert held["placeHold"]["__typename"] == "Hold", held
    ops = staff("ops", "ops-1")
    req = (await ops.data(REPAY, {"id": d["id"], "amount": None, "key": uuid.uuid4().hex}))["requestDrawdownRepayment"]
    assert req["status"] == "PENDING", req

    failed = await request_state(co_sessions, req["id"], "FAILED")
    assert failed.reason is not None and failed.reason.startswith("INSUFFICIENT_FUNDS"), failed.reason
    assert await balance(gql, account_id) == Decimal("12000.00")
    async with co_sessions() as s:
        dd = await s.get(Drawdown, uuid.UUID(d["id"]))
    assert dd is not None and dd.principal_outstanding == Decimal("12000.00")
    assert dd.schedule[0].get("overdue_notified") is True and "paid_principal" not in dd.schedule[0]
    types = [e["type"] for e in await outbox_of(co_sessions, d["id"])]
    assert types.count("DrawdownRepaymentFailed") == 1 and types.count("InstallmentOverdue") == 1

    # An overdraft gives the headroom: the next request is debited into it.
    arranged = await gql.data("""mutation($id: ID!) { setOverdraftLimit(accountId: $id,
        limit: {amount: "2000.00", currency: "EUR"}, reason: "arranged") { __typename } }""", {"id": account_id})
    assert arranged["setOverdraftLimit"]["__typename"] == "Account"
    retry = (await ops.data(REPAY, {"id": d["id"], "amount": None, "key": uuid.uuid4().hex}))[
        "requestDrawdownRepayment"]
    await request_state(co_sessions, retry["id"], "EXECUTED")
    assert await balance(gql, account_id, "availableBalance") == Decimal("2100.00") - Decimal(retry["amount"]["amount"])
    await ledger_balances(sessions)


LOAN_REPAY = """mutation($id: ID!, $amount: MoneyInput, $key: String!) {
  requestLoanRepayment(loanId: $id, amount: $amount, idempotencyKey: $key) { __typename
  ... on LoanRepaymentRequest { id status purpose installmentNumber amount { amount currency } }
  ... on DomainError { code message } } }"""


@pytest.fixture(scope="module")
async def cl_sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade(settings, "consumer_lending")
    engine = create_engine(settings, "consumer_lending")
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
async def consumer_url(corporate_url: str, settings: Settings, cl_sessions: Any) -> AsyncIterator[str]:
    """Consumer lending beside the account instance that runs the lending sagas (served for corporate_url)."""
    async with serve(create_consumer_lending(settings)) as base:
        await publish_consumer_products(settings, cl_sessions)
        yield f"{base}/graphql"


async def active_loan(http: httpx.AsyncClient, url: str, settings: Settings, party: str, account_id: str,
                      cl_sessions: async_sessionmaker[AsyncSession]) -> tuple[Any, str]:
    """A 10,000.00 loan disbursed onto the account, backdated 40 days; returns the borrower's client and loan id."""
    customer = customer_client(http, url, settings, cl_sessions, party)
    ops = GraphQLClient(http, url, token(settings, "ops", "ops-1"))
    q = (await customer.data(QUOTE, {"input": quote_input(party=party), "key": uuid.uuid4().hex}))["requestQuote"]
    body = {**application(q["id"], party), "settlementAccountId": account_id}
    app = (await customer.data(APPLY, {"input": body, "key": uuid.uuid4().hex}))["submitLoanApplication"]
    await ops.data("mutation($id: ID!) { issueLoanContract(applicationId: $id) { __typename } }", {"id": app["id"]})
    await customer.data("""mutation($id: ID!) { acceptLoanContract(applicationId: $id,
        evidence: {signatureMethod: "OTP", ipAddress: "192.0.2.1"}) { __typename } }""", {"id": app["id"]})
    loan_id = (await ops.data(DISBURSE, {"id": app["id"], "key": uuid.uuid4().hex}))["disburseLoan"]["id"]

    async def active() -> bool:
        async with cl_sessions() as s:
            return (await s.get(Loan, uuid.UUID(loan_id))).status == "ACTIVE"  # type: ignore[union-attr]

    await eventually(active, within=SAGA_WITHIN)
    async with cl_sessions() as s, s.begin():
        loan = await s.get(Loan, uuid.UUID(loan_id))
        assert loan is not None and loan.disbursed_on is not None
        shift = dt.timedelta(days=40)
        loan.disbursed_on -= shift
        loan.schedule = [{**r, "from_date": (dt.date.fromisoformat(r["from_date"]) - shift).isoformat(),
                          "due_date": (dt.date.fromisoformat(r["due_date"]) - shift).isoformat()}
                         for r in loan.schedule]
    return customer, loan_id


async def test_consumer_instalment_is_collected_once_and_allocated(
        consumer_url: str, http: httpx.AsyncClient, settings: Settings, gql: GraphQLClient, open_active: OpenFn,
        sessions: Any, cl_sessions: async_sessionmaker[AsyncSession]) -> None:
    party = str(uuid.uuid4())
    account_id = await open_active(partyId=party, funded="50.00")
    customer, loan_id = await active_loan(http, consumer_url, settings, party, account_id, cl_sessions)
    assert await balance(gql, account_id) == Decimal("10050.00")
    async with cl_sessions() as s:
        first = (await s.get(Loan, uuid.UUID(loan_id))).schedule[0]  # type: ignore[union-attr]
    req = (await customer.data(LOAN_REPAY, {"id": loan_id, "amount": None, "key": uuid.uuid4().hex}))[
        "requestLoanRepayment"]
    assert req["status"] == "PENDING" and req["installmentNumber"] == 1, req
    assert Decimal(req["amount"]["amount"]) == Decimal(first["total"])
    await request_state(cl_sessions, req["id"], "EXECUTED", LoanRepaymentRequest)
    assert await balance(gql, account_id) == Decimal("10050.00") - Decimal(first["total"])
    async with cl_sessions() as s:
        loan = await s.get(Loan, uuid.UUID(loan_id))
        envelopes = (await s.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == loan_id))).scalars().all()
    assert loan is not None and loan.amount_repaid == Decimal(first["total"])
    assert loan.schedule[0]["paid_interest"] == first["interest"]
    assert loan.schedule[0]["paid_principal"] == first["principal"]
    [received] = [e["data"] for e in envelopes if e["type"] == "LoanRepaymentReceived"]
    assert received["interest"]["amount"] == first["interest"] and received["principal"]["amount"] == first["principal"]
    await ledger_balances(sessions)

    event = consumer_events.LoanRepaymentRequested(
        loan_id=loan_id, party_id=party, settlement_account_id=account_id,
        amount=Money.of(first["total"], "EUR"), idempotency_id=req["id"], purpose="CUSTOMER")
    await publish(settings, event, loan_id)

    async def replayed() -> bool:
        async with sessions() as s:
            return (await s.scalar(select(Collection.replies).where(Collection.idempotency_id == req["id"]))) >= 2

    await eventually(replayed, within=SAGA_WITHIN)
    assert await balance(gql, account_id) == Decimal("10050.00") - Decimal(first["total"])
    async with cl_sessions() as s:
        assert (await s.get(Loan, uuid.UUID(loan_id))).amount_repaid == Decimal(first["total"])  # type: ignore[union-attr]


async def test_consumer_refused_collection_puts_the_loan_in_arrears(
        consumer_url: str, http: httpx.AsyncClient, settings: Settings, gql: GraphQLClient, open_active: OpenFn,
        cl_sessions: async_sessionmaker[AsyncSession]) -> None:
    party = str(uuid.uuid4())
    account_id = await open_active(partyId=party)
    customer, loan_id = await active_loan(http, consumer_url, settings, party, account_id, cl_sessions)
    held = await gql.data(HOLD, {"id": account_id, "amount": eur("9990.00"), "key": uuid.uuid4().hex})
    assert held["placeHold"]["__typename"] == "Hold", held
    req = (await customer.data(LOAN_REPAY, {"id": loan_id, "amount": None, "key": uuid.uuid4().hex}))[
        "requestLoanRepayment"]
    failed = await request_state(cl_sessions, req["id"], "FAILED", LoanRepaymentRequest)
    assert failed.reason is not None and failed.reason.startswith("INSUFFICIENT_FUNDS"), failed.reason
    assert await balance(gql, account_id) == Decimal("10000.00")
    async with cl_sessions() as s:
        loan = await s.get(Loan, uuid.UUID(loan_id))
    assert loan is not None and loan.amount_repaid == 0
    assert loan.delinquency_bucket == "DPD_1_30" and loan.days_past_due > 0
