"""The repayment saga: debits asked of the account domain, applied to the drawdown when the account answers.

`DrawdownRepaymentRequested` asks the account domain to debit the borrower's settlement account; the
`finpace.account.payment.executed` reply applies the repayment (RepaymentReceived, in the facility's
allocation order), `payment.failed` records the refusal (DrawdownRepaymentFailed) and raises
InstallmentOverdue for instalments already past due. One request per drawdown may be PENDING at a time.
"""

from __future__ import annotations

import datetime as dt
import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import RequestContext, UnitOfWork
from shared.errors import DomainError, InputError, InvalidTransition
from shared.events import Actor, Envelope
from shared.money import Money
from subgraphs.corporate_lending import events
from subgraphs.corporate_lending.common import lock, now
from subgraphs.corporate_lending.facilities import on_account_reply as on_disbursement_reply
from subgraphs.corporate_lending.models import (
    Drawdown,
    DrawdownStatus,
    Facility,
    RepaymentPurpose,
    RepaymentRequest,
    RequestStatus,
    check,
)
from subgraphs.corporate_lending.servicing import mark_overdue, settle_repayment, split
from subgraphs.lending_schedules.allocation import due_unpaid, unpaid

log = structlog.get_logger(__name__)
EOD_NAMESPACE = uuid.UUID("6f1d9e36-5b0a-4c55-9a43-0c8f61f7a1d2")


def _ids(d: Drawdown) -> dict[str, str]:
    return {"drawdown_id": str(d.id), "facility_id": str(d.facility_id), "borrower_party_id": str(d.borrower_party_id)}


async def _pending(uow: UnitOfWork, d: Drawdown) -> bool:
    stmt = select(RepaymentRequest.id).where(RepaymentRequest.drawdown_id == d.id,
                                             RepaymentRequest.status == RequestStatus.PENDING.value)
    return (await uow.session.execute(stmt)).first() is not None


async def _request(uow: UnitOfWork, d: Drawdown, amount: Money, purpose: RepaymentPurpose,
                   request_id: uuid.UUID | None = None) -> RepaymentRequest:
    """Stores the PENDING request and publishes DrawdownRepaymentRequested (the caller commits)."""
    first_due = next((r["number"] for r in d.schedule if unpaid(r) > 0), None)
    req = RepaymentRequest(id=request_id or uuid.uuid4(), drawdown_id=d.id, amount=amount.amount,
                           currency=amount.currency, purpose=purpose.value,
                           installment_number=first_due if purpose is RepaymentPurpose.INSTALMENT_DUE else None,
                           status=RequestStatus.PENDING.value, requested_by=uow.context.actor.sub)
    uow.session.add(req)
    await uow.emit(events.DrawdownRepaymentRequested(
        **_ids(d), settlement_account_id=str(d.settlement_account_id), amount=amount, idempotency_id=str(req.id),
        purpose=purpose.value, installment_number=req.installment_number),
        aggregate_id=d.id, aggregate_version=d.touch())
    return req


async def request_repayment(uow: UnitOfWork, *, drawdown_id: str, amount: Money | None, idempotency_key: str,
                            scope: frozenset[str] | None) -> RepaymentRequest:
    """A borrower-initiated repayment (what is due when no amount is given; more than that prepays)."""
    if amount is not None and amount.amount <= 0:
        raise InputError("amount must be positive.", field="amount")
    async with uow:
        request = {"drawdown": drawdown_id, "amount": amount}
        prior = await uow.replayed("requestDrawdownRepayment", idempotency_key, request, RepaymentRequest)
        if prior is not None:
            return prior
        d = await lock(uow, Drawdown, drawdown_id, "drawdownId", scope)
        check(d.status, {DrawdownStatus.ACTIVE}, "request a repayment", "drawdown")
        if amount is not None and amount.currency != d.currency:
            raise InputError(f"The drawdown is in {d.currency}.", field="amount")
        f = await lock(uow, Facility, d.facility_id, "facilityId")
        today = now().date()
        due = due_unpaid(d.schedule, today)
        if amount is None:
            if due <= 0:
                raise InvalidTransition("Nothing is due on the drawdown; name an amount to prepay.", status=d.status)
            amount = Money.of(due, d.currency, exact=False)
        split(d, f, amount.amount, today)  # refuses more than everything outstanding
        if await _pending(uow, d):
            raise InvalidTransition("A repayment request is already pending on the drawdown.", status=d.status)
        purpose = RepaymentPurpose.PREPAYMENT if amount.amount > due else RepaymentPurpose.CUSTOMER
        req = await _request(uow, d, amount, purpose)
        await uow.commit({"id": str(req.id)})
        return req


