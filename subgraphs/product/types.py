"""GraphQL types of the product subgraph: the Product entity (one version), pricing, charges, lending, bundles."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from shared.graphql import (
    ConflictError,
    FourEyesRequiredError,
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    MoneyType,
    NotFoundError,
    parse_uuid,
)
from shared.money import Money
from subgraphs.product import commands, models, queries

ProductFamilyEnum = strawberry.enum(models.ProductFamily, name="ProductFamily")
ProductStatusEnum = strawberry.enum(models.ProductStatus, name="ProductStatus")
DayCountEnum = strawberry.enum(models.DayCount, name="DayCountConvention",
                               description="How interest days are counted: actual/365, actual/360 or 30/360.")
CompoundingEnum = strawberry.enum(models.Compounding, name="InterestCompounding")
FrequencyEnum = strawberry.enum(models.Frequency, name="ProductFrequency")
ChargeFrequencyEnum = strawberry.enum(models.ChargeFrequency, name="ChargeFrequency")
FeeTypeEnum = strawberry.enum(models.FeeType, name="ChargeFeeType")
ChargeCalculationEnum = strawberry.enum(models.ChargeCalculation, name="ChargeCalculation")
InterestMethodEnum = strawberry.enum(models.InterestMethod, name="InterestMethod")
AmortisationEnum = strawberry.enum(models.Amortisation, name="AmortisationMethod")
BundleStatusEnum = strawberry.enum(models.BundleStatus, name="BundleStatus")


def _money(amount: Decimal | None, currency: str) -> MoneyType | None:
    return None if amount is None else MoneyType.of(Money(amount, currency))


@strawberry.type(description="Annual nominal interest rate in percent: the range a contract may use and its default.")
class ProductInterestRateRange:
    min: Decimal
    default: Decimal
    max: Decimal


@strawberry.type
class ProductPricing:
    interest_rate: ProductInterestRateRange
    day_count: DayCountEnum
    compounding: CompoundingEnum
    posting_frequency: FrequencyEnum
    overdraft_rate: Decimal | None = strawberry.field(description="Annual debit rate in percent on overdrawn balances.")

    @classmethod
    def of(cls, p: commands.Pricing) -> ProductPricing:
        r = p.interest_rate
        return cls(interest_rate=ProductInterestRateRange(min=r.min, default=r.default, max=r.max),
                   day_count=p.day_count, compounding=p.compounding, posting_frequency=p.posting_frequency,
                   overdraft_rate=p.overdraft_rate)


@strawberry.type(description="A fee: FIXED (amount) or PERCENTAGE (rate, optionally capped), charged at a frequency.")
class ProductCharge:
    code: str
    name: str
    fee_type: FeeTypeEnum
    calculation: ChargeCalculationEnum
    frequency: ChargeFrequencyEnum
    amount: MoneyType | None
    rate: Decimal | None
    min_cap: MoneyType | None
    max_cap: MoneyType | None

    @classmethod
    def of(cls, c: commands.ChargeData, currency: str) -> ProductCharge:
        return cls(code=c.code, name=c.name, fee_type=c.fee_type, calculation=c.calculation, frequency=c.frequency,
                   amount=_money(c.amount, currency), rate=c.rate, min_cap=_money(c.min_cap, currency),
                   max_cap=_money(c.max_cap, currency))


@strawberry.type
class ProductPrincipalRange:
    min: MoneyType
    default: MoneyType
    max: MoneyType


@strawberry.type
class ProductTermRange:
    min: int
    default: int
    max: int


@strawberry.type
class ProductLendingTerms:
    principal: ProductPrincipalRange
    term_months: ProductTermRange
    interest_method: InterestMethodEnum
    amortisation: AmortisationEnum
    repayment_frequency: FrequencyEnum
    grace_on_principal_periods: int
    grace_on_interest_periods: int

    @classmethod
    def of(cls, x: commands.LendingData, currency: str) -> ProductLendingTerms:
        m = lambda a: MoneyType.of(Money(a, currency))  # noqa: E731
        return cls(principal=ProductPrincipalRange(min=m(x.principal_min), default=m(x.principal_default),
                                        max=m(x.principal_max)),
                   term_months=ProductTermRange(min=x.term_min_months, default=x.term_default_months,
                                         max=x.term_max_months),
                   interest_method=x.interest_method, amortisation=x.amortisation,
                   repayment_frequency=x.repayment_frequency, grace_on_principal_periods=x.grace_on_principal_periods,
                   grace_on_interest_periods=x.grace_on_interest_periods)


@strawberry.federation.type(keys=["id"], description="One version of a product; published versions never change.")
class Product:
    id: strawberry.ID
    code: str
    version: int
    family: ProductFamilyEnum
    name: str
    description: str | None
    currency: str
    status: ProductStatusEnum
    effective_from: dt.date | None = strawberry.field(description="First day on sale.")
    effective_to: dt.date | None = strawberry.field(description="First day no longer on sale (exclusive end).")
    supersedes_version: int | None
    eligible_segments: list[str]
    pricing: ProductPricing
    charges: list[ProductCharge]
    lending: ProductLendingTerms | None
    created_by: str
    submitted_by: str | None
    submitted_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    retired_at: dt.datetime | None
    revision: int = strawberry.field(description="Bumped by every lifecycle change of this version.")
    created_at: dt.datetime
    updated_at: dt.datetime
    row: strawberry.Private[models.Product]

    @classmethod
    def of(cls, row: models.Product) -> Product:
        return cls(
            id=strawberry.ID(str(row.id)), code=row.code, version=row.version,
            family=models.ProductFamily(row.family), name=row.name, description=row.description,
            currency=row.currency, status=models.ProductStatus(row.status), effective_from=row.effective_from,
            effective_to=row.effective_to, supersedes_version=row.supersedes_version,
            eligible_segments=list(row.eligible_segments or []),
            pricing=ProductPricing.of(commands.pricing_of(row.terms)),
            charges=[ProductCharge.of(c, row.currency) for c in commands.charges_of(row.terms)],
            lending=ProductLendingTerms.of(x, row.currency) if (x := commands.lending_of(row.terms)) else None,
            created_by=row.created_by, submitted_by=row.submitted_by, submitted_at=row.submitted_at,
            approved_by=row.approved_by, approved_at=row.approved_at, published_at=row.published_at,
            withdrawn_at=row.withdrawn_at, retired_at=row.retired_at, revision=row.revision,
            created_at=row.created_at, updated_at=row.updated_at, row=row,
        )

    @classmethod
    async def load(cls, info: Info, product_id: uuid.UUID) -> Product | None:
        row = await info.context.loaders.product.load(product_id)
        return cls.of(row) if row is not None else None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID, **_: object) -> Product | None:
        info.context.require()
        return await cls.load(info, parse_uuid(id))

    @strawberry.field(description="Whether this version may be sold on `at` (default: today, UTC).")
    def is_on_sale(self, at: dt.date | None = None) -> bool:
        return self.row.is_on_sale(at or dt.datetime.now(dt.UTC).date())

    @strawberry.field(description="Every version of this product code, oldest first.")
    async def versions(self, info: Info) -> list[Product]:
        async with info.context.sessions() as session:
            rows = await queries.list_product_versions(session, self.code, info.context.principal)
        return [Product.of(r) for r in rows]


@strawberry.type
class ProductBundleComponent:
    product_code: str
    required: bool

    @strawberry.field(description="The version of this product on sale at `at` (default: today).")
    async def product(self, info: Info, at: dt.date | None = None) -> Product | None:
        async with info.context.sessions() as session:
            row = await queries.get_product_on_sale(session, self.product_code, at or dt.datetime.now(dt.UTC).date())
        return Product.of(row) if row else None


@strawberry.type(description="Products sold together, with an optional bundle price.")
class Bundle:
    id: strawberry.ID
    code: str
    name: str
    description: str | None
    currency: str
    monthly_fee: MoneyType | None
    eligible_segments: list[str]
    status: BundleStatusEnum
    revision: int
    created_at: dt.datetime
    uid: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, row: models.Bundle) -> Bundle:
        return cls(id=strawberry.ID(str(row.id)), code=row.code, name=row.name, description=row.description,
                   currency=row.currency, monthly_fee=_money(row.monthly_fee, row.currency),
                   eligible_segments=list(row.eligible_segments or []), status=models.BundleStatus(row.status),
                   revision=row.revision, created_at=row.created_at, uid=row.id)

    @strawberry.field
    async def components(self, info: Info) -> list[ProductBundleComponent]:
        return [ProductBundleComponent(product_code=c.product_code, required=c.required)
                for c in await info.context.loaders.components.load(self.uid)]


Errors = NotFoundError | InvalidTransitionError | ConflictError | IdempotencyKeyReusedError | FourEyesRequiredError
ProductResult = Annotated[Product | Errors, strawberry.union("ProductResult")]  # type: ignore[valid-type]
BundleResult = Annotated[Bundle | Errors, strawberry.union("BundleResult")]  # type: ignore[valid-type]
