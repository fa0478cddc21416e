"""GraphQL inputs of corporate lending."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from shared.graphql import MoneyInput
from subgraphs.corporate_lending.types import FacilityTypeEnum, OperatorEnum
from subgraphs.lending_schedules.calendar import DayCount, FrequencyUnit
from subgraphs.lending_schedules.engine import Amortisation, InterestMethod

InterestMethodEnum = strawberry.enum(InterestMethod, name="InterestMethod")
AmortisationEnum = strawberry.enum(Amortisation, name="Amortisation")
DayCountEnum = strawberry.enum(DayCount, name="DayCountConvention")
FrequencyUnitEnum = strawberry.enum(FrequencyUnit, name="FrequencyUnit")


@strawberry.input(description="Financial figures by name (e.g. revenue, ebitda, netDebt) as decimal strings.")
class FinancialFigureInput:
    name: str
    value: Decimal


@strawberry.input
class CreditApplicationInput:
    borrower_party_id: strawberry.ID
    guarantor_party_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    purpose: str
    requested: MoneyInput
    facility_type: FacilityTypeEnum
    financials: list[FinancialFigureInput] = strawberry.field(default_factory=list)
    internal_rating: str | None = None


@strawberry.input
class CovenantInput:
    metric: str
    operator: OperatorEnum
    threshold: Decimal
    test_frequency: str


@strawberry.input(description="How each drawdown repays.")
class RepaymentTermsInput:
    installments: int
    every: int = 1
    unit: FrequencyUnitEnum = FrequencyUnit.MONTHS
    interest_method: InterestMethodEnum = InterestMethod.DECLINING_BALANCE
    amortisation: AmortisationEnum = Amortisation.EQUAL_INSTALLMENTS
    day_count: DayCountEnum = DayCount.ACTUAL_365
    grace_on_principal: int = 0
    grace_on_interest: int = 0


@strawberry.input
class OfferInput:
    limit: MoneyInput
    base_rate_pct: Decimal
    margin_pct: Decimal
    commitment_fee_pct: Decimal
    arrangement_fee: MoneyInput
    availability_months: int
    repayment: RepaymentTermsInput
    conditions_precedent: list[str] = strawberry.field(default_factory=list)
    covenants: list[CovenantInput] = strawberry.field(default_factory=list)
    valid_days: int = 30
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="The product version (product subgraph) the facility is sold under.")
