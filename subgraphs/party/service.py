"""Party use cases: one async function per command, each one transaction that writes its events to the outbox."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from shared.db import UnitOfWork
from shared.errors import Conflict, InvalidTransition, NotFound
from shared.graphql import parse_uuid
from shared.validation import reason as check_reason
from subgraphs.party import events
from subgraphs.party.commands import (
    AddressData,
    AssignContactRole,
    ContactPointData,
    GrantEntitlement,
    IdentifierData,
    LinkParties,
    PartyDetailsChanges,
    RecordConsent,
    RegisterParty,
)
from subgraphs.party.models import (
    Address,
    Agreement,
    AgreementStatus,
    Consent,
    ContactPoint,
    ContactRole,
    Entitlement,
    Identifier,
    IdentifierStatus,
    LifecycleAction,
    Party,
    PartyRelationship,
    PartyStatus,
    RelationshipType,
    RmAssignment,
)

M = TypeVar("M")
HIERARCHY_LOCK = 0x5041525459  # one advisory lock serialises group-hierarchy changes (cycle checks)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _replayed(uow: UnitOfWork, operation: str, key: str | None, request: Any, model: type[M]) -> M | None:
    prior = await uow.claim_idempotency(operation, key, request)
    if prior is None:
        return None
    row = await uow.session.get(model, uuid.UUID(prior["id"]))
    if row is not None:
        uow.session.expunge(row)  # a replay commits nothing; keep the row readable after the rollback
    return row


async def _lock_party(uow: UnitOfWork, party_id: str | uuid.UUID) -> Party:
    pid = party_id if isinstance(party_id, uuid.UUID) else parse_uuid(party_id, field="partyId")
    party = (await uow.session.execute(select(Party).where(Party.id == pid).with_for_update())).scalar_one_or_none()
    if party is None:
        raise NotFound(f"Party {pid} does not exist.", party_id=str(pid))
    return party


async def _flush(uow: UnitOfWork, conflict: str) -> None:
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Conflict(conflict) from None


async def register_party(uow: UnitOfWork, *, data: RegisterParty, idempotency_key: str) -> Party:
    """Registers a person or organisation as a PROSPECT (or PENDING_VERIFICATION when asked)."""
    async with uow:
        if (prior := await _replayed(uow, "registerParty", idempotency_key, data, Party)) is not None:
            return prior
        if data.external_id and await uow.session.scalar(select(Party.id).where(Party.external_id == data.external_id)):
            raise Conflict(f"A party with externalId '{data.external_id}' already exists.")
        status = PartyStatus.PENDING_VERIFICATION if data.submit_for_verification else PartyStatus.PROSPECT
        party = Party(
            id=uuid.uuid4(), external_id=data.external_id, party_type=data.party_type.value, status=status.value,
            legal_name=data.legal_name, trading_name=data.trading_name, legal_form=data.legal_form,
            registration_number=data.registration_number, incorporation_date=data.incorporation_date,
            date_of_birth=data.date_of_birth, industry_code=data.industry_code, segment=data.segment,
            tax_residences=list(data.tax_residences), relationship_manager_id=data.relationship_manager_id,
            version=1, created_by=uow.context.actor.sub,
        )
        uow.session.add(party)
        await _flush(uow, f"A party with externalId '{data.external_id}' already exists.")
        uow.session.add_all(_address(party.id, a) for a in data.addresses)
        uow.session.add_all(_contact_point(party.id, c) for c in data.contact_points)
        if data.relationship_manager_id:
            uow.session.add(RmAssignment(party_id=party.id, rm_id=data.relationship_manager_id,
                                         assigned_by=uow.context.actor.sub, reason="registration"))
        await uow.emit(
            events.PartyRegistered(
                party_id=str(party.id), party_type=party.party_type, status=party.status,
                legal_name=party.legal_name, external_id=party.external_id, segment=party.segment,
                relationship_manager_id=party.relationship_manager_id,
            ),
            aggregate_id=party.id, aggregate_version=party.version, after=party.snapshot(),
        )
        await uow.commit({"id": str(party.id)})
        return party


async def update_party_details(uow: UnitOfWork, *, party_id: str, changes: PartyDetailsChanges, reason: str) -> Party:
    """Changes a party's descriptive details, recording before and after."""
    async with uow:
        party = await _lock_party(uow, party_id)
        party.check_is_open()
        changed = {k: v for k, v in changes.changed().items() if _as_column(v) != getattr(party, k)}
        if not changed:
            return party
        before = party.snapshot()
        for key, value in changed.items():
            setattr(party, key, _as_column(value))
        await uow.emit(
            events.PartyDetailsChanged(party_id=str(party.id), changed_fields=sorted(changed)),
            aggregate_id=party.id, aggregate_version=party.touch(), reason=check_reason(reason),
            before={k: before[k] for k in changed}, after={k: party.snapshot()[k] for k in changed},
        )
        await uow.commit()
        return party


