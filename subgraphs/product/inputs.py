"""GraphQL input types of the product subgraph, each turned into a validated command."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from subgraphs.product import commands, models
from subgraphs.product.types import (
    AmortisationEnum,
    ChargeCalculationEnum,
    ChargeFrequencyEnum,
    CompoundingEnum,
    DayCountEnum,
    FeeTypeEnum,
    FrequencyEnum,
    InterestMethodEnum,
    ProductFamilyEnum,
    ProductStatusEnum,
)


@strawberry.input(description="Annual nominal rates in percent; min <= default <= max, each within 0..100.")
class ProductInterestRateRangeInput:
    min: Decimal
    default: Decimal
    max: Decimal


@strawberry.input
class ProductPricingInput:
    interest_rate: ProductInterestRateRangeInput
    day_count: DayCountEnum
    compounding: CompoundingEnum
    posting_frequency: FrequencyEnum
    overdraft_rate: Decimal | None = None

    def to_command(self) -> commands.Pricing:
        r = self.interest_rate
        return commands.Pricing(interest_rate=commands.RateRange(r.min, r.default, r.max),
                                day_count=models.DayCount(self.day_count),
                                compounding=models.Compounding(self.compounding),
                                posting_frequency=models.Frequency(self.posting_frequency),
                                overdraft_rate=self.overdraft_rate)


@strawberry.input(description="Amounts and caps are decimal strings in the product's currency.")
class ProductChargeInput:
    code: str
    name: str
    fee_type: FeeTypeEnum
    calculation: ChargeCalculationEnum
    frequency: ChargeFrequencyEnum
    amount: Decimal | None = None
    rate: Decimal | None = None
    min_cap: Decimal | None = None
    max_cap: Decimal | None = None

    def to_command(self) -> commands.ChargeData:
        return commands.ChargeData(code=self.code, name=self.name, fee_type=models.FeeType(self.fee_type),
                                   calculation=models.ChargeCalculation(self.calculation),
                                   frequency=models.ChargeFrequency(self.frequency), amount=self.amount,
                                   rate=self.rate, min_cap=self.min_cap, max_cap=self.max_cap)


@strawberry.input(description="Principal amounts are decimal strings in the product's currency; terms in months.")
class ProductLendingTermsInput:
    principal_min: Decimal
    principal_default: Decimal
    principal_max: Decimal
    term_min_months: int
    term_default_months: int
    term_max_months: int
    interest_method: InterestMethodEnum
    amortisation: AmortisationEnum
    repayment_frequency: FrequencyEnum
    grace_on_principal_periods: int = 0
    grace_on_interest_periods: int = 0

    def to_command(self) -> commands.LendingData:
        return commands.LendingData(
            self.principal_min, self.principal_default, self.principal_max, self.term_min_months,
            self.term_default_months, self.term_max_months, models.InterestMethod(self.interest_method),
            models.Amortisation(self.amortisation), models.Frequency(self.repayment_frequency),
            self.grace_on_principal_periods, self.grace_on_interest_periods)


@strawberry.input
class ProductDefinitionInput:
    code: str
    family: ProductFamilyEnum
    name: str
    currency: str = strawberry.field(description="ISO 4217 code.")
    pricing: ProductPricingInput
    charges: list[ProductChargeInput] = strawberry.field(default_factory=list)
    lending: ProductLendingTermsInput | None = None
    eligible_segments: list[str] = strawberry.field(default_factory=list)
    description: str | None = None

    def to_command(self) -> commands.ProductDefinition:
        return commands.ProductDefinition(
            code=self.code, family=models.ProductFamily(self.family), name=self.name, currency=self.currency,
            pricing=self.pricing.to_command(), charges=tuple(c.to_command() for c in self.charges),
            lending=self.lending.to_command() if self.lending else None,
            eligible_segments=tuple(self.eligible_segments), description=self.description)


@strawberry.input
class BundleComponentInput:
    product_code: str
    required: bool = True


@strawberry.input
class BundleInput:
    name: str
    currency: str
    components: list[BundleComponentInput]
    monthly_fee: Decimal | None = None
    eligible_segments: list[str] = strawberry.field(default_factory=list)
    description: str | None = None

    def to_command(self) -> commands.BundleDefinition:
        return commands.BundleDefinition(
            name=self.name, currency=self.currency,
            components=tuple(commands.BundleComponentData(c.product_code, c.required) for c in self.components),
            monthly_fee=self.monthly_fee, eligible_segments=tuple(self.eligible_segments),
            description=self.description)


@strawberry.input
class ProductFilterInput:
    code: str | None = None
    family: ProductFamilyEnum | None = None
    currency: str | None = None
    status: ProductStatusEnum | None = None
    segment: str | None = None
    on_sale_at: dt.date | None = strawberry.field(default=None, description="Only versions on sale on this date.")
