"""Money: Decimal amounts with an ISO 4217 currency, minor-unit scale and banker's rounding."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import Self

import iso4217

from shared.errors import CurrencyMismatch, InvalidAmount, InvalidCurrency

# One context for money maths: 34 significant digits is plenty for any balance times any rate.
MONEY_CONTEXT = decimal.Context(prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation])
MAX_INTEGER_DIGITS = 18


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Returns the ISO 4217 minor-unit exponent of a currency, refusing unknown or unit-less codes."""
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise InvalidCurrency(f"Currency '{currency}' is not an ISO 4217 alphabetic code.")
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError:
        raise InvalidCurrency(f"Currency '{currency}' is not an ISO 4217 currency.") from None
    if exponent is None:
        raise InvalidCurrency(f"Currency '{currency}' has no minor unit (funds or metals are not money here).")
    return int(exponent)


def check_currency(currency: str) -> str:
    """Returns the currency code if it is a valid ISO 4217 money currency, else raises InvalidCurrency."""
    minor_units(currency)
    return currency


def parse_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Parses a Decimal from a string or Decimal (never a float), refusing NaN, infinities and exponents."""
    if isinstance(value, bool | float):
        raise InvalidAmount(f"{field} must be a decimal string, not {type(value).__name__} {value!r}.")
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 40 or any(c not in "0123456789.-+" for c in text):
            raise InvalidAmount(f"{field} '{value}' is not a decimal number.")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidAmount(f"{field} '{value}' is not a decimal number.") from None
    if not isinstance(value, Decimal):
        raise InvalidAmount(f"{field} must be a decimal string, not {type(value).__name__}.")
    if not value.is_finite():
        raise InvalidAmount(f"{field} '{value}' is not a finite number.")
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise InvalidAmount(f"{field} '{value}' has more than {MAX_INTEGER_DIGITS} integer digits.")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An immutable amount in one currency; arithmetic refuses to mix currencies."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        check_currency(self.currency)
        # Decimals are checked too: a NaN, an infinity or an overflowing result is never money.
        object.__setattr__(self, "amount", parse_decimal(self.amount))

    # -- construction -------------------------------------------------------------------
    @classmethod
    def of(cls, amount: object, currency: str, *, exact: bool = True) -> Self:
        """Builds money from a decimal string; with exact=True, more decimals than the currency allows is an error."""
        value = parse_decimal(amount)
        scale = minor_units(currency)
        if exact and value != value.quantize(Decimal(1).scaleb(-scale), context=MONEY_CONTEXT):
            raise InvalidAmount(
                f"Amount '{amount}' has more decimals than {currency} allows ({scale})."
            )
        return cls(value.quantize(Decimal(1).scaleb(-scale), context=MONEY_CONTEXT), currency)

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls.of(0, currency)

    # -- arithmetic ---------------------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"Cannot combine Money with {type(other).__name__}.")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"Cannot combine {self.currency} with {other.currency}.")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(MONEY_CONTEXT.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(MONEY_CONTEXT.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def times(self, factor: Decimal | int) -> Money:
        """Multiplies by a Decimal factor at full precision; call quantize() where the result is posted."""
        if isinstance(factor, float):
            raise TypeError("Money is never multiplied by a float.")
        return Money(MONEY_CONTEXT.multiply(self.amount, Decimal(factor)), self.currency)

    def quantize(self, rounding: str = ROUND_HALF_EVEN) -> Money:
        """Rounds to the currency's minor units (banker's rounding unless told otherwise)."""
        exp = Decimal(1).scaleb(-minor_units(self.currency))
        return Money(self.amount.quantize(exp, rounding=rounding, context=MONEY_CONTEXT), self.currency)

    def allocate(self, weights: list[int]) -> list[Money]:
        """Splits into parts proportional to weights that sum exactly to this amount (largest remainder)."""
        if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
            raise InvalidAmount("Allocation weights must be non-negative and not all zero.")
        scale = minor_units(self.currency)
        units = int(self.quantize().amount.scaleb(scale))
        total = sum(weights)
        parts = [units * w // total for w in weights]
        leftover = units - sum(parts)
        # Integer remainders rank the parts exactly; ties go to the earlier part.
        order = sorted(range(len(weights)), key=lambda i: (-((units * weights[i]) % total), i))
        for i in order[:leftover]:
            parts[i] += 1
        return [Money(Decimal(p).scaleb(-scale), self.currency).quantize() for p in parts]

    # -- comparison ---------------------------------------------------------------------
    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    @property
    def is_negative(self) -> bool:
        return self.amount < 0

    def wire_amount(self) -> str:
        """Returns the amount as a string with exactly the currency's minor digits ("100.00")."""
        amount = self.quantize().amount
        return f"{abs(amount) if amount.is_zero() else amount:f}"  # never "-0.00" on the wire

    def __str__(self) -> str:
        return f"{self.wire_amount()} {self.currency}"
