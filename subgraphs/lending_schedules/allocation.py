"""Repayment allocation over stored instalments: oldest due first, each in the order of its components.

An instalment row (schedule_to_json) records what has been paid of each component as `paid_<component>`.
Instalments carry interest and principal; a fee or penalty component, when a schedule has one, is listed
first in the order (fees → interest → principal is the default order of both lending domains).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

INTEREST_FIRST = ("fees", "interest", "principal")
PRINCIPAL_FIRST = ("fees", "principal", "interest")


def owed(row: dict[str, Any], part: str) -> Decimal:
    """What is still owed of one component of an instalment (zero for a component it does not have)."""
    return Decimal(row.get(part, "0")) - Decimal(row.get(f"paid_{part}", "0"))


def unpaid(row: dict[str, Any]) -> Decimal:
    """What is still owed of the whole instalment."""
    return sum((owed(row, part) for part in INTEREST_FIRST), Decimal(0))


def due_unpaid(schedule: list[dict[str, Any]], on: dt.date) -> Decimal:
    """What is owed of the instalments due on or before a date."""
    return sum((unpaid(r) for r in schedule if dt.date.fromisoformat(r["due_date"]) <= on), Decimal(0))


def _pay(row: dict[str, Any], part: str, budget: Decimal) -> Decimal:
    paid = min(budget, owed(row, part))
    if paid > 0:
        row[f"paid_{part}"] = str(Decimal(row.get(f"paid_{part}", "0")) + paid)
    return paid


def allocate(schedule: list[dict[str, Any]], amount: Decimal, received_on: dt.date,
             order: tuple[str, ...] = INTEREST_FIRST) -> tuple[dict[str, Decimal], Decimal]:
    """Pays instalments due by received_on oldest first, each in `order`; returns (paid per component, left over).

    The rows are updated in place.
    """
    paid = {part: Decimal(0) for part in order}
    left = amount
    for row in schedule:
        if dt.date.fromisoformat(row["due_date"]) > received_on or left <= 0:
            break
        for part in order:
            took = _pay(row, part, left)
            paid[part] += took
            left -= took
    return paid, left
