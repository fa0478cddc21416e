"""The schedule engine: declining-balance or flat interest, equal instalments or equal principal, grace, APR."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from shared.errors import InputError
from shared.money import minor_units
from subgraphs.lending_schedules.calendar import DayCount, FrequencyUnit, due_date, year_fraction

CTX = decimal.Context(prec=40, rounding=ROUND_HALF_EVEN)
MAX_INSTALLMENTS = 600


class InterestMethod(StrEnum):
    DECLINING_BALANCE = "DECLINING_BALANCE"
    FLAT = "FLAT"


class Amortisation(StrEnum):
    EQUAL_INSTALLMENTS = "EQUAL_INSTALLMENTS"
    EQUAL_PRINCIPAL = "EQUAL_PRINCIPAL"


@dataclass(frozen=True)
class ScheduleTerms:
    """Everything a schedule depends on; rates are percentages per year (12 means 12 %)."""

    principal: Decimal
    currency: str
    annual_rate_pct: Decimal
    installments: int
    start_date: dt.date
    every: int = 1
    unit: FrequencyUnit = FrequencyUnit.MONTHS
    interest_method: InterestMethod = InterestMethod.DECLINING_BALANCE
    amortisation: Amortisation = Amortisation.EQUAL_INSTALLMENTS
    day_count: DayCount = DayCount.THIRTY_360
    grace_on_principal: int = 0
    grace_on_interest: int = 0
    upfront_fee: Decimal = Decimal(0)

    def validated(self) -> ScheduleTerms:
        """Returns the terms if they describe a computable schedule, else raises BAD_USER_INPUT."""
        minor_units(self.currency)
        if self.principal <= 0:
            raise InputError("principal must be positive.", field="principal")
        if self.principal != self.principal.quantize(_unit(self.currency)):
            raise InputError(f"principal has more decimals than {self.currency} allows.", field="principal")
        if not Decimal(0) <= self.annual_rate_pct <= Decimal(100):
            raise InputError("annualRatePct must be between 0 and 100.", field="annualRatePct")
        if not 1 <= self.installments <= MAX_INSTALLMENTS:
            raise InputError(f"installments must be between 1 and {MAX_INSTALLMENTS}.", field="installments")
        if not 1 <= self.every <= 366:
            raise InputError("repayment frequency must be every 1 to 366 units.", field="every")
        if not 0 <= self.grace_on_principal < self.installments:
            raise InputError("graceOnPrincipal must leave at least one amortising instalment.",
                             field="graceOnPrincipal")
        if not 0 <= self.grace_on_interest <= self.grace_on_principal:
            raise InputError("graceOnInterest may not exceed graceOnPrincipal.", field="graceOnInterest")
        if self.upfront_fee < 0 or self.upfront_fee >= self.principal:
            raise InputError("upfrontFee must be zero or positive and below the principal.", field="upfrontFee")
        return self


@dataclass(frozen=True)
class Installment:
    number: int
    from_date: dt.date
    due_date: dt.date
    principal: Decimal
    interest: Decimal
    total: Decimal
    balance_after: Decimal


@dataclass(frozen=True)
class Schedule:
    terms: ScheduleTerms
    installments: list[Installment] = field(default_factory=list)

    @property
    def total_principal(self) -> Decimal:
        return sum((i.principal for i in self.installments), Decimal(0))

    @property
    def total_interest(self) -> Decimal:
        return sum((i.interest for i in self.installments), Decimal(0))

    @property
    def total_repayable(self) -> Decimal:
        """Everything the borrower pays: instalments plus the upfront fee."""
        return self.total_principal + self.total_interest + self.terms.upfront_fee

    @property
    def total_cost_of_credit(self) -> Decimal:
        """Interest plus fees: what the credit costs above the principal."""
        return self.total_interest + self.terms.upfront_fee

    @property
    def regular_installment(self) -> Decimal:
        """The first amortising instalment's amount (the 'monthly payment' a quote shows)."""
        return self.installments[self.terms.grace_on_principal].total

    def apr_pct(self) -> Decimal:
        """Annual percentage rate (EU method) as a percentage rounded half-up to 2 decimals."""
        return apr_pct(self)


def _unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def _round(value: Decimal, currency: str) -> Decimal:
    return value.quantize(_unit(currency), rounding=ROUND_HALF_EVEN, context=CTX)


def period_rates(terms: ScheduleTerms) -> list[tuple[dt.date, dt.date, Decimal]]:
    """Returns (from, due, periodic rate as a fraction) for each instalment period."""
    out = []
    prev = terms.start_date
    annual = CTX.divide(terms.annual_rate_pct, Decimal(100))
    for k in range(1, terms.installments + 1):
        due = due_date(terms.start_date, k, terms.every, terms.unit)
        out.append((prev, due, CTX.multiply(annual, year_fraction(prev, due, terms.day_count))))
        prev = due
    return out


