"""Consumer loan servicing: the disbursement saga's replies, cooling-off, delinquency ageing and hardship."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import RequestContext, UnitOfWork
from shared.errors import FourEyesRequired, InputError, InvalidTransition
from shared.events import Actor, Envelope
from shared.money import Money
from shared.validation import reason as check_reason
from subgraphs.consumer_lending import events
from subgraphs.consumer_lending.models import (
    HARDSHIP_TRANSITIONS,
    Application,
    ApplicationStatus,
    Contract,
    DelinquencyBucket,
    Hardship,
    HardshipStatus,
    HardshipType,
    Loan,
    LoanStatus,
    check,
)
from subgraphs.consumer_lending.service import lock
from subgraphs.lending_schedules.allocation import allocate
from subgraphs.lending_schedules.engine import (
    generate,
    installments_from_json,
    reschedule,
    schedule_to_json,
    terms_from_json,
)

MAX_HARDSHIP_PERIODS = 12


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# -- the disbursement saga: replies from the account domain ------------------------------------
async def on_account_reply(session: AsyncSession, envelope: Envelope) -> None:
    """Completes (payment executed) or compensates (payment failed) a pending disbursement."""
    idem = envelope.data.get("idempotency_id")
    if not idem:
        return
    try:
        disbursement_id = uuid.UUID(str(idem))
    except ValueError:
        return
    loan = (await session.execute(select(Loan).where(Loan.disbursement_id == disbursement_id)
                                  .with_for_update())).scalar_one_or_none()
    if loan is None or loan.status != LoanStatus.DISBURSEMENT_PENDING:
        return  # not ours, or already settled: replies are applied once
    uow = UnitOfWork(sessions=None,  # type: ignore[arg-type]
                     context=RequestContext(actor=Actor.system("consumer_lending-saga"),
                                            correlation_id=envelope.correlation_id, causation_id=str(envelope.id)))
    uow.session = session
    app = await session.get(Application, loan.application_id, with_for_update=True)
    assert app is not None
    if envelope.nats_subject.endswith(".executed") or envelope.type.endswith("Executed"):
        value_date = dt.date.fromisoformat(envelope.data.get("value_date") or envelope.occurred_at.date().isoformat())
        terms = terms_from_json(loan.terms)
        terms = replace(terms, start_date=value_date)
        loan.schedule = schedule_to_json(generate(terms))
        loan.schedule_version, loan.disbursed_on, loan.status = 1, value_date, LoanStatus.ACTIVE.value
        app.status = ApplicationStatus.DISBURSED.value
        app.touch()
        await uow.emit(events.LoanDisbursed(loan_id=str(loan.id), party_id=str(loan.party_id),
                                            amount=Money.of(loan.principal, loan.currency),
                                            disbursed_on=value_date.isoformat(),
                                            payment_id=envelope.data.get("payment_id")),
                       aggregate_id=loan.id, aggregate_version=loan.touch())
    else:
        reason = str(envelope.data.get("reason") or "booking failed")[:500]
        loan.status, loan.failure_reason = LoanStatus.DISBURSEMENT_FAILED.value, reason
        app.status = ApplicationStatus.CONTRACT_ACCEPTED.value  # compensation: disbursement may be retried
        app.touch()
        await uow.emit(events.LoanDisbursementFailed(loan_id=str(loan.id), party_id=str(loan.party_id),
                                                     reason=reason),
                       aggregate_id=loan.id, aggregate_version=loan.touch(), reason=reason)


# -- repayments ---------------------------------------------------------------------------------
def owed_in_total(loan: Loan) -> Decimal:
    """Everything the schedule asks for, less what has been repaid."""
    return sum((i.total for i in installments_from_json(loan.schedule)), Decimal(0)) - loan.amount_repaid


async def settle_repayment(uow: UnitOfWork, loan: Loan, amount: Money) -> None:
    """Applies a received repayment to a locked ACTIVE loan: oldest instalment first, fees → interest → principal.

    Overpaying is refused; the loan closes when everything scheduled is paid (inside the caller's transaction).
    """
    check(loan.status, {LoanStatus.ACTIVE}, "record a repayment", "loan")
    if amount.currency != loan.currency:
        raise InputError(f"The loan is in {loan.currency}.", field="amount")
    owed = owed_in_total(loan)
    if amount.amount > owed:
        raise InputError(f"The repayment exceeds the {owed} still owed.", field="amount")
    schedule = [dict(r) for r in loan.schedule]
    paid, _ = allocate(schedule, amount.amount, dt.date.max)
    loan.schedule = schedule
    loan.amount_repaid += amount.amount
    if amount.amount == owed:
        loan.status = LoanStatus.CLOSED.value
    m = lambda v: Money.of(v, loan.currency, exact=False)  # noqa: E731
    await uow.emit(events.LoanRepaymentReceived(
        loan_id=str(loan.id), party_id=str(loan.party_id), amount=amount, amount_repaid=m(loan.amount_repaid),
        status=loan.status, interest=m(paid["fees"] + paid["interest"]), principal=m(paid["principal"])),
        aggregate_id=loan.id, aggregate_version=loan.touch())


async def record_repayment(uow: UnitOfWork, *, loan_id: str, amount: Money, idempotency_key: str) -> Loan:
    """Records a repayment against the schedule; the loan closes when everything scheduled is paid."""
    if amount.amount <= 0:
        raise InputError("amount must be positive.", field="amount")
    async with uow:
        request = {"loan": loan_id, "amount": amount}
        prior = await uow.claim_idempotency("recordLoanRepayment", idempotency_key, request)
        if prior is not None:
            row = await uow.session.get(Loan, uuid.UUID(prior["id"]))
            assert row is not None
            uow.session.expunge(row)
            return row
        loan = await lock(uow, Loan, loan_id, "loanId", None)
        await settle_repayment(uow, loan, amount)
        await uow.commit({"id": str(loan.id)})
        return loan


# -- cooling-off -------------------------------------------------------------------------------
async def exercise_cooling_off(uow: UnitOfWork, *, loan_id: str, reason: str, scope: frozenset[str] | None) -> Loan:
    """Withdraws from a disbursed loan inside the cooling-off period: principal plus interest for the days used."""
    reason = check_reason(reason)
    async with uow:
        loan = await lock(uow, Loan, loan_id, "loanId", scope)
        check(loan.status, {LoanStatus.ACTIVE}, "exercise cooling-off", "loan")
        contract = (await uow.session.execute(
            select(Contract).where(Contract.application_id == loan.application_id))).scalar_one()
        today = _today()
        if contract.cooling_off_ends_on is None or today > contract.cooling_off_ends_on:
            raise InvalidTransition("The cooling-off period has ended.", status=loan.status)
        assert loan.disbursed_on is not None
        days = Decimal(max((today - loan.disbursed_on).days, 0))
        rate = Decimal(loan.terms["annual_rate_pct"]) / 100
        interest = (loan.principal * rate * days / 365).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        loan.status = LoanStatus.WITHDRAWN_IN_COOLING_OFF.value
        await uow.emit(events.LoanCoolingOffExercised(
            loan_id=str(loan.id), party_id=str(loan.party_id),
            amount_due=Money.of(loan.principal + interest, loan.currency, exact=False)),
            aggregate_id=loan.id, aggregate_version=loan.touch(), reason=reason,
            before={"status": "ACTIVE"}, after={"status": loan.status})
        await uow.commit()
        return loan


# -- delinquency -------------------------------------------------------------------------------
async def _active_hardship(uow: UnitOfWork, loan_id: uuid.UUID) -> Hardship | None:
    stmt = select(Hardship).where(Hardship.loan_id == loan_id, Hardship.status == HardshipStatus.ACTIVE.value)
    return (await uow.session.execute(stmt)).scalars().first()


def days_past_due(loan: Loan, as_of: dt.date) -> int:
    """Days since the oldest instalment that repayments have not covered fell due."""
    covered, cumulative = Decimal(loan.amount_repaid), Decimal(0)
    for inst in installments_from_json(loan.schedule):
        if inst.due_date > as_of:
            break
        cumulative += inst.total
        if cumulative > covered:
            return (as_of - inst.due_date).days
    return 0


async def age(uow: UnitOfWork, loan: Loan, as_of: dt.date) -> bool:
    """Ages a locked loan as of a date; True when it moved bucket (paused by an active hardship arrangement)."""
    if await _active_hardship(uow, loan.id) is not None:
        return False
    dpd = days_past_due(loan, as_of)
    bucket = DelinquencyBucket.of(dpd)
    before = loan.delinquency_bucket
    loan.days_past_due = dpd
    if bucket == before:
        return False
    loan.delinquency_bucket = bucket.value
    await uow.emit(events.LoanDelinquencyChanged(loan_id=str(loan.id), party_id=str(loan.party_id),
                                                 days_past_due=dpd, from_bucket=before, to_bucket=bucket.value),
                   aggregate_id=loan.id, aggregate_version=loan.touch())
    return True


async def assess_delinquency(uow: UnitOfWork, *, loan_id: str, as_of: dt.date) -> Loan:
    """Ages the loan as of a date and moves it between delinquency buckets (paused by active hardship)."""
    async with uow:
        loan = await lock(uow, Loan, loan_id, "loanId", None)
        check(loan.status, {LoanStatus.ACTIVE}, "assess delinquency", "loan")
        await age(uow, loan, as_of)
        await uow.commit()
        return loan


# -- hardship ----------------------------------------------------------------------------------
async def request_hardship(uow: UnitOfWork, *, loan_id: str, arrangement_type: HardshipType, periods: int,
                           reason: str, idempotency_key: str, scope: frozenset[str] | None) -> Hardship:
    """Records a borrower's hardship request (payment holiday, reduced payments, term extension)."""
    reason = check_reason(reason)
    if not 1 <= periods <= MAX_HARDSHIP_PERIODS:
        raise InputError(f"periods must be between 1 and {MAX_HARDSHIP_PERIODS}.", field="periods")
    async with uow:
        request = {"loan": loan_id, "type": arrangement_type, "periods": periods, "reason": reason}
        prior = await uow.claim_idempotency("requestHardship", idempotency_key, request)
        if prior is not None:
            row = await uow.session.get(Hardship, uuid.UUID(prior["id"]))
            assert row is not None
            uow.session.expunge(row)
            return row
        loan = await lock(uow, Loan, loan_id, "loanId", scope)
        check(loan.status, {LoanStatus.ACTIVE}, "request hardship", "loan")
        open_ = select(Hardship.id).where(Hardship.loan_id == loan.id, Hardship.status.in_(
            [HardshipStatus.REQUESTED.value, HardshipStatus.APPROVED.value, HardshipStatus.ACTIVE.value]))
        if (await uow.session.execute(open_)).first() is not None:
            raise InvalidTransition("The loan already has an open hardship arrangement.", status=loan.status)
        h = Hardship(id=uuid.uuid4(), loan_id=loan.id, arrangement_type=arrangement_type.value, periods=periods,
                     reason=reason, status=HardshipStatus.REQUESTED.value, requested_by=uow.context.actor.sub,
                     version=1)
        uow.session.add(h)
        await uow.emit(events.HardshipRequested(hardship_id=str(h.id), loan_id=str(loan.id), status=h.status,
                                                arrangement_type=h.arrangement_type, periods=periods),
                       aggregate_id=h.id, aggregate_version=1, reason=reason)
        await uow.commit({"id": str(h.id)})
        return h


async def _move(uow: UnitOfWork, h: Hardship, target: HardshipStatus, reason: str | None) -> None:
    current = HardshipStatus(h.status)
    if target not in HARDSHIP_TRANSITIONS.get(current, set()):
        raise InvalidTransition(f"Hardship arrangement is {current}; cannot become {target}.", status=current)
    h.status = target.value
    await uow.emit(events.HardshipStatusChanged(hardship_id=str(h.id), loan_id=str(h.loan_id), status=target.value,
                                                from_status=current.value),
                   aggregate_id=h.id, aggregate_version=h.touch(), reason=reason,
                   before={"status": current.value}, after={"status": target.value})


async def decide_hardship(uow: UnitOfWork, *, hardship_id: str, approve: bool, reason: str) -> Hardship:
    """Approves or declines a request; the decider must not be the requester."""
    reason = check_reason(reason)
    async with uow:
        h = await lock(uow, Hardship, hardship_id, "hardshipId", None)
        if h.requested_by == uow.context.actor.sub:
            raise FourEyesRequired("A hardship request is decided by someone other than who raised it.")
        h.decided_by, h.decision_reason = uow.context.actor.sub, reason
        await _move(uow, h, HardshipStatus.APPROVED if approve else HardshipStatus.DECLINED, reason)
        await uow.commit()
        return h


async def activate_hardship(uow: UnitOfWork, *, hardship_id: str, as_of: dt.date) -> Hardship:
    """Starts an approved arrangement and recalculates the loan's remaining schedule."""
    async with uow:
        h = await lock(uow, Hardship, hardship_id, "hardshipId", None)
        loan = await lock(uow, Loan, str(h.loan_id), "loanId", None)
        check(loan.status, {LoanStatus.ACTIVE}, "activate hardship", "loan")
        await _move(uow, h, HardshipStatus.ACTIVE, None)
        kept = [i for i in installments_from_json(loan.schedule) if i.due_date <= as_of]
        remaining = len(loan.schedule) - len(kept)
        if remaining == 0:
            raise InvalidTransition("The loan has no future instalments to reschedule.", status=loan.status)
        outstanding = kept[-1].balance_after if kept else loan.principal
        start = kept[-1].due_date if kept else loan.disbursed_on
        k = h.periods
        kind = HardshipType(h.arrangement_type)
        grace_p = k if kind in (HardshipType.PAYMENT_HOLIDAY, HardshipType.REDUCED_PAYMENT) else 0
        grace_i = k if kind is HardshipType.PAYMENT_HOLIDAY else 0
        assert start is not None
        new = reschedule(terms_from_json(loan.terms), outstanding=Decimal(outstanding), start_date=start,
                         installments=remaining + k, grace_on_principal=grace_p, grace_on_interest=grace_i)
        rows = schedule_to_json(new)
        for row in rows:
            row["number"] += len(kept)
        loan.schedule = loan.schedule[: len(kept)] + rows
        loan.schedule_version += 1
        loan.days_past_due, loan.delinquency_bucket = 0, DelinquencyBucket.CURRENT.value
        await uow.emit(events.LoanScheduleRecalculated(loan_id=str(loan.id), party_id=str(loan.party_id),
                                                       schedule_version=loan.schedule_version,
                                                       hardship_id=str(h.id)),
                       aggregate_id=loan.id, aggregate_version=loan.touch(), reason=h.reason)
        await uow.commit()
        return h


async def end_hardship(uow: UnitOfWork, *, hardship_id: str, broken: bool, reason: str) -> Hardship:
    """Ends an active arrangement as COMPLETED or BROKEN (a broken one resumes delinquency ageing)."""
    reason = check_reason(reason)
    async with uow:
        h = await lock(uow, Hardship, hardship_id, "hardshipId", None)
        await _move(uow, h, HardshipStatus.BROKEN if broken else HardshipStatus.COMPLETED, reason)
        await uow.commit()
        return h
