"""Corporate lending tables (SQLAlchemy 2.0) and the facility state machine."""

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


class ApplicationStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    OFFERED = "OFFERED"


class OfferStatus(StrEnum):
    ISSUED = "ISSUED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"


class FacilityType(StrEnum):
    REVOLVING = "REVOLVING"
    TERM = "TERM"
    DECREASING = "DECREASING"


class FacilityStatus(StrEnum):
    PENDING_CONDITIONS = "PENDING_CONDITIONS"
    AVAILABLE = "AVAILABLE"
    SUSPENDED = "SUSPENDED"
    AMORTISING = "AMORTISING"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


FACILITY_TRANSITIONS: dict[FacilityStatus, set[FacilityStatus]] = {
    FacilityStatus.PENDING_CONDITIONS: {FacilityStatus.AVAILABLE, FacilityStatus.CANCELLED},
    FacilityStatus.AVAILABLE: {FacilityStatus.SUSPENDED, FacilityStatus.AMORTISING, FacilityStatus.CLOSED,
                               FacilityStatus.CANCELLED},
    FacilityStatus.SUSPENDED: {FacilityStatus.AVAILABLE, FacilityStatus.AMORTISING, FacilityStatus.CANCELLED},
    FacilityStatus.AMORTISING: {FacilityStatus.CLOSED},
}


class DrawdownStatus(StrEnum):
    PENDING_SETTLEMENT = "PENDING_SETTLEMENT"
    ACTIVE = "ACTIVE"
    REPAID = "REPAID"
    FAILED = "FAILED"


class CovenantStatus(StrEnum):
    ACTIVE = "ACTIVE"
    BREACHED = "BREACHED"
    WAIVED = "WAIVED"


class Operator(StrEnum):
    LTE = "LTE"
    GTE = "GTE"


class RepaymentPurpose(StrEnum):
    INSTALMENT_DUE = "INSTALMENT_DUE"
    CUSTOMER = "CUSTOMER"
    PREPAYMENT = "PREPAYMENT"


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    EXECUTED = "EXECUTED"
    FAILED = "FAILED"
    UNAPPLIED = "UNAPPLIED"  # collected, but the drawdown no longer owed it (left for operations to refund)


class AllocationOrder(StrEnum):
    INTEREST_FIRST = "INTEREST_FIRST"
    PRINCIPAL_FIRST = "PRINCIPAL_FIRST"


def check(current: str, allowed: set[Any], action: str, what: str) -> None:
    """Raises InvalidTransition unless `current` is one of `allowed`."""
    if current not in {str(a) for a in allowed}:
        raise InvalidTransition(f"Cannot {action}: the {what} is {current}.", status=current)


class Versioned:
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    def touch(self) -> int:
        self.version += 1
        return self.version


class CreditApplication(Versioned, Base):
    __tablename__ = "credit_applications"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    borrower_party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    guarantor_party_ids: Mapped[list[str]] = mapped_column(ARRAY(String(36)), nullable=False)
    purpose: Mapped[str] = mapped_column(String(500), nullable=False)
    requested_amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    facility_type: Mapped[str] = mapped_column(String(16), nullable=False)
    financials: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    internal_rating: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    pending_decision: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    approved_by: Mapped[str | None] = mapped_column(String(255))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Offer(Versioned, Base):
    __tablename__ = "offers"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_applications.id"), nullable=False)
    borrower_party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    facility_type: Mapped[str] = mapped_column(String(16), nullable=False)
    limit_amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    base_rate_pct: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    margin_pct: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    commitment_fee_pct: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    arrangement_fee: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    availability_months: Mapped[int] = mapped_column(Integer, nullable=False)
    schedule_terms: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    conditions_precedent: Mapped[list[str]] = mapped_column(ARRAY(String(200)), nullable=False)
    covenants: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    # A Product version of the product subgraph, referenced as a federated entity (no local copy).
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)


class Facility(Versioned, Base):
    __tablename__ = "facilities"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"), nullable=False, unique=True)
    borrower_party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    facility_type: Mapped[str] = mapped_column(String(16), nullable=False)
    limit_amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    drawn_amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    annual_rate_pct: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    commitment_fee_pct: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    availability_end: Mapped[dt.date] = mapped_column(Date, nullable=False)
    maturity_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    schedule_terms: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    allocation_order: Mapped[str] = mapped_column(String(16), nullable=False)
    conditions_outstanding: Mapped[list[str]] = mapped_column(ARRAY(String(200)), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    # A Product version of the product subgraph, referenced as a federated entity (no local copy).
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Drawdown(Versioned, Base):
    __tablename__ = "drawdowns"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"), nullable=False, index=True)
    borrower_party_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    settlement_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    value_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    schedule_terms: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    principal_outstanding: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    disbursement_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Covenant(Versioned, Base):
    __tablename__ = "covenants"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"), nullable=False, index=True)
    metric: Mapped[str] = mapped_column(String(64), nullable=False)
    operator: Mapped[str] = mapped_column(String(8), nullable=False)
    threshold: Mapped[Decimal] = mapped_column(Numeric(19, 6), nullable=False)
    test_frequency: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    pending_waiver: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    waiver_expires_on: Mapped[dt.date | None] = mapped_column(Date)


class CovenantTest(Base):
    __tablename__ = "covenant_tests"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    covenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("covenants.id"), nullable=False, index=True)
    period_end: Mapped[dt.date] = mapped_column(Date, nullable=False)
    actual_value: Mapped[Decimal] = mapped_column(Numeric(19, 6), nullable=False)
    result: Mapped[str] = mapped_column(String(8), nullable=False)
    evidence_ref: Mapped[str | None] = mapped_column(String(200))
    submitted_by: Mapped[str] = mapped_column(String(255), nullable=False)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Repayment(Base):
    __tablename__ = "repayments"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    drawdown_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drawdowns.id"), nullable=False, index=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    interest: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    principal: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    prepaid_principal: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    received_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RepaymentRequest(Base):
    """A debit asked of the account domain (the repayment saga); its id is the idempotency_id sent."""

    __tablename__ = "repayment_requests"
    __table_args__ = (Index("uq_repayment_requests_pending", "drawdown_id", unique=True,
                            postgresql_where=text("status = 'PENDING'")),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    drawdown_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drawdowns.id"), nullable=False, index=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    installment_number: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    repayment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
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
