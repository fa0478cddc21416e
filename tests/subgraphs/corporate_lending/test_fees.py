"""Commitment fee accrual on the undrawn amount."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from subgraphs.corporate_lending.fees import commitment_fee, decreasing_limit, months_between

START = dt.date(2026, 1, 1)


def test_fee_on_undrawn_amount_day_by_day() -> None:
    # 1,000,000 undrawn for 100 days, then 600,000 for 265 days, at 0.5 %:
    # (1e6 x 100 + 6e5 x 265) x 0.005 / 365 = 3,547.945... -> 3,547.95
    fee = commitment_fee(limit=Decimal("1000000"), fee_pct=Decimal("0.5"), start=START,
                         end=START + dt.timedelta(days=365),
                         drawn_changes=[(START + dt.timedelta(days=100), Decimal("400000"))], currency="EUR")
    assert fee == Decimal("3547.95")


def test_repayments_on_a_revolver_restore_the_fee_base_and_nothing_accrues_before_start() -> None:
    changes = [(START, Decimal("500000")), (START + dt.timedelta(days=73), Decimal("-500000"))]
    fee = commitment_fee(limit=Decimal("1000000"), fee_pct=Decimal("1"), start=START,
                         end=START + dt.timedelta(days=146), drawn_changes=changes, currency="EUR")
    assert fee == Decimal("3000.00")  # 500,000 x 1 % x 73/365 + 1,000,000 x 1 % x 73/365
    assert commitment_fee(limit=Decimal("1"), fee_pct=Decimal("1"), start=START, end=START, drawn_changes=[],
                          currency="JPY") == Decimal("0")


def test_decreasing_limit_steps_down_monthly_to_zero() -> None:
    maturity = dt.date(2027, 1, 1)  # 12 months
    at = lambda d: decreasing_limit(limit=Decimal("1200000.00"), start=START, maturity=maturity, on=d,  # noqa: E731
                                    currency="EUR")
    assert at(START) == Decimal("1200000.00")
    assert at(dt.date(2026, 1, 31)) == Decimal("1200000.00")
    assert at(dt.date(2026, 2, 1)) == Decimal("1100000.00")
    assert at(dt.date(2026, 7, 15)) == Decimal("600000.00")
    assert at(dt.date(2027, 6, 1)) == Decimal("0.00")
    assert months_between(dt.date(2026, 1, 31), dt.date(2026, 2, 28)) == 0
