"""Demo data for corporate lending: facilities for the first demo organisations, through the public mutations.

application → decision (four eyes: the seed proposes, a second user approves) → offer (under the RCF product
of its currency, when the catalogue sells one) → accepted → conditions
satisfied → drawdown onto the borrower's current account (the account domain books it). The first facility
fails its leverage covenant (BREACH: suspended) and its drawdown is checked for arrears as of 45 days ahead, so
the views show a covenant breach and an overdue instalment. Every step replays safely on a re-run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.seed import SeedContext, SeedError

CHECKER = "seed-credit-checker"
ERR = "... on DomainError { code message }"
CREATE = f"""mutation($input: CreditApplicationInput!, $key: String!) {{
  createCreditApplication(input: $input, idempotencyKey: $key) {{ __typename ... on CreditApplication {{ id status }}
  {ERR} }} }}"""
PROPOSE = f"""mutation($id: ID!) {{ proposeCreditDecision(applicationId: $id, approve: true,
  reason: "Demo: strong cash conversion") {{ __typename {ERR} }} }}"""
APPROVE = f"mutation($id: ID!) {{ approveCreditDecision(applicationId: $id) {{ __typename {ERR} }} }}"
OFFER = f"""mutation($id: ID!, $input: OfferInput!, $key: String!) {{
  issueOffer(applicationId: $id, input: $input, idempotencyKey: $key) {{ __typename ... on Offer {{ id }} {ERR} }} }}"""
FACILITY = "__typename ... on Facility { id status conditionsOutstanding covenants { id status } } " + ERR
ACCEPT = f"mutation($id: ID!, $key: String!) {{ acceptOffer(offerId: $id, idempotencyKey: $key) {{ {FACILITY} }} }}"
SATISFY = f"""mutation($id: ID!, $cp: String!) {{ satisfyConditionPrecedent(facilityId: $id, condition: $cp,
  evidence: "DEMO-DOC") {{ {FACILITY} }} }}"""
DRAW = f"""mutation($id: ID!, $amount: MoneyInput!, $acct: ID!, $key: String!) {{
  executeDrawdown(facilityId: $id, amount: $amount, settlementAccountId: $acct, idempotencyKey: $key) {{
  __typename ... on Drawdown {{ id status }} {ERR} }} }}"""
DRAWDOWNS = "query($id: ID!) { facility(id: $id) { drawdowns { id status } } }"
COMPLIANCE = f"""mutation($id: ID!, $end: Date!) {{ submitCovenantCompliance(covenantId: $id, periodEnd: $end,
  actualValue: "3.8", evidenceRef: "DEMO-CERT") {{ __typename {ERR} }} }}"""
OVERDUE = f"""mutation($id: ID!, $asOf: Date!) {{ checkOverdueInstallments(drawdownId: $id, asOf: $asOf) {{
  __typename {ERR} }} }}"""


def _ok(result: dict[str, Any], typename: str, *, tolerate: tuple[str, ...] = ()) -> dict[str, Any]:
    if result["__typename"] != typename and result.get("code") not in tolerate:
        raise SeedError(f"corporate_lending: {result}")
    return result


async def facility(ctx: SeedContext, i: int, party: str, account: str, ccy: str, checker: str) -> dict[str, Any]:
    money = lambda a: {"amount": a, "currency": ccy}  # noqa: E731
    product = (ctx.state.get("product.by_code") or {}).get(f"RCF-{ccy}")  # the revolving product, when sold in ccy
    app = _ok((await ctx.gql("corporate_lending", CREATE, {"key": f"demo-credit-app-{i}", "input": {
        "borrowerPartyId": party, "guarantorPartyIds": [], "purpose": "Working capital and equipment",
        "requested": money("500000.00"), "facilityType": "REVOLVING", "internalRating": "BB+",
        "financials": [{"name": "revenue", "value": "8400000"}, {"name": "ebitda", "value": "1350000"}]}}))[
        "createCreditApplication"], "CreditApplication")
    if app["status"] == "SUBMITTED":
        await ctx.gql("corporate_lending", PROPOSE, {"id": app["id"]})
        _ok((await ctx.gql("corporate_lending", APPROVE, {"id": app["id"]}, token=checker))["approveCreditDecision"],
            "CreditApplication")
    # The product read model may still be catching up with the product seed's events: NOT_FOUND is retried.
    offer = _ok(await ctx.command_once_seen("corporate_lending", OFFER, {
        "id": app["id"], "key": f"demo-offer-{i}", "input": {
        "limit": money("500000.00"), "baseRatePct": "3.5", "marginPct": "2.25", "commitmentFeePct": "0.5",
        "arrangementFee": money("2500.00"), "availabilityMonths": 24,
        "repayment": {"installments": 36, "dayCount": "THIRTY_360"},
        "conditionsPrecedent": ["Signed facility agreement", "Debenture registered"],
        "covenants": [{"metric": "NET_DEBT_TO_EBITDA", "operator": "LTE", "threshold": "3.0",
                       "testFrequency": "QUARTERLY"}], "productId": product}}), "Offer")
    f = _ok((await ctx.gql("corporate_lending", ACCEPT, {"id": offer["id"], "key": f"demo-accept-{i}"}))[
        "acceptOffer"], "Facility")
    for cp in list(f["conditionsOutstanding"]):
        f = _ok((await ctx.gql("corporate_lending", SATISFY, {"id": f["id"], "cp": cp}))[
            "satisfyConditionPrecedent"], "Facility")
    return f


async def seed(ctx: SeedContext) -> None:
    """Two facilities with a settled drawdown each; the first in covenant breach with an overdue instalment."""
    accounts: list[str] = ctx.state.get("account.accounts") or []
    if not accounts:
        ctx.progress("no current accounts in this seed run; skipping corporate lending")
        return
    checker = issue_dev_token(Settings(), role="ops", sub=CHECKER, ttl_seconds=3600)
    today = dt.datetime.now(dt.UTC).date()
    facilities, drawdowns = [], []
    for i, (party, account, ccy) in enumerate(await ctx.account_holders(accounts[:2])):
        f = await facility(ctx, i, party, account, ccy, checker)
        d = _ok((await ctx.gql("corporate_lending", DRAW, {
            "id": f["id"], "amount": {"amount": "120000.00", "currency": ccy}, "acct": account,
            "key": f"demo-drawdown-{i}"}))["executeDrawdown"], "Drawdown")
        facilities.append(f["id"])
        drawdowns.append(d["id"])
        if i == 0:
            for _ in range(150):  # the account domain books the drawdown asynchronously (the saga)
                found = (await ctx.gql("corporate_lending", DRAWDOWNS, {"id": f["id"]}))["facility"]["drawdowns"]
                if all(x["status"] != "PENDING_SETTLEMENT" for x in found):
                    break
                await asyncio.sleep(0.2)
            await ctx.gql("corporate_lending", OVERDUE, {"id": d["id"],
                                                         "asOf": (today + dt.timedelta(days=45)).isoformat()})
            covenant = f["covenants"][0]
            if covenant["status"] == "ACTIVE":
                _ok((await ctx.gql("corporate_lending", COMPLIANCE, {
                    "id": covenant["id"], "end": (today.replace(day=1) - dt.timedelta(days=1)).isoformat()}))[
                    "submitCovenantCompliance"], "CovenantTest")
    ctx.progress(f"{len(facilities)} facilities with a drawdown; one in covenant breach with an overdue instalment")
    ctx.state["corporate_lending.facilities"] = facilities
    ctx.state["corporate_lending.drawdowns"] = drawdowns