def _annuity(balance: Decimal, rates: list[Decimal]) -> Decimal:
    # The level payment that repays `balance` over periods with (possibly different) rates:
    # balance = Σ_k payment / Π_{j≤k}(1 + r_j)  →  payment = balance / Σ_k Π_{j≤k} 1/(1 + r_j).
    discount, total = Decimal(1), Decimal(0)
    for r in rates:
        discount = CTX.divide(discount, CTX.add(1, r))
        total = CTX.add(total, discount)
    return CTX.divide(balance, total)


def generate(terms: ScheduleTerms) -> Schedule:
    """Builds the repayment schedule; the last instalment absorbs every rounding remainder."""
    terms = terms.validated()
    periods = period_rates(terms)
    ccy, n, gp, gi = terms.currency, terms.installments, terms.grace_on_principal, terms.grace_on_interest
    amortising = n - gp
    balance = terms.principal
    rows: list[Installment] = []
    deferred_interest = Decimal(0)
    flat = terms.interest_method is InterestMethod.FLAT
    if flat:
        exact_interest = [CTX.multiply(terms.principal, r) for _, _, r in periods]
        total_flat = _round(sum(exact_interest, Decimal(0)), ccy)
        flat_each = _round(CTX.divide(total_flat, n), ccy)
    level_principal = _round(CTX.divide(terms.principal, amortising), ccy)
    payment = None
    if not flat and terms.amortisation is Amortisation.EQUAL_INSTALLMENTS:
        payment = _round(_annuity(terms.principal, [r for _, _, r in periods[gp:]]), ccy)
    for k, (start, due, rate) in enumerate(periods, start=1):
        last = k == n
        if flat:
            interest = total_flat - flat_each * (n - 1) if last else flat_each
        else:
            interest = _round(CTX.multiply(balance, rate), ccy)
        if k <= gi:  # grace on interest: accrues now, paid with the first instalment after the grace
            deferred_interest += interest
            interest = Decimal(0)
        elif deferred_interest:
            interest, deferred_interest = interest + deferred_interest, Decimal(0)
        if k <= gp:
            principal = Decimal(0)
        elif last:
            principal = balance
        elif payment is not None:
            principal = min(balance, payment - _round(CTX.multiply(balance, rate), ccy))
        else:
            principal = min(balance, level_principal)
        balance -= principal
        rows.append(Installment(number=k, from_date=start, due_date=due, principal=principal, interest=interest,
                                total=principal + interest, balance_after=balance))
    return Schedule(terms=terms, installments=rows)


def reschedule(terms: ScheduleTerms, *, outstanding: Decimal, start_date: dt.date, installments: int,
               grace_on_principal: int = 0, grace_on_interest: int = 0) -> Schedule:
    """Recalculates a schedule for an outstanding balance from a date (hardship, prepayment, restructuring)."""
    return generate(replace(terms, principal=outstanding, start_date=start_date, installments=installments,
                            grace_on_principal=grace_on_principal, grace_on_interest=grace_on_interest,
                            upfront_fee=Decimal(0)))


def reschedule_reduced(terms: ScheduleTerms, *, outstanding: Decimal, start_date: dt.date, installments: int,
                       reduced_periods: int, reduced_amount: Decimal) -> Schedule:
    """Recalculates with the first `reduced_periods` instalments fixed at `reduced_amount` (hardship).

    Each reduced instalment pays the interest accrued on the declining balance and the rest of the agreed
    amount as principal; the principal it leaves unpaid stays in the balance and is re-amortised over the
    remaining `installments - reduced_periods` instalments, so the maturity does not move. An agreed amount
    below a period's interest would capitalise interest and is refused.
    """
    if not 1 <= reduced_periods < installments:
        raise InputError("A reduced payment must leave at least one instalment to re-amortise the shortfall.",
                         field="periods")
    base = replace(terms, principal=outstanding, start_date=start_date, installments=installments,
                   grace_on_principal=0, grace_on_interest=0, upfront_fee=Decimal(0)).validated()
    ccy = base.currency
    if reduced_amount <= 0 or reduced_amount != _round(reduced_amount, ccy):
        raise InputError(f"The reduced amount must be a positive {ccy} amount.", field="reducedAmount")
    rows: list[Installment] = []
    balance = outstanding
    for k, (start, due, rate) in enumerate(period_rates(base)[:reduced_periods], start=1):
        interest = _round(CTX.multiply(balance, rate), ccy)
        if reduced_amount < interest:
            raise InputError(f"The reduced amount must cover the {interest} interest of instalment {k}.",
                             field="reducedAmount")
        principal = min(balance, reduced_amount - interest)
        balance -= principal
        rows.append(Installment(number=k, from_date=start, due_date=due, principal=principal, interest=interest,
                                total=principal + interest, balance_after=balance))
    if balance <= 0:
        raise InputError("The reduced amount would repay the loan within the arrangement.", field="reducedAmount")
    rest = reschedule(terms, outstanding=balance, start_date=rows[-1].due_date,
                      installments=installments - reduced_periods)
    rows += [replace(i, number=i.number + reduced_periods) for i in rest.installments]
    return Schedule(terms=base, installments=rows)


