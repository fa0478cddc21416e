"""Events consumer lending publishes on finpace.consumer_lending.> (the only module other domains may import).

Cross-domain contract (see docs/lending.md): `LoanDisbursementRequested` asks the account domain to
credit the borrower's settlement account; it answers with `finpace.account.payment.executed` or
`finpace.account.payment.failed` carrying the same `idempotency_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.events import DomainEvent
from shared.money import Money  # serialised as {amount: decimal string, currency}


@dataclass(frozen=True, kw_only=True)
class QuoteEvent(DomainEvent):
    domain: ClassVar[str] = "consumer_lending"
    aggregate: ClassVar[str] = "quote"
    quote_id: str


@dataclass(frozen=True, kw_only=True)
class QuoteIssued(QuoteEvent):
    party_id: str | None
    principal: Money
    apr_pct: str
    total_repayable: Money


@dataclass(frozen=True, kw_only=True)
class ApplicationEvent(DomainEvent):
    domain: ClassVar[str] = "consumer_lending"
    aggregate: ClassVar[str] = "application"
    application_id: str
    party_id: str


@dataclass(frozen=True, kw_only=True)
class ApplicationSubmitted(ApplicationEvent):
    quote_id: str
    principal: Money


@dataclass(frozen=True, kw_only=True)
class ApplicationDecisionMade(ApplicationEvent):
    decision_id: str
    outcome: str
    reason_codes: list[str]
    policy_version: str
    decided_by: str
    override_of: str | None


@dataclass(frozen=True, kw_only=True)
class ApplicationOverrideProposed(ApplicationEvent):
    outcome: str
    proposed_by: str


@dataclass(frozen=True, kw_only=True)
class ApplicationContractIssued(ApplicationEvent):
    contract_id: str
    document_version: str


@dataclass(frozen=True, kw_only=True)
class ApplicationContractAccepted(ApplicationEvent):
    contract_id: str
    cooling_off_ends_on: str


@dataclass(frozen=True, kw_only=True)
class ApplicationWithdrawn(ApplicationEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class LoanEvent(DomainEvent):
    domain: ClassVar[str] = "consumer_lending"
    aggregate: ClassVar[str] = "loan"
    loan_id: str
    party_id: str


@dataclass(frozen=True, kw_only=True)
class LoanDisbursementRequested(LoanEvent):
    """Asks the account domain to credit `amount` to `settlement_account_id` exactly once per idempotency_id."""

    application_id: str
    settlement_account_id: str
    amount: Money
    idempotency_id: str


@dataclass(frozen=True, kw_only=True)
class LoanDisbursed(LoanEvent):
    amount: Money
    disbursed_on: str
    payment_id: str | None


@dataclass(frozen=True, kw_only=True)
class LoanDisbursementFailed(LoanEvent):
    reason: str


@dataclass(frozen=True, kw_only=True)
class LoanCoolingOffExercised(LoanEvent):
    """The borrower withdrew in the cooling-off period and owes principal plus interest for the days used.

    The loan is WITHDRAWAL_PENDING; the amount is collected by a LoanRepaymentRequested (purpose COOLING_OFF).
    Version 2: adds `interest`; the loan is no longer withdrawn at once (LoanWithdrawn follows the collection).
    """

    schema_version: ClassVar[int] = 2
    amount_due: Money
    interest: Money | None = None  # the interest to date included in amount_due
    repay_by: str | None = None  # ISO date: the last day to repay before the end of day collects and ages it


@dataclass(frozen=True, kw_only=True)
class LoanWithdrawn(LoanEvent):
    """The cooling-off withdrawal is settled: the amount due was collected and the loan is WITHDRAWN_IN_COOLING_OFF."""

    amount_repaid: Money


@dataclass(frozen=True, kw_only=True)
class LoanDelinquencyChanged(LoanEvent):
    days_past_due: int
    from_bucket: str
    to_bucket: str


@dataclass(frozen=True, kw_only=True)
class LoanScheduleRecalculated(LoanEvent):
    schedule_version: int
    hardship_id: str | None


@dataclass(frozen=True, kw_only=True)
class HardshipEvent(DomainEvent):
    domain: ClassVar[str] = "consumer_lending"
    aggregate: ClassVar[str] = "hardship"
    hardship_id: str
    loan_id: str
    status: str


@dataclass(frozen=True, kw_only=True)
class HardshipRequested(HardshipEvent):
    """Version 2 adds `reduced_amount`."""

    schema_version: ClassVar[int] = 2
    arrangement_type: str
    periods: int
    reduced_amount: Money | None = None  # REDUCED_PAYMENT: the agreed instalment


@dataclass(frozen=True, kw_only=True)
class HardshipStatusChanged(HardshipEvent):
    from_status: str


@dataclass(frozen=True, kw_only=True)
class DecisionPolicyPublished(DomainEvent):
    domain: ClassVar[str] = "consumer_lending"
    aggregate: ClassVar[str] = "decision_policy"
    policy_version: str
    rules: dict[str, object]


@dataclass(frozen=True, kw_only=True)
class LoanRepaymentReceived(LoanEvent):
    amount: Money
    amount_repaid: Money
    status: str
    interest: Money | None = None  # the allocation: fees → interest → principal, oldest instalment first
    principal: Money | None = None


@dataclass(frozen=True, kw_only=True)
class LoanRepaymentRequested(LoanEvent):
    """Asks the account domain to debit `amount` from `settlement_account_id` exactly once per idempotency_id."""

    settlement_account_id: str
    amount: Money
    idempotency_id: str
    purpose: str  # INSTALMENT_DUE | CUSTOMER | PREPAYMENT | COOLING_OFF
    installment_number: int | None = None


@dataclass(frozen=True, kw_only=True)
class LoanRepaymentFailed(LoanEvent):
    request_id: str
    purpose: str
    reason: str
