"""Party use cases: registration, details, lifecycle, addresses, contact points, identifiers, RM."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from sqlalchemy import select

from shared.db import UnitOfWork
from shared.errors import Conflict, InvalidTransition, NotFound
from shared.graphql import parse_uuid
from shared.validation import reason as check_reason
from subgraphs.party import events
from subgraphs.party.commands import (
    AddressData,
    ContactPointData,
    IdentifierData,
    PartyDetailsChanges,
    RegisterParty,
)
from subgraphs.party.models import (
    Address,
    ContactPoint,
    Identifier,
    IdentifierStatus,
    LifecycleAction,
    Party,
    PartyStatus,
    RmAssignment,
)
from subgraphs.party.service.common import flush_or_conflict, lock_party, now


async def register_party(uow: UnitOfWork, *, data: RegisterParty, idempotency_key: str) -> Party:
    """Registers a person or organisation as a PROSPECT (or PENDING_VERIFICATION when asked)."""
    async with uow:
        if (prior := await uow.replayed("registerParty", idempotency_key, data, Party)) is not None:
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
        await flush_or_conflict(uow, f"A party with externalId '{data.external_id}' already exists.")
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
        party = await lock_party(uow, party_id)
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
        party = await lock_party(uow, party_id)
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
        if (prior := await uow.replayed("addAddress", idempotency_key, request, Address)) is not None:
            return prior
        party = await lock_party(uow, party_id)
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
        if (prior := await uow.replayed("addContactPoint", idempotency_key, request, ContactPoint)) is not None:
            return prior
        party = await lock_party(uow, party_id)
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
        if (prior := await uow.replayed("addIdentifier", idempotency_key, request, Identifier)) is not None:
            return prior
        party = await lock_party(uow, party_id)
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
        await flush_or_conflict(uow, f"Identifier {data.identifier_type} '{data.value}' is already registered.")
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
        missing = NotFound(f"Identifier {identifier_id} does not exist.")
        if identifier is None:
            raise missing
        party = await lock_party(uow, identifier.party_id, missing)
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


async def assign_relationship_manager(uow: UnitOfWork, *, party_id: str, rm_id: str, reason: str) -> Party:
    """Assigns a relationship manager, closing the previous assignment in the history."""
    reason = check_reason(reason)
    async with uow:
        party = await lock_party(uow, party_id)
        party.check_is_open()
        previous = party.relationship_manager_id
        if previous == rm_id:
            return party
        current = (await uow.session.execute(select(RmAssignment).where(
            RmAssignment.party_id == party.id, RmAssignment.ended_at.is_(None)))).scalars().all()
        for assignment in current:
            assignment.ended_at = now()
        uow.session.add(RmAssignment(party_id=party.id, rm_id=rm_id, assigned_by=uow.context.actor.sub, reason=reason))
        party.relationship_manager_id = rm_id
        await uow.emit(
            events.RelationshipManagerAssigned(party_id=str(party.id), from_rm_id=previous, to_rm_id=rm_id),
            aggregate_id=party.id, aggregate_version=party.touch(), reason=reason,
            before={"relationship_manager_id": previous}, after={"relationship_manager_id": rm_id},
        )
        await uow.commit()
        return party
