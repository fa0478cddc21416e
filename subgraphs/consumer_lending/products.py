"""Consumer loan products sold here, pinned by code (a projection of the product directory's versions)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.errors import InputError


@dataclass(frozen=True)
class LoanProduct:
    code: str
    version: int
    annual_rate_pct: Decimal
    upfront_fee: Decimal
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    currencies: frozenset[str]


PRODUCTS = {
    p.code: p for p in [
        LoanProduct("PERSONAL_LOAN", 1, Decimal("12"), Decimal("0"), Decimal("1000"), Decimal("50000"), 6, 84,
                    frozenset({"EUR", "GBP", "USD"})),
        LoanProduct("HOME_IMPROVEMENT", 1, Decimal("7.5"), Decimal("150"), Decimal("5000"), Decimal("75000"), 12,
                    120, frozenset({"EUR", "GBP"})),
    ]
}


def product(code: str) -> LoanProduct:
    """Returns the product with that code, or raises BAD_USER_INPUT."""
    found = PRODUCTS.get(code)
    if found is None:
        raise InputError(f"productCode '{code[:40]}' is not one of {sorted(PRODUCTS)}.", field="productCode")
    return found


def check_within(p: LoanProduct, amount: Decimal, currency: str, term_months: int) -> None:
    """Refuses terms outside the product's ranges (invariant 12)."""
    if currency not in p.currencies:
        raise InputError(f"{p.code} is not sold in {currency}.", field="amount")
    if not p.min_amount <= amount <= p.max_amount:
        raise InputError(f"{p.code} lends between {p.min_amount} and {p.max_amount}.", field="amount")
    if not p.min_term_months <= term_months <= p.max_term_months:
        raise InputError(f"{p.code} runs {p.min_term_months} to {p.max_term_months} months.", field="termMonths")
