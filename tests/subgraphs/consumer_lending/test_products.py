"""Consumer loans are sold under the product directory's versions: priced by the version on sale, which stays with
the quote and the loan (a federated Product reference), and refused when no sellable version answers the code."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from shared.config import Settings
from subgraphs.consumer_lending.models import Loan, ProductVersion, Quote
from subgraphs.lending_schedules.calendar import DayCount
from subgraphs.lending_schedules.engine import ScheduleTerms, generate
from subgraphs.product import events as product_events
from tests.helpers import GraphQLClient
from tests.subgraphs.consumer_lending.conftest import CONSUMER_PRODUCTS, counts
from tests.subgraphs.consumer_lending.test_journey import APPLY, DISBURSE, application
from tests.subgraphs.support import (
    lending_terms,
    product_id,
    publish_product_event,
    publish_products,
    published,
    wait_for_products,
)

QUOTE = """mutation Q($input: QuoteInput!, $key: String!) { requestQuote(input: $input, idempotencyKey: $key) {
  __typename ... on Quote { id productCode annualRatePct installmentAmount { amount } totalCostOfCredit { amount }
    product { __typename id } }
  ... on DomainError { code message } } }"""


def ask(code: str, amount: str, months: int, currency: str = "EUR", party: str | None = None) -> dict[str, Any]:
    return {"productCode": code, "amount": {"amount": amount, "currency": currency}, "termMonths": months,
            "partyId": party}


def version_id(name: str) -> str:
    e = CONSUMER_PRODUCTS[name]
    return str(product_id(e.code, e.family, e.currency))


async def quote(client: GraphQLClient, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = (await client.data(QUOTE, {"input": body, "key": uuid.uuid4().hex}))["requestQuote"]
    return result


@pytest.mark.parametrize(("amount", "fee"), [("10000.00", "200.00"), ("5000.00", "150.00"), ("60000.00", "900.00")])
async def test_the_version_on_sale_prices_the_quote_with_its_rate_method_and_arrangement_fee(
        anon: GraphQLClient, amount: str, fee: str) -> None:
    # HOME_IMPROVEMENT: 7.5 % by default, a 2 % arrangement fee with a 150.00 floor and a 900.00 cap.
    q = await quote(anon, ask("HOME_IMPROVEMENT", amount, 24))
    assert q["__typename"] == "Quote", q
    assert q["productCode"] == "HOME_IMPROVEMENT@1" and q["annualRatePct"] == "7.5"
    assert q["product"] == {"__typename": "Product", "id": version_id("home")}
    expected = generate(ScheduleTerms(principal=Decimal(amount), currency="EUR", annual_rate_pct=Decimal("7.5"),
                                      installments=24, start_date=dt.date.today(), day_count=DayCount.ACTUAL_365,
                                      upfront_fee=Decimal(fee)))
    assert q["installmentAmount"]["amount"] == f"{expected.regular_installment:.2f}"
    assert Decimal(q["totalCostOfCredit"]["amount"]) == expected.total_cost_of_credit
    assert expected.total_cost_of_credit - expected.total_interest == Decimal(fee)  # the fee is in the cost


async def test_the_version_s_day_count_and_grace_periods_shape_the_schedule(anon: GraphQLClient) -> None:
    # GRACE_LOAN: 12 % on 30/360, two instalments without principal, the first of them without interest either
    # (its interest is paid with the second).
    body = await anon.data("""mutation Q($input: QuoteInput!, $key: String!) { requestQuote(input: $input,
      idempotencyKey: $key) { ... on Quote { installmentAmount { amount }
        schedulePreview { principal { amount } interest { amount } total { amount } } } } }""",
                           {"input": ask("GRACE_LOAN", "12000.00", 12), "key": uuid.uuid4().hex})
    preview = body["requestQuote"]["schedulePreview"]
    assert [(r["principal"]["amount"], r["interest"]["amount"]) for r in preview[:2]] == [("0.00", "0.00"),
                                                                                         ("0.00", "240.00")]
    expected = generate(ScheduleTerms(principal=Decimal("12000.00"), currency="EUR", annual_rate_pct=Decimal(12),
                                      installments=12, start_date=dt.date.today(), grace_on_principal=2,
                                      grace_on_interest=1))
    assert [r["total"]["amount"] for r in preview] == [f"{i.total:.2f}" for i in expected.installments]
    assert body["requestQuote"]["installmentAmount"]["amount"] == f"{expected.regular_installment:.2f}"
    assert sum(Decimal(r["principal"]["amount"]) for r in preview) == Decimal("12000.00")


@pytest.mark.parametrize(("body", "code", "says"), [
    (ask("NO_SUCH_LOAN", "10000.00", 24), "BAD_USER_INPUT", "is not a consumer loan on sale"),
    (ask("NEXT_LOAN", "10000.00", 24), "BAD_USER_INPUT", "is not a consumer loan on sale"),  # from next month
    (ask("TL-TEST", "10000.00", 24), "BAD_USER_INPUT", "is not a consumer loan on sale"),  # a business term loan
    (ask("PERSONAL_LOAN_GBP", "10000.00", 24), "BAD_USER_INPUT", "is sold in GBP, not EUR"),
    (ask("PERSONAL_LOAN", "500.00", 24), "BAD_USER_INPUT", "lends between 1000.00 and 50000.00 EUR"),
    (ask("PERSONAL_LOAN", "10000.00", 90), "BAD_USER_INPUT", "runs 6 to 84 months"),
    (ask("QUARTERLY_LOAN", "10000.00", 24), "INVALID_TRANSITION", "no monthly lending terms"),
    (ask("LEGACY_LOAN", "10000.00", 24), "INVALID_TRANSITION", "no monthly lending terms"),
])
async def test_a_code_without_a_sellable_version_is_refused_and_writes_nothing(anon: GraphQLClient, cl_sessions,
                                                                               body, code, says) -> None:
    before = await counts(cl_sessions, Quote)
    response = await anon(QUOTE, {"input": body, "key": uuid.uuid4().hex})
    result = (response.get("data") or {}).get("requestQuote")
    got = (result["code"], result["message"]) if result else (response["errors"][0]["extensions"]["code"],
                                                              response["errors"][0]["message"])
    assert got[0] == code and says in got[1], response
    assert await counts(cl_sessions, Quote) == before


async def test_a_new_version_reprices_new_quotes_and_a_withdrawal_stops_them(anon, cl_sessions,
                                                                             settings: Settings) -> None:
    code = f"REPRICED-{uuid.uuid4().hex[:8]}"
    v1 = published(code, "CONSUMER_LOAN", "EUR", start=dt.date.today() - dt.timedelta(days=10),
                   terms=lending_terms(rate=("5", "9", "20")))
    await publish_products(settings, cl_sessions, ProductVersion, v1)
    before = await quote(anon, ask(code, "10000.00", 24))
    assert before["annualRatePct"] == "9" and before["product"]["id"] == v1.product_id
    v2_id = str(uuid.uuid4())
    v2 = product_events.ProductVersionPublished(
        product_id=v2_id, code=code, version=2, family="CONSUMER_LOAN", currency="EUR",
        effective_from=dt.date.today().isoformat(), supersedes_version=1, superseded_product_id=v1.product_id,
        terms=lending_terms(rate=("5", "11", "20")))
    await publish_products(settings, cl_sessions, ProductVersion, v2)
    await wait_for_products(cl_sessions, ProductVersion, [uuid.UUID(v1.product_id)], lambda r: r.sale_until)
    after = await quote(anon, ask(code, "10000.00", 24))
    assert (after["productCode"], after["annualRatePct"], after["product"]["id"]) == (f"{code}@2", "11", v2_id)
    async with cl_sessions() as session:  # the earlier quote keeps the version it was priced under
        assert str((await session.get(Quote, uuid.UUID(before["id"]))).product_id) == v1.product_id
    assert await listed(anon, code) == [(2, "11")]  # the list offers the version quotes are priced by
    await publish_product_event(settings, product_events.ProductWithdrawn(
        product_id=v2_id, code=code, version=2, effective_at=dt.date.today().isoformat()))
    await wait_for_products(cl_sessions, ProductVersion, [uuid.UUID(v2_id)], lambda r: r.sale_until)
    refused = await anon(QUOTE, {"input": ask(code, "10000.00", 24), "key": uuid.uuid4().hex})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", refused
    assert await listed(anon, code) == []


async def listed(client: GraphQLClient, code: str) -> list[tuple[int, str]]:
    """(version, rate) of what loanProducts offers under a code."""
    offered = (await client.data("{ loanProducts { code version annualRatePct } }"))["loanProducts"]
    return [(p["version"], p["annualRatePct"]) for p in offered if p["code"] == code]


async def test_the_loan_stays_under_the_version_it_was_sold_under(customer_for, staff, cl_sessions) -> None:
    party = str(uuid.uuid4())
    customer, ops = customer_for(party), staff("ops", "ops-1")
    q = await quote(customer, ask("PERSONAL_LOAN", "10000.00", 12, party=party))
    app = (await customer.data(APPLY, {"input": application(q["id"], party), "key": uuid.uuid4().hex}))[
        "submitLoanApplication"]
    assert app["status"] == "APPROVED", app
    await ops.data("mutation($id: ID!) { issueLoanContract(applicationId: $id) { __typename } }", {"id": app["id"]})
    await customer.data("""mutation($id: ID!) { acceptLoanContract(applicationId: $id,
        evidence: {signatureMethod: "OTP", ipAddress: "192.0.2.1"}) { __typename } }""", {"id": app["id"]})
    loan = (await ops.data(DISBURSE, {"id": app["id"], "key": uuid.uuid4().hex}))["disburseLoan"]
    read = await customer.data("query($id: ID!) { loan(id: $id) { product { __typename id } } }", {"id": loan["id"]})
    assert read["loan"]["product"] == {"__typename": "Product", "id": version_id("personal")}
    entities = await ops.data("""query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Loan { product { id } } } }""", {"r": [{"__typename": "Loan", "id": loan["id"]}]})
    assert entities["_entities"] == [{"product": {"id": version_id("personal")}}]
    async with cl_sessions() as session:
        assert str((await session.get(Loan, uuid.UUID(loan["id"]))).product_id) == version_id("personal")


LOAN_PRODUCTS = """query($ccy: String) { loanProducts(currency: $ccy) { code version currency annualRatePct dayCount
  minAmount { amount } maxAmount { amount } minTermMonths maxTermMonths gracePrincipal: graceOnPrincipalPeriods
  arrangementFee { calculation amount { amount } ratePct minimum { amount } maximum { amount } }
  product { id } } }"""


async def test_the_loans_on_sale_are_listed_for_anyone_as_quotes_price_them(anon: GraphQLClient) -> None:
    everything = (await anon.data(LOAN_PRODUCTS))["loanProducts"]
    codes = [p["code"] for p in everything]
    # On sale and priceable only: not next month's, not the business term loan, not those without monthly terms.
    assert {"PERSONAL_LOAN", "HOME_IMPROVEMENT", "GRACE_LOAN", "PERSONAL_LOAN_GBP"} <= set(codes)
    assert not {"NEXT_LOAN", "TL-TEST", "QUARTERLY_LOAN", "LEGACY_LOAN"} & set(codes)
    assert codes == sorted(codes)
    home = next(p for p in everything if p["code"] == "HOME_IMPROVEMENT")
    assert home == {"code": "HOME_IMPROVEMENT", "version": 1, "currency": "EUR", "annualRatePct": "7.5",
                    "dayCount": "ACTUAL_365", "minAmount": {"amount": "5000.00"}, "maxAmount": {"amount": "75000.00"},
                    "minTermMonths": 12, "maxTermMonths": 120, "gracePrincipal": 0,
                    "arrangementFee": {"calculation": "PERCENTAGE", "amount": None, "ratePct": "2",
                                       "minimum": {"amount": "150.00"}, "maximum": {"amount": "900.00"}},
                    "product": {"id": version_id("home")}}
    # What the list says is what a quote gets.
    q = await quote(anon, ask("HOME_IMPROVEMENT", "5000.00", 12))
    assert q["annualRatePct"] == home["annualRatePct"] and q["product"] == {"__typename": "Product", **home["product"]}
    gbp = (await anon.data(LOAN_PRODUCTS, {"ccy": "GBP"}))["loanProducts"]
    assert {p["currency"] for p in gbp} == {"GBP"} and "PERSONAL_LOAN_GBP" in [p["code"] for p in gbp]
    bad = await anon(LOAN_PRODUCTS, {"ccy": "euro"})
    assert bad["data"] is None and bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
