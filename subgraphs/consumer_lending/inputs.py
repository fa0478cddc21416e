"""GraphQL inputs of consumer lending."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from shared.graphql import MoneyInput
from subgraphs.consumer_lending.types import OutcomeEnum


@strawberry.input
class QuoteInput:
    product_code: str
    amount: MoneyInput
    term_months: int
    party_id: strawberry.ID | None = None


@strawberry.input(description="Affordability inputs: monthly figures in the quote's currency.")
class LoanApplicationInput:
    quote_id: strawberry.ID
    party_id: strawberry.ID
    settlement_account_id: strawberry.ID
    monthly_income: MoneyInput
    monthly_expenses: MoneyInput
    monthly_debt_payments: MoneyInput
    existing_exposure: MoneyInput
    credit_score: int
    employment_status: str


@strawberry.input(description="How the borrower accepted the agreement.")
class AcceptanceEvidenceInput:
    signature_method: str
    ip_address: str | None = None
    device: str | None = None


@strawberry.input
class ScoreBandInput:
    min: int
    max: int
    outcome: OutcomeEnum
    reason: str | None = None


@strawberry.input(description="A decision policy version: score bands, affordability ratios, exposure caps.")
class DecisionPolicyInput:
    version: str
    score_bands: list[ScoreBandInput]
    refer_affordability_ratio: Decimal
    max_affordability_ratio: Decimal
    exposure_caps: list[MoneyInput]
    default_exposure_cap: Decimal
