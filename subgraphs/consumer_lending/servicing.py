"""Consumer loan servicing: the disbursement saga's replies, delinquency ageing and hardship.

The cooling-off withdrawal, collected through the repayment saga, is in collections.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

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
    DelinquencyBucket,
    Hardship,
    HardshipStatus,
    HardshipType,
    Loan,
    LoanStatus,
    check,
)
from subgraphs.consumer_lending.service import lock
from subgraphs.lending_schedules.allocation import allocate, unpaid
from subgraphs.lending_schedules.engine import (
    generate,
    installments_from_json,
    reschedule,
    reschedule_reduced,
    schedule_to_json,
    terms_from_json,
)

MAX_HARDSHIP_PERIODS = 12


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
        if (prior := await uow.replayed("recordLoanRepayment", idempotency_key, request, Loan)) is not None:
            return prior
        loan = await lock(uow, Loan, loan_id, "loanId", None)
        await settle_repayment(uow, loan, amount)
        await uow.commit({"id": str(loan.id)})
        return loan


# -- delinquency -------------------------------------------------------------------------------
async def _active_hardship(uow: UnitOfWork, loan_id: uuid.UUID) -> Hardship | None:
    stmt = select(Hardship).where(Hardship.loan_id == loan_id, Hardship.status == HardshipStatus.ACTIVE.value)
    return (await uow.session.execute(stmt)).scalars().first()


def days_past_due(loan: Loan, as_of: dt.date) -> int:
    """Days since the oldest instalment that repayments have not covered fell due; for a cooling-off withdrawal
    being collected, days since its repayment deadline; 0 once the loan is withdrawn."""
    if loan.status == LoanStatus.WITHDRAWN_IN_COOLING_OFF:
        return 0
    if loan.status == LoanStatus.WITHDRAWAL_PENDING and loan.withdrawal_repay_by is not None:
        return max((as_of - loan.withdrawal_repay_by).days, 0)
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
                           reason: str, idempotency_key: str, scope: frozenset[str] | None,
                           reduced_amount: Money | None = None) -> Hardship:
    """Records a borrower's hardship request (payment holiday, reduced payments, term extension).

    A REDUCED_PAYMENT names the agreed instalment (`reduced_amount`); the other types take none.
    """
    reason = check_reason(reason)
    if not 1 <= periods <= MAX_HARDSHIP_PERIODS:
        raise InputError(f"periods must be between 1 and {MAX_HARDSHIP_PERIODS}.", field="periods")
    if (arrangement_type is HardshipType.REDUCED_PAYMENT) != (reduced_amount is not None):
        raise InputError("reducedAmount is required for REDUCED_PAYMENT and only for it.", field="reducedAmount")
    if reduced_amount is not None and reduced_amount.amount <= 0:
        raise InputError("reducedAmount must be positive.", field="reducedAmount")
    async with uow:
        request = {"loan": loan_id, "type": arrangement_type, "periods": periods, "reason": reason,
                   "reduced": reduced_amount}
        if (prior := await uow.replayed("requestHardship", idempotency_key, request, Hardship)) is not None:
            return prior
        loan = await lock(uow, Loan, loan_id, "loanId", scope)
        check(loan.status, {LoanStatus.ACTIVE}, "request hardship", "loan")
        if reduced_amount is not None and reduced_amount.currency != loan.currency:
            raise InputError(f"The loan is in {loan.currency}.", field="reducedAmount")
        open_ = select(Hardship.id).where(Hardship.loan_id == loan.id, Hardship.status.in_(
            [HardshipStatus.REQUESTED.value, HardshipStatus.APPROVED.value, HardshipStatus.ACTIVE.value]))
        if (await uow.session.execute(open_)).first() is not None:
            raise InvalidTransition("The loan already has an open hardship arrangement.", status=loan.status)
        h = Hardship(id=uuid.uuid4(), loan_id=loan.id, arrangement_type=arrangement_type.value, periods=periods,
                     reason=reason, status=HardshipStatus.REQUESTED.value, requested_by=uow.context.actor.sub,
                     reduced_amount=reduced_amount.amount if reduced_amount is not None else None,
                     currency=loan.currency, version=1)
        uow.session.add(h)
        await uow.emit(events.HardshipRequested(
            hardship_id=str(h.id), loan_id=str(loan.id), status=h.status, arrangement_type=h.arrangement_type,
            periods=periods, reduced_amount=reduced_amount), aggregate_id=h.id, aggregate_version=1, reason=reason)
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


def recalculate(loan: Loan, h: Hardship, as_of: dt.date) -> tuple[list[dict[str, Any]], int, int]:
    """The loan's schedule under the arrangement from a date, and the first and last instalment it covers.

    Instalments due on or before `as_of` are kept as they are (with what was paid of them); the balance after
    the last of them is rescheduled from its due date:

    - PAYMENT_HOLIDAY: the next `periods` instalments are 0.00; the term grows by `periods`; the interest of
      the holiday is deferred to the first instalment after it.
    - REDUCED_PAYMENT: the next `periods` instalments are the agreed amount (interest first, the rest
      principal); the principal left unpaid is re-amortised over the remaining instalments (same maturity).
    - TERM_EXTENSION: the balance is re-amortised over `periods` more instalments; the arrangement covers the
      next `periods` of them.
    """
    kept = [i for i in installments_from_json(loan.schedule) if i.due_date <= as_of]
    remaining = len(loan.schedule) - len(kept)
    if remaining == 0:
        raise InvalidTransition("The loan has no future instalments to reschedule.", status=loan.status)
    outstanding = Decimal(kept[-1].balance_after if kept else loan.principal)
    start = kept[-1].due_date if kept else loan.disbursed_on
    assert start is not None
    k, kind, terms = h.periods, HardshipType(h.arrangement_type), terms_from_json(loan.terms)
    if kind is HardshipType.PAYMENT_HOLIDAY:
        new = reschedule(terms, outstanding=outstanding, start_date=start, installments=remaining + k,
                         grace_on_principal=k, grace_on_interest=k)
    elif kind is HardshipType.TERM_EXTENSION:
        new = reschedule(terms, outstanding=outstanding, start_date=start, installments=remaining + k)
    else:
        if k >= remaining:
            raise InvalidTransition(f"A reduced payment over {k} instalments needs more than the {remaining} "
                                    "left on the loan.", status=loan.status)
        assert h.reduced_amount is not None
        new = reschedule_reduced(terms, outstanding=outstanding, start_date=start, installments=remaining,
                                 reduced_periods=k, reduced_amount=Decimal(h.reduced_amount))
    rows = schedule_to_json(new)
    for row in rows:
        row["number"] += len(kept)
    return loan.schedule[: len(kept)] + rows, len(kept) + 1, len(kept) + k


async def activate_hardship(uow: UnitOfWork, *, hardship_id: str, as_of: dt.date) -> Hardship:
    """Starts an approved arrangement and recalculates the loan's remaining schedule."""
    async with uow:
        h = await lock(uow, Hardship, hardship_id, "hardshipId", None)
        loan = await lock(uow, Loan, str(h.loan_id), "loanId", None)
        check(loan.status, {LoanStatus.ACTIVE}, "activate hardship", "loan")
        await _move(uow, h, HardshipStatus.ACTIVE, None)
        loan.schedule, h.first_installment, h.last_installment = recalculate(loan, h, as_of)
        h.starts_on = as_of
        h.ends_on = dt.date.fromisoformat(loan.schedule[h.last_installment - 1]["due_date"])
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


