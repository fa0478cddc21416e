"""Pure rules: day-count conventions, overdraft interest vectors with exact cents, mandate satisfaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from subgraphs.account import rules

D = dt.date


@pytest.mark.parametrize(("convention", "day", "basis"), [
    ("ACT_360", D(2026, 3, 1), 360), ("ACT_365", D(2024, 3, 1), 365), ("ACT_364", D(2026, 3, 1), 364),
    ("ACT_ACT", D(2024, 3, 1), 366), ("ACT_ACT", D(2026, 3, 1), 365),
])
def test_days_in_year(convention: str, day: dt.date, basis: int) -> None:
    assert rules.days_in_year(convention, day) == basis


@pytest.mark.parametrize(("balance", "rate", "convention", "days", "expected"), [
    # 10,000.00 overdrawn for 30 days at 12% : ACT/365 = 98.630136.. -> 98.63 ; ACT/360 = 100.00 exactly
    ("-10000.00", "12", "ACT_365", 30, "98.63"),
    ("-10000.00", "12", "ACT_360", 30, "100.00"),
    ("-10000.00", "12", "ACT_364", 30, "98.90"),
    # 1,234.56 at 9.75% for 31 days: 1234.56*0.0975*31/365 = 10.2228... -> 10.22
    ("-1234.56", "9.75", "ACT_365", 31, "10.22"),
    # in credit: no debit interest
    ("500.00", "12", "ACT_365", 30, "0.00"),
    # one day on 100.00 at 18.25% ACT/365 = 0.05 exactly
    ("-100.00", "18.25", "ACT_365", 1, "0.05"),
    # half-even once at posting: 0.125 summed -> 0.12 (one day of 4562.50 at 1% ACT/365 = 0.125)
    ("-4562.50", "1", "ACT_365", 1, "0.12"),
])
def test_interest_vectors(balance: str, rate: str, convention: str, days: int, expected: str) -> None:
    start = D(2026, 1, 1)
    balances = [(start + dt.timedelta(days=i), Decimal(balance)) for i in range(days)]
    assert rules.accrue(balances, Decimal(rate), convention, "EUR").wire_amount() == expected


def test_accrual_rounds_once_not_daily() -> None:
    # 0.004 a day would round to 0.00 daily; accrued over 30 days it is 0.12.
    day_rate_balance = Decimal("-14.60")  # 14.60 * 10% / 365 = 0.004
    balances = [(D(2026, 1, 1) + dt.timedelta(days=i), day_rate_balance) for i in range(30)]
    assert rules.accrue(balances, Decimal("10"), "ACT_365", "EUR").wire_amount() == "0.12"


def test_jpy_has_no_minor_units() -> None:
    balances = [(D(2026, 1, 1), Decimal("-1000000"))]
    assert rules.accrue(balances, Decimal("10"), "ACT_365", "JPY").wire_amount() == "274"


def test_end_of_day_balances_follow_value_dates() -> None:
    out = rules.end_of_day_balances(Decimal(100), {D(2026, 1, 2): Decimal(-300), D(2026, 1, 4): Decimal(50)},
                                    D(2026, 1, 1), D(2026, 1, 4))
    assert [b for _, b in out] == [Decimal(100), Decimal(-200), Decimal(-200), Decimal(-150)]


SIGS = [{"party_id": "a1", "group": "A", "limit": None}, {"party_id": "a2", "group": "A", "limit": "5000"},
        {"party_id": "b1", "group": "B", "limit": None}, {"party_id": "b2", "group": "B", "limit": None}]
RULES = [
    {"operation": "PAYMENT", "min": "0", "max": "10000", "requires": [{"groups": ["A"], "count": 1}]},
    {"operation": "PAYMENT", "min": "10000", "max": "100000",
     "requires": [{"groups": ["A"], "count": 1}, {"groups": ["B"], "count": 1}]},
    {"operation": "PAYMENT", "min": "100000", "max": None, "requires": [{"groups": ["A", "B"], "count": 3}]},
]


@pytest.mark.parametrize(("amount", "approvers", "ok"), [
    ("9999.99", ["a1"], True), ("9999.99", ["b1"], False), ("4000", ["a2"], True), ("6000", ["a2"], False),
    ("10000", ["a1"], False), ("10000", ["a1", "b1"], True), ("10000", ["b1", "b2"], False),
    ("10000", ["a1", "a2"], False), ("50000", ["a2", "b1"], False), ("99999.99", ["a1", "b2"], True),
    ("100000", ["a1", "b1"], False), ("100000", ["a1", "b1", "b2"], True), ("100000", ["b1", "b2", "x"], False),
])
def test_mandate_bands_and_combinations(amount: str, approvers: list[str], ok: bool) -> None:
    value = Decimal(amount)
    rule = rules.band_rule(RULES, "PAYMENT", value)
    assert rule is not None
    assert rules.satisfied(rule, rules.eligible(SIGS, approvers, value)) is ok


def test_no_band_for_other_operations() -> None:
    assert rules.band_rule(RULES, "ACCOUNT_CLOSE", Decimal(1)) is None


def test_available_balance_counts_holds_and_unexpired_overdraft_only() -> None:
    from subgraphs.account.models import Account

    account = Account(booked_balance=Decimal("100.00"), held_amount=Decimal("30.00"),
                      overdraft_limit=Decimal("500.00"), overdraft_expires_on=D(2026, 6, 30))
    assert account.available(D(2026, 6, 30)) == Decimal("570.00")
    assert account.available(D(2026, 7, 1)) == Decimal("70.00")  # the arrangement expired
    account.overdraft_expires_on = None
    assert account.overdraft_headroom(D(2030, 1, 1)) == Decimal("500.00")
