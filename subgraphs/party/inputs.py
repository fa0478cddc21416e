"""GraphQL input types of the party subgraph, each turned into a validated command."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from subgraphs.party import commands, models
from subgraphs.party.types import (
    AddressTypeEnum,
    ConsentChannelEnum,
    ConsentDecisionEnum,
    ConsentPurposeEnum,
    ContactPointTypeEnum,
    ContactRoleTypeEnum,
    PartyStatusEnum,
    PartyTypeEnum,
    RelationshipTypeEnum,
)


@strawberry.input
class AddressInput:
    address_type: AddressTypeEnum
    lines: list[str]
    city: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    postal_code: str | None = None
    region: str | None = None

    def to_command(self) -> commands.AddressData:
        return commands.AddressData(address_type=models.AddressType(self.address_type), lines=tuple(self.lines),
                                    city=self.city, country=self.country, postal_code=self.postal_code,
                                    region=self.region)


@strawberry.input
class ContactPointInput:
    contact_type: ContactPointTypeEnum
    value: str
    is_primary: bool = False

    def to_command(self) -> commands.ContactPointData:
        return commands.ContactPointData(contact_type=models.ContactPointType(self.contact_type), value=self.value,
                                         is_primary=self.is_primary)


@strawberry.input
class RegisterPartyInput:
    party_type: PartyTypeEnum
    legal_name: str
    external_id: str | None = None
    trading_name: str | None = None
    legal_form: str | None = None
    registration_number: str | None = None
    incorporation_date: dt.date | None = None
    date_of_birth: dt.date | None = None
    industry_code: str | None = None
    segment: str | None = None
    tax_residences: list[str] = strawberry.field(default_factory=list)
    relationship_manager_id: str | None = None
    addresses: list[AddressInput] = strawberry.field(default_factory=list)
    contact_points: list[ContactPointInput] = strawberry.field(default_factory=list)
    submit_for_verification: bool = False

    def to_command(self) -> commands.RegisterParty:
        return commands.RegisterParty(
            party_type=models.PartyType(self.party_type), legal_name=self.legal_name, external_id=self.external_id,
            trading_name=self.trading_name, legal_form=self.legal_form, registration_number=self.registration_number,
            incorporation_date=self.incorporation_date, date_of_birth=self.date_of_birth,
            industry_code=self.industry_code, segment=self.segment, tax_residences=tuple(self.tax_residences),
            relationship_manager_id=self.relationship_manager_id,
            addresses=tuple(a.to_command() for a in self.addresses),
            contact_points=tuple(c.to_command() for c in self.contact_points),
            submit_for_verification=self.submit_for_verification,
        )


@strawberry.input
class UpdatePartyDetailsInput:
    legal_name: str | None = None
    trading_name: str | None = None
    legal_form: str | None = None
    registration_number: str | None = None
    industry_code: str | None = None
    segment: str | None = None
    tax_residences: list[str] | None = None

    def to_command(self) -> commands.PartyDetailsChanges:
        return commands.PartyDetailsChanges(
            legal_name=self.legal_name, trading_name=self.trading_name, legal_form=self.legal_form,
            registration_number=self.registration_number, industry_code=self.industry_code, segment=self.segment,
            tax_residences=tuple(self.tax_residences) if self.tax_residences is not None else None,
        )


@strawberry.input
class IdentifierInput:
    identifier_type: str = strawberry.field(description="A code such as PASSPORT, COMPANY_NUMBER, LEI, VAT.")
    value: str
    issuer_country: str | None = None
    issued_on: dt.date | None = None
    expires_on: dt.date | None = None

    def to_command(self) -> commands.IdentifierData:
        return commands.IdentifierData(identifier_type=self.identifier_type, value=self.value,
                                       issuer_country=self.issuer_country, issued_on=self.issued_on,
                                       expires_on=self.expires_on)


@strawberry.input
class LinkPartiesInput:
    from_party_id: strawberry.ID
    to_party_id: strawberry.ID
    relationship_type: RelationshipTypeEnum
    ownership_pct: Decimal | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def to_command(self) -> commands.LinkParties:
        return commands.LinkParties(from_party_id=str(self.from_party_id), to_party_id=str(self.to_party_id),
                                    relationship_type=models.RelationshipType(self.relationship_type),
                                    ownership_pct=self.ownership_pct, valid_from=self.valid_from,
                                    valid_to=self.valid_to)


@strawberry.input
class AssignContactRoleInput:
    organisation_party_id: strawberry.ID
    person_party_id: strawberry.ID
    role: ContactRoleTypeEnum
    valid_from: dt.date
    valid_to: dt.date | None = None

    def to_command(self) -> commands.AssignContactRole:
        return commands.AssignContactRole(organisation_party_id=str(self.organisation_party_id),
                                          person_party_id=str(self.person_party_id),
                                          role=models.ContactRoleType(self.role), valid_from=self.valid_from,
                                          valid_to=self.valid_to)


@strawberry.input
class GrantEntitlementInput:
    party_id: strawberry.ID
    user_sub: str
    permissions: list[str]
    valid_from: dt.date
    valid_to: dt.date | None = None

    def to_command(self) -> commands.GrantEntitlement:
        return commands.GrantEntitlement(party_id=str(self.party_id), user_sub=self.user_sub,
                                         permissions=tuple(self.permissions), valid_from=self.valid_from,
                                         valid_to=self.valid_to)


@strawberry.input
class RecordConsentInput:
    party_id: strawberry.ID
    purpose: ConsentPurposeEnum
    channel: ConsentChannelEnum
    decision: ConsentDecisionEnum
    notice_version: str
    source: str = "API"
    expires_at: dt.datetime | None = None

    def to_command(self) -> commands.RecordConsent:
        return commands.RecordConsent(party_id=str(self.party_id), purpose=models.ConsentPurpose(self.purpose),
                                      channel=models.ConsentChannel(self.channel),
                                      decision=models.ConsentDecision(self.decision),
                                      notice_version=self.notice_version, source=self.source,
                                      expires_at=self.expires_at)


@strawberry.input
class PartyFilterInput:
    name_prefix: str | None = None
    external_id: str | None = None
    status: PartyStatusEnum | None = None
    segment: str | None = None
    relationship_manager_id: str | None = None
