"""Cooling-off withdrawal after disbursement: principal plus interest to date, no fees, collected through the
account domain by the repayment saga; a refused collection leaves the loan WITHDRAWAL_PENDING to ask again."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import select

from shared.config import Settings
from shared.db import RequestContext, UnitOfWork
from shared.events import Actor
from subgraphs.consumer_lending.collections import collect_loan, cooling_off_due
from subgraphs.consumer_lending.models import Loan, RepaymentRequest
from subgraphs.consumer_lending.service import lock
from tests.subgraphs.consumer_lending.conftest import eventually, outbox_types, publish_reply
from tests.subgraphs.consumer_lending.test_journey import DISBURSE, LOAN, _contracted, _disbursement_id
from tests.subgraphs.support import outbox_envelopes

WITHDRAW = f"""mutation($id: ID!, $key: String) {{ exerciseCoolingOff(loanId: $id, reason: "Changed my mind",
  idempotencyKey: $key) {{ {LOAN} }} }}"""
READ = "query($id: ID!) { loan(id: $id) { status amountRepaid { amount } } }"


async def _requests(cl_sessions, loan_id: str) -> list[RepaymentRequest]:
    async with cl_sessions() as s:
        return list((await s.execute(select(RepaymentRequest).where(RepaymentRequest.loan_id == uuid.UUID(loan_id))
                                     .order_by(RepaymentRequest.created_at))).scalars().all())


async def _active_for_ten_days(customer_for, staff, cl_sessions, settings: Settings):
    """A 10 000.00 loan at 12 % disbursed ten days ago: the borrower's client, the loan id, a status probe."""
    party = str(uuid.uuid4())
    customer, ops = customer_for(party), staff("ops", "ops-1")
    app_id = await _contracted(customer, ops, party)
    loan_id = (await ops.data(DISBURSE, {"id": app_id, "key": uuid.uuid4().hex}))["disburseLoan"]["id"]
    ten_days_ago = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)
    await publish_reply(settings, "finpace.account.payment.executed", {
        "idempotency_id": await _disbursement_id(cl_sessions, loan_id), "value_date": ten_days_ago.isoformat()})

    async def status(expected: str) -> bool:
        return (await customer.data(READ, {"id": loan_id}))["loan"]["status"] == expected
    await eventually(lambda: status("ACTIVE"))
    return customer, loan_id, status


async def test_withdrawal_collects_principal_and_interest_to_date(customer_for, staff, cl_sessions,
                                                                 settings: Settings) -> None:
    customer, loan_id, status = await _active_for_ten_days(customer_for, staff, cl_sessions, settings)
    today = dt.datetime.now(dt.UTC).date()

    # 10 days at 12 %: 10 000.00 x 0.12 x 10 / 365 = 32.876… → 32.88; no fee.
    key = uuid.uuid4().hex
    w = (await customer.data(WITHDRAW, {"id": loan_id, "key": key}))["exerciseCoolingOff"]
    assert w["status"] == "WITHDRAWAL_PENDING"
    assert (await customer.data(WITHDRAW, {"id": loan_id, "key": key}))["exerciseCoolingOff"]["id"] == loan_id
    [req] = await _requests(cl_sessions, loan_id)
    assert (req.amount, req.purpose, req.status) == (Decimal("10032.88"), "COOLING_OFF", "PENDING")
    pending = (await customer.data(WITHDRAW, {"id": loan_id, "key": uuid.uuid4().hex}))["exerciseCoolingOff"]
    assert pending["code"] == "INVALID_TRANSITION"  # already being collected
    repay = await customer("""mutation($id: ID!) { requestLoanRepayment(loanId: $id, idempotencyKey: "k") {
        __typename ... on DomainError { code } } }""", {"id": loan_id})
    assert repay["data"]["requestLoanRepayment"]["code"] == "INVALID_TRANSITION"

    # The account refuses the debit: the withdrawal stays pending; asked again, it is collected once.
    await publish_reply(settings, "finpace.account.payment.failed", {"idempotency_id": str(req.id),
                                                                    "reason": "INSUFFICIENT_FUNDS"})

    async def failed() -> bool:
        return [r.status for r in await _requests(cl_sessions, loan_id)] == ["FAILED"]
    await eventually(failed)
    assert (await customer.data(READ, {"id": loan_id}))["loan"]["status"] == "WITHDRAWAL_PENDING"
    again = (await customer.data(WITHDRAW, {"id": loan_id, "key": uuid.uuid4().hex}))["exerciseCoolingOff"]
    assert again["status"] == "WITHDRAWAL_PENDING"
    retry = (await _requests(cl_sessions, loan_id))[-1]
    assert retry.amount == Decimal("10032.88") and retry.status == "PENDING"
    event_id = str(uuid.uuid4())
    for msg in ("first", "redelivery"):
        await publish_reply(settings, "finpace.account.payment.executed",
                            {"idempotency_id": str(retry.id), "value_date": today.isoformat()},
                            event_id=event_id, msg_id=msg)
    await eventually(lambda: status("WITHDRAWN_IN_COOLING_OFF"))
    assert (await customer.data(READ, {"id": loan_id}))["loan"]["amountRepaid"] == {"amount": "10032.88"}
    types = await outbox_types(cl_sessions, loan_id)
    assert types[-6:] == ["LoanCoolingOffExercised", "LoanRepaymentRequested", "LoanRepaymentFailed",
                          "LoanRepaymentRequested", "LoanRepaymentReceived", "LoanWithdrawn"]


