"""Drawdown servicing: repayments in the facility's allocation order, prepayment, overdue instalments."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from shared.db import UnitOfWork
from shared.errors import InputError
from shared.money import Money
from subgraphs.corporate_lending import events
from subgraphs.corporate_lending.common import lock
from subgraphs.corporate_lending.facilities import restores_limit
from subgraphs.corporate_lending.models import AllocationOrder, Drawdown, DrawdownStatus, Facility, Repayment, check
from subgraphs.lending_schedules.allocation import INTEREST_FIRST, PRINCIPAL_FIRST, allocate, owed, unpaid
from subgraphs.lending_schedules.engine import reschedule, schedule_to_json, split_prepayment, terms_from_json


def _order(f: Facility) -> tuple[str, ...]:
    return INTEREST_FIRST if AllocationOrder(f.allocation_order) is AllocationOrder.INTEREST_FIRST else PRINCIPAL_FIRST


def _prepay(d: Drawdown, schedule: list[dict[str, Any]], paid_now: Decimal, prepaid: Decimal,
            received_on: dt.date) -> list[dict[str, Any]]:
    # Keeps the instalments already due and recalculates the rest on the reduced balance (same count).
    kept = [r for r in schedule if dt.date.fromisoformat(r["due_date"]) <= received_on]
    future = len(schedule) - len(kept)
    outstanding = d.principal_outstanding - paid_now - prepaid - sum((owed(r, "principal") for r in kept), Decimal(0))
    if outstanding == 0 or future == 0:
        return kept + [{**r, "principal": "0", "interest": "0", "total": "0", "balance_after": "0"}
                       for r in schedule[len(kept):]]
    start = dt.date.fromisoformat(kept[-1]["due_date"]) if kept else d.value_date
    terms = terms_from_json(d.schedule_terms)
    new = schedule_to_json(reschedule(terms, outstanding=outstanding, start_date=start, installments=future))
    for row in new:
        row["number"] += len(kept)
    return kept + new


def split(d: Drawdown, f: Facility, amount: Decimal,
          received_on: dt.date) -> tuple[list[dict[str, Any]], Decimal, Decimal, Decimal]:
    """Allocates a repayment on a copy of the schedule: (schedule, interest, principal, prepaid principal).

    Due instalments are paid oldest first in the allocation order; any excess first pays the interest
    accrued on the prepaid principal since the last due date, the rest prepays. Overpaying is refused.
    """
    schedule = [dict(r) for r in d.schedule]
    paid, left = allocate(schedule, amount, received_on, _order(f))
    interest, principal = paid["interest"] + paid["fees"], paid["principal"]
    if left > 0:
        terms = terms_from_json(d.schedule_terms)
        kept = [r for r in schedule if dt.date.fromisoformat(r["due_date"]) <= received_on]
        since = dt.date.fromisoformat(kept[-1]["due_date"]) if kept else d.value_date
        left, accrued = split_prepayment(left, annual_rate_pct=terms.annual_rate_pct, since=since,
                                         until=received_on, day_count=terms.day_count, currency=d.currency)
        interest += accrued
    if left > d.principal_outstanding - principal:
        raise InputError("The repayment exceeds everything outstanding on the drawdown.", field="amount")
    return schedule, interest, principal, left


async def settle_repayment(uow: UnitOfWork, d: Drawdown, f: Facility, amount: Money,
                           received_on: dt.date) -> Repayment:
    """Applies a received repayment to locked rows and emits RepaymentReceived (inside the caller's transaction)."""
    schedule, interest, principal, left = split(d, f, amount.amount, received_on)
    if left > 0:
        schedule = _prepay(d, schedule, principal, left, received_on)
    d.schedule = schedule
    d.principal_outstanding -= principal + left
    if d.principal_outstanding == 0:
        d.status = DrawdownStatus.REPAID.value
    if restores_limit(f):
        f.drawn_amount -= principal + left
        f.touch()
    rep = Repayment(id=uuid.uuid4(), drawdown_id=d.id, amount=amount.amount, interest=interest,
                    principal=principal, prepaid_principal=left, received_on=received_on)
    uow.session.add(rep)
    m = lambda v: Money.of(v, d.currency, exact=False)  # noqa: E731
    await uow.emit(events.RepaymentReceived(
        drawdown_id=str(d.id), facility_id=str(d.facility_id), borrower_party_id=str(d.borrower_party_id),
        repayment_id=str(rep.id), amount=amount, interest=m(interest), principal=m(principal),
        prepaid_principal=m(left), principal_outstanding=m(d.principal_outstanding)),
        aggregate_id=d.id, aggregate_version=d.touch())
    return rep


async def record_repayment(uow: UnitOfWork, *, drawdown_id: str, amount: Money, received_on: dt.date,
                           idempotency_key: str) -> Drawdown:
    """Applies a repayment: due interest and principal in allocation order, the rest as prepayment."""
    if amount.amount <= 0:
        raise InputError("amount must be positive.", field="amount")
    async with uow:
        request = {"drawdown": drawdown_id, "amount": amount, "on": received_on}
        if (prior := await uow.replayed("recordRepayment", idempotency_key, request, Drawdown)) is not None:
            return prior
        d = await lock(uow, Drawdown, drawdown_id, "drawdownId")
        check(d.status, {DrawdownStatus.ACTIVE}, "record a repayment", "drawdown")
        if amount.currency != d.currency:
            raise InputError(f"The drawdown is in {d.currency}.", field="amount")
        f = await lock(uow, Facility, d.facility_id, "facilityId")
        await settle_repayment(uow, d, f, amount, received_on)
        await uow.commit({"id": str(d.id)})
        return d


async def mark_overdue(uow: UnitOfWork, d: Drawdown, as_of: dt.date) -> int:
    """Raises InstallmentOverdue once for each instalment due before as_of and not fully paid; returns how many."""
    schedule = [dict(r) for r in d.schedule]
    raised = 0
    for row in schedule:
        due = dt.date.fromisoformat(row["due_date"])
        left = unpaid(row)
        if due < as_of and left > 0 and not row.get("overdue_notified"):
            row["overdue_notified"] = True
            raised += 1
            await uow.emit(events.InstallmentOverdue(
                drawdown_id=str(d.id), facility_id=str(d.facility_id),
                borrower_party_id=str(d.borrower_party_id), installment_number=row["number"],
                due_date=row["due_date"], amount_overdue=Money.of(left, d.currency, exact=False)),
                aggregate_id=d.id, aggregate_version=d.touch())
    d.schedule = schedule
    return raised


async def check_overdue(uow: UnitOfWork, *, drawdown_id: str, as_of: dt.date) -> Drawdown:
    """Raises InstallmentOverdue once for each instalment past due and not fully paid."""
    async with uow:
        d = await lock(uow, Drawdown, drawdown_id, "drawdownId")
        check(d.status, {DrawdownStatus.ACTIVE}, "check arrears", "drawdown")
        await mark_overdue(uow, d, as_of)
        await uow.commit()
        return d
