"""Consumer lending tables (SQLAlchemy 2.0) and their state machines."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ARRAY, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.errors import InvalidTransition
from shared.products import ProductVersionColumns

AMOUNT = Numeric(19, 4)
RATE = Numeric(9, 6)


class Base(DeclarativeBase):
    pass


class QuoteStatus(StrEnum):
    ISSUED = "ISSUED"
    ACCEPTED = "ACCEPTED"
    EXPIRED = "EXPIRED"


class ApplicationStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    REFERRED = "REFERRED"
    CONTRACT_ISSUED = "CONTRACT_ISSUED"
    CONTRACT_ACCEPTED = "CONTRACT_ACCEPTED"
    DISBURSEMENT_REQUESTED = "DISBURSEMENT_REQUESTED"
    DISBURSED = "DISBURSED"
    WITHDRAWN = "WITHDRAWN"


class Outcome(StrEnum):
    APPROVE = "APPROVE"
    DECLINE = "DECLINE"
    REFER = "REFER"


class LoanStatus(StrEnum):
    DISBURSEMENT_PENDING = "DISBURSEMENT_PENDING"
    ACTIVE = "ACTIVE"
    DISBURSEMENT_FAILED = "DISBURSEMENT_FAILED"
    WITHDRAWAL_PENDING = "WITHDRAWAL_PENDING"  # cooling-off exercised; principal + interest being collected
    WITHDRAWN_IN_COOLING_OFF = "WITHDRAWN_IN_COOLING_OFF"
    CLOSED = "CLOSED"


class DelinquencyBucket(StrEnum):
    CURRENT = "CURRENT"
    DPD_1_30 = "DPD_1_30"
    DPD_31_60 = "DPD_31_60"
    DPD_61_90 = "DPD_61_90"
    DPD_90_PLUS = "DPD_90_PLUS"

    @classmethod
    def of(cls, days_past_due: int) -> DelinquencyBucket:
        if days_past_due <= 0:
            return cls.CURRENT
        if days_past_due <= 30:
            return cls.DPD_1_30
        if days_past_due <= 60:
            return cls.DPD_31_60
        return cls.DPD_61_90 if days_past_due <= 90 else cls.DPD_90_PLUS


class RepaymentPurpose(StrEnum):
    INSTALMENT_DUE = "INSTALMENT_DUE"
    CUSTOMER = "CUSTOMER"
    PREPAYMENT = "PREPAYMENT"
    COOLING_OFF = "COOLING_OFF"  # principal + interest to date after a cooling-off withdrawal


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    EXECUTED = "EXECUTED"
    FAILED = "FAILED"
    UNAPPLIED = "UNAPPLIED"  # collected, but the loan no longer owed it (left for operations to refund)


class HardshipType(StrEnum):
    PAYMENT_HOLIDAY = "PAYMENT_HOLIDAY"
    REDUCED_PAYMENT = "REDUCED_PAYMENT"
    TERM_EXTENSION = "TERM_EXTENSION"


class HardshipStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    BROKEN = "BROKEN"


HARDSHIP_TRANSITIONS: dict[HardshipStatus, set[HardshipStatus]] = {
    HardshipStatus.REQUESTED: {HardshipStatus.APPROVED, HardshipStatus.DECLINED},
    HardshipStatus.APPROVED: {HardshipStatus.ACTIVE},
    HardshipStatus.ACTIVE: {HardshipStatus.COMPLETED, HardshipStatus.BROKEN},
}


def check(current: str, allowed: set[str] | set[Any], action: str, what: str) -> None:
    """Raises InvalidTransition unless `current` is one of `allowed`."""
    if current not in {str(a) for a in allowed}:
        raise InvalidTransition(f"Cannot {action}: the {what} is {current}.", status=current)


class Versioned:
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    def touch(self) -> int:
        self.version += 1
        return self.version


class DecisionPolicy(Base):
    """Decisioning rules as data: one row per immutable policy version."""

    __tablename__ = "decision_policies"
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Quote(Base):
    __tablename__ = "quotes"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    party_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    product_code: Mapped[str] = mapped_column(String(64), nullable=False)  # code@version, as quoted
    # The product version (product subgraph) it is priced under; null on quotes made before loans named one.
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    terms: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    principal: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    annual_rate_pct: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    apr_pct: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    installment_amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    total_repayable: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    total_cost_of_credit: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Application(Versioned, Base):
    __tablename__ = "applications"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id"), nullable=False, unique=True)
    party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    settlement_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    monthly_income: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    monthly_expenses: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    monthly_debt_payments: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    existing_exposure: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    credit_score: Mapped[int] = mapped_column(Integer, nullable=False)
    employment_status: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    pending_override: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    reason_codes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False)
    policy_version: Mapped[str] = mapped_column(String(32), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    affordability_ratio: Mapped[Decimal] = mapped_column(Numeric(9, 4), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(255), nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(255))
    override_of: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reason: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Contract(Base):
    __tablename__ = "contracts"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), nullable=False, unique=True)
    document_version: Mapped[str] = mapped_column(String(32), nullable=False)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    acceptance_evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    cooling_off_ends_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), nullable=False)


class Loan(Versioned, Base):
    __tablename__ = "loans"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), nullable=False)
    party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    settlement_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    principal: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    terms: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # the version it was sold under
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    schedule_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    disbursement_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    disbursed_on: Mapped[dt.date | None] = mapped_column(Date)
    # Set when the borrower withdraws in the cooling-off period: the last day to repay what was advanced.
    withdrawal_repay_by: Mapped[dt.date | None] = mapped_column(Date)
    amount_repaid: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False, default=Decimal(0))
    days_past_due: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    delinquency_bucket: Mapped[str] = mapped_column(String(16), nullable=False, default="CURRENT")
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Hardship(Versioned, Base):
    __tablename__ = "hardship_arrangements"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id"), nullable=False, index=True)
    arrangement_type: Mapped[str] = mapped_column(String(32), nullable=False)
    periods: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(255), nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    reduced_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)  # REDUCED_PAYMENT: the agreed instalment
    currency: Mapped[str | None] = mapped_column(String(3))  # the loan's, when there is an amount
    first_installment: Mapped[int | None] = mapped_column(Integer)  # set on activation: the instalments covered
    last_installment: Mapped[int | None] = mapped_column(Integer)
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)  # due date of the last covered instalment
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RepaymentRequest(Base):
    """A debit asked of the account domain (the repayment saga); its id is the idempotency_id sent."""

    __tablename__ = "repayment_requests"
    __table_args__ = (Index("uq_loan_repayment_requests_pending", "loan_id", unique=True,
                            postgresql_where=text("status = 'PENDING'")),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id"), nullable=False, index=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    installment_number: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EodRun(Base):
    """One row per business date whose end of day has run (shared/eod.py): the claim that makes it once-only."""

    __tablename__ = "eod_runs"
    business_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    ran_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProductVersion(ProductVersionColumns, Base):
    """Read model of the product versions this domain may sell, fed by product events (shared/products.py)."""
