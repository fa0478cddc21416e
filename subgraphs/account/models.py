"""Account domain tables: accounts (customer and internal), journal entries, postings, holds, mandates, payments."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.products import ProductVersionColumns


class Base(DeclarativeBase):
    pass


AMOUNT = Numeric(19, 4)
RATE = Numeric(9, 6)


class AccountKind(StrEnum):
    CUSTOMER = "CUSTOMER"
    INTERNAL = "INTERNAL"


class InternalPurpose(StrEnum):
    CLEARING = "CLEARING"
    SUSPENSE = "SUSPENSE"
    INTEREST_INCOME = "INTEREST_INCOME"
    INTEREST_EXPENSE = "INTEREST_EXPENSE"
    FEE_INCOME = "FEE_INCOME"
    LOAN_FUNDING = "LOAN_FUNDING"


class AccountStatus(StrEnum):
    PENDING_OPEN = "PENDING_OPEN"
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"


class Restriction(StrEnum):
    DEBIT_BLOCKED = "DEBIT_BLOCKED"
    CREDIT_BLOCKED = "CREDIT_BLOCKED"
    FROZEN = "FROZEN"


class DayCount(StrEnum):
    ACT_360 = "ACT_360"
    ACT_365 = "ACT_365"
    ACT_364 = "ACT_364"
    ACT_ACT = "ACT_ACT"


class EntryType(StrEnum):
    PAYMENT_IN = "PAYMENT_IN"
    PAYMENT_OUT = "PAYMENT_OUT"
    TRANSFER = "TRANSFER"
    INTEREST = "INTEREST"
    FEE = "FEE"
    REVERSAL = "REVERSAL"
    DISBURSEMENT = "DISBURSEMENT"
    LOAN_REPAYMENT = "LOAN_REPAYMENT"


class HoldStatus(StrEnum):
    ACTIVE = "ACTIVE"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


class PaymentStatus(StrEnum):
    PENDING_AUTHORISATION = "PENDING_AUTHORISATION"
    EXECUTED = "EXECUTED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


class Account(Base):
    """A ledger account: a customer's current account or an internal (GL-like) account per currency."""

    __tablename__ = "accounts"
    __table_args__ = (
        Index("accounts_party", "party_id"),
        Index("accounts_internal", "purpose", "currency", unique=True, postgresql_where=text("kind = 'INTERNAL'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_number: Mapped[str] = mapped_column(String(34), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(32))
    party_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    restrictions: Mapped[list[str]] = mapped_column(ARRAY(String(16)), default=list)
    nickname: Mapped[str | None] = mapped_column(String(100))
    # The balance snapshot: written only under the row lock, always equal to the sum of the postings.
    booked_balance: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    held_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    overdraft_limit: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    overdraft_rate_pct: Mapped[Decimal] = mapped_column(RATE, default=Decimal(0))
    overdraft_expires_on: Mapped[dt.date | None] = mapped_column(Date)
    # Product terms pinned at opening (see docs/account.md).
    day_count: Mapped[str] = mapped_column(String(8), default=DayCount.ACT_365.value)
    monthly_fee: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    opened_on: Mapped[dt.date | None] = mapped_column(Date)
    activated_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))

    def overdraft_headroom(self, today: dt.date) -> Decimal:
        """Returns the arranged limit while it has not expired."""
        if self.overdraft_expires_on is not None and self.overdraft_expires_on < today:
            return Decimal(0)
        return Decimal(self.overdraft_limit)

    def available(self, today: dt.date) -> Decimal:
        """Returns booked - active holds + overdraft headroom."""
        return Decimal(self.booked_balance) - Decimal(self.held_amount) + self.overdraft_headroom(today)

    def snapshot(self) -> dict[str, object]:
        return {"status": self.status, "restrictions": sorted(self.restrictions or []),
                "booked_balance": str(self.booked_balance), "overdraft_limit": str(self.overdraft_limit),
                "overdraft_rate_pct": str(self.overdraft_rate_pct),
                "overdraft_expires_on": self.overdraft_expires_on}


class JournalEntry(Base):
    """One balanced movement: its postings sum to zero per currency."""

    __tablename__ = "journal_entries"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    entry_type: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(140))
    booking_date: Mapped[dt.date] = mapped_column(Date)
    value_date: Mapped[dt.date] = mapped_column(Date)
    reversal_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class Posting(Base):
    """One immutable leg of a journal entry: signed amount (credit +, debit -) on one account."""

    __tablename__ = "postings"
    __table_args__ = (Index("postings_account_seq", "account_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, autoincrement=True, unique=True,
                                     server_default=text("nextval('postings_seq')"))
    journal_entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    booking_date: Mapped[dt.date] = mapped_column(Date)
    value_date: Mapped[dt.date] = mapped_column(Date)
    running_balance: Mapped[Decimal | None] = mapped_column(AMOUNT)
    description: Mapped[str | None] = mapped_column(String(140))


class PeriodCharge(Base):
    """Makes interest posting and periodic fees idempotent per (account, kind, period)."""

    __tablename__ = "period_charges"
    __table_args__ = (UniqueConstraint("account_id", "kind", "period"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    journal_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("journal_entries.id"))


class Hold(Base):
    """An amount block reducing the available balance until released or expired."""

    __tablename__ = "holds"
    __table_args__ = (Index("holds_account", "account_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Mandate(Base):
    """Signing rules of an account: signatories in groups, and per-band requirements."""

    __tablename__ = "mandates"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    # [{"party_id", "group", "limit"}] and [{"operation", "min", "max", "requires": [{"groups": [..], "count": n}]}]
    signatories: Mapped[list[dict[str, object]]] = mapped_column(JSONB)
    rules: Mapped[list[dict[str, object]]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class Payment(Base):
    """An outgoing payment or transfer; waits in PENDING_AUTHORISATION until the mandate is satisfied."""

    __tablename__ = "payments"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    to_account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    beneficiary: Mapped[str | None] = mapped_column(String(140))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(24))
    mandate_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("mandates.id"))
    approvals: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    initiated_by: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    journal_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class DisbursementStatus(StrEnum):
    PENDING = "PENDING"
    EXECUTED = "EXECUTED"
    FAILED = "FAILED"


class LendingRequest:
    """Columns of a request a lending domain sent: each idempotency_id is booked at most once and keeps its reply."""

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    idempotency_id: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    source_ref: Mapped[str | None] = mapped_column(String(64))
    party_id: Mapped[str | None] = mapped_column(String(64))
    # No foreign key: a request may name an account that does not exist (it is answered FAILED).
    account_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    journal_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("journal_entries.id"))
    value_date: Mapped[dt.date | None] = mapped_column(Date)
    request_event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    replies: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class Disbursement(LendingRequest, Base):
    """A credit a lending domain requested (loan or drawdown disbursement)."""

    __tablename__ = "disbursements"


class Collection(LendingRequest, Base):
    """A debit a lending domain requested (instalment, repayment, prepayment) within the available balance."""

    __tablename__ = "collections"


class ProductVersion(ProductVersionColumns, Base):
    """Read model of published product versions, fed by finpace.product.product.> events (shared/products.py)."""
