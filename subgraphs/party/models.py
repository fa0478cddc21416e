"""Party domain tables (SQLAlchemy 2.0) and the guards that keep their invariants."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    ARRAY,
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
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.errors import Conflict, InputError, InvalidTransition


class Base(DeclarativeBase):
    pass


class PartyType(StrEnum):
    PERSON = "PERSON"
    ORGANISATION = "ORGANISATION"


class PartyStatus(StrEnum):
    PROSPECT = "PROSPECT"
    PENDING_VERIFICATION = "PENDING_VERIFICATION"
    ACTIVE = "ACTIVE"
    RESTRICTED = "RESTRICTED"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"


class LifecycleAction(StrEnum):
    SUBMIT_FOR_VERIFICATION = "SUBMIT_FOR_VERIFICATION"
    ACTIVATE = "ACTIVATE"
    REJECT = "REJECT"
    RESTRICT = "RESTRICT"
    LIFT_RESTRICTION = "LIFT_RESTRICTION"
    CLOSE = "CLOSE"
    REOPEN = "REOPEN"


# The whole lifecycle: (from, action) -> to. Anything else is an InvalidTransition.
TRANSITIONS: dict[tuple[PartyStatus, LifecycleAction], PartyStatus] = {
    (PartyStatus.PROSPECT, LifecycleAction.SUBMIT_FOR_VERIFICATION): PartyStatus.PENDING_VERIFICATION,
    (PartyStatus.PENDING_VERIFICATION, LifecycleAction.ACTIVATE): PartyStatus.ACTIVE,
    (PartyStatus.PENDING_VERIFICATION, LifecycleAction.REJECT): PartyStatus.REJECTED,
    (PartyStatus.ACTIVE, LifecycleAction.RESTRICT): PartyStatus.RESTRICTED,
    (PartyStatus.RESTRICTED, LifecycleAction.LIFT_RESTRICTION): PartyStatus.ACTIVE,
    (PartyStatus.ACTIVE, LifecycleAction.CLOSE): PartyStatus.CLOSED,
    (PartyStatus.RESTRICTED, LifecycleAction.CLOSE): PartyStatus.CLOSED,
    (PartyStatus.CLOSED, LifecycleAction.REOPEN): PartyStatus.ACTIVE,
}


class AddressType(StrEnum):
    REGISTERED = "REGISTERED"
    TRADING = "TRADING"
    RESIDENTIAL = "RESIDENTIAL"
    POSTAL = "POSTAL"
    CORRESPONDENCE = "CORRESPONDENCE"


class ContactPointType(StrEnum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    MOBILE = "MOBILE"
    WEB = "WEB"


class IdentifierStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class RelationshipType(StrEnum):
    PARENT_OF = "PARENT_OF"
    ACTS_ON_BEHALF_OF = "ACTS_ON_BEHALF_OF"
    POWER_OF_ATTORNEY_FOR = "POWER_OF_ATTORNEY_FOR"


class ContactRoleType(StrEnum):
    DIRECTOR = "DIRECTOR"
    UBO = "UBO"
    AUTHORISED_SIGNATORY = "AUTHORISED_SIGNATORY"
    POWER_OF_ATTORNEY = "POWER_OF_ATTORNEY"
    PRIMARY_CONTACT = "PRIMARY_CONTACT"
    ACCOUNTANT = "ACCOUNTANT"
    COMPANY_SECRETARY = "COMPANY_SECRETARY"


class AgreementStatus(StrEnum):
    OFFERED = "OFFERED"
    SIGNED = "SIGNED"
    TERMINATED = "TERMINATED"


class ConsentPurpose(StrEnum):
    MARKETING = "MARKETING"
    PROFILING = "PROFILING"
    DATA_SHARING = "DATA_SHARING"
    SERVICE = "SERVICE"


class ConsentChannel(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    PUSH = "PUSH"
    PHONE = "PHONE"
    POST = "POST"
    SECURE_MESSAGE = "SECURE_MESSAGE"
    ALL = "ALL"


class ConsentDecision(StrEnum):
    GRANTED = "GRANTED"
    REFUSED = "REFUSED"
    WITHDRAWN = "WITHDRAWN"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Party(Base):
    __tablename__ = "parties"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    party_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    trading_name: Mapped[str | None] = mapped_column(String(200))
    legal_form: Mapped[str | None] = mapped_column(String(64))
    registration_number: Mapped[str | None] = mapped_column(String(64))
    incorporation_date: Mapped[dt.date | None] = mapped_column(Date)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    industry_code: Mapped[str | None] = mapped_column(String(16))
    segment: Mapped[str | None] = mapped_column(String(32), index=True)
    tax_residences: Mapped[list[str]] = mapped_column(ARRAY(String(2)), default=list)
    relationship_manager_id: Mapped[str | None] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    __table_args__ = (Index("parties_name_order", "legal_name", "id"),)

    def check_transition(self, action: LifecycleAction) -> PartyStatus:
        """Returns the status the action leads to, or raises InvalidTransition."""
        target = TRANSITIONS.get((PartyStatus(self.status), action))
        if target is None:
            raise InvalidTransition(
                f"Party {self.id} is {self.status}; {action.value} is not allowed from that state.",
                status=self.status, action=action.value,
            )
        return target

    def check_is_open(self) -> None:
        """Refuses changes to a closed or rejected party."""
        if self.status in (PartyStatus.CLOSED, PartyStatus.REJECTED):
            raise InvalidTransition(f"Party {self.id} is {self.status}; it cannot be changed.", status=self.status)

    def check_is_organisation(self, what: str) -> None:
        if self.party_type != PartyType.ORGANISATION:
            raise Conflict(f"Party {self.id} is a {self.party_type}; {what} needs an ORGANISATION.")

    def touch(self) -> int:
        """Bumps the aggregate version (every event carries it) and returns it."""
        self.version += 1
        return self.version

    def snapshot(self) -> dict[str, object]:
        return {
            "status": self.status, "legal_name": self.legal_name, "trading_name": self.trading_name,
            "legal_form": self.legal_form, "registration_number": self.registration_number,
            "industry_code": self.industry_code, "segment": self.segment,
            "tax_residences": list(self.tax_residences or []),
            "relationship_manager_id": self.relationship_manager_id,
        }


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    address_type: Mapped[str] = mapped_column(String(16))
    lines: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    city: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    region: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ContactPoint(Base):
    __tablename__ = "contact_points"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    contact_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(254))
    is_primary: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Identifier(Base):
    __tablename__ = "identifiers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    identifier_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(64))
    issuer_country: Mapped[str | None] = mapped_column(String(2))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=IdentifierStatus.ACTIVE)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    __table_args__ = (
        UniqueConstraint("identifier_type", "value", name="identifiers_type_value_key"),
        # At most one ACTIVE identifier of each type per party; the database is the backstop.
        Index("identifiers_one_active_per_type", "party_id", "identifier_type", unique=True,
              postgresql_where=text("status = 'ACTIVE'")),
    )


class PartyRelationship(Base):
    __tablename__ = "party_relationships"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    from_party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    to_party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    relationship_type: Mapped[str] = mapped_column(String(32))
    ownership_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    __table_args__ = (
        Index("party_relationships_one_active", "from_party_id", "to_party_id", "relationship_type",
              unique=True, postgresql_where=text("ended_at IS NULL")),
    )

    @staticmethod
    def check_ownership(relationship_type: RelationshipType, ownership_pct: Decimal | None) -> None:
        if ownership_pct is not None and not (ownership_pct.is_finite() and Decimal(0) < ownership_pct <= Decimal(100)):
            raise InputError(f"ownershipPct {ownership_pct} must be above 0 and at most 100.", field="ownershipPct")
        if ownership_pct is not None and relationship_type != RelationshipType.PARENT_OF:
            raise InputError("ownershipPct applies only to PARENT_OF relationships.", field="ownershipPct")


class ContactRole(Base):
    __tablename__ = "contact_roles"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    organisation_party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    person_party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RmAssignment(Base):
    __tablename__ = "rm_assignments"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    rm_id: Mapped[str] = mapped_column(String(64))
    assigned_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(500))
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Agreement(Base):
    __tablename__ = "agreements"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    agreement_type: Mapped[str] = mapped_column(String(64))
    terms_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=AgreementStatus.OFFERED)
    offered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    signed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    signed_by: Mapped[str | None] = mapped_column(String(128))
    terminated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    def check_can(self, target: AgreementStatus) -> None:
        allowed = {AgreementStatus.SIGNED: AgreementStatus.OFFERED, AgreementStatus.TERMINATED: None}
        if self.status == AgreementStatus.TERMINATED or (
            allowed[target] is not None and self.status != allowed[target]
        ):
            raise InvalidTransition(f"Agreement {self.id} is {self.status}; cannot become {target.value}.")


class Entitlement(Base):
    __tablename__ = "entitlements"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    user_sub: Mapped[str] = mapped_column(String(128), index=True)
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Consent(Base):
    """Append-only consent ledger: a new decision supersedes, nothing is updated."""

    __tablename__ = "consents"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    captured_by: Mapped[str] = mapped_column(String(128))
    captured_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (Index("consents_lookup", "party_id", "purpose", "channel", "captured_at"),)
