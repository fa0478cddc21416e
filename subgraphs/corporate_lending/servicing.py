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
from subgraphs.corporate_lending.common import lock, replayed
from subgraphs.corporate_lending.facilities import restores_limit
from subgraphs.corporate_lending.models import AllocationOrder, Drawdown, DrawdownStatus, Facility, Repayment, check
from subgraphs.lending_schedules.engine import reschedule, schedule_to_json, split_prepayment, terms_from_json


def _owed(row: dict[str, Any], part: str) -> Decimal:
    return Decimal(row[part]) - Decimal(row.get(f"paid_{part}", "0"))


def _pay(row: dict[str, Any], part: str, budget: Decimal) -> Decimal:
    paid = min(budget, _owed(row, part))
    row[f"paid_{part}"] = str(Decimal(row.get(f"paid_{part}", "0")) + paid)
    return paid


def allocate(schedule: list[dict[str, Any]], amount: Decimal, received_on: dt.date,
             order: AllocationOrder) -> tuple[Decimal, Decimal, Decimal]:
    """Pays due instalments oldest first in the allocation order; returns (interest, principal, left over)."""
    parts = ("interest", "principal") if order is AllocationOrder.INTEREST_FIRST else ("principal", "interest")
    paid = {"interest": Decimal(0), "principal": Decimal(0)}
    left = amount
    for row in schedule:
        if dt.date.fromisoformat(row["due_date"]) > received_on:
            break
        for part in parts:
            took = _pay(row, part, left)
            paid[part] += took
            left -= took
    return paid["interest"], paid["principal"], left


def _prepay(d: Drawdown, schedule: list[dict[str, Any]], paid_now: Decimal, prepaid: Decimal,
            received_on: dt.date) -> list[dict[str, Any]]:
    # Keeps the instalments already due and recalculates the rest on the reduced balance (same count).
    kept = [r for r in schedule if dt.date.fromisoformat(r["due_date"]) <= received_on]
    future = len(schedule) - len(kept)
    outstanding = d.principal_outstanding - paid_now - prepaid - sum((_owed(r, "principal") for r in kept), Decimal(0))
    if outstanding == 0 or future == 0:
        return kept + [{**r, "principal": "0", "interest": "0", "total": "0", "balance_after": "0"}
                       for r in schedule[len(kept):]]
    start = dt.date.fromisoformat(kept[-1]["due_date"]) if kept else d.value_date
    terms = terms_from_json(d.schedule_terms)
    new = schedule_to_json(reschedule(terms, outstanding=outstanding, start_date=start, installments=future))
    for row in new:
        row["number"] += len(kept)
    return kept + new


async def record_repayment(uow: UnitOfWork, *, drawdown_id: str, amount: Money, received_on: dt.date,
                           idempotency_key: str) -> Drawdown:
    """Applies a repayment: due interest and principal in allocation order, the rest as prepayment."""
    if amount.amount <= 0:
        raise InputError("amount must be positive.", field="amount")
    async with uow:
        request = {"drawdown": drawdown_id, "amount": amount, "on": received_on}
        if (prior := await replayed(uow, "recordRepayment", idempotency_key, request, Drawdown)) is not None:
            return prior
        d = await lock(uow, Drawdown, drawdown_id, "drawdownId")
        check(d.status, {DrawdownStatus.ACTIVE}, "record a repayment", "drawdown")
        if amount.currency != d.currency:
            raise InputError(f"The drawdown is in {d.currency}.", field="amount")
        f = await lock(uow, Facility, d.facility_id, "facilityId")
        schedule = [dict(r) for r in d.schedule]
        interest, principal, left = allocate(schedule, amount.amount, received_on,
                                             AllocationOrder(f.allocation_order))
        if left > 0:  # a prepayment first pays the interest accrued on the prepaid principal since the last due date
            terms = terms_from_json(d.schedule_terms)
            kept = [r for r in schedule if dt.date.fromisoformat(r["due_date"]) <= received_on]
            since = dt.date.fromisoformat(kept[-1]["due_date"]) if kept else d.value_date
            left, accrued = split_prepayment(left, annual_rate_pct=terms.annual_rate_pct, since=since,
                                             until=received_on, day_count=terms.day_count, currency=d.currency)
            interest += accrued
        if left > d.principal_outstanding - principal:
            raise InputError("The repayment exceeds everything outstanding on the drawdown.", field="amount")
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
        await uow.commit({"id": str(d.id)})
        return d


async def check_overdue(uow: UnitOfWork, *, drawdown_id: str, as_of: dt.date) -> Drawdown:
    """Raises InstallmentOverdue once for each instalment past due and not fully paid."""
    async with uow:
        d = await lock(uow, Drawdown, drawdown_id, "drawdownId")
        check(d.status, {DrawdownStatus.ACTIVE}, "check arrears", "drawdown")
        schedule = [dict(r) for r in d.schedule]
        for row in schedule:
            due = dt.date.fromisoformat(row["due_date"])
            unpaid = _owed(row, "interest") + _owed(row, "principal")
            if due < as_of and unpaid > 0 and not row.get("overdue_notified"):
                row["overdue_notified"] = True
                await uow.emit(events.InstallmentOverdue(
                    drawdown_id=str(d.id), facility_id=str(d.facility_id),
                    borrower_party_id=str(d.borrower_party_id), installment_number=row["number"],
                    due_date=row["due_date"], amount_overdue=Money.of(unpaid, d.currency, exact=False)),
                    aggregate_id=d.id, aggregate_version=d.touch())
        d.schedule = schedule
        await uow.commit()
        return d
