"""Decision policies as data (publish, validate, apply) and loan repayments."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update

from shared.config import Settings
from subgraphs.consumer_lending.models import DecisionPolicy, Loan
from tests.subgraphs.consumer_lending.conftest import counts, eventually, outbox_types, publish_reply
from tests.subgraphs.consumer_lending.test_journey import (
    DISBURSE,
    LOAN,
    QUOTE,
    _approved_application,
    _contracted,
    _disbursement_id,
    quote_input,
)

PUBLISH = """mutation($input: DecisionPolicyInput!) { publishDecisionPolicy(input: $input, reason: "Tighter bands") {
  __typename ... on DecisionPolicy { version active scoreBands { min max outcome reason }
    exposureCaps { amount currency } } ... on DomainError { code message } } }"""


def policy(version: str, **kw: Any) -> dict[str, Any]:
    body = {"version": version, "referAffordabilityRatio": "0.30", "maxAffordabilityRatio": "0.40",
            "defaultExposureCap": "20000", "exposureCaps": [{"amount": "40000.00", "currency": "EUR"}],
            "scoreBands": [{"min": 0, "max": 599, "outcome": "DECLINE", "reason": "SCORE_BELOW_CUTOFF"},
                           {"min": 600, "max": 749, "outcome": "REFER", "reason": "SCORE_IN_REFER_BAND"},
                           {"min": 750, "max": 999, "outcome": "APPROVE"}]}
    body.update(kw)
    return body


async def test_published_policy_decides_new_applications(staff, customer_for, cl_sessions) -> None:
    admin, version = staff("admin", "admin-1"), f"CL-T-{uuid.uuid4().hex[:8]}"
    try:
        p = (await admin.data(PUBLISH, {"input": policy(version)}))["publishDecisionPolicy"]
        assert p["version"] == version and p["active"] and p["exposureCaps"] == [{"amount": "40000.00",
                                                                                 "currency": "EUR"}]
        again = (await admin.data(PUBLISH, {"input": policy(version)}))["publishDecisionPolicy"]
        assert again["code"] == "CONFLICT"
        party = str(uuid.uuid4())
        app = await _approved_application(customer_for(party), party, score=720)
        assert app["status"] == "REFERRED"
        assert app["decisions"][0]["policyVersion"] == version
        # 720 falls in the new refer band; the ratio 0.3231 is above the new 0.30 refer threshold.
        assert app["decisions"][0]["reasonCodes"] == ["SCORE_IN_REFER_BAND", "AFFORDABILITY_MARGINAL"]
        assert await outbox_types(cl_sessions, version) == ["DecisionPolicyPublished"]
    finally:
        async with cl_sessions() as s, s.begin():
            await s.execute(update(DecisionPolicy).values(active=DecisionPolicy.version == "CL-2026.1"))


async def test_invalid_policies_are_refused(staff, cl_sessions) -> None:
    admin = staff("admin", "admin-1")
    before = await counts(cl_sessions, DecisionPolicy)
    gap = policy("CL-BAD-1", scoreBands=[{"min": 0, "max": 500, "outcome": "DECLINE", "reason": "LOW"},
                                         {"min": 600, "max": 999, "outcome": "APPROVE"}])
    inverted = policy("CL-BAD-2", referAffordabilityRatio="0.5", maxAffordabilityRatio="0.4")
    no_reason = policy("CL-BAD-3", scoreBands=[{"min": 0, "max": 999, "outcome": "REFER"}])
    for bad in (gap, inverted, no_reason):
        body = await admin(PUBLISH, {"input": bad})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    ops = await staff("ops", "ops-1")(PUBLISH, {"input": policy("CL-BAD-4")})
    assert ops["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await counts(cl_sessions, DecisionPolicy) == before


async def test_repayments_close_the_loan(customer_for, staff, cl_sessions, settings: Settings) -> None:
    party = str(uuid.uuid4())
    customer, ops = customer_for(party), staff("ops", "ops-1")
    app_id = await _contracted(customer, ops, party)
    loan = (await ops.data(DISBURSE, {"id": app_id, "key": uuid.uuid4().hex}))["disburseLoan"]
    await publish_reply(settings, "finpace.account.payment.executed",
                        {"idempotency_id": await _disbursement_id(cl_sessions, loan["id"])})

    async def active() -> bool:
        async with cl_sessions() as s:
            return (await s.get(Loan, uuid.UUID(loan["id"]))).status == "ACTIVE"
    await eventually(active)
    repay = f"""mutation($id: ID!, $amount: MoneyInput!, $key: String!) {{ recordLoanRepayment(loanId: $id,
        amount: $amount, idempotencyKey: $key) {{ {LOAN} }} }}"""
    too_much = await ops(repay, {"id": loan["id"], "amount": {"amount": "10661.87", "currency": "EUR"},
                                 "key": uuid.uuid4().hex})
    assert too_much["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    first = (await ops.data(repay, {"id": loan["id"], "amount": {"amount": "888.49", "currency": "EUR"},
                                    "key": uuid.uuid4().hex}))["recordLoanRepayment"]
    assert first["status"] == "ACTIVE"
    rest = (await ops.data(repay, {"id": loan["id"], "amount": {"amount": "9773.37", "currency": "EUR"},
                                   "key": uuid.uuid4().hex}))["recordLoanRepayment"]
    assert rest["status"] == "CLOSED"
    assert (await outbox_types(cl_sessions, loan["id"])).count("LoanRepaymentReceived") == 2


async def test_quotes_stay_anonymous_and_annotated_fields_are_refused(anon, customer_for) -> None:
    # requestQuote and quote carry no directive; loan is @authenticated; activeDecisionPolicy is staff @policy.
    q = (await anon.data(QUOTE, {"input": quote_input(), "key": uuid.uuid4().hex}))["requestQuote"]
    assert q["__typename"] == "Quote"
    assert (await anon.data("query($id: ID!) { quote(id: $id) { id } }", {"id": q["id"]}))["quote"] == {"id": q["id"]}
    body = await anon("query($id: ID!) { loan(id: $id) { id } }", {"id": str(uuid.uuid4())})
    assert body["data"] == {"loan": None} and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await customer_for(str(uuid.uuid4()))("{ activeDecisionPolicy { version } }")
    assert body["data"] == {"activeDecisionPolicy": None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