def _times(schedule: Schedule) -> list[Decimal]:
    # EU method: periods in years; whole months count as twelfths of a year, anything else days/365.
    terms = schedule.terms
    if terms.unit is FrequencyUnit.MONTHS:
        return [CTX.divide(Decimal(i.number * terms.every), 12) for i in schedule.installments]
    return [CTX.divide(Decimal((i.due_date - terms.start_date).days), 365) for i in schedule.installments]


def apr_pct(schedule: Schedule) -> Decimal:
    """Solves Σ payment_k (1+APR)^-t_k = principal - fees by Decimal bisection; returns a percentage."""
    advanced = schedule.terms.principal - schedule.terms.upfront_fee
    flows = [(t, i.total) for t, i in zip(_times(schedule), schedule.installments, strict=True)]

    def npv(rate: Decimal) -> Decimal:
        base = CTX.add(1, rate)
        return sum((CTX.divide(amount, CTX.power(base, t)) for t, amount in flows), Decimal(0)) - advanced

    low, high = Decimal(0), Decimal(1)
    while npv(high) > 0:
        high *= 2
        if high > 1000:
            raise InputError("APR is out of range for these terms.", field="apr")
    if npv(low) < 0:
        return Decimal("0.00")
    for _ in range(200):
        mid = (low + high) / 2
        if npv(mid) > 0:
            low = mid
        else:
            high = mid
        if high - low < Decimal("1e-12"):
            break
    return ((low + high) / 2 * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def terms_to_json(terms: ScheduleTerms) -> dict[str, str | int]:
    """Serialises terms for storage (Decimals as strings)."""
    return {"principal": str(terms.principal), "currency": terms.currency,
            "annual_rate_pct": str(terms.annual_rate_pct),
            "installments": terms.installments, "start_date": terms.start_date.isoformat(), "every": terms.every,
            "unit": terms.unit.value, "interest_method": terms.interest_method.value,
            "amortisation": terms.amortisation.value, "day_count": terms.day_count.value,
            "grace_on_principal": terms.grace_on_principal, "grace_on_interest": terms.grace_on_interest,
            "upfront_fee": str(terms.upfront_fee)}


def terms_from_json(data: dict[str, Any]) -> ScheduleTerms:
    """Restores terms stored by terms_to_json."""
    return ScheduleTerms(
        principal=Decimal(data["principal"]), currency=data["currency"],
        annual_rate_pct=Decimal(data["annual_rate_pct"]), installments=int(data["installments"]),
        start_date=dt.date.fromisoformat(data["start_date"]), every=int(data["every"]),
        unit=FrequencyUnit(data["unit"]), interest_method=InterestMethod(data["interest_method"]),
        amortisation=Amortisation(data["amortisation"]), day_count=DayCount(data["day_count"]),
        grace_on_principal=int(data["grace_on_principal"]), grace_on_interest=int(data["grace_on_interest"]),
        upfront_fee=Decimal(data["upfront_fee"]))


def schedule_to_json(schedule: Schedule) -> list[dict[str, Any]]:
    """Serialises instalments for storage."""
    return [{"number": i.number, "from_date": i.from_date.isoformat(), "due_date": i.due_date.isoformat(),
             "principal": str(i.principal), "interest": str(i.interest), "total": str(i.total),
             "balance_after": str(i.balance_after)} for i in schedule.installments]


def installments_from_json(rows: list[dict[str, Any]]) -> list[Installment]:
    """Restores instalments stored by schedule_to_json."""
    return [Installment(number=r["number"], from_date=dt.date.fromisoformat(r["from_date"]),
                        due_date=dt.date.fromisoformat(r["due_date"]), principal=Decimal(r["principal"]),
                        interest=Decimal(r["interest"]), total=Decimal(r["total"]),
                        balance_after=Decimal(r["balance_after"])) for r in rows]


def split_prepayment(amount: Decimal, *, annual_rate_pct: Decimal, since: dt.date, until: dt.date,
                     day_count: DayCount, currency: str) -> tuple[Decimal, Decimal]:
    """Splits a prepayment into (principal, interest accrued on that principal from `since` to `until`)."""
    rate = CTX.multiply(CTX.divide(annual_rate_pct, 100), year_fraction(since, until, day_count))
    principal = _round(CTX.divide(amount, CTX.add(1, rate)), currency)
    return principal, amount - principal
