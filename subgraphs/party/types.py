"""GraphQL types of the party subgraph: the Party entity, its parts, enums and inputs."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from shared.graphql import (
    ConflictError,
    FourEyesRequiredError,
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    NotFoundError,
    parse_uuid,
)
from subgraphs.party import models, queries

PartyTypeEnum = strawberry.enum(models.PartyType, name="PartyType")
PartyStatusEnum = strawberry.enum(models.PartyStatus, name="PartyStatus")
AddressTypeEnum = strawberry.enum(models.AddressType, name="AddressType")
ContactPointTypeEnum = strawberry.enum(models.ContactPointType, name="ContactPointType")
RelationshipTypeEnum = strawberry.enum(models.RelationshipType, name="RelationshipType")
ContactRoleTypeEnum = strawberry.enum(models.ContactRoleType, name="ContactRoleType")
AgreementStatusEnum = strawberry.enum(models.AgreementStatus, name="AgreementStatus")
ConsentPurposeEnum = strawberry.enum(models.ConsentPurpose, name="ConsentPurpose")
ConsentChannelEnum = strawberry.enum(models.ConsentChannel, name="ConsentChannel")
ConsentDecisionEnum = strawberry.enum(models.ConsentDecision, name="ConsentDecision")
IdentifierStatusEnum = strawberry.enum(models.IdentifierStatus, name="IdentifierStatus")


@strawberry.type
class Address:
    id: strawberry.ID
    address_type: AddressTypeEnum
    lines: list[str]
    city: str
    postal_code: str | None
    region: str | None
    country: str

    @classmethod
    def of(cls, row: models.Address) -> Address:
        return cls(id=strawberry.ID(str(row.id)), address_type=models.AddressType(row.address_type),
                   lines=list(row.lines), city=row.city, postal_code=row.postal_code, region=row.region,
                   country=row.country)


@strawberry.type
class ContactPoint:
    id: strawberry.ID
    contact_type: ContactPointTypeEnum
    value: str
    is_primary: bool

    @classmethod
    def of(cls, row: models.ContactPoint) -> ContactPoint:
        return cls(id=strawberry.ID(str(row.id)), contact_type=models.ContactPointType(row.contact_type),
                   value=row.value, is_primary=row.is_primary)


@strawberry.type
class Identifier:
    id: strawberry.ID
    identifier_type: str
    value: str
    issuer_country: str | None
    issued_on: dt.date | None
    expires_on: dt.date | None
    status: IdentifierStatusEnum

    @classmethod
    def of(cls, row: models.Identifier) -> Identifier:
        return cls(id=strawberry.ID(str(row.id)), identifier_type=row.identifier_type, value=row.value,
                   issuer_country=row.issuer_country, issued_on=row.issued_on, expires_on=row.expires_on,
                   status=models.IdentifierStatus(row.status))


@strawberry.type
class PartyRelationship:
    id: strawberry.ID
    relationship_type: RelationshipTypeEnum
    ownership_pct: Decimal | None
    valid_from: dt.date | None
    valid_to: dt.date | None
    ended_at: dt.datetime | None
    from_party_id: strawberry.Private[uuid.UUID]
    to_party_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def from_party(self, info: Info) -> Party | None:
        return await Party.load(info, self.from_party_id)

    @strawberry.field
    async def to_party(self, info: Info) -> Party | None:
        return await Party.load(info, self.to_party_id)

    @classmethod
    def of(cls, row: models.PartyRelationship) -> PartyRelationship:
        return cls(id=strawberry.ID(str(row.id)), relationship_type=models.RelationshipType(row.relationship_type),
                   ownership_pct=row.ownership_pct, valid_from=row.valid_from, valid_to=row.valid_to,
                   ended_at=row.ended_at, from_party_id=row.from_party_id, to_party_id=row.to_party_id)


@strawberry.type
class ContactRole:
    id: strawberry.ID
    role: ContactRoleTypeEnum
    valid_from: dt.date
    valid_to: dt.date | None
    revoked_at: dt.datetime | None
    person_party_id: strawberry.Private[uuid.UUID]
    organisation_party_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    def active(self) -> bool:
        today = dt.datetime.now(dt.UTC).date()
        in_period = self.valid_from <= today and (self.valid_to is None or self.valid_to >= today)
        return self.revoked_at is None and in_period

    @strawberry.field
    async def person(self, info: Info) -> Party | None:
        return await Party.load(info, self.person_party_id)

    @strawberry.field
    async def organisation(self, info: Info) -> Party | None:
        return await Party.load(info, self.organisation_party_id)

    @classmethod
    def of(cls, row: models.ContactRole) -> ContactRole:
        return cls(id=strawberry.ID(str(row.id)), role=models.ContactRoleType(row.role), valid_from=row.valid_from,
                   valid_to=row.valid_to, revoked_at=row.revoked_at, person_party_id=row.person_party_id,
                   organisation_party_id=row.organisation_party_id)


@strawberry.type
class RmAssignment:
    rm_id: str
    assigned_by: str
    reason: str
    assigned_at: dt.datetime
    ended_at: dt.datetime | None


@strawberry.type
class Agreement:
    id: strawberry.ID
    agreement_type: str
    terms_version: str
    status: AgreementStatusEnum
    offered_at: dt.datetime
    signed_at: dt.datetime | None
    signed_by: str | None
    terminated_at: dt.datetime | None

    @classmethod
    def of(cls, row: models.Agreement) -> Agreement:
        return cls(id=strawberry.ID(str(row.id)), agreement_type=row.agreement_type, terms_version=row.terms_version,
                   status=models.AgreementStatus(row.status), offered_at=row.offered_at, signed_at=row.signed_at,
                   signed_by=row.signed_by, terminated_at=row.terminated_at)


@strawberry.type
class Entitlement:
    id: strawberry.ID
    user_sub: str
    permissions: list[str]
    valid_from: dt.date
    valid_to: dt.date | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, row: models.Entitlement) -> Entitlement:
        return cls(id=strawberry.ID(str(row.id)), user_sub=row.user_sub, permissions=list(row.permissions),
                   valid_from=row.valid_from, valid_to=row.valid_to, revoked_at=row.revoked_at)


@strawberry.type
class Consent:
    id: strawberry.ID
    purpose: ConsentPurposeEnum
    channel: ConsentChannelEnum
    decision: ConsentDecisionEnum
    notice_version: str
    source: str
    captured_by: str
    captured_at: dt.datetime
    expires_at: dt.datetime | None
    supersedes_id: strawberry.ID | None

    @classmethod
    def of(cls, row: models.Consent) -> Consent:
        return cls(id=strawberry.ID(str(row.id)), purpose=models.ConsentPurpose(row.purpose),
                   channel=models.ConsentChannel(row.channel), decision=models.ConsentDecision(row.decision),
                   notice_version=row.notice_version, source=row.source, captured_by=row.captured_by,
                   captured_at=row.captured_at, expires_at=row.expires_at,
                   supersedes_id=strawberry.ID(str(row.supersedes_id)) if row.supersedes_id else None)


@strawberry.type
class GroupNode:
    ownership_pct: Decimal | None
    children: list[GroupNode]
    party_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def party(self, info: Info) -> Party | None:
        return await Party.load(info, self.party_id)

    @classmethod
    def of(cls, node: queries.GroupNode) -> GroupNode:
        return cls(ownership_pct=node.ownership_pct, children=[cls.of(c) for c in node.children],
                   party_id=node.party_id)


@strawberry.federation.type(keys=["id"], description="A person or organisation the bank serves or deals with.")
class Party:
    id: strawberry.ID
    external_id: str | None
    party_type: PartyTypeEnum
    status: PartyStatusEnum
    legal_name: str
    trading_name: str | None
    legal_form: str | None
    registration_number: str | None
    incorporation_date: dt.date | None
    date_of_birth: dt.date | None
    industry_code: str | None
    segment: str | None
    tax_residences: list[str]
    relationship_manager_id: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    uid: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, row: models.Party) -> Party:
        return cls(
            id=strawberry.ID(str(row.id)), external_id=row.external_id, party_type=models.PartyType(row.party_type),
            status=models.PartyStatus(row.status), legal_name=row.legal_name, trading_name=row.trading_name,
            legal_form=row.legal_form, registration_number=row.registration_number,
            incorporation_date=row.incorporation_date, date_of_birth=row.date_of_birth,
            industry_code=row.industry_code, segment=row.segment, tax_residences=list(row.tax_residences or []),
            relationship_manager_id=row.relationship_manager_id, version=row.version, created_at=row.created_at,
            updated_at=row.updated_at, uid=row.id,
        )

    @classmethod
    async def load(cls, info: Info, party_id: uuid.UUID) -> Party | None:
        row = await info.context.loaders.party.load(party_id)
        return cls.of(row) if row is not None else None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID, **_: object) -> Party | None:
        info.context.require()
        return await cls.load(info, parse_uuid(id))

    @strawberry.field
    async def addresses(self, info: Info) -> list[Address]:
        return [Address.of(r) for r in await info.context.loaders.addresses.load(self.uid)]

    @strawberry.field
    async def contact_points(self, info: Info) -> list[ContactPoint]:
        return [ContactPoint.of(r) for r in await info.context.loaders.contact_points.load(self.uid)]

    @strawberry.field
    async def identifiers(self, info: Info) -> list[Identifier]:
        return [Identifier.of(r) for r in await info.context.loaders.identifiers.load(self.uid)]

    @strawberry.field(description="Relationships where this party is the source (parent, agent, attorney).")
    async def relationships(self, info: Info) -> list[PartyRelationship]:
        return [PartyRelationship.of(r) for r in await info.context.loaders.relationships_from.load(self.uid)]

    @strawberry.field(description="Relationships where this party is the target (subsidiary, principal).")
    async def inbound_relationships(self, info: Info) -> list[PartyRelationship]:
        return [PartyRelationship.of(r) for r in await info.context.loaders.relationships_to.load(self.uid)]

    @strawberry.field(description="Persons holding roles on this organisation.")
    async def contact_roles(self, info: Info) -> list[ContactRole]:
        return [ContactRole.of(r) for r in await info.context.loaders.contact_roles.load(self.uid)]

    @strawberry.field
    async def relationship_manager_history(self, info: Info) -> list[RmAssignment]:
        return [RmAssignment(rm_id=r.rm_id, assigned_by=r.assigned_by, reason=r.reason, assigned_at=r.assigned_at,
                             ended_at=r.ended_at) for r in await info.context.loaders.rm_history.load(self.uid)]

    @strawberry.field
    async def agreements(self, info: Info) -> list[Agreement]:
        return [Agreement.of(r) for r in await info.context.loaders.agreements.load(self.uid)]

    @strawberry.field
    async def entitlements(self, info: Info) -> list[Entitlement]:
        return [Entitlement.of(r) for r in await info.context.loaders.entitlements.load(self.uid)]

    @strawberry.field(description="The whole group this party belongs to, from the ultimate parent down.")
    async def group(self, info: Info) -> GroupNode | None:
        async with info.context.sessions() as session:
            tree = await queries.get_group_tree(session, self.uid)
        return GroupNode.of(tree) if tree else None

    @strawberry.field(description="The consent in force per purpose and channel at `asOf` (default: now).")
    async def consents(self, info: Info, as_of: dt.datetime | None = None) -> list[Consent]:
        at = as_of or dt.datetime.now(dt.UTC)
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        async with info.context.sessions() as session:
            return [Consent.of(c) for c in await queries.get_consents_as_of(session, self.uid, at)]

    @strawberry.field(description="Every consent decision, newest first.")
    async def consent_history(self, info: Info) -> list[Consent]:
        async with info.context.sessions() as session:
            return [Consent.of(c) for c in await queries.list_consent_history(session, self.uid)]


Errors = NotFoundError | InvalidTransitionError | ConflictError | IdempotencyKeyReusedError | FourEyesRequiredError
PartyResult = Annotated[Party | Errors, strawberry.union("PartyResult")]  # type: ignore[valid-type]
AddressResult = Annotated[Address | Errors, strawberry.union("AddressResult")]  # type: ignore[valid-type]
ContactPointResult = Annotated[ContactPoint | Errors, strawberry.union("ContactPointResult")]  # type: ignore[valid-type]
IdentifierResult = Annotated[Identifier | Errors, strawberry.union("IdentifierResult")]  # type: ignore[valid-type]
RelationshipResult = Annotated[PartyRelationship | Errors, strawberry.union("RelationshipResult")]  # type: ignore[valid-type]
ContactRoleResult = Annotated[ContactRole | Errors, strawberry.union("ContactRoleResult")]  # type: ignore[valid-type]
AgreementResult = Annotated[Agreement | Errors, strawberry.union("AgreementResult")]  # type: ignore[valid-type]
EntitlementResult = Annotated[Entitlement | Errors, strawberry.union("EntitlementResult")]  # type: ignore[valid-type]
ConsentResult = Annotated[Consent | Errors, strawberry.union("ConsentResult")]  # type: ignore[valid-type]
