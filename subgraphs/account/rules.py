"""Pure account rules: day counts, overdraft interest, mandate satisfaction (no I/O)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import permutations
from typing import Any

from shared.money import MONEY_CONTEXT, Money
from subgraphs.account.models import DayCount

ACCRUAL_PLACES = Decimal("1e-10")


def days_in_year(convention: DayCount | str, day: dt.date) -> int:
    """Returns the year basis of a day under a day-count convention."""
    convention = DayCount(convention)
    if convention is DayCount.ACT_360:
        return 360
    if convention is DayCount.ACT_364:
        return 364
    if convention is DayCount.ACT_ACT:
        return 366 if calendar.isleap(day.year) else 365
    return 365


def daily_interest(balance: Decimal, rate_pct: Decimal, convention: DayCount | str, day: dt.date) -> Decimal:
    """Returns one day's debit interest (positive) on an overdrawn end-of-day balance, at 10 decimals."""
    if balance >= 0 or rate_pct <= 0:
        return Decimal(0)
    basis = Decimal(days_in_year(convention, day))
    value = MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(-balance, rate_pct), Decimal(100) * basis)
    return value.quantize(ACCRUAL_PLACES, context=MONEY_CONTEXT)


def accrue(balances: Iterable[tuple[dt.date, Decimal]], rate_pct: Decimal, convention: DayCount | str,
           currency: str) -> Money:
    """Sums daily accruals at full precision and rounds once (half-even) to the currency's minor units."""
    total = sum((daily_interest(b, rate_pct, convention, d) for d, b in balances), Decimal(0))
    return Money(total, currency).quantize()


def end_of_day_balances(opening: Decimal, movements: Mapping[dt.date, Decimal], start: dt.date,
                        end: dt.date) -> list[tuple[dt.date, Decimal]]:
    """Returns each day's closing balance from start to end inclusive, given value-dated movements."""
    out, balance, day = [], opening, start
    while day <= end:
        balance += movements.get(day, Decimal(0))
        out.append((day, balance))
        day += dt.timedelta(days=1)
    return out


def month_bounds(period: str) -> tuple[dt.date, dt.date]:
    """Returns the first and last day of a YYYY-MM period."""
    year, month = int(period[:4]), int(period[5:7])
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def band_rule(rules: Sequence[Mapping[str, Any]], operation: str, amount: Decimal) -> Mapping[str, Any] | None:
    """Returns the rule whose amount band [min, max) holds amount for the operation, if any."""
    for rule in rules:
        if rule.get("operation", "PAYMENT") != operation:
            continue
        low = Decimal(str(rule.get("min") or 0))
        high = rule.get("max")
        if amount >= low and (high is None or amount < Decimal(str(high))):
            return rule
    return None


def eligible(signatories: Sequence[Mapping[str, Any]], approvers: Iterable[str], amount: Decimal) -> dict[str, str]:
    """Maps approving signatories (within their individual limit) to their group."""
    by_party = {str(s["party_id"]): s for s in signatories}
    out = {}
    for party in approvers:
        sig = by_party.get(party)
        if sig is None:
            continue
        limit = sig.get("limit")
        if limit is not None and amount > Decimal(str(limit)):
            continue
        out[party] = str(sig["group"])
    return out


def satisfied(rule: Mapping[str, Any], groups_of: Mapping[str, str]) -> bool:
    """True when distinct approvers can fill every requirement slot ({groups, count}) of the rule."""
    slots: list[set[str]] = []
    for req in rule.get("requires", []):
        slots.extend([set(req["groups"])] * int(req["count"]))
    approvers = list(groups_of.items())
    if len(slots) > len(approvers):
        return False
    # Small sets: try assigning approvers to slots (a bipartite matching by exhaustion).
    return any(all(groups_of_p[1] in slot for groups_of_p, slot in zip(order, slots, strict=False))
               for order in permutations(approvers, len(slots)))
