"""Demo data for the account domain: current accounts for the demo organisations, mandates and months of postings."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from decimal import Decimal
from typing import Any

from shared.seed import SeedContext, SeedError

PRODUCT = """query($id: ID!) { product(id: $id) { id family status currency
  pricing { dayCount overdraftRate } charges { frequency amount { amount } } } }"""
OPEN = """mutation($input: OpenAccountInput!, $key: String!) { openAccount(input: $input, idempotencyKey: $key) {
  __typename ... on Account { id status } ... on DomainError { code message } } }"""
ACTIVATE = """mutation($id: ID!) { activateAccount(accountId: $id, reason: "demo onboarding") {
  __typename ... on DomainError { code message } } }"""
OVERDRAFT = """mutation($id: ID!, $limit: MoneyInput!) { setOverdraftLimit(accountId: $id, limit: $limit,
  reason: "demo credit line") { __typename ... on DomainError { code message } } }"""
RECEIVE = """mutation($id: ID!, $amount: MoneyInput!, $key: String!, $v: Date!, $ref: String!) {
  receivePayment(accountId: $id, amount: $amount, idempotencyKey: $key, reference: $ref, valueDate: $v) {
  __typename ... on DomainError { code message } } }"""
PAY = """mutation($input: MakePaymentInput!, $key: String!) { makePayment(input: $input, idempotencyKey: $key) {
  __typename ... on Payment { status } ... on DomainError { code message } } }"""
MANDATE = """mutation($input: CreateMandateInput!, $key: String!) { createMandate(input: $input,
  reason: "board resolution", idempotencyKey: $key) { __typename ... on DomainError { code message } } }"""
CURRENCY = """query($id: ID!) { account(id: $id) { currency } }"""
FEE = """mutation($id: ID!, $p: String!) { applyMonthlyFee(accountId: $id, period: $p) { __typename } }"""
DAY_COUNTS = {"ACTUAL_365": "ACT_365", "ACTUAL_360": "ACT_360", "THIRTY_360": "ACT_360"}
SUPPLIERS = ["Northern Power plc", "City Office Lets", "Parcel Express", "Harbour Insurance", "HMRC VAT"]


async def _terms(ctx: SeedContext, product_id: str) -> dict[str, Any]:
    product = (await ctx.gql("product", PRODUCT, {"id": product_id}))["product"]
    fee = next((c["amount"]["amount"] for c in product["charges"]
                if c["frequency"] == "MONTHLY" and c.get("amount")), "0")
    return {"productId": product["id"], "currency": product["currency"],
            "overdraftDebitRatePct": product["pricing"].get("overdraftRate") or "0",
            "dayCount": DAY_COUNTS.get(product["pricing"]["dayCount"], "ACT_365"), "monthlyFee": fee}


async def seed(ctx: SeedContext) -> None:
    """Opens and funds an account per demo organisation, with mandates, overdrafts and three months of activity."""
    organisations: list[str] = ctx.state.get("party.organisations") or []
    products: list[str] = ctx.state.get("product.current_accounts") or []
    if not organisations or not products:
        ctx.progress("no party organisations or current-account products in this seed run; skipping accounts")
        return
    terms = [await _terms(ctx, p) for p in products]
    gate = asyncio.Semaphore(8)
    today = dt.datetime.now(dt.UTC).date()
    start = (today.replace(day=1) - dt.timedelta(days=62)).replace(day=1)
    opened: list[tuple[int, str]] = []

    async def one(i: int, party_id: str) -> None:
        async with gate:
            t = terms[i % len(terms)]
            rng = random.Random(20261122 + i)  # per account, so a re-run asks for exactly the same amounts
            ccy = t["currency"]
            result = await ctx.command_once_seen("account", OPEN, {"input": {"partyId": party_id, **t},
                                                                   "key": f"demo-account-{i}"})
            if result["__typename"] != "Account":
                raise SeedError(f"account: {result}")
            account_id = result["id"]
            if result["status"] == "PENDING_OPEN":
                await ctx.gql("account", ACTIVATE, {"id": account_id})
            if i % 3 == 0:
                limit = {"amount": f"{5000 + 1000 * (i % 5)}.00", "currency": ccy}
                await ctx.gql("account", OVERDRAFT, {"id": account_id, "limit": limit})
            # Three months of activity: weekly receipts and supplier payments, value-dated in the past.
            day, n = start, 0
            while day <= today:
                receipt = Decimal(1500 + rng.randint(0, 350000)) / 100
                await ctx.gql("account", RECEIVE, {"id": account_id, "amount": {"amount": f"{receipt:.2f}",
                                                                                 "currency": ccy},
                                                   "key": f"demo-rcv-{i}-{n}", "v": day.isoformat(),
                                                   "ref": f"INV-{i:03d}-{n:03d}"})
                payout = Decimal(500 + rng.randint(0, 300000)) / 100
                await ctx.gql("account", PAY, {"input": {
                    "accountId": account_id, "beneficiary": SUPPLIERS[n % len(SUPPLIERS)],
                    "amount": {"amount": f"{payout:.2f}", "currency": ccy}, "reference": f"PO-{i:03d}-{n:03d}"},
                    "key": f"demo-pay-{i}-{n}"})
                day, n = day + dt.timedelta(days=7), n + 1
            for months_back in (2, 1):
                period = (today.replace(day=1) - dt.timedelta(days=28 * months_back)).strftime("%Y-%m")
                await ctx.gql("account", FEE, {"id": account_id, "p": period})
            opened.append((i, account_id))

    await asyncio.gather(*[one(i, p) for i, p in enumerate(organisations[: max(2, ctx.count // 3)])])
    opened.sort()  # completion order varies; mandates must land on the same accounts on a re-run
    ctx.progress(f"{len(opened)} accounts with postings")
    persons: list[str] = ctx.state.get("party.persons") or []
    mandates = 0
    for i, (_party, account_id) in enumerate(opened[::4]):
        if len(persons) < 3:
            break
        a, b, c = (persons[(i * 3 + k) % len(persons)] for k in range(3))
        if len({a, b, c}) < 3:
            continue
        await ctx.gql("account", MANDATE, {"key": f"demo-mandate-{account_id}", "input": {
            "accountId": account_id,
            "signatories": [{"partyId": a, "group": "A"}, {"partyId": b, "group": "A", "limit": "5000"},
                            {"partyId": c, "group": "B"}],
            "rules": [{"min": "0", "max": "10000", "requires": [{"groups": ["A"], "count": 1}]},
                      {"min": "10000", "requires": [{"groups": ["A"], "count": 1}, {"groups": ["B"], "count": 1}]}]}})
        mandates += 1
        # Above the A-only band: it waits for a B signatory, which the RM workbench shows as an alert.
        currency = (await ctx.gql("account", CURRENCY, {"id": account_id}))["account"]["currency"]
        await ctx.gql("account", PAY, {"key": f"demo-pending-{account_id}", "input": {
            "accountId": account_id, "beneficiary": SUPPLIERS[-1], "reference": f"VAT-Q{i + 1}",
            "amount": {"amount": "12000.00", "currency": currency}, "initiatedByPartyId": a}})
    ctx.progress(f"{mandates} mandates, each with a payment waiting for authorisation")
    ctx.state["account.accounts"] = [a for _, a in opened]
