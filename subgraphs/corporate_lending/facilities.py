"""Facility lifecycle and drawdowns: availability, the limit under a row lock, and the disbursement saga."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import RequestContext, UnitOfWork
from shared.errors import InputError, InvalidTransition, LimitExceeded
from shared.events import Actor, Envelope
from shared.money import Money
from shared.validation import reason as check_reason
from shared.validation import required_text
from subgraphs.corporate_lending import events
from subgraphs.corporate_lending.common import lock, now
from subgraphs.corporate_lending.fees import decreasing_limit
from subgraphs.corporate_lending.models import (
    FACILITY_TRANSITIONS,
    Covenant,
    CovenantStatus,
    Drawdown,
    DrawdownStatus,
    Facility,
    FacilityStatus,
    FacilityType,
)
from subgraphs.lending_schedules.engine import generate, schedule_to_json, terms_from_json


def current_limit(f: Facility, on: dt.date | None = None) -> Decimal:
    """The limit in force: the committed limit, stepped down monthly for a DECREASING facility."""
    if f.facility_type != FacilityType.DECREASING:
        return Decimal(f.limit_amount)
    start = f.created_at.date() if f.created_at else now().date()
    return decreasing_limit(limit=f.limit_amount, start=start, maturity=f.maturity_date, on=on or now().date(),
                            currency=f.currency)


def available(f: Facility) -> Money:
    """Limit in force minus drawn (pending drawdowns included), never below zero."""
    return Money.of(max(current_limit(f) - f.drawn_amount, Decimal(0)), f.currency, exact=False)


async def move(uow: UnitOfWork, f: Facility, target: FacilityStatus, reason: str | None) -> None:
    """Moves a facility along its lifecycle, emitting FacilityStatusChanged (and FacilityAvailable)."""
    current = FacilityStatus(f.status)
    if target not in FACILITY_TRANSITIONS.get(current, set()):
        raise InvalidTransition(f"Facility is {current}; it cannot become {target}.", status=current.value)
    f.status = target.value
    await uow.emit(events.FacilityStatusChanged(facility_id=str(f.id), borrower_party_id=str(f.borrower_party_id),
                                                from_status=current.value, to_status=target.value),
                   aggregate_id=f.id, aggregate_version=f.touch(), reason=reason,
                   before={"status": current.value}, after={"status": target.value})
    if target is FacilityStatus.AVAILABLE:
        await uow.emit(events.FacilityAvailable(facility_id=str(f.id), borrower_party_id=str(f.borrower_party_id),
                                                available=available(f)),
                       aggregate_id=f.id, aggregate_version=f.touch())


async def satisfy_condition(uow: UnitOfWork, *, facility_id: str, condition: str, evidence: str) -> Facility:
    """Marks a condition precedent satisfied; the last one makes the facility AVAILABLE."""
    evidence = required_text(evidence, field="evidence", max_length=500)
    async with uow:
        f = await lock(uow, Facility, facility_id, "facilityId")
        if f.status != FacilityStatus.PENDING_CONDITIONS or condition not in f.conditions_outstanding:
            raise InvalidTransition(f"Condition '{condition[:60]}' is not outstanding on this facility.",
                                    status=f.status)
        f.conditions_outstanding = [c for c in f.conditions_outstanding if c != condition]
        await uow.emit(events.FacilityConditionSatisfied(facility_id=str(f.id),
                                                         borrower_party_id=str(f.borrower_party_id),
                                                         condition=condition),
                       aggregate_id=f.id, aggregate_version=f.touch(), reason=evidence)
        if not f.conditions_outstanding:
            await move(uow, f, FacilityStatus.AVAILABLE, "conditions precedent satisfied")
        await uow.commit()
        return f


async def change_facility_status(uow: UnitOfWork, *, facility_id: str, target: FacilityStatus,
                                 reason: str) -> Facility:
    """Suspends, reinstates, starts amortisation, cancels or closes a facility (with the guards of each)."""
    reason = check_reason(reason)
    async with uow:
        f = await lock(uow, Facility, facility_id, "facilityId")
        if target is FacilityStatus.AVAILABLE and await open_breaches(uow, f.id):
            raise InvalidTransition("A covenant breach is neither waived nor cured.", status=f.status)
        if target in (FacilityStatus.CANCELLED, FacilityStatus.CLOSED) and await outstanding(uow, f.id) > 0:
            raise InvalidTransition("Drawdowns are outstanding: the facility can only amortise.", status=f.status)
        await move(uow, f, target, reason)
        await uow.commit()
        return f


async def outstanding(uow: UnitOfWork, facility_id: uuid.UUID) -> Decimal:
    """Principal still owed (or awaiting settlement) on the facility's drawdowns."""
    stmt = select(func.coalesce(func.sum(Drawdown.principal_outstanding), 0)).where(
        Drawdown.facility_id == facility_id,
        Drawdown.status.in_([DrawdownStatus.ACTIVE.value, DrawdownStatus.PENDING_SETTLEMENT.value]))
    return Decimal(await uow.session.scalar(stmt) or 0)