def _as_column(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


async def change_party_status(uow: UnitOfWork, *, party_id: str, action: LifecycleAction, reason: str) -> Party:
    """Moves a party through its lifecycle; an illegal transition raises InvalidTransition."""
    reason = check_reason(reason)
    async with uow:
        party = await _lock_party(uow, party_id)
        target = party.check_transition(action)
        before = party.status
        party.status = target.value
        await uow.emit(
            events.PartyStatusChanged(party_id=str(party.id), from_status=before, to_status=target.value,
                                      action=action.value),
            aggregate_id=party.id, aggregate_version=party.touch(), reason=reason,
            before={"status": before}, after={"status": target.value},
        )
        await uow.commit()
        return party


def _address(party_id: uuid.UUID, a: AddressData) -> Address:
    return Address(id=uuid.uuid4(), party_id=party_id, address_type=a.address_type.value, lines=list(a.lines),
                   city=a.city, postal_code=a.postal_code, region=a.region, country=a.country)


def _contact_point(party_id: uuid.UUID, c: ContactPointData) -> ContactPoint:
    return ContactPoint(id=uuid.uuid4(), party_id=party_id, contact_type=c.contact_type.value, value=c.value,
                        is_primary=c.is_primary)


async def add_address(uow: UnitOfWork, *, party_id: str, data: AddressData, idempotency_key: str) -> Address:
    """Adds a typed postal address to a party."""
    async with uow:
        request = {"party_id": party_id, **asdict(data)}
        if (prior := await _replayed(uow, "addAddress", idempotency_key, request, Address)) is not None:
            return prior
        party = await _lock_party(uow, party_id)
        party.check_is_open()
        address = _address(party.id, data)
        uow.session.add(address)
        await uow.emit(
            events.PartyAddressAdded(party_id=str(party.id), address_id=str(address.id),
                                     address_type=address.address_type, country=address.country),
            aggregate_id=party.id, aggregate_version=party.touch(),
        )
        await uow.commit({"id": str(address.id)})
        return address


async def add_contact_point(uow: UnitOfWork, *, party_id: str, data: ContactPointData,
                            idempotency_key: str) -> ContactPoint:
    """Adds an e-mail, phone or web contact point to a party."""
    async with uow:
        request = {"party_id": party_id, **asdict(data)}
        if (prior := await _replayed(uow, "addContactPoint", idempotency_key, request, ContactPoint)) is not None:
            return prior
        party = await _lock_party(uow, party_id)
        party.check_is_open()
        point = _contact_point(party.id, data)
        uow.session.add(point)
        await uow.emit(
            events.PartyContactPointAdded(party_id=str(party.id), contact_point_id=str(point.id),
                                          contact_type=point.contact_type),
            aggregate_id=party.id, aggregate_version=party.touch(),
        )
        await uow.commit({"id": str(point.id)})
        return point


async def add_identifier(uow: UnitOfWork, *, party_id: str, data: IdentifierData,
                         idempotency_key: str) -> Identifier:
    """Adds an identifier; (type, value) is unique and a party has at most one active per type."""
    async with uow:
        request = {"party_id": party_id, **asdict(data)}
        if (prior := await _replayed(uow, "addIdentifier", idempotency_key, request, Identifier)) is not None:
            return prior
        party = await _lock_party(uow, party_id)
        party.check_is_open()
        taken = await uow.session.scalar(select(Identifier.party_id).where(
            Identifier.identifier_type == data.identifier_type, Identifier.value == data.value))
        if taken is not None:
            raise Conflict(f"Identifier {data.identifier_type} '{data.value}' is already registered.")
        active = await uow.session.scalar(select(Identifier.id).where(
            Identifier.party_id == party.id, Identifier.identifier_type == data.identifier_type,
            Identifier.status == IdentifierStatus.ACTIVE))
        if active is not None:
            raise Conflict(f"Party {party.id} already has an active {data.identifier_type}; deactivate it first.")
        identifier = Identifier(id=uuid.uuid4(), party_id=party.id, identifier_type=data.identifier_type,
                                value=data.value, issuer_country=data.issuer_country, issued_on=data.issued_on,
                                expires_on=data.expires_on, status=IdentifierStatus.ACTIVE.value)
        uow.session.add(identifier)
        await _flush(uow, f"Identifier {data.identifier_type} '{data.value}' is already registered.")
        await uow.emit(
            events.IdentifierAdded(party_id=str(party.id), identifier_id=str(identifier.id),
                                   identifier_type=identifier.identifier_type),
            aggregate_id=party.id, aggregate_version=party.touch(),
        )
        await uow.commit({"id": str(identifier.id)})
        return identifier


async def deactivate_identifier(uow: UnitOfWork, *, identifier_id: str, reason: str) -> Identifier:
    """Deactivates an identifier (kept for history)."""
    reason = check_reason(reason)
    async with uow:
        identifier = await uow.session.get(Identifier, parse_uuid(identifier_id, field="identifierId"))
        if identifier is None:
            raise NotFound(f"Identifier {identifier_id} does not exist.")
        party = await _lock_party(uow, identifier.party_id)
        if identifier.status != IdentifierStatus.ACTIVE:
            raise InvalidTransition(f"Identifier {identifier.id} is already {identifier.status}.")
        identifier.status = IdentifierStatus.INACTIVE.value
        await uow.emit(
            events.IdentifierDeactivated(party_id=str(party.id), identifier_id=str(identifier.id),
                                         identifier_type=identifier.identifier_type),
            aggregate_id=party.id, aggregate_version=party.touch(), reason=reason,
            before={"status": "ACTIVE"}, after={"status": "INACTIVE"},
        )
        await uow.commit()
        return identifier


async def link_parties(uow: UnitOfWork, *, data: LinkParties, reason: str,
                       idempotency_key: str) -> PartyRelationship:
    """Links two parties (parent/subsidiary with ownership, acts-on-behalf-of, power of attorney); refuses cycles."""
    reason = check_reason(reason)
    PartyRelationship.check_ownership(data.relationship_type, data.ownership_pct)
    async with uow:
        if (prior := await _replayed(uow, "linkParties", idempotency_key, data, PartyRelationship)) is not None:
            return prior
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": HIERARCHY_LOCK})
        source = await _lock_party(uow, data.from_party_id)
        target = await _lock_party(uow, data.to_party_id)
        source.check_is_open()
        target.check_is_open()
        if data.relationship_type == RelationshipType.PARENT_OF:
            await _check_group_link(uow, parent=source, child=target, ownership=data.ownership_pct)
        relationship = PartyRelationship(
            id=uuid.uuid4(), from_party_id=source.id, to_party_id=target.id,
            relationship_type=data.relationship_type.value, ownership_pct=data.ownership_pct,
            valid_from=data.valid_from, valid_to=data.valid_to,
        )
        uow.session.add(relationship)
        await _flush(uow, f"Parties {source.id} and {target.id} are already linked as {data.relationship_type}.")
        await uow.emit(
            events.RelationshipLinked(
                party_id=str(source.id), relationship_id=str(relationship.id), from_party_id=str(source.id),
                to_party_id=str(target.id), relationship_type=relationship.relationship_type,
                ownership_pct=None if data.ownership_pct is None else format(data.ownership_pct, "f"),
            ),
            aggregate_id=source.id, aggregate_version=source.touch(), reason=reason,
        )
        target.touch()
        await uow.commit({"id": str(relationship.id)})
        return relationship


async def _check_group_link(uow: UnitOfWork, *, parent: Party, child: Party, ownership: Decimal | None) -> None:
    # Walk up from the would-be parent: if the child is among its ancestors, the link closes a cycle.
    ancestors = await uow.session.execute(text("""
        WITH RECURSIVE up(id) AS (
            SELECT from_party_id FROM party_relationships
             WHERE to_party_id = :start AND relationship_type = 'PARENT_OF' AND ended_at IS NULL
            UNION
            SELECT r.from_party_id FROM party_relationships r JOIN up ON r.to_party_id = up.id
             WHERE r.relationship_type = 'PARENT_OF' AND r.ended_at IS NULL
        ) SELECT 1 FROM up WHERE id = :child LIMIT 1"""), {"start": parent.id, "child": child.id})
    if ancestors.first() is not None:
        raise Conflict(f"Linking {parent.id} as parent of {child.id} would create a cycle in the group.")
    owned = await uow.session.scalar(
        select(func.coalesce(func.sum(PartyRelationship.ownership_pct), 0)).where(
            PartyRelationship.to_party_id == child.id,
            PartyRelationship.relationship_type == RelationshipType.PARENT_OF.value,
            PartyRelationship.ended_at.is_(None)))
    if ownership is not None and Decimal(owned) + ownership > 100:
        raise Conflict(f"Ownership of {child.id} would exceed 100% ({owned}% already held by parents).")


async def unlink_parties(uow: UnitOfWork, *, relationship_id: str, reason: str) -> PartyRelationship:
    """Ends a relationship between two parties (kept for history)."""
    reason = check_reason(reason)
    async with uow:
        rel = await uow.session.get(PartyRelationship, parse_uuid(relationship_id, field="relationshipId"),
                                    with_for_update=True)
        if rel is None:
            raise NotFound(f"Relationship {relationship_id} does not exist.")
        if rel.ended_at is not None:
            raise InvalidTransition(f"Relationship {rel.id} has already ended.")
        source = await _lock_party(uow, rel.from_party_id)
        rel.ended_at = _now()
        await uow.emit(
            events.RelationshipUnlinked(party_id=str(source.id), relationship_id=str(rel.id),
                                        from_party_id=str(rel.from_party_id), to_party_id=str(rel.to_party_id),
                                        relationship_type=rel.relationship_type),
            aggregate_id=source.id, aggregate_version=source.touch(), reason=reason,
        )
        await uow.commit()
        return rel


async def assign_contact_role(uow: UnitOfWork, *, data: AssignContactRole, idempotency_key: str) -> ContactRole:
    """Gives a person a role (director, UBO, signatory, ...) on an organisation for a validity period."""
    async with uow:
        if (prior := await _replayed(uow, "assignContactRole", idempotency_key, data, ContactRole)) is not None:
            return prior
        org = await _lock_party(uow, data.organisation_party_id)
        org.check_is_open()
        org.check_is_organisation("a contact role")
        person = await uow.session.get(Party, parse_uuid(data.person_party_id, field="personPartyId"))
        if person is None:
            raise NotFound(f"Party {data.person_party_id} does not exist.")
        if person.party_type != "PERSON":
            raise Conflict(f"Party {person.id} is an {person.party_type}; contact roles are held by persons.")
        role = ContactRole(id=uuid.uuid4(), organisation_party_id=org.id, person_party_id=person.id,
                           role=data.role.value, valid_from=data.valid_from, valid_to=data.valid_to)
        uow.session.add(role)
        await uow.emit(
            events.ContactRoleAssigned(party_id=str(org.id), contact_role_id=str(role.id),
                                       person_party_id=str(person.id), role=role.role,
                                       valid_from=role.valid_from.isoformat(),
                                       valid_to=role.valid_to.isoformat() if role.valid_to else None),
            aggregate_id=org.id, aggregate_version=org.touch(),
        )
        await uow.commit({"id": str(role.id)})
        return role


async def revoke_contact_role(uow: UnitOfWork, *, contact_role_id: str, reason: str) -> ContactRole:
    """Revokes a contact role."""
    reason = check_reason(reason)
    async with uow:
        role = await uow.session.get(ContactRole, parse_uuid(contact_role_id, field="contactRoleId"))
        if role is None:
            raise NotFound(f"Contact role {contact_role_id} does not exist.")
        org = await _lock_party(uow, role.organisation_party_id)
        if role.revoked_at is not None:
            raise InvalidTransition(f"Contact role {role.id} is already revoked.")
        role.revoked_at = _now()
        await uow.emit(
            events.ContactRoleRevoked(party_id=str(org.id), contact_role_id=str(role.id),
                                      person_party_id=str(role.person_party_id), role=role.role),
            aggregate_id=org.id, aggregate_version=org.touch(), reason=reason,
        )
        await uow.commit()
        return role


async def assign_relationship_manager(uow: UnitOfWork, *, party_id: str, rm_id: str, reason: str) -> Party:
    """Assigns a relationship manager, closing the previous assignment in the history."""
    reason = check_reason(reason)
    async with uow:
        party = await _lock_party(uow, party_id)
        party.check_is_open()
        previous = party.relationship_manager_id
        if previous == rm_id:
            return party
        current = (await uow.session.execute(select(RmAssignment).where(
            RmAssignment.party_id == party.id, RmAssignment.ended_at.is_(None)))).scalars().all()
        for assignment in current:
            assignment.ended_at = _now()
        uow.session.add(RmAssignment(party_id=party.id, rm_id=rm_id, assigned_by=uow.context.actor.sub, reason=reason))
        party.relationship_manager_id = rm_id
        await uow.emit(
            events.RelationshipManagerAssigned(party_id=str(party.id), from_rm_id=previous, to_rm_id=rm_id),
            aggregate_id=party.id, aggregate_version=party.touch(), reason=reason,
            before={"relationship_manager_id": previous}, after={"relationship_manager_id": rm_id},
        )
        await uow.commit()
        return party


async def offer_agreement(uow: UnitOfWork, *, party_id: str, agreement_type: str, terms_version: str,
                          idempotency_key: str) -> Agreement:
    """Offers a customer agreement (OFFERED)."""
    async with uow:
        request = {"party_id": party_id, "type": agreement_type, "terms_version": terms_version}
        if (prior := await _replayed(uow, "offerAgreement", idempotency_key, request, Agreement)) is not None:
            return prior
        party = await _lock_party(uow, party_id)
        party.check_is_open()
        agreement = Agreement(id=uuid.uuid4(), party_id=party.id, agreement_type=agreement_type,
                              terms_version=terms_version, status=AgreementStatus.OFFERED.value)
        uow.session.add(agreement)
        await uow.emit(
            events.AgreementOffered(party_id=str(party.id), agreement_id=str(agreement.id),
                                    agreement_type=agreement_type, terms_version=terms_version),
            aggregate_id=party.id, aggregate_version=party.touch(),
        )
        await uow.commit({"id": str(agreement.id)})
        return agreement


async def change_agreement(uow: UnitOfWork, *, agreement_id: str, target: AgreementStatus,
                           reason: str) -> Agreement:
    """Signs or terminates an agreement (OFFERED → SIGNED → TERMINATED)."""
    reason = check_reason(reason)
    async with uow:
        agreement = await uow.session.get(Agreement, parse_uuid(agreement_id, field="agreementId"))
        if agreement is None:
            raise NotFound(f"Agreement {agreement_id} does not exist.")
        party = await _lock_party(uow, agreement.party_id)
        agreement.check_can(target)
        before = agreement.status
        agreement.status = target.value
        event_type: type[events.AgreementEvent]
        if target == AgreementStatus.SIGNED:
            agreement.signed_at, agreement.signed_by = _now(), uow.context.actor.sub
            event_type = events.AgreementSigned
        else:
            agreement.terminated_at = _now()
            event_type = events.AgreementTerminated
        await uow.emit(
            event_type(party_id=str(party.id), agreement_id=str(agreement.id),
                       agreement_type=agreement.agreement_type, terms_version=agreement.terms_version),
            aggregate_id=party.id, aggregate_version=party.touch(), reason=reason,
            before={"status": before}, after={"status": agreement.status},
        )
        await uow.commit()
        return agreement


async def grant_entitlement(uow: UnitOfWork, *, data: GrantEntitlement, idempotency_key: str) -> Entitlement:
    """Lets a user act for a party with the given permissions over a validity period."""
    async with uow:
        if (prior := await _replayed(uow, "grantEntitlement", idempotency_key, data, Entitlement)) is not None:
            return prior
        party = await _lock_party(uow, data.party_id)
        party.check_is_open()
        entitlement = Entitlement(id=uuid.uuid4(), party_id=party.id, user_sub=data.user_sub,
                                  permissions=list(data.permissions), valid_from=data.valid_from,
                                  valid_to=data.valid_to)
        uow.session.add(entitlement)
        await uow.emit(
            events.EntitlementGranted(party_id=str(party.id), entitlement_id=str(entitlement.id),
                                      user_sub=data.user_sub, permissions=list(data.permissions),
                                      valid_from=data.valid_from.isoformat(),
                                      valid_to=data.valid_to.isoformat() if data.valid_to else None),
            aggregate_id=party.id, aggregate_version=party.touch(),
        )
        await uow.commit({"id": str(entitlement.id)})
        return entitlement


async def revoke_entitlement(uow: UnitOfWork, *, entitlement_id: str, reason: str) -> Entitlement:
    """Revokes an entitlement."""
    reason = check_reason(reason)
    async with uow:
        entitlement = await uow.session.get(Entitlement, parse_uuid(entitlement_id, field="entitlementId"))
        if entitlement is None:
            raise NotFound(f"Entitlement {entitlement_id} does not exist.")
        party = await _lock_party(uow, entitlement.party_id)
        if entitlement.revoked_at is not None:
            raise InvalidTransition(f"Entitlement {entitlement.id} is already revoked.")
        entitlement.revoked_at = _now()
        await uow.emit(
            events.EntitlementRevoked(party_id=str(party.id), entitlement_id=str(entitlement.id),
                                      user_sub=entitlement.user_sub),
            aggregate_id=party.id, aggregate_version=party.touch(), reason=reason,
        )
        await uow.commit()
        return entitlement


async def record_consent(uow: UnitOfWork, *, data: RecordConsent, idempotency_key: str) -> Consent:
    """Appends a consent decision (purpose and channel) to the ledger; the previous one stays as history."""
    async with uow:
        if (prior := await _replayed(uow, "recordConsent", idempotency_key, data, Consent)) is not None:
            return prior
        party = await _lock_party(uow, data.party_id)
        if party.status == PartyStatus.REJECTED:
            raise InvalidTransition(f"Party {party.id} is REJECTED; consents are not recorded.")
        previous = await uow.session.scalar(
            select(Consent).where(Consent.party_id == party.id, Consent.purpose == data.purpose.value,
                                  Consent.channel == data.channel.value)
            .order_by(Consent.captured_at.desc(), Consent.id.desc()).limit(1))
        consent = Consent(id=uuid.uuid4(), party_id=party.id, purpose=data.purpose.value, channel=data.channel.value,
                          decision=data.decision.value, notice_version=data.notice_version, source=data.source,
                          captured_by=uow.context.actor.sub, captured_at=_now(), expires_at=data.expires_at,
                          supersedes_id=previous.id if previous else None)
        uow.session.add(consent)
        await uow.emit(
            events.ConsentRecorded(party_id=str(party.id), consent_id=str(consent.id), purpose=consent.purpose,
                                   channel=consent.channel, decision=consent.decision,
                                   notice_version=consent.notice_version,
                                   captured_at=consent.captured_at.isoformat(),
                                   expires_at=consent.expires_at.isoformat() if consent.expires_at else None),
            aggregate_id=party.id, aggregate_version=party.touch(),
            before={"decision": previous.decision if previous else None}, after={"decision": consent.decision},
        )
        await uow.commit({"id": str(consent.id)})
        return consent
