"""Hardship arrangements to the cent: each type's recalculated schedule, every transition, the end of day's
automatic COMPLETED and BROKEN, and ageing paused only while the arrangement is ACTIVE."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from shared.config import Settings
from shared.db import RequestContext, UnitOfWork, outbox_table
from shared.events import Actor
from subgraphs.consumer_lending.collections import due
from subgraphs.consumer_lending.models import Hardship, HardshipStatus, Loan
from subgraphs.consumer_lending.servicing import review_hardship
from tests.helpers import GraphQLClient
from tests.subgraphs.consumer_lending.conftest import eventually, outbox_types, publish_reply
from tests.subgraphs.consumer_lending.test_journey import DISBURSE, LOAN, _contracted, _disbursement_id

H_BODY = "id status arrangementType periods reducedAmount { amount currency } firstInstallment lastInstallment " \
         "startsOn endsOn"
HARDSHIP = f"__typename ... on HardshipArrangement {{ {H_BODY} }} ... on DomainError {{ code message }}"
REQUEST = f"""mutation($id: ID!, $type: HardshipType!, $periods: Int!, $key: String!, $amount: MoneyInput) {{
  requestHardship(loanId: $id, arrangementType: $type, periods: $periods, reason: "Reduced hours",
  idempotencyKey: $key, reducedAmount: $amount) {{ {HARDSHIP} }} }}"""
DECIDE = f"""mutation($id: ID!, $approve: Boolean!) {{ decideHardship(hardshipId: $id, approve: $approve,
  reason: "Assessed") {{ {HARDSHIP} }} }}"""
ACTIVATE = f"""mutation($id: ID!, $asOf: Date!) {{ activateHardship(hardshipId: $id, asOf: $asOf) {{ {HARDSHIP} }} }}"""
END = f"""mutation($id: ID!, $broken: Boolean!) {{ endHardship(hardshipId: $id, broken: $broken, reason: "Review")
  {{ {HARDSHIP} }} }}"""
REPAY = f"""mutation($id: ID!, $amount: Decimal!, $key: String!) {{ recordLoanRepayment(loanId: $id,
  amount: {{amount: $amount, currency: "EUR"}}, idempotencyKey: $key) {{ {LOAN} }} }}"""
AGE = f"""mutation($id: ID!, $asOf: Date!) {{ assessLoanDelinquency(loanId: $id, asOf: $asOf) {{ {LOAN} }} }}"""
READ = """query($id: ID!) { loan(id: $id) { status scheduleVersion daysPastDue delinquencyBucket
  schedule { number dueDate principal { amount } interest { amount } total { amount } balanceAfter { amount } } } }"""
EUR = lambda a: {"amount": a, "currency": "EUR"}  # noqa: E731


async def _loan_with_two_paid(customer_for, staff, cl_sessions, settings: Settings) -> tuple[str, Any, Any]:
    """A 10 000.00 EUR, 12-month loan disbursed on 2026-01-15 (888.49 a month) with the first two instalments
    paid, so 8 415.14 is outstanding after 2026-03-15."""
    party = str(uuid.uuid4())
    customer, ops = customer_for(party), staff("ops", "ops-1")
    app_id = await _contracted(customer, ops, party)
    loan_id = (await ops.data(DISBURSE, {"id": app_id, "key": uuid.uuid4().hex}))["disburseLoan"]["id"]
    await publish_reply(settings, "finpace.account.payment.executed",
                        {"idempotency_id": await _disbursement_id(cl_sessions, loan_id), "value_date": "2026-01-15"})

    async def active() -> bool:
        async with cl_sessions() as s:
            return (await s.get(Loan, uuid.UUID(loan_id))).status == "ACTIVE"
    await eventually(active)
    await _repay(ops, loan_id, "1776.98")
    return loan_id, customer, ops


async def _repay(ops: GraphQLClient, loan_id: str, amount: str) -> None:
    r = (await ops.data(REPAY, {"id": loan_id, "amount": amount, "key": uuid.uuid4().hex}))["recordLoanRepayment"]
    assert r["__typename"] == "Loan", r


async def _approved(customer: GraphQLClient, staff, loan_id: str, kind: str, periods: int,
                    amount: str | None = None) -> dict[str, Any]:
    h = (await customer.data(REQUEST, {"id": loan_id, "type": kind, "periods": periods, "key": uuid.uuid4().hex,
                                       "amount": EUR(amount) if amount else None}))["requestHardship"]
    assert h["status"] == "REQUESTED", h
    approved = (await staff("rm", "rm-2").data(DECIDE, {"id": h["id"], "approve": True}))["decideHardship"]
    assert approved["status"] == "APPROVED"
    return approved


async def _review(cl_sessions, hardship_id: str, as_of: dt.date) -> HardshipStatus | None:
    """The end of day's review of one arrangement (as run_eod does for every ACTIVE one)."""
    uow = UnitOfWork(cl_sessions, RequestContext(actor=Actor.system("consumer_lending-eod"),
                                                 correlation_id=f"test-eod-{uuid.uuid4()}"))
    async with uow:
        h = await uow.session.get(Hardship, uuid.UUID(hardship_id), with_for_update=True)
        loan = await uow.session.get(Loan, h.loan_id, with_for_update=True)
        outcome = await review_hardship(uow, h, loan, as_of)
        await uow.commit()
        return outcome


