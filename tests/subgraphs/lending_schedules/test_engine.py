"""Schedule vectors to the cent, each checked against an independent closed-form calculation."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

import pytest

from shared.errors import InputError
from subgraphs.lending_schedules.calendar import DayCount, FrequencyUnit, add_months, days_30e_360
from subgraphs.lending_schedules.engine import (
    Amortisation,
    InterestMethod,
    ScheduleTerms,
    generate,
    reschedule,
    reschedule_reduced,
    split_prepayment,
)

START = dt.date(2026, 1, 15)
CENT = Decimal("0.01")


def terms(**kw: object) -> ScheduleTerms:
    base: dict[str, object] = {"principal": Decimal("10000.00"), "currency": "EUR",
                               "annual_rate_pct": Decimal(12), "installments": 12, "start_date": START}
    base.update(kw)
    return ScheduleTerms(**base)  # type: ignore[arg-type]


def annuity(principal: Decimal, rate: Decimal, n: int) -> Decimal:
    """Closed form P·r / (1 - (1+r)^-n), rounded half-even to the cent."""
    with localcontext() as ctx:
        ctx.prec = 50
        return (principal * rate / (1 - (1 + rate) ** -n)).quantize(CENT, rounding=ROUND_HALF_EVEN)


def test_worked_example_888_49_a_month() -> None:
    s = generate(terms())
    assert [i.total for i in s.installments[:11]] == [Decimal("888.49")] * 11
    assert s.installments[-1].total == Decimal("888.47")  # the last instalment absorbs the rounding
    assert s.installments[0].interest == Decimal("100.00") and s.installments[0].principal == Decimal("788.49")
    assert s.total_principal == Decimal("10000.00") and s.installments[-1].balance_after == 0
    assert s.total_interest == Decimal("661.86") and s.total_repayable == Decimal("10661.86")
    assert s.regular_installment == annuity(Decimal(10000), Decimal("0.01"), 12) == Decimal("888.49")


def test_apr_matches_the_effective_annual_rate() -> None:
    # Monthly payments at 1 % a month: APR = 1.01^12 - 1 = 12.6825 % (the rounding of the last payment is invisible).
    expected = ((Decimal("1.01") ** 12 - 1) * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    assert generate(terms()).apr_pct() == expected == Decimal("12.68")


def test_fee_raises_apr_and_cost_of_credit() -> None:
    s = generate(terms(upfront_fee=Decimal("200.00")))
    assert s.total_cost_of_credit == Decimal("861.86") and s.total_repayable == Decimal("10861.86")
    # Independent check: the APR found must discount the payments back to the 9,800 advanced.
    apr = s.apr_pct() / 100
    pv = sum(i.total / (1 + apr) ** (Decimal(i.number) / 12) for i in s.installments)
    assert abs(pv - Decimal("9800.00")) < Decimal("2.00") and s.apr_pct() > Decimal("16")


@pytest.mark.parametrize(("principal", "rate", "n"), [
    (Decimal("25000.00"), Decimal("6.5"), 60), (Decimal("1500.00"), Decimal("19.9"), 24),
    (Decimal("300000.00"), Decimal("3.75"), 300),
])
def test_annuities_match_closed_form(principal: Decimal, rate: Decimal, n: int) -> None:
    s = generate(terms(principal=principal, annual_rate_pct=rate, installments=n))
    assert s.regular_installment == annuity(principal, rate / 1200, n)
    assert s.total_principal == principal
    assert all(i.total == s.regular_installment for i in s.installments[:-1])
    assert abs(s.installments[-1].total - s.regular_installment) <= Decimal(n) * CENT


def test_equal_principal_declining() -> None:
    s = generate(terms(amortisation=Amortisation.EQUAL_PRINCIPAL))
    assert [i.principal for i in s.installments[:11]] == [Decimal("833.33")] * 11
    assert s.installments[-1].principal == Decimal("833.37")
    assert s.installments[0].interest == Decimal("100.00") and s.installments[1].interest == Decimal("91.67")
    # Σ interest = r·P·(n+1)/2 for equal principal, up to per-period rounding.
    assert abs(s.total_interest - Decimal("650.00")) <= Decimal("0.06")


def test_flat_interest() -> None:
    s = generate(terms(interest_method=InterestMethod.FLAT))
    assert s.total_interest == Decimal("1200.00")  # 10,000 x 12 % x 1 year
    assert [i.interest for i in s.installments] == [Decimal("100.00")] * 12
    assert [i.total for i in s.installments[:11]] == [Decimal("933.33")] * 11
    assert s.installments[-1].total == Decimal("933.37") and s.total_principal == Decimal("10000.00")


def test_actual_365_weekly() -> None:
    s = generate(terms(principal=Decimal("5200.00"), installments=52, every=1, unit=FrequencyUnit.WEEKS,
                       day_count=DayCount.ACTUAL_365, annual_rate_pct=Decimal("10")))
    rate = Decimal("0.10") * 7 / 365
    assert s.regular_installment == annuity(Decimal("5200.00"), rate, 52)
    assert s.installments[0].interest == (Decimal("5200.00") * rate).quantize(CENT)
    assert s.installments[1].due_date == START + dt.timedelta(days=14)
    assert s.total_principal == Decimal("5200.00")


def test_actual_360_uses_real_days() -> None:
    s = generate(terms(day_count=DayCount.ACTUAL_360, installments=3))
    # 15 Jan → 15 Feb is 31 days: 10,000 x 12 % x 31/360 = 103.33
    assert s.installments[0].interest == Decimal("103.33")
    assert s.installments[1].interest == (s.installments[0].balance_after * Decimal("0.12") * 28 / 360).quantize(CENT)


def test_grace_on_principal_and_interest() -> None:
    s = generate(terms(grace_on_principal=3, grace_on_interest=2, installments=15))
    first = s.installments
    assert [i.principal for i in first[:3]] == [Decimal(0)] * 3
    assert first[0].interest == first[1].interest == Decimal(0)
    assert first[2].interest == Decimal("300.00")  # three months of interest, the first two deferred
    assert first[3].total == annuity(Decimal(10000), Decimal("0.01"), 12) == Decimal("888.49")
    assert s.total_principal == Decimal("10000.00") and s.installments[-1].balance_after == 0


def test_zero_rate_and_jpy_minor_units() -> None:
    s = generate(terms(principal=Decimal("100000"), currency="JPY", annual_rate_pct=Decimal(0), installments=3))
    assert [i.total for i in s.installments] == [Decimal("33333"), Decimal("33333"), Decimal("33334")]
    assert s.apr_pct() == Decimal("0.00")


def test_month_end_dates_do_not_drift() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    s = generate(terms(start_date=dt.date(2026, 1, 31), installments=3))
    assert [i.due_date for i in s.installments] == [dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30)]
    assert days_30e_360(dt.date(2026, 1, 31), dt.date(2026, 2, 28)) == 28


def test_reschedule_for_a_payment_holiday() -> None:
    s = generate(terms())
    after3 = s.installments[2]
    new = reschedule(s.terms, outstanding=after3.balance_after, start_date=after3.due_date, installments=11,
                     grace_on_principal=2, grace_on_interest=2)
    assert new.installments[0].total == 0 and new.installments[1].total == 0
    assert new.total_principal == after3.balance_after
    assert new.installments[2].interest == 3 * (after3.balance_after * Decimal("0.01")).quantize(CENT)


@pytest.mark.parametrize("bad", [
    {"principal": Decimal("-1")}, {"principal": Decimal("10.001")}, {"installments": 0},
    {"annual_rate_pct": Decimal("101")}, {"grace_on_principal": 12}, {"grace_on_interest": 1},
    {"currency": "XXX"}, {"upfront_fee": Decimal("10000")},
])
def test_bad_terms_are_input_errors(bad: dict[str, object]) -> None:
    with pytest.raises(InputError):
        generate(terms(**bad))


def test_prepayment_pays_interest_to_date_first() -> None:
    # 15 days at 12 % on 30/360: 10,000 x 0.12 x 15/360 = 50.00 of interest on the principal prepaid.
    principal, interest = split_prepayment(Decimal("10050.00"), annual_rate_pct=Decimal(12),
                                           since=dt.date(2026, 3, 15), until=dt.date(2026, 3, 30),
                                           day_count=DayCount.THIRTY_360, currency="EUR")
    assert (principal, interest) == (Decimal("10000.00"), Decimal("50.00"))
    same_day = split_prepayment(Decimal("500.00"), annual_rate_pct=Decimal(12), since=START, until=START,
                                day_count=DayCount.ACTUAL_365, currency="EUR")
    assert same_day == (Decimal("500.00"), Decimal("0.00"))


def test_reduced_payment_reamortises_the_shortfall_over_the_remaining_term() -> None:
    # After two of twelve instalments (balance 8 415.14), three instalments of 300.00, then the same maturity.
    base = generate(terms())
    out, start = base.installments[1].balance_after, base.installments[1].due_date
    s = reschedule_reduced(terms(), outstanding=out, start_date=start, installments=10, reduced_periods=3,
                           reduced_amount=Decimal("300.00"))
    rows = [(i.principal, i.interest, i.total, i.balance_after) for i in s.installments[:4]]
    assert rows == [(Decimal("215.85"), Decimal("84.15"), Decimal("300.00"), Decimal("8199.29")),
                    (Decimal("218.01"), Decimal("81.99"), Decimal("300.00"), Decimal("7981.28")),
                    (Decimal("220.19"), Decimal("79.81"), Decimal("300.00"), Decimal("7761.09")),
                    (Decimal("1075.91"), Decimal("77.61"), Decimal("1153.52"), Decimal("6685.18"))]
    # The shortfall (7 761.09 left) is an annuity over the 7 instalments left, at 1 % a month.
    assert s.installments[3].total == annuity(Decimal("7761.09"), Decimal("0.01"), 7) == Decimal("1153.52")
    assert len(s.installments) == 10 and s.installments[-1].due_date == base.installments[-1].due_date
    assert s.installments[-1].total == Decimal("1153.50") and s.installments[-1].balance_after == 0
    assert s.total_principal == out
    assert sum(i.principal for i in base.installments[:2]) + s.total_principal == Decimal("10000.00")


def test_reduced_payment_below_the_interest_or_over_the_whole_term_is_refused() -> None:
    base = generate(terms())
    out, start = base.installments[1].balance_after, base.installments[1].due_date
    for kw in ({"reduced_amount": Decimal("84.14"), "reduced_periods": 3},  # first period's interest is 84.15
               {"reduced_amount": Decimal("300.00"), "reduced_periods": 10},
               {"reduced_amount": Decimal("300.001"), "reduced_periods": 3},
               {"reduced_amount": Decimal("9000.00"), "reduced_periods": 3}):
        with pytest.raises(InputError):
            reschedule_reduced(terms(), outstanding=out, start_date=start, installments=10, **kw)  # type: ignore[arg-type]