def test_the_amount_due_refunds_any_upfront_fee() -> None:
    # HOME_IMPROVEMENT keeps a 150.00 fee from the 5 000.00 advanced: the borrower repays the 4 850.00 received
    # plus 30 days of interest on it at 7.5 % (4 850.00 x 0.075 x 30 / 365 = 29.897… → 29.90).
    loan = Loan(principal=Decimal("5000.00"), amount_repaid=Decimal(0), disbursed_on=dt.date(2026, 3, 1),
                terms={"upfront_fee": "150", "annual_rate_pct": "7.5"})
    assert cooling_off_due(loan, dt.date(2026, 3, 31)) == (Decimal("4879.90"), Decimal("29.90"))


async def test_an_unpaid_withdrawal_ages_from_its_deadline_and_is_collected_with_interest_to_the_day(
        customer_for, staff, cl_sessions, settings: Settings) -> None:
    customer, loan_id, status = await _active_for_ten_days(customer_for, staff, cl_sessions, settings)
    today = dt.datetime.now(dt.UTC).date()
    await customer.data(WITHDRAW, {"id": loan_id, "key": uuid.uuid4().hex})
    [first] = await _requests(cl_sessions, loan_id)
    await publish_reply(settings, "finpace.account.payment.failed", {"idempotency_id": str(first.id),
                                                                    "reason": "INSUFFICIENT_FUNDS"})

    async def failed() -> bool:
        return [r.status for r in await _requests(cl_sessions, loan_id)] == ["FAILED"]
    await eventually(failed)
    deadline = today + dt.timedelta(days=30)
    shown = await customer.data("query($id: ID!) { loan(id: $id) { withdrawalRepayBy daysPastDue } }",
                                {"id": loan_id})
    assert shown["loan"] == {"withdrawalRepayBy": deadline.isoformat(), "daysPastDue": 0}

    async def end_of_day(as_of: dt.date) -> tuple[bool, bool]:
        uow = UnitOfWork(cl_sessions, RequestContext(actor=Actor.system("consumer_lending-eod"), correlation_id="t"))
        async with uow:
            result = await collect_loan(uow, await lock(uow, Loan, loan_id, "loanId", None), as_of)
            await uow.commit()
        return result

    # Up to and including the deadline, the borrower is not in arrears and nothing is collected.
    assert await end_of_day(deadline) == (False, False)
    # The day after: one day past due, and the amount advanced plus interest for the 41 days since disbursement
    # (10 000.00 x 0.12 x 41 / 365 = 134.79) is asked for once that business date.
    assert await end_of_day(deadline + dt.timedelta(days=1)) == (True, True)
    assert await end_of_day(deadline + dt.timedelta(days=1)) == (False, False)
    *_, collection = await _requests(cl_sessions, loan_id)
    assert (collection.amount, collection.purpose, collection.status) == (Decimal("10134.79"), "COOLING_OFF",
                                                                          "PENDING")
    async with cl_sessions() as s:
        loan = await s.get(Loan, uuid.UUID(loan_id))
    assert loan is not None and (loan.days_past_due, loan.delinquency_bucket) == (1, "DPD_1_30")
    # Paid: withdrawn, and no longer in arrears.
    await publish_reply(settings, "finpace.account.payment.executed",
                        {"idempotency_id": str(collection.id), "value_date": today.isoformat()})
    await eventually(lambda: status("WITHDRAWN_IN_COOLING_OFF"))
    async with cl_sessions() as s:
        loan = await s.get(Loan, uuid.UUID(loan_id))
    assert loan is not None and (loan.days_past_due, loan.delinquency_bucket) == (0, "CURRENT")
    assert loan.amount_repaid == Decimal("10134.79")
    types = await outbox_types(cl_sessions, loan_id)
    assert types[-5:] == ["LoanDelinquencyChanged", "LoanRepaymentRequested", "LoanRepaymentReceived",
                          "LoanWithdrawn", "LoanDelinquencyChanged"]
    exercised = await outbox_envelopes(cl_sessions, loan_id, "LoanCoolingOffExercised")
    assert [e["data"]["repay_by"] for e in exercised] == [deadline.isoformat()]
