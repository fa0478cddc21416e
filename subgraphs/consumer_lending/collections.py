"""The repayment saga: debits asked of the account domain, applied to the loan when the account answers.

`LoanRepaymentRequested` asks the account domain to debit the borrower's settlement account; the
`finpace.account.payment.executed` reply applies the repayment (LoanRepaymentReceived, oldest instalment
first, fees → interest → principal), `payment.failed` records the refusal (LoanRepaymentFailed) and ages
the loan, so an instalment already past due moves it into arrears. One request per loan may be PENDING.

A cooling-off withdrawal after disbursement collects through the same saga: `exerciseCoolingOff` moves the
loan to WITHDRAWAL_PENDING and asks for the amount advanced plus interest to date (purpose COOLING_OFF);
`payment.executed` withdraws the loan (WITHDRAWN_IN_COOLING_OFF, LoanWithdrawn), `payment.failed` leaves it
pending for another `exerciseCoolingOff`, which asks again with the interest to that day. The borrower has
WITHDRAWAL_REPAY_DAYS from the withdrawal to repay (EU Consumer Credit Directive: 30 calendar days); after that
the end of day ages the loan from the deadline and collects the amount due, with interest to that day.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_EVEN, Decimal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access import Scope
from shared.db import RequestContext, UnitOfWork
from shared.errors import DomainError, InputError, InvalidTransition
from shared.events import Actor, Envelope
from shared.money import Money
from shared.validation import reason as check_reason
from subgraphs.consumer_lending import events
from subgraphs.consumer_lending.models import (
    Contract,
    Loan,
    LoanStatus,
    RepaymentPurpose,
    RepaymentRequest,
    RequestStatus,
    check,
)
from subgraphs.consumer_lending.service import lock
from subgraphs.consumer_lending.servicing import age, days_past_due, owed_in_total, settle_repayment
from subgraphs.consumer_lending.servicing import on_account_reply as on_disbursement_reply
from subgraphs.lending_schedules.engine import installments_from_json

log = structlog.get_logger(__name__)
EOD_NAMESPACE = uuid.UUID("0b6f4a52-7d8e-4f0c-b1e5-2c3a9d4e6f70")
WITHDRAWAL_REPAY_DAYS = 30


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def due(loan: Loan, on: dt.date) -> tuple[Decimal, int | None]:
    """What is due and unpaid by a date, and the number of the oldest instalment not covered by repayments."""
    cumulative, first = Decimal(0), None
    for inst in installments_from_json(loan.schedule):
        if inst.due_date > on:
            break
        cumulative += inst.total
        if first is None and cumulative > loan.amount_repaid:
            first = inst.number
    return max(cumulative - loan.amount_repaid, Decimal(0)), first


async def _pending(uow: UnitOfWork, loan: Loan) -> bool:
    stmt = select(RepaymentRequest.id).where(RepaymentRequest.loan_id == loan.id,
                                             RepaymentRequest.status == RequestStatus.PENDING.value)
    return (await uow.session.execute(stmt)).first() is not None


async def _request(uow: UnitOfWork, loan: Loan, amount: Money, purpose: RepaymentPurpose, installment: int | None,
                   request_id: uuid.UUID | None = None) -> RepaymentRequest:
    """Stores the PENDING request and publishes LoanRepaymentRequested (the caller commits)."""
    req = RepaymentRequest(id=request_id or uuid.uuid4(), loan_id=loan.id, amount=amount.amount,
                           currency=amount.currency, purpose=purpose.value, installment_number=installment,
                           status=RequestStatus.PENDING.value, requested_by=uow.context.actor.sub)
    uow.session.add(req)
    await uow.emit(events.LoanRepaymentRequested(
        loan_id=str(loan.id), party_id=str(loan.party_id), settlement_account_id=str(loan.settlement_account_id),
        amount=amount, idempotency_id=str(req.id), purpose=purpose.value, installment_number=installment),
        aggregate_id=loan.id, aggregate_version=loan.touch())
    return req


async def request_repayment(uow: UnitOfWork, *, loan_id: str, amount: Money | None, idempotency_key: str,
                            scope: frozenset[str] | None) -> RepaymentRequest:
    """A borrower-initiated repayment (what is due when no amount is given; more than that pays ahead)."""
    if amount is not None and amount.amount <= 0:
        raise InputError("amount must be positive.", field="amount")
    async with uow:
        request = {"loan": loan_id, "amount": amount}
        prior = await uow.replayed("requestLoanRepayment", idempotency_key, request, RepaymentRequest)
        if prior is not None:
            return prior
        loan = await lock(uow, Loan, loan_id, "loanId", scope)
        check(loan.status, {LoanStatus.ACTIVE}, "request a repayment", "loan")
        if amount is not None and amount.currency != loan.currency:
            raise InputError(f"The loan is in {loan.currency}.", field="amount")
        owed_now, first = due(loan, today())
        if amount is None:
            if owed_now <= 0:
                raise InvalidTransition("Nothing is due on the loan; name an amount to pay ahead.", status=loan.status)
            amount = Money.of(owed_now, loan.currency, exact=False)
        if amount.amount > owed_in_total(loan):
            raise InputError(f"The repayment exceeds the {owed_in_total(loan)} still owed.", field="amount")
        if await _pending(uow, loan):
            raise InvalidTransition("A repayment request is already pending on the loan.", status=loan.status)
        purpose = RepaymentPurpose.PREPAYMENT if amount.amount > owed_now else RepaymentPurpose.CUSTOMER
        req = await _request(uow, loan, amount, purpose, first)
        await uow.commit({"id": str(req.id)})
        return req


async def collect_due(uow: UnitOfWork, *, as_of: dt.date) -> tuple[int, int]:
    """End of day: ages each active loan, and each cooling-off withdrawal being collected, and requests what is
    due on it.

    Runs inside the caller's unit of work (the end of day commits). Returns (loans that changed
    delinquency bucket, collections requested).
    """
    moved = requested = 0
    ids = (await uow.session.execute(select(Loan.id).where(
        Loan.status.in_([LoanStatus.ACTIVE.value, LoanStatus.WITHDRAWAL_PENDING.value])).order_by(Loan.id)
    )).scalars().all()
    for loan_id in ids:
        loan = await lock(uow, Loan, str(loan_id), "loanId", None)
        changed, asked = await collect_loan(uow, loan, as_of)
        moved, requested = moved + changed, requested + asked
    return moved, requested


async def collect_loan(uow: UnitOfWork, loan: Loan, as_of: dt.date) -> tuple[bool, bool]:
    """Ages one locked loan and requests what is due on it; (changed bucket, requested a collection).

    An active loan owes its instalments due and unpaid. A cooling-off withdrawal owes nothing to collect until its
    repayment deadline has passed, then the amount due with interest to the day. The request id is derived from
    the loan and the business date, so a date asks once; nothing is asked while another request is pending.
    """
    moved = await age(uow, loan, as_of)
    if loan.status == LoanStatus.WITHDRAWAL_PENDING:
        if loan.withdrawal_repay_by is None or as_of <= loan.withdrawal_repay_by:
            return moved, False
        owed_now, first, purpose = cooling_off_due(loan, as_of)[0], None, RepaymentPurpose.COOLING_OFF
    else:
        (owed_now, first), purpose = due(loan, as_of), RepaymentPurpose.INSTALMENT_DUE
    request_id = uuid.uuid5(EOD_NAMESPACE, f"{loan.id}/{as_of.isoformat()}")
    if owed_now <= 0 or await _pending(uow, loan) or await uow.session.get(RepaymentRequest, request_id):
        return moved, False
    await _request(uow, loan, Money.of(owed_now, loan.currency, exact=False), purpose, first, request_id)
    return moved, True


# -- cooling-off withdrawal after disbursement --------------------------------------------------
def cooling_off_due(loan: Loan, on: dt.date) -> tuple[Decimal, Decimal]:
    """(amount due, interest in it) to withdraw on a date: the amount advanced (principal less any upfront fee,
    so no fee is kept) plus simple interest on it at the contract rate for the days since disbursement
    (actual/365, half-even to the cent), less what has been repaid. No other fee or charge.
    """
    assert loan.disbursed_on is not None
    advanced = loan.principal - Decimal(loan.terms.get("upfront_fee", "0"))
    days = Decimal(max((on - loan.disbursed_on).days, 0))
    rate = Decimal(loan.terms["annual_rate_pct"]) / 100
    interest = (advanced * rate * days / 365).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return max(advanced + interest - loan.amount_repaid, Decimal(0)), interest


async def exercise_cooling_off(uow: UnitOfWork, *, loan_id: str, reason: str, scope: Scope | None,
                               idempotency_key: str | None = None) -> Loan:
    """Withdraws from a disbursed loan inside the cooling-off period and collects what is due through the
    account domain (principal plus interest to date, no fees); again on a WITHDRAWAL_PENDING loan whose
    collection failed, it asks once more (with the interest to that day).
    """
    reason = check_reason(reason)
    async with uow:
        prior = await uow.replayed("exerciseCoolingOff", idempotency_key, {"loan": loan_id, "reason": reason}, Loan)
        if prior is not None:
            return prior
        loan = await lock(uow, Loan, loan_id, "loanId", scope)
        check(loan.status, {LoanStatus.ACTIVE, LoanStatus.WITHDRAWAL_PENDING}, "exercise cooling-off", "loan")
        if await _pending(uow, loan):
            raise InvalidTransition("A repayment request is pending on the loan; try again once it is answered.",
                                    status=loan.status)
        on = today()
        if loan.status == LoanStatus.ACTIVE:
            contract = (await uow.session.execute(
                select(Contract).where(Contract.application_id == loan.application_id))).scalar_one()
            if contract.cooling_off_ends_on is None or on > contract.cooling_off_ends_on:
                raise InvalidTransition("The cooling-off period has ended.", status=loan.status)
        amount, interest = cooling_off_due(loan, on)
        if loan.status == LoanStatus.ACTIVE:
            loan.status = LoanStatus.WITHDRAWAL_PENDING.value
            loan.withdrawal_repay_by = on + dt.timedelta(days=WITHDRAWAL_REPAY_DAYS)
            await uow.emit(events.LoanCoolingOffExercised(
                loan_id=str(loan.id), party_id=str(loan.party_id),
                amount_due=Money.of(amount, loan.currency, exact=False),
                interest=Money.of(interest, loan.currency, exact=False),
                repay_by=loan.withdrawal_repay_by.isoformat()),
                aggregate_id=loan.id, aggregate_version=loan.touch(), reason=reason,
                before={"status": LoanStatus.ACTIVE.value}, after={"status": loan.status})
        if amount > 0:
            await _request(uow, loan, Money.of(amount, loan.currency, exact=False), RepaymentPurpose.COOLING_OFF,
                           None)
        else:
            await _withdrawn(uow, loan)
        await uow.commit({"id": str(loan.id)})
        return loan


async def _withdrawn(uow: UnitOfWork, loan: Loan) -> None:
    loan.status = LoanStatus.WITHDRAWN_IN_COOLING_OFF.value
    await uow.emit(events.LoanWithdrawn(loan_id=str(loan.id), party_id=str(loan.party_id),
                                        amount_repaid=Money.of(loan.amount_repaid, loan.currency, exact=False)),
                   aggregate_id=loan.id, aggregate_version=loan.touch(),
                   before={"status": LoanStatus.WITHDRAWAL_PENDING.value}, after={"status": loan.status})
    await age(uow, loan, today())  # repaid after its deadline: back to CURRENT


async def _settle_withdrawal(uow: UnitOfWork, loan: Loan, req: RepaymentRequest) -> None:
    check(loan.status, {LoanStatus.WITHDRAWAL_PENDING}, "settle a cooling-off withdrawal", "loan")
    amount = Money.of(req.amount, req.currency, exact=False)
    loan.amount_repaid += req.amount
    await uow.emit(events.LoanRepaymentReceived(
        loan_id=str(loan.id), party_id=str(loan.party_id), amount=amount,
        amount_repaid=Money.of(loan.amount_repaid, loan.currency, exact=False),
        status=LoanStatus.WITHDRAWN_IN_COOLING_OFF.value), aggregate_id=loan.id, aggregate_version=loan.touch())
    await _withdrawn(uow, loan)


async def on_account_reply(session: AsyncSession, envelope: Envelope) -> None:
    """Routes an account reply: a repayment request of ours, else a loan disbursement."""
    try:
        request_id = uuid.UUID(str(envelope.data.get("idempotency_id")))
    except ValueError:
        return
    req = (await session.execute(select(RepaymentRequest).where(RepaymentRequest.id == request_id)
                                 .with_for_update())).scalar_one_or_none()
    if req is None:
        await on_disbursement_reply(session, envelope)
        return
    if req.status != RequestStatus.PENDING:
        return  # already answered: a reply is applied once
    uow = UnitOfWork(sessions=None,  # type: ignore[arg-type]
                     context=RequestContext(actor=Actor.system("consumer_lending-saga"),
                                            correlation_id=envelope.correlation_id, causation_id=str(envelope.id)))
    uow.session = session
    loan = await session.get(Loan, req.loan_id, with_for_update=True)
    assert loan is not None
    if envelope.nats_subject.endswith(".executed"):
        try:
            async with session.begin_nested():
                if req.purpose == RepaymentPurpose.COOLING_OFF:
                    await _settle_withdrawal(uow, loan, req)
                else:
                    await settle_repayment(uow, loan, Money.of(req.amount, req.currency, exact=False))
            req.status = RequestStatus.EXECUTED.value
            if loan.status == LoanStatus.ACTIVE and days_past_due(loan, today()) == 0:
                await age(uow, loan, today())  # back to CURRENT once the arrears are paid
        except (DomainError, InputError) as exc:
            # Collected, but no longer owed (e.g. repaid meanwhile): kept for operations to refund.
            req.status, req.reason = RequestStatus.UNAPPLIED.value, str(exc)[:500]
            log.warning("repayment_unapplied", request_id=str(req.id), reason=req.reason)
        return
    req.status = RequestStatus.FAILED.value
    req.reason = str(envelope.data.get("reason") or "collection refused")[:500]
    await uow.emit(events.LoanRepaymentFailed(loan_id=str(loan.id), party_id=str(loan.party_id),
                                              request_id=str(req.id), purpose=req.purpose, reason=req.reason),
                   aggregate_id=loan.id, aggregate_version=loan.touch(), reason=req.reason)
    if loan.status == LoanStatus.ACTIVE:
        await age(uow, loan, today())  # past due and unpaid → in arrears; due today stays due (CURRENT)
