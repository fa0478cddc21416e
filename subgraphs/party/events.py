"""Events the party domain publishes on finpace.party.> (the only module other domains may import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class PartyEvent(DomainEvent):
    domain: ClassVar[str] = "party"
    aggregate: ClassVar[str] = "party"
    party_id: str


@dataclass(frozen=True, kw_only=True)
class PartyRegistered(PartyEvent):
    party_type: str
    status: str
    legal_name: str
    external_id: str | None
    segment: str | None
    relationship_manager_id: str | None


@dataclass(frozen=True, kw_only=True)
class PartyDetailsChanged(PartyEvent):
    changed_fields: list[str]


@dataclass(frozen=True, kw_only=True)
class PartyStatusChanged(PartyEvent):
    from_status: str
    to_status: str
    action: str


@dataclass(frozen=True, kw_only=True)
class PartyAddressAdded(PartyEvent):
    address_id: str
    address_type: str
    country: str


@dataclass(frozen=True, kw_only=True)
class PartyContactPointAdded(PartyEvent):
    contact_point_id: str
    contact_type: str


@dataclass(frozen=True, kw_only=True)
class IdentifierEvent(PartyEvent):
    aggregate: ClassVar[str] = "identifier"
    identifier_id: str
    identifier_type: str


@dataclass(frozen=True, kw_only=True)
class IdentifierAdded(IdentifierEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class IdentifierDeactivated(IdentifierEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class RelationshipEvent(PartyEvent):
    aggregate: ClassVar[str] = "relationship"
    relationship_id: str
    from_party_id: str
    to_party_id: str
    relationship_type: str


@dataclass(frozen=True, kw_only=True)
class RelationshipLinked(RelationshipEvent):
    ownership_pct: str | None


@dataclass(frozen=True, kw_only=True)
class RelationshipUnlinked(RelationshipEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class ContactRoleEvent(PartyEvent):
    aggregate: ClassVar[str] = "contact_role"
    contact_role_id: str
    person_party_id: str
    role: str


@dataclass(frozen=True, kw_only=True)
class ContactRoleAssigned(ContactRoleEvent):
    valid_from: str
    valid_to: str | None


@dataclass(frozen=True, kw_only=True)
class ContactRoleRevoked(ContactRoleEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class RelationshipManagerAssigned(PartyEvent):
    aggregate: ClassVar[str] = "relationship_manager"
    from_rm_id: str | None
    to_rm_id: str


@dataclass(frozen=True, kw_only=True)
class AgreementEvent(PartyEvent):
    aggregate: ClassVar[str] = "agreement"
    agreement_id: str
    agreement_type: str
    terms_version: str


@dataclass(frozen=True, kw_only=True)
class AgreementOffered(AgreementEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class AgreementSigned(AgreementEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class AgreementTerminated(AgreementEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class EntitlementEvent(PartyEvent):
    aggregate: ClassVar[str] = "entitlement"
    entitlement_id: str
    user_sub: str


@dataclass(frozen=True, kw_only=True)
class EntitlementGranted(EntitlementEvent):
    permissions: list[str]
    valid_from: str
    valid_to: str | None


@dataclass(frozen=True, kw_only=True)
class EntitlementRevoked(EntitlementEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class ConsentRecorded(PartyEvent):
    aggregate: ClassVar[str] = "consent"
    consent_id: str
    purpose: str
    channel: str
    decision: str
    notice_version: str
    captured_at: str
    expires_at: str | None