def _amounts(schedule: list[dict[str, Any]], part: str) -> list[str]:
    return [i[part]["amount"] for i in schedule]


async def _last_reason(cl_sessions, aggregate_id: str) -> str | None:
    async with cl_sessions() as s:
        env = (await s.execute(select(outbox_table.c.envelope).where(outbox_table.c.aggregate_id == aggregate_id)
                               .order_by(outbox_table.c.id.desc()).limit(1))).scalar_one()
    return env.get("reason")


async def test_reduced_payment_reamortises_and_a_missed_payment_breaks_it(customer_for, staff, cl_sessions,
                                                                         settings: Settings) -> None:
    loan_id, customer, ops = await _loan_with_two_paid(customer_for, staff, cl_sessions, settings)
    h = await _approved(customer, staff, loan_id, "REDUCED_PAYMENT", 3, "300.00")
    assert h["reducedAmount"] == EUR("300.00")
    act = (await ops.data(ACTIVATE, {"id": h["id"], "asOf": "2026-03-20"}))["activateHardship"]
    assert act["status"] == "ACTIVE" and act["firstInstallment"] == 3 and act["lastInstallment"] == 5
    assert act["startsOn"] == "2026-03-20" and act["endsOn"] == "2026-06-15"
    loan = (await customer.data(READ, {"id": loan_id}))["loan"]
    assert loan["scheduleVersion"] == 2 and len(loan["schedule"]) == 12  # the maturity does not move
    s = loan["schedule"]
    assert _amounts(s[:2], "total") == ["888.49", "888.49"]
    assert _amounts(s[2:5], "total") == ["300.00", "300.00", "300.00"]
    assert _amounts(s[2:5], "interest") == ["84.15", "81.99", "79.81"]
    assert _amounts(s[2:5], "principal") == ["215.85", "218.01", "220.19"]
    assert s[4]["balanceAfter"]["amount"] == "7761.09"
    assert _amounts(s[5:11], "total") == ["1153.52"] * 6 and s[11]["total"]["amount"] == "1153.50"
    assert s[11]["dueDate"] == "2027-01-15" and s[11]["balanceAfter"]["amount"] == "0.00"
    assert sum(Decimal(i["principal"]["amount"]) for i in s) == Decimal("10000.00")

    await _repay(ops, loan_id, "300.00")  # instalment 3
    assert await _review(cl_sessions, h["id"], dt.date(2026, 4, 16)) is None
    assert await _review(cl_sessions, h["id"], dt.date(2026, 5, 15)) is None  # instalment 4 due today: still due
    aged = (await ops.data(AGE, {"id": loan_id, "asOf": "2026-05-20"}))["assessLoanDelinquency"]
    assert aged["daysPastDue"] == 0 and aged["delinquencyBucket"] == "CURRENT"  # paused while ACTIVE
    assert await _review(cl_sessions, h["id"], dt.date(2026, 5, 16)) is HardshipStatus.BROKEN
    assert await _last_reason(cl_sessions, h["id"]) == "Instalment 4 due 2026-05-15 was not paid."
    assert (await outbox_types(cl_sessions, h["id"])) == ["HardshipRequested"] + ["HardshipStatusChanged"] * 3
    aged = (await ops.data(AGE, {"id": loan_id, "asOf": "2026-05-20"}))["assessLoanDelinquency"]
    assert aged["daysPastDue"] == 5 and aged["delinquencyBucket"] == "DPD_1_30"  # ageing resumes when broken
    again = (await ops.data(END, {"id": h["id"], "broken": False}))["endHardship"]
    assert again["code"] == "INVALID_TRANSITION"