async def open_breaches(uow: UnitOfWork, facility_id: uuid.UUID) -> bool:
    stmt = select(Covenant.id).where(Covenant.facility_id == facility_id,
                                     Covenant.status == CovenantStatus.BREACHED.value)
    return (await uow.session.execute(stmt)).first() is not None


async def execute_drawdown(uow: UnitOfWork, *, facility_id: str, amount: Money, settlement_account_id: uuid.UUID,
                           idempotency_key: str, scope: frozenset[str] | None) -> Drawdown:
    """Draws on an AVAILABLE facility within its limit and availability period; requests the credit (saga)."""
    if amount.amount <= 0:
        raise InputError("amount must be positive.", field="amount")
    async with uow:
        request = {"facility": facility_id, "amount": amount, "account": settlement_account_id}
        if (prior := await uow.replayed("executeDrawdown", idempotency_key, request, Drawdown)) is not None:
            return prior
        # The facility row lock serialises drawdowns: two concurrent requests cannot both pass the limit check.
        f = await lock(uow, Facility, facility_id, "facilityId", scope)
        if amount.currency != f.currency:
            raise InputError(f"The facility is in {f.currency}.", field="amount")
        if f.status != FacilityStatus.AVAILABLE:
            raise InvalidTransition(f"Drawdowns need an AVAILABLE facility; it is {f.status}.", status=f.status)
        today = now().date()
        if today > f.availability_end:
            raise InvalidTransition(f"The availability period ended on {f.availability_end}.", status=f.status)
        if amount > available(f):
            raise LimitExceeded(f"Drawdown {amount} exceeds the available {available(f)}.")
        terms = replace(terms_from_json(f.schedule_terms), principal=amount.amount, start_date=today,
                        annual_rate_pct=f.annual_rate_pct, upfront_fee=Decimal(0))
        schedule = generate(terms)
        d = Drawdown(id=uuid.uuid4(), facility_id=f.id, borrower_party_id=f.borrower_party_id,
                     settlement_account_id=settlement_account_id, amount=amount.amount, currency=f.currency,
                     value_date=today, schedule_terms=f.schedule_terms, schedule=schedule_to_json(schedule),
                     principal_outstanding=amount.amount, disbursement_id=uuid.uuid4(),
                     status=DrawdownStatus.PENDING_SETTLEMENT.value, version=1)
        uow.session.add(d)
        f.drawn_amount += amount.amount
        f.touch()
        ids = {"drawdown_id": str(d.id), "facility_id": str(f.id), "borrower_party_id": str(f.borrower_party_id)}
        await uow.emit(events.DrawdownExecuted(**ids, amount=amount, available_after=available(f),
                                               value_date=today.isoformat()),
                       aggregate_id=d.id, aggregate_version=1)
        await uow.emit(events.DrawdownDisbursementRequested(**ids, settlement_account_id=str(settlement_account_id),
                                                            amount=amount, idempotency_id=str(d.disbursement_id)),
                       aggregate_id=d.id, aggregate_version=1)
        await uow.commit({"id": str(d.id)})
        return d


async def on_account_reply(session: AsyncSession, envelope: Envelope) -> None:
    """Settles (payment executed) or compensates (payment failed: the limit is released) a drawdown."""
    try:
        disbursement_id = uuid.UUID(str(envelope.data.get("idempotency_id")))
    except ValueError:
        return
    d = (await session.execute(select(Drawdown).where(Drawdown.disbursement_id == disbursement_id)
                               .with_for_update())).scalar_one_or_none()
    if d is None or d.status != DrawdownStatus.PENDING_SETTLEMENT:
        return
    uow = UnitOfWork(sessions=None,  # type: ignore[arg-type]
                     context=RequestContext(actor=Actor.system("corporate_lending-saga"),
                                            correlation_id=envelope.correlation_id, causation_id=str(envelope.id)))
    uow.session = session
    ids = {"drawdown_id": str(d.id), "facility_id": str(d.facility_id), "borrower_party_id": str(d.borrower_party_id)}
    if envelope.nats_subject.endswith(".executed"):
        d.status = DrawdownStatus.ACTIVE.value
        await uow.emit(events.DrawdownSettled(**ids, payment_id=envelope.data.get("payment_id")),
                       aggregate_id=d.id, aggregate_version=d.touch())
        return
    f = await session.get(Facility, d.facility_id, with_for_update=True)
    assert f is not None
    f.drawn_amount -= d.amount
    f.touch()
    d.status, d.principal_outstanding = DrawdownStatus.FAILED.value, Decimal(0)
    reason = str(envelope.data.get("reason") or "booking failed")[:500]
    await uow.emit(events.DrawdownFailed(**ids, reason=reason, available_after=available(f)),
                   aggregate_id=d.id, aggregate_version=d.touch(), reason=reason)


def restores_limit(f: Facility) -> bool:
    """Repaid principal can be drawn again only on a revolving facility."""
    return f.facility_type == FacilityType.REVOLVING


def as_of_or_today(as_of: dt.date | None) -> dt.date:
    return as_of or now().date()
