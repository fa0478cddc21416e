"""Overdraft interest and monthly fees (idempotent per period) and statements as data and CSV."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from shared.db import outbox_table
from tests.helpers import GraphQLClient
from tests.subgraphs.account.conftest import ACCOUNT, PAY, RECEIVE, OpenFn, counts

INTEREST = """mutation($id: ID!, $asOf: Date!) { postInterest(accountId: $id, asOf: $asOf) {
  __typename ... on JournalEntry { id entryType valueDate } ... on NoCharge { period }
  ... on DomainError { code message } } }"""
FEE = """mutation($id: ID!, $p: String!) { applyMonthlyFee(accountId: $id, period: $p) {
  __typename ... on JournalEntry { id } ... on NoCharge { period } ... on DomainError { code } } }"""


async def test_overdraft_interest_is_exact_and_posted_once(gql: GraphQLClient, open_active: OpenFn,
                                                          sessions) -> None:
    start = dt.date.today().replace(day=1)
    account = await open_active(overdraft="20000.00", overdraftDebitRatePct="12", dayCount="ACT_360")
    # By value date: +10,000.00 on the 1st, then two debits of 10,000.00 today, so the account is
    # in credit every day of the month except today, when it ends 10,000.00 overdrawn.
    back = await gql.data(RECEIVE, {"id": account, "amount": {"amount": "10000.00", "currency": "EUR"},
                                    "key": uuid.uuid4().hex, "valueDate": start.isoformat()})
    assert back["receivePayment"]["__typename"] == "JournalEntry"
    for payee in ("Payroll", "Rent"):
        out = await gql.data(PAY, {"input": {"accountId": account, "beneficiary": payee,
                                             "amount": {"amount": "10000.00", "currency": "EUR"}},
                                   "key": uuid.uuid4().hex})
        assert out["makePayment"]["status"] == "EXECUTED"
    # Booked balance is now -10,000.00 (value today). Interest through today: 1 day at 12% ACT/360 = 3.33.
    as_of = dt.date.today()
    before = await counts(sessions)
    first = (await gql.data(INTEREST, {"id": account, "asOf": as_of.isoformat()}))["postInterest"]
    assert first["__typename"] == "JournalEntry" and first["entryType"] == "INTEREST"
    balance = (await gql.data(ACCOUNT, {"id": account}))["account"]["bookedBalance"]["amount"]
    assert balance == "-10003.33"
    again = (await gql.data(INTEREST, {"id": account, "asOf": as_of.isoformat()}))["postInterest"]
    assert again == first
    after = await counts(sessions)
    assert after[2] == before[2] + 2  # two postings once, none on the re-run
    async with sessions() as session:
        kinds = (await session.execute(select(outbox_table.c.envelope["data"]["entry_type"].astext).where(
            outbox_table.c.envelope["data"]["account_id"].astext == account,
            outbox_table.c.envelope["type"].astext == "PostingBooked"))).scalars().all()
    assert kinds.count("INTEREST") == 1


async def test_monthly_fee_once_per_period_and_limit_exceeded_alert(gql: GraphQLClient, open_active: OpenFn,
                                                                    sessions) -> None:
    account = await open_active(monthlyFee="7.50")
    period = dt.date.today().strftime("%Y-%m")
    first = (await gql.data(FEE, {"id": account, "p": period}))["applyMonthlyFee"]
    second = (await gql.data(FEE, {"id": account, "p": period}))["applyMonthlyFee"]
    assert first["__typename"] == "JournalEntry" and first == second
    assert (await gql.data(ACCOUNT, {"id": account}))["account"]["bookedBalance"]["amount"] == "-7.50"
    async with sessions() as session:
        kinds = (await session.execute(select(outbox_table.c.envelope["type"].astext).where(
            outbox_table.c.aggregate_id == account))).scalars().all()
    assert "OverdraftLimitExceeded" in kinds
    free = await open_active(monthlyFee="0")
    assert (await gql.data(FEE, {"id": free, "p": period}))["applyMonthlyFee"] == {"__typename": "NoCharge",
                                                                                    "period": period}
    body = await gql(FEE, {"id": account, "p": "2026-13"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_statement_data_and_csv(gql: GraphQLClient, open_active: OpenFn) -> None:
    account = await open_active(funded="1000.00")
    payee = await open_active()
    for amount in ("200.00", "50.25"):
        await gql.data(PAY, {"input": {"accountId": account, "toAccountId": payee,
                                       "amount": {"amount": amount, "currency": "EUR"}}, "key": uuid.uuid4().hex})
    today = dt.date.today().isoformat()
    data = await gql.data("""query($id: ID!, $f: Date!, $t: Date!) { account(id: $id) { statement(fromDate: $f,
        toDate: $t) { openingBalance { amount } closingBalance { amount } totalCredits { amount }
        totalDebits { amount } entries { entryType amount { amount } runningBalance { amount } } csv } } }""",
                          {"id": account, "f": today, "t": today})
    st = data["account"]["statement"]
    assert st["openingBalance"]["amount"] == "0.00" and st["closingBalance"]["amount"] == "749.75"
    assert st["totalCredits"]["amount"] == "1000.00" and st["totalDebits"]["amount"] == "250.25"
    assert [e["runningBalance"]["amount"] for e in st["entries"]] == ["1000.00", "800.00", "749.75"]
    lines = st["csv"].splitlines()
    assert lines[0] == "booking_date,value_date,type,reference,debit,credit,balance"
    assert lines[1].endswith("OPENING,,,,0.00") and lines[-1].endswith(",250.25,1000.00,749.75")
    assert len(lines) == 6  # header, opening, three entries, closing


async def test_generate_statement_emits_event_once_per_key(gql: GraphQLClient, open_active: OpenFn,
                                                           sessions) -> None:
    account = await open_active(funded="42.00")
    today = dt.date.today().isoformat()
    mutation = """mutation($id: ID!, $f: Date!, $t: Date!, $k: String!) { generateStatement(accountId: $id,
        fromDate: $f, toDate: $t, idempotencyKey: $k) { __typename ... on Statement { closingBalance { amount } } } }"""
    variables = {"id": account, "f": today, "t": today, "k": uuid.uuid4().hex}
    first = await gql.data(mutation, variables)
    before = await counts(sessions)
    assert await gql.data(mutation, variables) == first
    assert await counts(sessions) == before
    assert first["generateStatement"]["closingBalance"]["amount"] == "42.00"
    async with sessions() as session:
        envelopes = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == account,
            outbox_table.c.envelope["type"].astext == "StatementGenerated"))).scalars().all()
    assert len(envelopes) == 1 and envelopes[0]["data"]["closing_balance"] == "42.00"
    future = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    body = await gql(mutation, {**variables, "t": future, "k": uuid.uuid4().hex})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
