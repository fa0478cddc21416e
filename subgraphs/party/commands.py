"""Validated inputs of the party domain's commands (plain frozen dataclasses, hashed for idempotency)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from shared import validation as v
from shared.errors import InputError
from subgraphs.party.models import (
    AddressType,
    ConsentChannel,
    ConsentDecision,
    ConsentPurpose,
    ContactPointType,
    ContactRoleType,
    PartyType,
    RelationshipType,
)

PERMISSIONS = frozenset({"VIEW", "TRANSACT", "APPROVE_PAYMENTS", "MANAGE_USERS", "VIEW_STATEMENTS"})


@dataclass(frozen=True)
class AddressData:
    address_type: AddressType
    lines: tuple[str, ...]
    city: str
    country: str
    postal_code: str | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.lines) <= 4:
            raise InputError("An address has 1 to 4 lines.", field="lines")
        object.__setattr__(self, "lines", tuple(v.required_text(x, field="lines", max_length=200) for x in self.lines))
        object.__setattr__(self, "city", v.required_text(self.city, field="city", max_length=100))
        object.__setattr__(self, "country", v.country(self.country))
        object.__setattr__(self, "postal_code", v.text(self.postal_code, field="postalCode", max_length=20,
                                                       required=False))
        object.__setattr__(self, "region", v.text(self.region, field="region", max_length=100, required=False))


@dataclass(frozen=True)
class ContactPointData:
    contact_type: ContactPointType
    value: str
    is_primary: bool = False

    def __post_init__(self) -> None:
        value = v.required_text(self.value, field="value", max_length=254)
        if self.contact_type == ContactPointType.EMAIL and ("@" not in value or " " in value):
            raise InputError(f"'{value[:40]}' is not an e-mail address.", field="value")
        if self.contact_type in (ContactPointType.PHONE, ContactPointType.MOBILE):
            digits = value.replace(" ", "").replace("-", "")
            if not (digits.startswith("+") and digits[1:].isdigit() and 8 <= len(digits) <= 16):
                raise InputError(f"'{value[:40]}' is not an E.164 phone number (+ and 7-15 digits).", field="value")
            value = digits
        object.__setattr__(self, "value", value)


@dataclass(frozen=True)
class RegisterParty:
    party_type: PartyType
    legal_name: str
    external_id: str | None = None
    trading_name: str | None = None
    legal_form: str | None = None
    registration_number: str | None = None
    incorporation_date: dt.date | None = None
    date_of_birth: dt.date | None = None
    industry_code: str | None = None
    segment: str | None = None
    tax_residences: tuple[str, ...] = ()
    relationship_manager_id: str | None = None
    addresses: tuple[AddressData, ...] = ()
    contact_points: tuple[ContactPointData, ...] = ()
    submit_for_verification: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "legal_name", v.required_text(self.legal_name, field="legalName"))
        set_(self, "external_id", v.text(self.external_id, field="externalId", max_length=64, required=False))
        set_(self, "trading_name", v.text(self.trading_name, field="tradingName", required=False))
        set_(self, "legal_form", v.text(self.legal_form, field="legalForm", max_length=64, required=False))
        set_(self, "registration_number", v.text(self.registration_number, field="registrationNumber",
                                                 max_length=64, required=False))
        set_(self, "industry_code", v.text(self.industry_code, field="industryCode", max_length=16, required=False))
        set_(self, "segment", v.text(self.segment, field="segment", max_length=32, required=False))
        set_(self, "relationship_manager_id", v.text(self.relationship_manager_id, field="relationshipManagerId",
                                                     max_length=64, required=False))
        set_(self, "tax_residences", tuple(sorted({v.country(c, field="taxResidences") for c in self.tax_residences})))
        v.not_in_future(self.incorporation_date, field="incorporationDate")
        v.not_in_future(self.date_of_birth, field="dateOfBirth")
        if self.party_type == PartyType.PERSON and (self.incorporation_date or self.registration_number):
            raise InputError("A PERSON has no incorporation date or registration number.", field="partyType")
        if self.party_type == PartyType.ORGANISATION and self.date_of_birth:
            raise InputError("An ORGANISATION has no date of birth.", field="dateOfBirth")
        if len(self.addresses) > 10 or len(self.contact_points) > 10:
            raise InputError("At most 10 addresses and 10 contact points at registration.", field="addresses")


@dataclass(frozen=True)
class PartyDetailsChanges:
    legal_name: str | None = None
    trading_name: str | None = None
    legal_form: str | None = None
    registration_number: str | None = None
    industry_code: str | None = None
    segment: str | None = None
    tax_residences: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.legal_name is not None:
            set_(self, "legal_name", v.required_text(self.legal_name, field="legalName"))
        for name, limit in [("trading_name", 200), ("legal_form", 64), ("registration_number", 64),
                            ("industry_code", 16), ("segment", 32)]:
            value = getattr(self, name)
            if value is not None:
                set_(self, name, v.required_text(value, field=name, max_length=limit))
        if self.tax_residences is not None:
            set_(self, "tax_residences", tuple(sorted({v.country(c, field="taxResidences")
                                                       for c in self.tax_residences})))

    def changed(self) -> dict[str, object]:
        return {k: val for k, val in self.__dict__.items() if val is not None}


@dataclass(frozen=True)
class IdentifierData:
    identifier_type: str
    value: str
    issuer_country: str | None = None
    issued_on: dt.date | None = None
    expires_on: dt.date | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        kind = v.required_text(self.identifier_type, field="identifierType", max_length=32).upper()
        if not kind.replace("_", "").isalnum():
            raise InputError(f"identifierType '{kind[:32]}' must be letters, digits and underscores.",
                             field="identifierType")
        set_(self, "identifier_type", kind)
        set_(self, "value", v.required_text(self.value, field="value", max_length=64))
        if self.issuer_country is not None:
            set_(self, "issuer_country", v.country(self.issuer_country, field="issuerCountry"))
        v.date_range(self.issued_on, self.expires_on, field="expiresOn")


@dataclass(frozen=True)
class LinkParties:
    from_party_id: str
    to_party_id: str
    relationship_type: RelationshipType
    ownership_pct: Decimal | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def __post_init__(self) -> None:
        if self.from_party_id == self.to_party_id:
            raise InputError("A party cannot be linked to itself.", field="toPartyId")
        v.date_range(self.valid_from, self.valid_to, field="validTo")


@dataclass(frozen=True)
class AssignContactRole:
    organisation_party_id: str
    person_party_id: str
    role: ContactRoleType
    valid_from: dt.date
    valid_to: dt.date | None = None

    def __post_init__(self) -> None:
        if self.organisation_party_id == self.person_party_id:
            raise InputError("A party cannot hold a contact role on itself.", field="personPartyId")
        v.date_range(self.valid_from, self.valid_to, field="validTo")


@dataclass(frozen=True)
class GrantEntitlement:
    party_id: str
    user_sub: str
    permissions: tuple[str, ...]
    valid_from: dt.date
    valid_to: dt.date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_sub", v.required_text(self.user_sub, field="userSub", max_length=128))
        unknown = set(self.permissions) - PERMISSIONS
        if not self.permissions or unknown:
            raise InputError(f"permissions must be a non-empty subset of {sorted(PERMISSIONS)}.", field="permissions")
        object.__setattr__(self, "permissions", tuple(sorted(set(self.permissions))))
        v.date_range(self.valid_from, self.valid_to, field="validTo")


@dataclass(frozen=True)
class RecordConsent:
    party_id: str
    purpose: ConsentPurpose
    channel: ConsentChannel
    decision: ConsentDecision
    notice_version: str
    source: str = "API"
    expires_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "notice_version", v.required_text(self.notice_version, field="noticeVersion",
                                                                   max_length=32))
        object.__setattr__(self, "source", v.required_text(self.source, field="source", max_length=32))
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise InputError("expiresAt must carry a time zone.", field="expiresAt")