def _covered(loan: Loan, h: Hardship) -> list[dict[str, Any]]:
    assert h.first_installment is not None
    assert h.last_installment is not None
    return loan.schedule[h.first_installment - 1: h.last_installment]


async def review_hardship(uow: UnitOfWork, h: Hardship, loan: Loan, as_of: dt.date) -> HardshipStatus | None:
    """End of day for one locked ACTIVE arrangement: BROKEN when a covered instalment due before `as_of` is
    unpaid (a missed reduced payment); else COMPLETED once `as_of` reaches its end and all it covered is paid.
    """
    covered = _covered(loan, h)
    missed = next((r for r in covered if dt.date.fromisoformat(r["due_date"]) < as_of and unpaid(r) > 0), None)
    if missed is not None:
        await _move(uow, h, HardshipStatus.BROKEN,
                    f"Instalment {missed['number']} due {missed['due_date']} was not paid.")
        return HardshipStatus.BROKEN
    assert h.ends_on is not None
    if as_of >= h.ends_on and all(unpaid(r) <= 0 for r in covered):
        await _move(uow, h, HardshipStatus.COMPLETED, f"Arrangement ended on {h.ends_on.isoformat()}.")
        return HardshipStatus.COMPLETED
    return None


async def review_hardships(uow: UnitOfWork, *, as_of: dt.date) -> tuple[int, int]:
    """End of day: completes or breaks every ACTIVE arrangement (inside the caller's unit of work).

    Returns (completed, broken). A broken arrangement resumes delinquency ageing the same day.
    """
    completed = broken = 0
    ids = (await uow.session.execute(select(Hardship.id).where(
        Hardship.status == HardshipStatus.ACTIVE.value).order_by(Hardship.id))).scalars().all()
    for hardship_id in ids:
        h = await lock(uow, Hardship, str(hardship_id), "hardshipId", None)
        loan = await lock(uow, Loan, str(h.loan_id), "loanId", None)
        if h.status != HardshipStatus.ACTIVE or h.ends_on is None:
            continue
        if loan.status == LoanStatus.CLOSED:  # repaid in full meanwhile: nothing is left to arrange
            await _move(uow, h, HardshipStatus.COMPLETED, "The loan is repaid.")
            completed += 1
            continue
        if loan.status != LoanStatus.ACTIVE:
            continue
        outcome = await review_hardship(uow, h, loan, as_of)
        completed += outcome is HardshipStatus.COMPLETED
        broken += outcome is HardshipStatus.BROKEN
    return completed, broken
