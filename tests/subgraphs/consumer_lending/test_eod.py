"""Consumer lending's end of day: once per business date; the loan is aged and its arrears collected once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import select

from shared.config import Settings
from subgraphs.consumer_lending.eod import run_eod
from subgraphs.consumer_lending.models import Loan, RepaymentRequest
from tests.subgraphs.consumer_lending.conftest import eventually, outbox_types, publish_reply
from tests.subgraphs.consumer_lending.test_journey import DISBURSE, _contracted, _disbursement_id


async def test_end_of_day_ages_and_collects_once(customer_for, staff, cl_sessions, settings: Settings) -> None:
    party = str(uuid.uuid4())
    ops = staff("ops", "ops-1")
    app_id = await _contracted(customer_for(party), ops, party)
    loan_id = (await ops.data(DISBURSE, {"id": app_id, "key": uuid.uuid4().hex}))["disburseLoan"]["id"]
    today = dt.datetime.now(dt.UTC).date()
    await publish_reply(settings, "finpace.account.payment.executed", {
        "idempotency_id": await _disbursement_id(cl_sessions, loan_id),
        "value_date": (today - dt.timedelta(days=40)).isoformat()})

    async def active() -> bool:
        async with cl_sessions() as s:
            return (await s.get(Loan, uuid.UUID(loan_id))).status == "ACTIVE"

    await eventually(active)
    results = await asyncio.gather(run_eod(cl_sessions, today), run_eod(cl_sessions, today))
    assert sum(r is not None for r in results) == 1, results
    summary = next(r for r in results if r is not None)
    assert set(summary) == {"hardships_completed", "hardships_broken", "loans_changed_bucket",
                            "collections_requested"}
    assert await run_eod(cl_sessions, today) is None
    async with cl_sessions() as s:
        loan = await s.get(Loan, uuid.UUID(loan_id))
        [req] = (await s.execute(select(RepaymentRequest).where(
            RepaymentRequest.loan_id == uuid.UUID(loan_id)))).scalars().all()
    assert loan is not None and loan.delinquency_bucket == "DPD_1_30" and loan.days_past_due >= 9
    assert req.purpose == "INSTALMENT_DUE" and req.installment_number == 1 and req.status == "PENDING"
    assert req.amount == Decimal(loan.schedule[0]["total"])
    types = await outbox_types(cl_sessions, loan_id)
    assert types.count("LoanDelinquencyChanged") == 1 and types.count("LoanRepaymentRequested") == 1
