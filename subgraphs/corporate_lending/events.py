"""Events corporate lending publishes on finpace.corporate_lending.> (the only module other domains may import).

Cross-domain contract (see docs/lending.md): `DrawdownDisbursementRequested` asks the account domain to
credit the borrower's settlement account; it answers with `finpace.account.payment.executed` or
`finpace.account.payment.failed` carrying the same `idempotency_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.events import DomainEvent
from shared.money import Money  # serialised as {amount: decimal string, currency}


@dataclass(frozen=True, kw_only=True)
class ApplicationEvent(DomainEvent):
    domain: ClassVar[str] = "corporate_lending"
    aggregate: ClassVar[str] = "credit_application"
    application_id: str
    borrower_party_id: str


@dataclass(frozen=True, kw_only=True)
class CreditApplicationSubmitted(ApplicationEvent):
    requested: Money
    facility_type: str


@dataclass(frozen=True, kw_only=True)
class CreditDecisionProposed(ApplicationEvent):
    approve: bool
    proposed_by: str


@dataclass(frozen=True, kw_only=True)
class CreditDecisionRecorded(ApplicationEvent):
    outcome: str
    decided_by: str
    approved_by: str


@dataclass(frozen=True, kw_only=True)
class OfferEvent(DomainEvent):
    domain: ClassVar[str] = "corporate_lending"
    aggregate: ClassVar[str] = "offer"
    offer_id: str
    borrower_party_id: str


@dataclass(frozen=True, kw_only=True)
class OfferIssued(OfferEvent):
    application_id: str
    limit: Money
    expires_at: str


@dataclass(frozen=True, kw_only=True)
class OfferAccepted(OfferEvent):
    facility_id: str


@dataclass(frozen=True, kw_only=True)
class OfferExpired(OfferEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class FacilityEvent(DomainEvent):
    domain: ClassVar[str] = "corporate_lending"
    aggregate: ClassVar[str] = "facility"
    facility_id: str
    borrower_party_id: str


@dataclass(frozen=True, kw_only=True)
class FacilityCreated(FacilityEvent):
    facility_type: str
    limit: Money
    availability_end: str
    maturity_date: str
    status: str


@dataclass(frozen=True, kw_only=True)
class FacilityAvailable(FacilityEvent):
    available: Money


@dataclass(frozen=True, kw_only=True)
class FacilityConditionSatisfied(FacilityEvent):
    condition: str


@dataclass(frozen=True, kw_only=True)
class FacilityStatusChanged(FacilityEvent):
    from_status: str
    to_status: str


@dataclass(frozen=True, kw_only=True)
class DrawdownEvent(DomainEvent):
    domain: ClassVar[str] = "corporate_lending"
    aggregate: ClassVar[str] = "drawdown"
    drawdown_id: str
    facility_id: str
    borrower_party_id: str


@dataclass(frozen=True, kw_only=True)
class DrawdownExecuted(DrawdownEvent):
    amount: Money
    available_after: Money
    value_date: str


@dataclass(frozen=True, kw_only=True)
class DrawdownDisbursementRequested(DrawdownEvent):
    """Asks the account domain to credit `amount` to `settlement_account_id` exactly once per idempotency_id."""

    settlement_account_id: str
    amount: Money
    idempotency_id: str


@dataclass(frozen=True, kw_only=True)
class DrawdownSettled(DrawdownEvent):
    payment_id: str | None


@dataclass(frozen=True, kw_only=True)
class DrawdownFailed(DrawdownEvent):
    reason: str
    available_after: Money


@dataclass(frozen=True, kw_only=True)
class RepaymentReceived(DrawdownEvent):
    repayment_id: str
    amount: Money
    interest: Money
    principal: Money
    prepaid_principal: Money
    principal_outstanding: Money


@dataclass(frozen=True, kw_only=True)
class DrawdownRepaymentRequested(DrawdownEvent):
    """Asks the account domain to debit `amount` from `settlement_account_id` exactly once per idempotency_id."""

    settlement_account_id: str
    amount: Money
    idempotency_id: str
    purpose: str  # INSTALMENT_DUE | CUSTOMER | PREPAYMENT
    installment_number: int | None = None


@dataclass(frozen=True, kw_only=True)
class DrawdownRepaymentFailed(DrawdownEvent):
    request_id: str
    purpose: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class InstallmentOverdue(DrawdownEvent):
    installment_number: int
    due_date: str
    amount_overdue: Money


@dataclass(frozen=True, kw_only=True)
class CovenantEvent(DomainEvent):
    domain: ClassVar[str] = "corporate_lending"
    aggregate: ClassVar[str] = "covenant"
    covenant_id: str
    facility_id: str


@dataclass(frozen=True, kw_only=True)
class CovenantTested(CovenantEvent):
    test_id: str
    period_end: str
    actual_value: str
    result: str


@dataclass(frozen=True, kw_only=True)
class CovenantBreached(CovenantEvent):
    metric: str
    threshold: str
    actual_value: str


@dataclass(frozen=True, kw_only=True)
class CovenantWaiverRequested(CovenantEvent):
    requested_by: str
    expires_on: str


@dataclass(frozen=True, kw_only=True)
class CovenantWaived(CovenantEvent):
    requested_by: str
    approved_by: str
    expires_on: str


@dataclass(frozen=True, kw_only=True)
class CovenantCured(CovenantEvent):
    test_id: str
