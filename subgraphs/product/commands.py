"""Validated product definitions and bundle inputs (frozen dataclasses, hashed for idempotency, stored as JSON)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared import validation as v
from shared.errors import InputError, InvalidAmount
from shared.jsonutil import to_jsonable
from shared.money import Money, check_currency
from subgraphs.product.models import (
    LENDING_FAMILIES,
    Amortisation,
    ChargeCalculation,
    ChargeFrequency,
    Compounding,
    DayCount,
    FeeType,
    Frequency,
    InterestMethod,
    ProductFamily,
)

_CODE = re.compile(r"^[A-Z][A-Z0-9_-]{1,31}$")
HUNDRED = Decimal(100)
MAX_RATE_DECIMALS = 6
MAX_TERM_MONTHS = 600


def code(value: str, *, field: str) -> str:
    """Returns an upper-case product, charge or bundle code (A-Z, 0-9, _ and -, 2 to 32 characters)."""
    text = (value or "").strip()
    if not _CODE.match(text):
        raise InputError(f"{field} '{text[:40]}' must be 2-32 characters of A-Z, 0-9, '_' or '-', "
                         "starting with a letter.", field=field)
    return text


def segments(values: tuple[str, ...], *, field: str = "eligibleSegments") -> tuple[str, ...]:
    """Returns the distinct, sorted customer segments (codes such as SME or MID_MARKET)."""
    if len(values) > 20:
        raise InputError(f"At most 20 {field} are allowed.", field=field)
    return tuple(sorted({code(s, field=field) for s in values}))


def rate(value: Decimal, *, field: str) -> Decimal:
    """Returns an annual percentage rate within 0..100 with at most six decimals."""
    if not value.is_finite() or value < 0 or value > HUNDRED:
        raise InputError(f"{field} {value} must be a percentage between 0 and 100.", field=field)
    if -value.as_tuple().exponent > MAX_RATE_DECIMALS:  # type: ignore[operator]
        raise InputError(f"{field} {value} has more than {MAX_RATE_DECIMALS} decimals.", field=field)
    return value


def amount(value: Decimal, currency: str, *, field: str, positive: bool = False) -> Decimal:
    """Returns a money amount in the currency's minor units; negative (or zero when positive) is refused."""
    if not value.is_finite() or value < 0 or (positive and value == 0):
        raise InvalidAmount(f"{field} {value} must be {'above' if positive else 'at least'} zero.", field=field)
    try:
        return Money.of(value, currency, exact=True).amount
    except InputError as exc:
        raise InvalidAmount(f"{field}: {exc.message}", field=field) from None


@dataclass(frozen=True)
class RateRange:
    min: Decimal
    default: Decimal
    max: Decimal

    def __post_init__(self) -> None:
        for name in ("min", "default", "max"):
            object.__setattr__(self, name, rate(getattr(self, name), field=f"interestRate.{name}"))
        if not self.min <= self.default <= self.max:
            raise InputError(f"interestRate default {self.default} must lie within min {self.min} and max "
                             f"{self.max}.", field="interestRate")


@dataclass(frozen=True)
class Pricing:
    interest_rate: RateRange
    day_count: DayCount
    compounding: Compounding
    posting_frequency: Frequency
    overdraft_rate: Decimal | None = None

    def __post_init__(self) -> None:
        if self.overdraft_rate is not None:
            object.__setattr__(self, "overdraft_rate", rate(self.overdraft_rate, field="overdraftRate"))


@dataclass(frozen=True)
class ChargeData:
    code: str
    name: str
    fee_type: FeeType
    calculation: ChargeCalculation
    frequency: ChargeFrequency
    amount: Decimal | None = None
    rate: Decimal | None = None
    min_cap: Decimal | None = None
    max_cap: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", code(self.code, field="charges.code"))
        object.__setattr__(self, "name", v.required_text(self.name, field="charges.name", max_length=200))

    def checked(self, currency: str) -> ChargeData:
        """Returns the charge with its amounts checked against the product currency."""
        if self.calculation == ChargeCalculation.FIXED:
            if self.amount is None or self.rate is not None:
                raise InputError(f"Charge {self.code}: a FIXED charge has an amount and no rate.", field="charges")
            if self.min_cap is not None or self.max_cap is not None:
                raise InputError(f"Charge {self.code}: caps apply only to PERCENTAGE charges.", field="charges")
            return ChargeData(self.code, self.name, self.fee_type, self.calculation, self.frequency,
                              amount=amount(self.amount, currency, field="charges.amount"))
        if self.rate is None or self.amount is not None:
            raise InputError(f"Charge {self.code}: a PERCENTAGE charge has a rate and no amount.", field="charges")
        charge_rate = rate(self.rate, field="charges.rate")
        if charge_rate == 0:
            raise InputError(f"Charge {self.code}: rate must be above zero.", field="charges.rate")
        low = None if self.min_cap is None else amount(self.min_cap, currency, field="charges.minCap")
        high = None if self.max_cap is None else amount(self.max_cap, currency, field="charges.maxCap")
        if low is not None and high is not None and low > high:
            raise InputError(f"Charge {self.code}: minCap {low} is above maxCap {high}.", field="charges.minCap")
        return ChargeData(self.code, self.name, self.fee_type, self.calculation, self.frequency,
                          rate=charge_rate, min_cap=low, max_cap=high)


