"""GraphQL inputs of consumer lending."""

from __future__ import annotations

import strawberry

from shared.graphql import MoneyInput


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
