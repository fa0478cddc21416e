"""Party network use cases: group links (no cycles), other relationships, contact roles."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select, text

from shared import access
from shared.db import UnitOfWork
from shared.errors import Conflict, InvalidTransition, NotFound
from shared.graphql import parse_uuid
from shared.validation import reason as check_reason
from subgraphs.party import events
from subgraphs.party.commands import (
    AssignContactRole,
    LinkParties,
)
from subgraphs.party.models import (
    ContactRole,
    Party,
    PartyRelationship,
    RelationshipType,
)
from subgraphs.party.service.common import HIERARCHY_LOCK, flush_or_conflict, lock_party, now


async def link_parties(uow: UnitOfWork, *, data: LinkParties, reason: str,
                       idempotency_key: str) -> PartyRelationship:
    """Links two parties (parent/subsidiary with ownership, acts-on-behalf-of, power of attorney); refuses cycles."""
    reason = check_reason(reason)
    PartyRelationship.check_ownership(data.relationship_type, data.ownership_pct)
    async with uow:
        if (prior := await uow.replayed("linkParties", idempotency_key, data, PartyRelationship)) is not None:
            return prior
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": HIERARCHY_LOCK})
        source = await lock_party(uow, data.from_party_id)
        target = await lock_party(uow, data.to_party_id)
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
        await flush_or_conflict(
            uow, f"Parties {source.id} and {target.id} are already linked as {data.relationship_type}.")
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
        missing = NotFound(f"Relationship {relationship_id} does not exist.")
        if rel is None:
            raise missing
        source = await lock_party(uow, rel.from_party_id, missing)
        if rel.ended_at is not None:
            raise InvalidTransition(f"Relationship {rel.id} has already ended.")
        rel.ended_at = now()
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
        if (prior := await uow.replayed("assignContactRole", idempotency_key, data, ContactRole)) is not None:
            return prior
        org = await lock_party(uow, data.organisation_party_id)
        org.check_is_open()
        org.check_is_organisation("a contact role")
        person = await uow.session.get(Party, parse_uuid(data.person_party_id, field="personPartyId"))
        missing = NotFound(f"Party {data.person_party_id} does not exist.")
        if person is None:
            raise missing
        await access.require_party(uow, person.id, missing)
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
        missing = NotFound(f"Contact role {contact_role_id} does not exist.")
        if role is None:
            raise missing
        org = await lock_party(uow, role.organisation_party_id, missing)
        if role.revoked_at is not None:
            raise InvalidTransition(f"Contact role {role.id} is already revoked.")
        role.revoked_at = now()
        await uow.emit(
            events.ContactRoleRevoked(party_id=str(org.id), contact_role_id=str(role.id),
                                      person_party_id=str(role.person_party_id), role=role.role),
            aggregate_id=org.id, aggregate_version=org.touch(), reason=reason,
        )
        await uow.commit()
        return role
