"""Commitment fee: the availability commission accrued on the undrawn amount, day by day (ACTUAL/365)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

from shared.money import minor_units


def commitment_fee(*, limit: Decimal, fee_pct: Decimal, start: dt.date, end: dt.date,
                   drawn_changes: list[tuple[dt.date, Decimal]], currency: str) -> Decimal:
    """Sums undrawn x fee x days / 365 over [start, end); drawn_changes are (value date, +drawn or -repaid)."""
    if end <= start:
        return Decimal(0).quantize(Decimal(1).scaleb(-minor_units(currency)))
    drawn, weighted, cursor = Decimal(0), Decimal(0), start
    for when, delta in sorted(drawn_changes):
        if when >= end:
            break
        if when > cursor:
            weighted += (limit - drawn) * (when - cursor).days
            cursor = when
        drawn += delta
    weighted += (limit - drawn) * (end - cursor).days
    fee = weighted * fee_pct / Decimal(100) / Decimal(365)
    return fee.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole calendar months from start to end (0 when end is before start)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (1 if end.day < start.day else 0)
    return max(months, 0)


def decreasing_limit(*, limit: Decimal, start: dt.date, maturity: dt.date, on: dt.date, currency: str) -> Decimal:
    """The limit of a DECREASING facility on a date: equal monthly step-downs from start to zero at maturity."""
    total = months_between(start, maturity)
    if total == 0:
        return limit
    elapsed = min(months_between(start, on), total)
    left = limit * (total - elapsed) / total
    return left.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)
