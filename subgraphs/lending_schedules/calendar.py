"""Repayment calendars and day-count conventions for schedules."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from enum import StrEnum


class FrequencyUnit(StrEnum):
    DAYS = "DAYS"
    WEEKS = "WEEKS"
    MONTHS = "MONTHS"


class DayCount(StrEnum):
    ACTUAL_365 = "ACTUAL_365"
    ACTUAL_360 = "ACTUAL_360"
    THIRTY_360 = "THIRTY_360"


def add_months(start: dt.date, months: int) -> dt.date:
    """Adds calendar months, clamping the day to the target month's length (31 Jan + 1 month = 28/29 Feb)."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(start.day, last))


def due_date(start: dt.date, k: int, every: int, unit: FrequencyUnit) -> dt.date:
    """Returns the k-th due date after start, always counted from start so month ends never drift."""
    if unit is FrequencyUnit.DAYS:
        return start + dt.timedelta(days=every * k)
    if unit is FrequencyUnit.WEEKS:
        return start + dt.timedelta(weeks=every * k)
    return add_months(start, every * k)


def days_30e_360(start: dt.date, end: dt.date) -> int:
    """Days between two dates under the 30E/360 (Eurobond) convention."""
    d1, d2 = min(start.day, 30), min(end.day, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def year_fraction(start: dt.date, end: dt.date, day_count: DayCount) -> Decimal:
    """Returns the fraction of a year between two dates under a day-count convention (exact Decimal)."""
    if day_count is DayCount.THIRTY_360:
        return Decimal(days_30e_360(start, end)) / Decimal(360)
    days = Decimal((end - start).days)
    return days / (Decimal(360) if day_count is DayCount.ACTUAL_360 else Decimal(365))