async def collect_due(uow: UnitOfWork, *, as_of: dt.date) -> tuple[int, int]:
    """End of day: raises overdue instalments and requests what is due on each active drawdown.

    Runs inside the caller's unit of work (the end of day commits). Returns (instalments marked overdue, collections
    requested). The request id is derived from the business date, so a date asks for a collection once.
    """
    overdue = requested = 0
    ids = (await uow.session.execute(select(Drawdown.id).where(
        Drawdown.status == DrawdownStatus.ACTIVE.value).order_by(Drawdown.id))).scalars().all()
    for drawdown_id in ids:
        d = await lock(uow, Drawdown, drawdown_id, "drawdownId")
        overdue += await mark_overdue(uow, d, as_of)
        due = due_unpaid(d.schedule, as_of)
        request_id = uuid.uuid5(EOD_NAMESPACE, f"{d.id}/{as_of.isoformat()}")
        if due <= 0 or await _pending(uow, d) or await uow.session.get(RepaymentRequest, request_id):
            continue
        await _request(uow, d, Money.of(due, d.currency, exact=False), RepaymentPurpose.INSTALMENT_DUE,
                       request_id)
        requested += 1
    return overdue, requested


async def on_account_reply(session: AsyncSession, envelope: Envelope) -> None:
    """Routes an account reply: a repayment request of ours, else a drawdown disbursement."""
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
                     context=RequestContext(actor=Actor.system("corporate_lending-saga"),
                                            correlation_id=envelope.correlation_id, causation_id=str(envelope.id)))
    uow.session = session
    d = await session.get(Drawdown, req.drawdown_id, with_for_update=True)
    assert d is not None
    if envelope.nats_subject.endswith(".executed"):
        value_date = dt.date.fromisoformat(envelope.data.get("value_date") or envelope.occurred_at.date().isoformat())
        f = await session.get(Facility, d.facility_id, with_for_update=True)
        assert f is not None
        try:
            async with session.begin_nested():
                check(d.status, {DrawdownStatus.ACTIVE}, "apply a repayment", "drawdown")
                rep = await settle_repayment(uow, d, f, Money.of(req.amount, req.currency, exact=False), value_date)
            req.status, req.repayment_id = RequestStatus.EXECUTED.value, rep.id
        except (DomainError, InputError) as exc:
            # Collected, but no longer owed (e.g. repaid meanwhile): kept for operations to refund.
            req.status, req.reason = RequestStatus.UNAPPLIED.value, str(exc)[:500]
            log.warning("repayment_unapplied", request_id=str(req.id), reason=req.reason)
        return
    req.status = RequestStatus.FAILED.value
    req.reason = str(envelope.data.get("reason") or "collection refused")[:500]
    await uow.emit(events.DrawdownRepaymentFailed(**_ids(d), request_id=str(req.id), purpose=req.purpose,
                                                  reason=req.reason),
                   aggregate_id=d.id, aggregate_version=d.touch(), reason=req.reason)
    if d.status == DrawdownStatus.ACTIVE:
        await mark_overdue(uow, d, now().date())  # past due and unpaid → overdue; due today stays due