async def test_payment_holiday_instalments_never_go_overdue_and_the_end_of_day_completes_it(
        customer_for, staff, cl_sessions, settings: Settings) -> None:
    loan_id, customer, ops = await _loan_with_two_paid(customer_for, staff, cl_sessions, settings)
    h = await _approved(customer, staff, loan_id, "PAYMENT_HOLIDAY", 2)
    assert h["reducedAmount"] is None
    act = (await ops.data(ACTIVATE, {"id": h["id"], "asOf": "2026-03-20"}))["activateHardship"]
    assert act["endsOn"] == "2026-05-15" and (act["firstInstallment"], act["lastInstallment"]) == (3, 4)
    s = (await customer.data(READ, {"id": loan_id}))["loan"]["schedule"]
    assert len(s) == 14 and s[-1]["dueDate"] == "2027-03-15"  # two more instalments
    assert _amounts(s[2:4], "total") == ["0.00", "0.00"]
    # The holiday's interest (2 x 84.15) is deferred to the first instalment after it.
    assert (s[4]["principal"]["amount"], s[4]["interest"]["amount"], s[4]["total"]["amount"]) == \
        ("804.34", "252.45", "1056.79")
    assert _amounts(s[5:13], "total") == ["888.49"] * 8 and s[13]["total"]["amount"] == "888.47"
    assert sum(Decimal(i["principal"]["amount"]) for i in s) == Decimal("10000.00")
    async with cl_sessions() as sess:
        assert due(await sess.get(Loan, uuid.UUID(loan_id)), dt.date(2026, 5, 20)) == (Decimal(0), None)
    assert await _review(cl_sessions, h["id"], dt.date(2026, 4, 16)) is None
    aged = (await ops.data(AGE, {"id": loan_id, "asOf": "2026-05-14"}))["assessLoanDelinquency"]
    assert aged["daysPastDue"] == 0 and aged["delinquencyBucket"] == "CURRENT"
    assert await _review(cl_sessions, h["id"], dt.date(2026, 5, 15)) is HardshipStatus.COMPLETED
    assert await _last_reason(cl_sessions, h["id"]) == "Arrangement ended on 2026-05-15."
    # Completed: ageing resumes, and nothing from the holiday is overdue — only the instalment after it.
    aged = (await ops.data(AGE, {"id": loan_id, "asOf": "2026-05-31"}))["assessLoanDelinquency"]
    assert aged["daysPastDue"] == 0 and aged["delinquencyBucket"] == "CURRENT"
    aged = (await ops.data(AGE, {"id": loan_id, "asOf": "2026-06-20"}))["assessLoanDelinquency"]
    assert aged["daysPastDue"] == 5 and aged["delinquencyBucket"] == "DPD_1_30"


