"""Demo catalogue: business current accounts (GBP, EUR), an arranged overdraft, loans, a facility and a bundle."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.seed import SeedContext

CHECKER = "seed-product-checker"  # four eyes: the seed's own user submits, this one approves
V1_FROM, V2_FROM = dt.date(2025, 1, 1), dt.date(2026, 1, 1)

RESULT = "__typename ... on Product { id code version status family } ... on DomainError { code message }"
CREATE = f"""mutation($input: ProductDefinitionInput!, $key: String!) {{
  createProductDraft(input: $input, idempotencyKey: $key) {{ {RESULT} }} }}"""
NEW_VERSION = f"""mutation($id: ID!, $key: String!) {{
  createProductVersion(fromProductId: $id, idempotencyKey: $key) {{ {RESULT} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: ProductDefinitionInput!) {{
  updateProductDraft(productId: $id, input: $input, reason: "2026 tariff review") {{ {RESULT} }} }}"""
SUBMIT = f"""mutation($id: ID!) {{
  submitProductForApproval(productId: $id, reason: "catalogue launch") {{ {RESULT} }} }}"""
APPROVE = f"""mutation($id: ID!) {{
  approveProductVersion(productId: $id, reason: "pricing committee approval") {{ {RESULT} }} }}"""
PUBLISH = f"""mutation($id: ID!, $from: Date!) {{
  publishProductVersion(productId: $id, effectiveFrom: $from, reason: "go live") {{ {RESULT} }} }}"""
BUNDLE = """mutation($code: String!, $input: BundleInput!, $key: String!) {
  createBundle(code: $code, input: $input, idempotencyKey: $key) {
    __typename ... on Bundle { id } ... on DomainError { code message } } }"""


def _fixed(code: str, name: str, fee_type: str, amount: str, frequency: str) -> dict[str, Any]:
    return {"code": code, "name": name, "feeType": fee_type, "calculation": "FIXED", "amount": amount,
            "frequency": frequency}


def _percent(code: str, name: str, fee_type: str, rate: str, frequency: str, low: str | None = None,
             high: str | None = None) -> dict[str, Any]:
    return {"code": code, "name": name, "feeType": fee_type, "calculation": "PERCENTAGE", "rate": rate,
            "minCap": low, "maxCap": high, "frequency": frequency}


def _pricing(low: str, default: str, high: str, day_count: str = "ACTUAL_365", overdraft: str | None = None,
             compounding: str = "NONE") -> dict[str, Any]:
    return {"interestRate": {"min": low, "default": default, "max": high}, "dayCount": day_count,
            "compounding": compounding, "postingFrequency": "MONTHLY", "overdraftRate": overdraft}


def _lending(low: str, default: str, high: str, terms: tuple[int, int, int], method: str = "DECLINING_BALANCE",
             amortisation: str = "EQUAL_INSTALLMENTS", frequency: str = "MONTHLY", grace: int = 0) -> dict[str, Any]:
    return {"principalMin": low, "principalDefault": default, "principalMax": high, "termMinMonths": terms[0],
            "termDefaultMonths": terms[1], "termMaxMonths": terms[2], "interestMethod": method,
            "amortisation": amortisation, "repaymentFrequency": frequency, "graceOnPrincipalPeriods": grace}


def _current_account(currency: str, monthly_fee: str, overdraft: str, day_count: str) -> dict[str, Any]:
    return {
        "code": f"BCA-{currency}", "family": "CURRENT_ACCOUNT", "currency": currency,
        "name": f"Business Current Account ({currency})",
        "description": "Everyday business banking with faster payments, card and arranged overdraft option.",
        "pricing": _pricing("0", "0", "0.5", day_count, overdraft),
        "charges": [_fixed("MONTHLY_FEE", "Monthly account fee", "ACCOUNT_MAINTENANCE", monthly_fee, "MONTHLY"),
                    _fixed("PAYMENT_FEE", "Outbound payment", "TRANSACTION", "0.35", "PER_TRANSACTION"),
                    _fixed("UNARRANGED_OD", "Unarranged overdraft, per day", "UNARRANGED_OVERDRAFT", "5.00", "DAILY")],
        "eligibleSegments": ["SME", "MID_MARKET"],
    }


CATALOGUE: list[dict[str, Any]] = [
    _current_account("GBP", "5.00", "12.9", "ACTUAL_365"),
    _current_account("EUR", "7.50", "9.5", "ACTUAL_360"),
    {"code": "ODF-GBP", "family": "OVERDRAFT", "currency": "GBP", "name": "Arranged Business Overdraft",
     "pricing": _pricing("6.9", "11.9", "19.9", overdraft="11.9"),
     "charges": [_percent("ARRANGEMENT", "Arrangement fee", "ARRANGEMENT", "1", "ONE_OFF", "50.00", "500.00"),
                 _fixed("RENEWAL", "Annual renewal", "ARRANGEMENT", "100.00", "ANNUAL")],
     "eligibleSegments": ["SME", "MID_MARKET"]},
    {"code": "TL-GBP", "family": "TERM_LOAN", "currency": "GBP", "name": "Business Term Loan",
     "pricing": _pricing("5", "7.5", "12"),
     "lending": _lending("25000.00", "100000.00", "1000000.00", (12, 60, 120), grace=3),
     "charges": [_percent("ARRANGEMENT", "Arrangement fee", "ARRANGEMENT", "1.5", "ONE_OFF", "250.00", "5000.00"),
                 _percent("EARLY_REPAY", "Early repayment", "EARLY_REPAYMENT", "1", "ONE_OFF")],
     "eligibleSegments": ["SME", "MID_MARKET"]},
    {"code": "RCF-GBP", "family": "REVOLVING_FACILITY", "currency": "GBP", "name": "Revolving Credit Facility",
     "pricing": _pricing("3.5", "6.5", "10", compounding="MONTHLY"),
     "lending": _lending("250000.00", "1000000.00", "10000000.00", (12, 36, 60), amortisation="EQUAL_PRINCIPAL",
                         frequency="QUARTERLY"),
     "charges": [_percent("COMMITMENT", "Commitment fee on undrawn", "NON_UTILISATION", "0.5", "QUARTERLY"),
                 _percent("ARRANGEMENT", "Arrangement fee", "ARRANGEMENT", "0.75", "ONE_OFF", "1000.00")],
     "eligibleSegments": ["MID_MARKET", "CORPORATE"]},
    {"code": "CL-GBP", "family": "CONSUMER_LOAN", "currency": "GBP", "name": "Personal Loan",
     "pricing": _pricing("6.9", "9.9", "24.9", "THIRTY_360"),
     "lending": _lending("1000.00", "7500.00", "25000.00", (12, 36, 60)),
     "charges": [_fixed("LATE_PAYMENT", "Late payment", "LATE_PAYMENT", "12.00", "ONE_OFF")],
     "eligibleSegments": ["RETAIL"]},
    {"code": "CL-EUR", "family": "CONSUMER_LOAN", "currency": "EUR", "name": "Personal Loan (EUR)",
     "pricing": _pricing("7.5", "10.9", "24.9", "THIRTY_360"),
     "lending": _lending("2000.00", "10000.00", "40000.00", (12, 48, 84)),
     "charges": [_percent("ARRANGEMENT", "Arrangement fee", "ARRANGEMENT", "1", "ONE_OFF", "50.00", "300.00"),
                 _fixed("LATE_PAYMENT", "Late payment", "LATE_PAYMENT", "15.00", "ONE_OFF")],
     "eligibleSegments": ["RETAIL"]},
]
STATE_KEYS = {"CURRENT_ACCOUNT": "product.current_accounts", "OVERDRAFT": "product.overdrafts",
              "TERM_LOAN": "product.term_loans", "REVOLVING_FACILITY": "product.revolving_facilities",
              "CONSUMER_LOAN": "product.consumer_loans"}


async def _call(ctx: SeedContext, query: str, variables: dict[str, Any], *, token: str | None = None) -> Any:
    data = await ctx.gql("product", query, variables, token=token)
    result = next(iter(data.values()))
    if "code" in result and "message" in result and result["__typename"] != "Product":
        raise RuntimeError(f"product seed: {result['code']}: {result['message']}")
    return result


async def _publish(ctx: SeedContext, product: dict[str, Any], checker: str, effective_from: dt.date) -> None:
    """Takes a version from wherever it stands to ACTIVE (so a re-run of the seed is a no-op)."""
    status = product["status"]
    if status == "DRAFT":
        status = (await _call(ctx, SUBMIT, {"id": product["id"]}))["status"]
    if status == "PENDING_APPROVAL":
        status = (await _call(ctx, APPROVE, {"id": product["id"]}, token=checker))["status"]
    if status == "APPROVED":
        await _call(ctx, PUBLISH, {"id": product["id"], "from": effective_from.isoformat()})


async def seed(ctx: SeedContext) -> None:
    """Creates, approves (by a second user) and publishes the demo catalogue, then the SME starter bundle."""
    checker = issue_dev_token(Settings(), role="ops", sub=CHECKER, ttl_seconds=3600)
    on_sale: dict[str, str] = {}
    for body in CATALOGUE:
        product = await _call(ctx, CREATE, {"input": body, "key": f"demo-product-{body['code']}-v1"})
        await _publish(ctx, product, checker, V1_FROM)
        on_sale[body["code"]] = product["id"]
    # BCA-GBP is repriced for 2026: version 2 raises the monthly fee; accounts opened before stay on v1.
    v2 = await _call(ctx, NEW_VERSION, {"id": on_sale["BCA-GBP"], "key": "demo-product-BCA-GBP-v2"})
    if v2["status"] == "DRAFT":
        repriced = _current_account("GBP", "6.50", "12.9", "ACTUAL_365")
        v2 = await _call(ctx, UPDATE, {"id": v2["id"], "input": repriced})
    await _publish(ctx, v2, checker, V2_FROM)
    ctx.state["product.bca_gbp_v1"] = on_sale["BCA-GBP"]
    on_sale["BCA-GBP"] = v2["id"]
    ctx.progress(f"{len(CATALOGUE) + 1} product versions")

    for key in STATE_KEYS.values():
        ctx.state[key] = []
    for body in CATALOGUE:
        ctx.state[STATE_KEYS[body["family"]]].append(on_sale[body["code"]])
    ctx.state["product.by_code"] = dict(on_sale)
    bundle = await _call(ctx, BUNDLE, {"code": "SME-STARTER", "key": "demo-bundle-SME-STARTER", "input": {
        "name": "SME Starter", "currency": "GBP", "monthlyFee": "9.00", "eligibleSegments": ["SME"],
        "description": "Current account with an arranged overdraft at a single monthly price.",
        "components": [{"productCode": "BCA-GBP"}, {"productCode": "ODF-GBP", "required": False}]}})
    ctx.state["product.bundles"] = [bundle["id"]]
    ctx.progress("1 bundle")