@dataclass(frozen=True)
class LendingData:
    principal_min: Decimal
    principal_default: Decimal
    principal_max: Decimal
    term_min_months: int
    term_default_months: int
    term_max_months: int
    interest_method: InterestMethod
    amortisation: Amortisation
    repayment_frequency: Frequency
    grace_on_principal_periods: int = 0
    grace_on_interest_periods: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.term_min_months <= self.term_default_months <= self.term_max_months <= MAX_TERM_MONTHS:
            raise InputError(f"Terms must satisfy 1 <= min <= default <= max <= {MAX_TERM_MONTHS} months, got "
                             f"{self.term_min_months}/{self.term_default_months}/{self.term_max_months}.",
                             field="lending.termMonths")
        for grace in (self.grace_on_principal_periods, self.grace_on_interest_periods):
            if not 0 <= grace < self.term_min_months:
                raise InputError(f"Grace of {grace} periods must be at least 0 and below the minimum term.",
                                 field="lending.grace")

    def checked(self, currency: str) -> LendingData:
        """Returns the parameters with principal amounts checked against the product currency."""
        low, default, high = (amount(a, currency, field="lending.principal", positive=True)
                              for a in (self.principal_min, self.principal_default, self.principal_max))
        if not low <= default <= high:
            raise InputError(f"Principal default {default} must lie within min {low} and max {high}.",
                             field="lending.principal")
        return LendingData(low, default, high, self.term_min_months, self.term_default_months, self.term_max_months,
                           self.interest_method, self.amortisation, self.repayment_frequency,
                           self.grace_on_principal_periods, self.grace_on_interest_periods)


@dataclass(frozen=True)
class ProductDefinition:
    """Everything a version defines; once the version leaves DRAFT none of it changes."""

    code: str
    family: ProductFamily
    name: str
    currency: str
    pricing: Pricing
    charges: tuple[ChargeData, ...] = ()
    lending: LendingData | None = None
    eligible_segments: tuple[str, ...] = ()
    description: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "code", code(self.code, field="code"))
        set_(self, "name", v.required_text(self.name, field="name"))
        set_(self, "description", v.text(self.description, field="description", max_length=2000, required=False))
        set_(self, "currency", check_currency(self.currency))
        set_(self, "eligible_segments", segments(self.eligible_segments))
        if len(self.charges) > 20:
            raise InputError("A product has at most 20 charges.", field="charges")
        if len({c.code for c in self.charges}) != len(self.charges):
            raise InputError("Charge codes must be unique within a product.", field="charges.code")
        set_(self, "charges", tuple(c.checked(self.currency) for c in self.charges))
        lends = self.family in LENDING_FAMILIES
        if lends and self.lending is None:
            raise InputError(f"A {self.family.value} product needs lending parameters.", field="lending")
        if not lends and self.lending is not None:
            raise InputError(f"A {self.family.value} product has no lending parameters.", field="lending")
        if self.lending is not None:
            set_(self, "lending", self.lending.checked(self.currency))
        if self.family == ProductFamily.OVERDRAFT and self.pricing.overdraft_rate is None:
            raise InputError("An OVERDRAFT product needs an overdraftRate.", field="overdraftRate")

    def terms(self) -> dict[str, Any]:
        """Returns the definition's terms as canonical JSON (what the products.terms column stores)."""
        terms = {"pricing": self.pricing, "charges": list(self.charges), "lending": self.lending}
        return dict(json.loads(json.dumps(to_jsonable(terms))))


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def pricing_of(terms: dict[str, Any]) -> Pricing:
    """Rebuilds the pricing of a stored version."""
    p = terms["pricing"]
    r = p["interest_rate"]
    return Pricing(interest_rate=RateRange(Decimal(r["min"]), Decimal(r["default"]), Decimal(r["max"])),
                   day_count=DayCount(p["day_count"]), compounding=Compounding(p["compounding"]),
                   posting_frequency=Frequency(p["posting_frequency"]), overdraft_rate=_dec(p["overdraft_rate"]))


def charges_of(terms: dict[str, Any]) -> tuple[ChargeData, ...]:
    """Rebuilds the charges of a stored version."""
    return tuple(ChargeData(code=c["code"], name=c["name"], fee_type=FeeType(c["fee_type"]),
                            calculation=ChargeCalculation(c["calculation"]),
                            frequency=ChargeFrequency(c["frequency"]), amount=_dec(c["amount"]), rate=_dec(c["rate"]),
                            min_cap=_dec(c["min_cap"]), max_cap=_dec(c["max_cap"])) for c in terms["charges"])


def lending_of(terms: dict[str, Any]) -> LendingData | None:
    """Rebuilds the lending parameters of a stored version (None for deposit and overdraft products)."""
    x = terms.get("lending")
    if x is None:
        return None
    return LendingData(Decimal(x["principal_min"]), Decimal(x["principal_default"]), Decimal(x["principal_max"]),
                       int(x["term_min_months"]), int(x["term_default_months"]), int(x["term_max_months"]),
                       InterestMethod(x["interest_method"]), Amortisation(x["amortisation"]),
                       Frequency(x["repayment_frequency"]), int(x["grace_on_principal_periods"]),
                       int(x["grace_on_interest_periods"]))


@dataclass(frozen=True)
class BundleComponentData:
    product_code: str
    required: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "product_code", code(self.product_code, field="components.productCode"))


@dataclass(frozen=True)
class BundleDefinition:
    name: str
    currency: str
    components: tuple[BundleComponentData, ...]
    monthly_fee: Decimal | None = None
    eligible_segments: tuple[str, ...] = ()
    description: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "name", v.required_text(self.name, field="name"))
        set_(self, "description", v.text(self.description, field="description", max_length=2000, required=False))
        set_(self, "currency", check_currency(self.currency))
        set_(self, "eligible_segments", segments(self.eligible_segments))
        codes = [c.product_code for c in self.components]
        if not 2 <= len(codes) <= 20 or len(set(codes)) != len(codes):
            raise InputError("A bundle has 2 to 20 distinct product codes.", field="components")
        if self.monthly_fee is not None:
            set_(self, "monthly_fee", amount(self.monthly_fee, self.currency, field="monthlyFee"))