async def test_term_extension_lowers_the_instalment_and_completes_when_its_payments_are_made(
        customer_for, staff, cl_sessions, settings: Settings) -> None:
    loan_id, customer, ops = await _loan_with_two_paid(customer_for, staff, cl_sessions, settings)
    h = await _approved(customer, staff, loan_id, "TERM_EXTENSION", 3)
    act = (await ops.data(ACTIVATE, {"id": h["id"], "asOf": "2026-03-20"}))["activateHardship"]
    assert act["endsOn"] == "2026-06-15" and (act["firstInstallment"], act["lastInstallment"]) == (3, 5)
    s = (await customer.data(READ, {"id": loan_id}))["loan"]["schedule"]
    assert len(s) == 15 and s[-1]["dueDate"] == "2027-04-15"
    assert s[2]["principal"]["amount"] == "609.38" and s[2]["interest"]["amount"] == "84.15"
    assert _amounts(s[2:14], "total") == ["693.53"] * 12 and s[14]["total"]["amount"] == "693.57"
    assert sum(Decimal(i["principal"]["amount"]) for i in s) == Decimal("10000.00")
    await _repay(ops, loan_id, "1387.06")  # instalments 3 and 4
    assert await _review(cl_sessions, h["id"], dt.date(2026, 6, 15)) is None  # instalment 5 due, not yet paid
    await _repay(ops, loan_id, "693.53")
    assert await _review(cl_sessions, h["id"], dt.date(2026, 6, 15)) is HardshipStatus.COMPLETED
    types = await outbox_types(cl_sessions, h["id"])
    assert types == ["HardshipRequested", "HardshipStatusChanged", "HardshipStatusChanged", "HardshipStatusChanged"]


async def test_transitions_and_terms_are_checked(customer_for, staff, cl_sessions, settings: Settings) -> None:
    loan_id, customer, ops = await _loan_with_two_paid(customer_for, staff, cl_sessions, settings)
    for kind, amount in (("REDUCED_PAYMENT", None), ("PAYMENT_HOLIDAY", EUR("300.00")),
                         ("REDUCED_PAYMENT", {"amount": "300.00", "currency": "USD"}),
                         ("REDUCED_PAYMENT", EUR("0.00"))):
        body = await customer(REQUEST, {"id": loan_id, "type": kind, "periods": 2, "key": uuid.uuid4().hex,
                                        "amount": amount})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    key = uuid.uuid4().hex
    args = {"id": loan_id, "type": "REDUCED_PAYMENT", "periods": 3, "key": key, "amount": EUR("84.14")}
    h = (await customer.data(REQUEST, args))["requestHardship"]
    assert (await customer.data(REQUEST, args))["requestHardship"]["id"] == h["id"]  # idempotent
    second = (await customer.data(REQUEST, {**args, "key": uuid.uuid4().hex}))["requestHardship"]
    assert second["code"] == "INVALID_TRANSITION"  # one open arrangement per loan
    too_early = (await ops.data(ACTIVATE, {"id": h["id"], "asOf": "2026-03-20"}))["activateHardship"]
    assert too_early["code"] == "INVALID_TRANSITION"  # REQUESTED cannot become ACTIVE
    own = (await staff("rm", "rm-2").data(DECIDE, {"id": h["id"], "approve": True}))["decideHardship"]
    assert own["status"] == "APPROVED"
    # 84.14 does not cover instalment 3's 84.15 interest: refused, nothing changes.
    body = await ops(ACTIVATE, {"id": h["id"], "asOf": "2026-03-20"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    async with cl_sessions() as s:
        assert (await s.get(Hardship, uuid.UUID(h["id"]))).status == "APPROVED"
        assert (await s.get(Loan, uuid.UUID(loan_id))).schedule_version == 1
    declined_loan, customer2, _ = await _loan_with_two_paid(customer_for, staff, cl_sessions, settings)
    d = (await customer2.data(REQUEST, {"id": declined_loan, "type": "TERM_EXTENSION", "periods": 2,
                                        "key": uuid.uuid4().hex, "amount": None}))["requestHardship"]
    no = (await staff("rm", "rm-2").data(DECIDE, {"id": d["id"], "approve": False}))["decideHardship"]
    assert no["status"] == "DECLINED"
    assert (await ops.data(ACTIVATE, {"id": d["id"], "asOf": "2026-03-20"}))["activateHardship"]["code"] == \
        "INVALID_TRANSITION"
    assert (await outbox_types(cl_sessions, d["id"])) == ["HardshipRequested", "HardshipStatusChanged"]
