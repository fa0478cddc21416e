"""Product tables (one row per product version, bundles) and the lifecycle guards that keep their invariants."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ARRAY, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.errors import InvalidTransition


class Base(DeclarativeBase):
    pass


class ProductFamily(StrEnum):
    CURRENT_ACCOUNT = "CURRENT_ACCOUNT"
    OVERDRAFT = "OVERDRAFT"
    TERM_LOAN = "TERM_LOAN"
    REVOLVING_FACILITY = "REVOLVING_FACILITY"
    CONSUMER_LOAN = "CONSUMER_LOAN"


LENDING_FAMILIES = frozenset({ProductFamily.TERM_LOAN, ProductFamily.REVOLVING_FACILITY, ProductFamily.CONSUMER_LOAN})


class ProductStatus(StrEnum):
    DRAFT = "DRAFT"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    ACTIVE = "ACTIVE"
    WITHDRAWN = "WITHDRAWN"
    RETIRED = "RETIRED"


class ProductAction(StrEnum):
    SUBMIT = "SUBMIT"
    REJECT = "REJECT"
    APPROVE = "APPROVE"
    PUBLISH = "PUBLISH"
    WITHDRAW = "WITHDRAW"
    RETIRE = "RETIRE"


# The whole lifecycle of one version: (from, action) -> to. Anything else is an InvalidTransition.
TRANSITIONS: dict[tuple[ProductStatus, ProductAction], ProductStatus] = {
    (ProductStatus.DRAFT, ProductAction.SUBMIT): ProductStatus.PENDING_APPROVAL,
    (ProductStatus.PENDING_APPROVAL, ProductAction.REJECT): ProductStatus.DRAFT,
    (ProductStatus.PENDING_APPROVAL, ProductAction.APPROVE): ProductStatus.APPROVED,
    (ProductStatus.APPROVED, ProductAction.PUBLISH): ProductStatus.ACTIVE,
    (ProductStatus.ACTIVE, ProductAction.WITHDRAW): ProductStatus.WITHDRAWN,
    (ProductStatus.WITHDRAWN, ProductAction.RETIRE): ProductStatus.RETIRED,
}
PUBLISHED = (ProductStatus.ACTIVE, ProductStatus.WITHDRAWN, ProductStatus.RETIRED)
OPEN = (ProductStatus.DRAFT, ProductStatus.PENDING_APPROVAL, ProductStatus.APPROVED)


class DayCount(StrEnum):
    ACTUAL_365 = "ACTUAL_365"
    ACTUAL_360 = "ACTUAL_360"
    THIRTY_360 = "THIRTY_360"


class Compounding(StrEnum):
    NONE = "NONE"
    DAILY = "DAILY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    ANNUAL = "ANNUAL"


class Frequency(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    SEMI_ANNUAL = "SEMI_ANNUAL"
    ANNUAL = "ANNUAL"


class ChargeFrequency(StrEnum):
    ONE_OFF = "ONE_OFF"
    PER_TRANSACTION = "PER_TRANSACTION"
    DAILY = "DAILY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    ANNUAL = "ANNUAL"


class FeeType(StrEnum):
    ACCOUNT_MAINTENANCE = "ACCOUNT_MAINTENANCE"
    TRANSACTION = "TRANSACTION"
    ARRANGEMENT = "ARRANGEMENT"
    OVERDRAFT_USAGE = "OVERDRAFT_USAGE"
    UNARRANGED_OVERDRAFT = "UNARRANGED_OVERDRAFT"
    COMMITMENT = "COMMITMENT"
    NON_UTILISATION = "NON_UTILISATION"
    LATE_PAYMENT = "LATE_PAYMENT"
    EARLY_REPAYMENT = "EARLY_REPAYMENT"
    STATEMENT = "STATEMENT"


class ChargeCalculation(StrEnum):
    FIXED = "FIXED"
    PERCENTAGE = "PERCENTAGE"


class InterestMethod(StrEnum):
    DECLINING_BALANCE = "DECLINING_BALANCE"
    FLAT = "FLAT"


class Amortisation(StrEnum):
    EQUAL_INSTALLMENTS = "EQUAL_INSTALLMENTS"
    EQUAL_PRINCIPAL = "EQUAL_PRINCIPAL"


class BundleStatus(StrEnum):
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Product(Base):
    """One published (or draft) version of a product; its terms never change once it leaves DRAFT."""

    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    family: Mapped[str] = mapped_column(String(24), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    currency: Mapped[str] = mapped_column(String(3), index=True)
    # The definition itself (pricing, charges, lending, segments) as canonical JSON (Decimals as strings).
    terms: Mapped[dict[str, Any]] = mapped_column(JSONB)
    eligible_segments: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    status: Mapped[str] = mapped_column(String(24), index=True)
    effective_from: Mapped[dt.date | None] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    supersedes_version: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(128))
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    __table_args__ = (
        UniqueConstraint("code", "version", name="products_code_version_key"),
        # At most one unpublished version per code: a change is one new version at a time.
        Index("products_one_open_version", "code", unique=True,
              postgresql_where=text("status IN ('DRAFT', 'PENDING_APPROVAL', 'APPROVED')")),
    )

    def check_transition(self, action: ProductAction) -> ProductStatus:
        """Returns the status the action leads to, or raises InvalidTransition."""
        target = TRANSITIONS.get((ProductStatus(self.status), action))
        if target is None:
            raise InvalidTransition(
                f"Product {self.code} v{self.version} is {self.status}; {action.value} is not allowed from that state.",
                status=self.status, action=action.value,
            )
        return target

    def check_is_draft(self) -> None:
        """Refuses a change to a version that has left DRAFT (a published version is immutable)."""
        if self.status != ProductStatus.DRAFT:
            raise InvalidTransition(
                f"Product {self.code} v{self.version} is {self.status}; only a DRAFT can change. "
                "Create a new version with createProductVersion.", status=self.status)

    def is_on_sale(self, at: dt.date) -> bool:
        """Tells whether this version may be sold on `at` (published, inside [effectiveFrom, effectiveTo))."""
        return (self.status in PUBLISHED and self.effective_from is not None and self.effective_from <= at
                and (self.effective_to is None or at < self.effective_to))

    def touch(self) -> int:
        """Bumps the row revision (every event carries it) and returns it."""
        self.revision += 1
        return self.revision

    def snapshot(self) -> dict[str, object]:
        return {
            "status": self.status, "code": self.code, "version": self.version, "family": self.family,
            "name": self.name, "currency": self.currency,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
        }


class Bundle(Base):
    __tablename__ = "bundles"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    currency: Mapped[str] = mapped_column(String(3))
    monthly_fee: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    eligible_segments: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    status: Mapped[str] = mapped_column(String(16), default=BundleStatus.ACTIVE)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    def touch(self) -> int:
        self.revision += 1
        return self.revision


class BundleComponent(Base):
    __tablename__ = "bundle_components"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    bundle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bundles.id", ondelete="CASCADE"), index=True)
    product_code: Mapped[str] = mapped_column(String(32))
    required: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
