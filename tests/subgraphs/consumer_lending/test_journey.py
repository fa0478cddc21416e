"""The consumer journey end to end over HTTP: quote → application → decision → contract → disbursement → hardship."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shared.config import Settings
from shared.db import outbox_table
from subgraphs.consumer_lending.models import Application, Loan, Quote
from subgraphs.consumer_lending.schema import build_schema
from tests.helpers import GraphQLClient
from tests.subgraphs.consumer_lending.conftest import counts, eventually, outbox_types, publish_reply

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema" / "consumer_lending.graphql"

QUOTE = """mutation Q($input: QuoteInput!, $key: String!) { requestQuote(input: $input, idempotencyKey: $key) {
  __typename ... on Quote { id aprPct termMonths installmentAmount { amount currency }
    totalRepayable { amount } totalCostOfCredit { amount } schedulePreview { number total { amount } } }
  ... on DomainError { code message } } }"""
APPLY = """mutation A($input: LoanApplicationInput!, $key: String!) {
  submitLoanApplication(input: $input, idempotencyKey: $key) { __typename
  ... on LoanApplication { id status decisions { outcome reasonCodes policyVersion decidedBy approvedBy } }
  ... on DomainError { code message } } }"""
APP_RESULT = "__typename ... on LoanApplication { id status pendingOverride { outcome } " \
             "decisions { outcome reasonCodes decidedBy approvedBy } } ... on DomainError { code message }"
LOAN_BODY = "id status scheduleVersion daysPastDue delinquencyBucket principal { amount } " \
            "schedule { number dueDate principal { amount } interest { amount } total { amount } }"
LOAN = f"__typename ... on Loan {{ {LOAN_BODY} }} ... on DomainError {{ code message }}"
HARDSHIP = "__typename ... on HardshipArrangement { id status arrangementType } ... on DomainError { code message }"


def quote_input(amount: str = "10000.00", term: int = 12, party: str | None = None) -> dict[str, Any]:
    return {"productCode": "PERSONAL_LOAN", "amount": {"amount": amount, "currency": "EUR"}, "termMonths": term,
            "partyId": party}


def application(quote_id: str, party: str, score: int = 720, income: str = "6000.00") -> dict[str, Any]:
    m = lambda a: {"amount": a, "currency": "EUR"}  # noqa: E731
    return {"quoteId": quote_id, "partyId": party, "settlementAccountId": str(uuid.uuid4()),
            "monthlyIncome": m(income), "monthlyExpenses": m("900.00"), "monthlyDebtPayments": m("150.00"),
            "existingExposure": m("0.00"), "creditScore": score, "employmentStatus": "EMPLOYED"}


async def test_sdl_snapshot_is_current() -> None:
    assert SNAPSHOT.read_text() == build_schema().as_str() + "\n"


async def test_anonymous_quote_has_schedule_apr_and_totals(anon: GraphQLClient, cl_sessions) -> None:
    before = await counts(cl_sessions, Quote)
    q = (await anon.data(QUOTE, {"input": quote_input(), "key": uuid.uuid4().hex}))["requestQuote"]
    assert q["__typename"] == "Quote" and q["installmentAmount"] == {"amount": "888.49", "currency": "EUR"}
    assert q["aprPct"] == "12.68" and q["totalRepayable"]["amount"] == "10661.86"
    assert q["totalCostOfCredit"]["amount"] == "661.86" and len(q["schedulePreview"]) == 12
    assert q["schedulePreview"][-1]["total"]["amount"] == "888.47"
    assert await counts(cl_sessions, Quote) == (before[0] + 1, before[1] + 1)
    assert await outbox_types(cl_sessions, q["id"]) == ["QuoteIssued"]


async def test_bad_quote_input_writes_nothing(anon: GraphQLClient, cl_sessions) -> None:
    before = await counts(cl_sessions, Quote)
    for bad in [quote_input(amount="10.001"), quote_input(amount="999999.00"), quote_input(term=0),
                {**quote_input(), "productCode": "NOPE"},
                {**quote_input(), "amount": {"amount": "1", "currency": "ZZZ"}}]:
        body = await anon(QUOTE, {"input": bad, "key": uuid.uuid4().hex})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert await counts(cl_sessions, Quote) == before


async def _approved_application(gql: GraphQLClient, party: str, **kw: Any) -> dict[str, Any]:
    q = (await gql.data(QUOTE, {"input": quote_input(party=party), "key": uuid.uuid4().hex}))["requestQuote"]
    return (await gql.data(APPLY, {"input": application(q["id"], party, **kw), "key": uuid.uuid4().hex}))[
        "submitLoanApplication"]


async def test_decisioning_outcomes_record_reasons_and_policy(customer_for, cl_sessions) -> None:
    party = str(uuid.uuid4())
    gql = customer_for(party)
    approved = await _approved_application(gql, party)
    assert approved["status"] == "APPROVED"
    assert approved["decisions"] == [{"outcome": "APPROVE", "reasonCodes": ["ALL_RULES_PASSED"],
                                      "policyVersion": "CL-2026.1", "decidedBy": "SYSTEM", "approvedBy": None}]
    referred = await _approved_application(gql, party, score=600)
    assert referred["status"] == "REFERRED" and referred["decisions"][0]["reasonCodes"] == ["SCORE_IN_REFER_BAND"]
    declined = await _approved_application(gql, party, score=500, income="1500.00")
    assert declined["status"] == "DECLINED"
    assert set(declined["decisions"][0]["reasonCodes"]) == {"SCORE_BELOW_CUTOFF", "UNAFFORDABLE"}
    assert await outbox_types(cl_sessions, declined["id"]) == ["ApplicationSubmitted", "ApplicationDecisionMade"]


async def test_override_needs_a_second_person(customer_for, staff, cl_sessions) -> None:
    party = str(uuid.uuid4())
    referred = await _approved_application(customer_for(party), party, score=600)
    maker, checker = staff("rm", "rm-maker"), staff("ops", "ops-checker")
    args = {"id": referred["id"]}
    propose = f"""mutation($id: ID!) {{ proposeDecisionOverride(applicationId: $id, outcome: APPROVE,
        reason: "Verified income with payslips") {{ {APP_RESULT} }} }}"""
    approve = f"mutation($id: ID!) {{ approveDecisionOverride(applicationId: $id) {{ {APP_RESULT} }} }}"
    r = (await maker.data(propose, args))["proposeDecisionOverride"]
    assert r["status"] == "REFERRED" and r["pendingOverride"]["outcome"] == "APPROVE"
    same = (await maker.data(approve, args))["approveDecisionOverride"]
    assert same["code"] == "FOUR_EYES_REQUIRED"
    done = (await checker.data(approve, args))["approveDecisionOverride"]
    assert done["status"] == "APPROVED" and done["pendingOverride"] is None
    assert done["decisions"][-1] == {"outcome": "APPROVE", "reasonCodes": ["MANUAL_OVERRIDE"],
                                     "decidedBy": "rm-maker", "approvedBy": "ops-checker"}
    forbidden = await customer_for(party)(propose, args)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def _contracted(customer: GraphQLClient, ops: GraphQLClient, party: str) -> str:
    app = await _approved_application(customer, party)
    issued = await ops.data("""mutation($id: ID!) { issueLoanContract(applicationId: $id) {
        __typename ... on Contract { status documentVersion } } }""", {"id": app["id"]})
    assert issued["issueLoanContract"]["status"] == "ISSUED"
    accepted = await customer.data("""mutation($id: ID!) { acceptLoanContract(applicationId: $id,
        evidence: {signatureMethod: "OTP", ipAddress: "192.0.2.1"}) { __typename
        ... on Contract { status coolingOffEndsOn acceptedAt } } }""", {"id": app["id"]})
    c = accepted["acceptLoanContract"]
    assert c["status"] == "ACCEPTED"
    assert dt.date.fromisoformat(c["coolingOffEndsOn"]) == dt.datetime.now(dt.UTC).date() + dt.timedelta(days=14)
    return str(app["id"])


DISBURSE = f"""mutation($id: ID!, $key: String!) {{ disburseLoan(applicationId: $id, idempotencyKey: $key) {{
    {LOAN} }} }}"""


async def _disbursement_id(sessions, loan_id: str) -> str:
    async with sessions() as s:
        loan = await s.get(Loan, uuid.UUID(loan_id))
        return str(loan.disbursement_id)


async def test_consumer_journey_to_hardship(customer_for, staff, cl_sessions, settings: Settings) -> None:
    party = str(uuid.uuid4())
    customer, ops = customer_for(party), staff("ops", "ops-1")
    app_id = await _contracted(customer, ops, party)
    key = uuid.uuid4().hex
    loan = (await ops.data(DISBURSE, {"id": app_id, "key": key}))["disburseLoan"]
    again = (await ops.data(DISBURSE, {"id": app_id, "key": key}))["disburseLoan"]
    assert loan["status"] == "DISBURSEMENT_PENDING" and again["id"] == loan["id"]
    async with cl_sessions() as s:
        env = (await s.execute(select(outbox_table.c.envelope, outbox_table.c.nats_subject).where(
            outbox_table.c.aggregate_id == loan["id"]))).one()
    assert env.nats_subject == "finpace.consumer_lending.loan.disbursement_requested"
    data = env.envelope["data"]
    assert data["amount"] == {"amount": "10000.00", "currency": "EUR"} and data["party_id"] == party
    assert set(data) >= {"loan_id", "party_id", "settlement_account_id", "amount", "idempotency_id"}

    # The account domain books the credit; the same event delivered twice is applied once.
    event_id = str(uuid.uuid4())
    reply = {"idempotency_id": data["idempotency_id"], "payment_id": str(uuid.uuid4()),
             "value_date": "2026-01-15", "amount": data["amount"]}
    await publish_reply(settings, "finpace.account.payment.executed", reply, event_id=event_id)
    await publish_reply(settings, "finpace.account.payment.executed", reply, event_id=event_id, msg_id="redelivery")
    read = f"query($id: ID!) {{ loan(id: $id) {{ {LOAN_BODY} }} }}"

    async def active() -> bool:
        return (await customer.data(read, {"id": loan["id"]}))["loan"]["status"] == "ACTIVE"
    await eventually(active)
    live = (await customer.data(read, {"id": loan["id"]}))["loan"]
    assert live["schedule"][0]["dueDate"] == "2026-02-15" and live["schedule"][0]["total"]["amount"] == "888.49"
    assert sum(Decimal(i["principal"]["amount"]) for i in live["schedule"]) == Decimal("10000.00")
    await eventually(lambda: _count_type(cl_sessions, loan["id"], "LoanDisbursed", 1))
    async with cl_sessions() as s:
        assert (await s.get(Application, uuid.UUID(app_id))).status == "DISBURSED"

    # Nothing paid: by 20 March two instalments are overdue, 33 days since the first.
    aged = (await ops.data(f"""mutation($id: ID!) {{ assessLoanDelinquency(loanId: $id, asOf: "2026-03-20") {{
        {LOAN} }} }}""", {"id": loan["id"]}))["assessLoanDelinquency"]
    assert aged["daysPastDue"] == 33 and aged["delinquencyBucket"] == "DPD_31_60"

    # Hardship: the customer asks for a 3-month payment holiday; a credit officer approves; schedule recalculated.
    h = (await customer.data(f"""mutation($id: ID!, $key: String!) {{ requestHardship(loanId: $id,
        arrangementType: PAYMENT_HOLIDAY, periods: 3, reason: "Lost job", idempotencyKey: $key) {{ {HARDSHIP} }} }}""",
        {"id": loan["id"], "key": uuid.uuid4().hex}))["requestHardship"]
    assert h["status"] == "REQUESTED"
    decide = f"""mutation($id: ID!) {{ decideHardship(hardshipId: $id, approve: true, reason: "Affordable")
        {{ {HARDSHIP} }} }}"""
    assert (await staff("rm", "rm-2").data(decide, {"id": h["id"]}))["decideHardship"]["status"] == "APPROVED"
    act = (await ops.data(f"""mutation($id: ID!) {{ activateHardship(hardshipId: $id, asOf: "2026-03-20") {{
        {HARDSHIP} }} }}""", {"id": h["id"]}))["activateHardship"]
    assert act["status"] == "ACTIVE"
    resched = (await customer.data(read, {"id": loan["id"]}))["loan"]
    assert resched["scheduleVersion"] == 2 and len(resched["schedule"]) == 15
    assert resched["delinquencyBucket"] == "CURRENT"
    holiday = resched["schedule"][2:5]
    assert [i["total"]["amount"] for i in holiday] == ["0.00", "0.00", "0.00"]
    assert sum(Decimal(i["principal"]["amount"]) for i in resched["schedule"]) == Decimal("10000.00")
    end = (await ops.data(f"""mutation($id: ID!) {{ endHardship(hardshipId: $id, broken: true, reason: "Missed")
        {{ {HARDSHIP} }} }}""", {"id": h["id"]}))["endHardship"]
    assert end["status"] == "BROKEN"
    assert (await outbox_types(cl_sessions, h["id"])) == ["HardshipRequested", "HardshipStatusChanged",
                                                          "HardshipStatusChanged", "HardshipStatusChanged"]
    assert "LoanScheduleRecalculated" in await outbox_types(cl_sessions, loan["id"])


async def _count_type(sessions, aggregate_id: str, event_type: str, n: int) -> bool:
    return (await outbox_types(sessions, aggregate_id)).count(event_type) == n


async def test_failed_booking_compensates(customer_for, staff, cl_sessions, settings: Settings) -> None:
    party = str(uuid.uuid4())
    customer, ops = customer_for(party), staff("ops", "ops-1")
    app_id = await _contracted(customer, ops, party)
    loan = (await ops.data(DISBURSE, {"id": app_id, "key": uuid.uuid4().hex}))["disburseLoan"]
    idem = await _disbursement_id(cl_sessions, loan["id"])
    await publish_reply(settings, "finpace.account.payment.failed", {"idempotency_id": idem,
                                                                    "reason": "ACCOUNT_CLOSED"})
    read = f"query($id: ID!) {{ loan(id: $id) {{ {LOAN_BODY} }} }}"

    async def failed() -> bool:
        return (await ops.data(read, {"id": loan["id"]}))["loan"]["status"] == "DISBURSEMENT_FAILED"
    await eventually(failed)
    async with cl_sessions() as s:
        assert (await s.get(Application, uuid.UUID(app_id))).status == "CONTRACT_ACCEPTED"
    assert await outbox_types(cl_sessions, loan["id"]) == ["LoanDisbursementRequested", "LoanDisbursementFailed"]
    retry = (await ops.data(DISBURSE, {"id": app_id, "key": uuid.uuid4().hex}))["disburseLoan"]
    assert retry["status"] == "DISBURSEMENT_PENDING" and retry["id"] != loan["id"]


async def test_cooling_off_and_visibility(customer_for, staff, cl_sessions, settings: Settings) -> None:
    party = str(uuid.uuid4())
    customer, ops = customer_for(party), staff("ops", "ops-1")
    app_id = await _contracted(customer, ops, party)
    loan = (await ops.data(DISBURSE, {"id": app_id, "key": uuid.uuid4().hex}))["disburseLoan"]
    idem = await _disbursement_id(cl_sessions, loan["id"])
    today = dt.datetime.now(dt.UTC).date().isoformat()
    await publish_reply(settings, "finpace.account.payment.executed", {"idempotency_id": idem, "value_date": today})
    read = f"query($id: ID!) {{ loan(id: $id) {{ {LOAN_BODY} }} }}"

    async def active() -> bool:
        return (await ops.data(read, {"id": loan["id"]}))["loan"]["status"] == "ACTIVE"
    await eventually(active)
    stranger = customer_for(str(uuid.uuid4()))
    assert (await stranger.data(read, {"id": loan["id"]}))["loan"] is None
    parties = await stranger.data("""query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Party { loans { id } } } }""", {"r": [{"__typename": "Party", "id": party}]})
    assert parties["_entities"][0]["loans"] == []
    mine = await customer.data("""query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Party { loans { id status } } } }""", {"r": [{"__typename": "Party", "id": party}]})
    assert mine["_entities"][0]["loans"] == [{"id": loan["id"], "status": "ACTIVE"}]
    w = (await customer.data(f"""mutation($id: ID!) {{ exerciseCoolingOff(loanId: $id, reason: "Changed my mind")
        {{ {LOAN} }} }}""", {"id": loan["id"]}))["exerciseCoolingOff"]
    assert w["status"] == "WITHDRAWAL_PENDING"  # until the account domain collects what is due
    async with cl_sessions() as s:
        envs = (await s.execute(select(outbox_table.c.envelope).where(outbox_table.c.aggregate_id == loan["id"])
                                .order_by(outbox_table.c.id.desc()).limit(2))).scalars().all()
    assert envs[1]["type"] == "LoanCoolingOffExercised" and envs[1]["data"]["amount_due"]["amount"] == "10000.00"
    assert envs[0]["type"] == "LoanRepaymentRequested" and envs[0]["data"]["purpose"] == "COOLING_OFF"


async def test_bad_application_input_writes_nothing(customer_for, anon: GraphQLClient, cl_sessions) -> None:
    party = str(uuid.uuid4())
    customer = customer_for(party)
    q = (await customer.data(QUOTE, {"input": quote_input(party=party), "key": uuid.uuid4().hex}))["requestQuote"]
    before = await counts(cl_sessions, Application)
    usd = {**application(q["id"], party), "monthlyIncome": {"amount": "6000.00", "currency": "USD"}}
    negative = {**application(q["id"], party), "monthlyExpenses": {"amount": "-1.00", "currency": "EUR"}}
    other_party = application(q["id"], str(uuid.uuid4()))
    for bad in (usd, negative, application(q["id"], party, score=1200), other_party,
                {**application(q["id"], party), "settlementAccountId": "nope"}):
        body = await customer(APPLY, {"input": bad, "key": uuid.uuid4().hex})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    unauth = await anon(APPLY, {"input": application(q["id"], party), "key": uuid.uuid4().hex})
    assert unauth["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await counts(cl_sessions, Application) == before
    ok = (await customer.data(APPLY, {"input": application(q["id"], party), "key": uuid.uuid4().hex}))
    assert ok["submitLoanApplication"]["status"] == "APPROVED"
    twice = (await customer.data(APPLY, {"input": application(q["id"], party), "key": uuid.uuid4().hex}))
    assert twice["submitLoanApplication"]["code"] == "INVALID_TRANSITION"  # a quote becomes one application
