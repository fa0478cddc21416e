"""Demo data for consumer lending: personal loans for two demo customers, through the public mutations.

quote → application (decided by the active policy) → contract issued and accepted → disbursement onto the
borrower's current account (booked by the account domain). The first loan has a hardship request waiting for
review; the second is aged as of 45 days ahead, so the views show an instalment in arrears. Re-runs replay.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from shared.seed import SeedContext, SeedError

ERR = "... on DomainError { code message }"
QUOTE = f"""mutation($input: QuoteInput!, $key: String!) {{ requestQuote(input: $input, idempotencyKey: $key) {{
  __typename ... on Quote {{ id }} {ERR} }} }}"""
APPLY = f"""mutation($input: LoanApplicationInput!, $key: String!) {{
  submitLoanApplication(input: $input, idempotencyKey: $key) {{ __typename ... on LoanApplication {{ id status }}
  {ERR} }} }}"""
ISSUE = f"mutation($id: ID!) {{ issueLoanContract(applicationId: $id) {{ __typename {ERR} }} }}"
ACCEPT = f"""mutation($id: ID!) {{ acceptLoanContract(applicationId: $id, evidence: {{signatureMethod: "OTP",
  ipAddress: "192.0.2.10"}}) {{ __typename {ERR} }} }}"""
DISBURSE = f"""mutation($id: ID!, $key: String!) {{ disburseLoan(applicationId: $id, idempotencyKey: $key) {{
  __typename ... on Loan {{ id status }} {ERR} }} }}"""
LOAN = "query($id: ID!) { loan(id: $id) { status } }"
HARDSHIP = f"""mutation($id: ID!, $key: String!) {{ requestHardship(loanId: $id, arrangementType: PAYMENT_HOLIDAY,
  periods: 3, reason: "Demo: reduced hours at work", idempotencyKey: $key) {{ __typename {ERR} }} }}"""
AGE = f"mutation($id: ID!, $asOf: Date!) {{ assessLoanDelinquency(loanId: $id, asOf: $asOf) {{ __typename {ERR} }} }}"


def _ok(result: dict[str, Any], typename: str) -> dict[str, Any]:
    if result["__typename"] != typename:
        raise SeedError(f"consumer_lending: {result}")
    return result


async def loan(ctx: SeedContext, i: int, party: str, account: str, ccy: str) -> str:
    money = lambda a: {"amount": a, "currency": ccy}  # noqa: E731
    # The personal loan the product seed publishes in the account's currency; the read model may still be catching up.
    quote = _ok(await ctx.command_once_seen("consumer_lending", QUOTE, {"key": f"demo-quote-{i}", "input": {
        "productCode": f"CL-{ccy}", "amount": money("15000.00"), "termMonths": 24, "partyId": party}}), "Quote")
    app = _ok((await ctx.gql("consumer_lending", APPLY, {"key": f"demo-loan-app-{i}", "input": {
        "quoteId": quote["id"], "partyId": party, "settlementAccountId": account, "monthlyIncome": money("8000.00"),
        "monthlyExpenses": money("1200.00"), "monthlyDebtPayments": money("150.00"), "existingExposure": money("0"),
        "creditScore": 730, "employmentStatus": "EMPLOYED"}}))["submitLoanApplication"], "LoanApplication")
    if app["status"] == "APPROVED":
        await ctx.gql("consumer_lending", ISSUE, {"id": app["id"]})
    if app["status"] in ("APPROVED", "CONTRACT_ISSUED"):
        await ctx.gql("consumer_lending", ACCEPT, {"id": app["id"]})
    made = _ok((await ctx.gql("consumer_lending", DISBURSE, {"id": app["id"], "key": f"demo-disburse-{i}"}))[
        "disburseLoan"], "Loan")
    for _ in range(150):  # the account domain books the disbursement asynchronously (the saga)
        if (await ctx.gql("consumer_lending", LOAN, {"id": made["id"]}))["loan"]["status"] != "DISBURSEMENT_PENDING":
            break
        await asyncio.sleep(0.2)
    return str(made["id"])


async def seed(ctx: SeedContext) -> None:
    """Two disbursed loans: one with a hardship request to review, one in arrears."""
    accounts: list[str] = ctx.state.get("account.accounts") or []
    if len(accounts) < 3:
        ctx.progress("fewer than three current accounts in this seed run; skipping consumer lending")
        return
    # Customers after the corporate borrowers (accounts 0 and 1), so each view shows both kinds of lending.
    loans = [await loan(ctx, i, party, account, ccy)
             for i, (party, account, ccy) in enumerate(await ctx.account_holders(accounts[2:4]))]
    _ok((await ctx.gql("consumer_lending", HARDSHIP, {"id": loans[0], "key": "demo-hardship-0"}))["requestHardship"],
        "HardshipArrangement")
    as_of = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=45)).isoformat()
    _ok((await ctx.gql("consumer_lending", AGE, {"id": loans[-1], "asOf": as_of}))["assessLoanDelinquency"], "Loan")
    ctx.progress(f"{len(loans)} personal loans; one hardship request to review, one in arrears")
    ctx.state["consumer_lending.loans"] = loans
