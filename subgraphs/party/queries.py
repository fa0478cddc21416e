"""Party reads: batched loaders (one SQL query per kind and request), the party list, the group tree, consents as of."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.access import RequestAccess, Scope
from shared.auth import Principal
from shared.loaders import rows_by_parent
from subgraphs.party.models import (
    Address,
    Agreement,
    Consent,
    ContactPoint,
    ContactRole,
    Entitlement,
    Identifier,
    Party,
    PartyRelationship,
    RmAssignment,
)


async def load_parties_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID], scope: Scope) -> list[Party | None]:
    """Loads parties in one query, in the order asked (None where missing or not in the caller's scope)."""
    rows = (await session.execute(select(Party).where(Party.id.in_(ids)))).scalars().all()
    by_id = {row.id: row for row in rows if scope.admits(row.id)}
    return [by_id.get(i) for i in ids]


@dataclass
class PartyLoaders:
    """Per-request DataLoaders: N parties or N parties' children cost one query each."""

    sessions: async_sessionmaker[AsyncSession]
    access: RequestAccess
    party: DataLoader = field(init=False)
    addresses: DataLoader = field(init=False)
    contact_points: DataLoader = field(init=False)
    identifiers: DataLoader = field(init=False)
    relationships_from: DataLoader = field(init=False)
    relationships_to: DataLoader = field(init=False)
    contact_roles: DataLoader = field(init=False)
    rm_history: DataLoader = field(init=False)
    agreements: DataLoader = field(init=False)
    entitlements: DataLoader = field(init=False)

    def __post_init__(self) -> None:
        async def batch_parties(ids: list[uuid.UUID]) -> list[Party | None]:
            scope = await self.access.scope()
            async with self.sessions() as session:
                return await load_parties_by_ids(session, ids, scope)

        self.party = DataLoader(batch_parties)
        child: Callable[..., DataLoader] = lambda m, c, o: rows_by_parent(self.sessions, m, c, o)  # noqa: E731
        self.addresses = child(Address, Address.party_id, Address.created_at)
        self.contact_points = child(ContactPoint, ContactPoint.party_id, ContactPoint.created_at)
        self.identifiers = child(Identifier, Identifier.party_id, Identifier.created_at)
        self.relationships_from = child(PartyRelationship, PartyRelationship.from_party_id,
                                        PartyRelationship.created_at)
        self.relationships_to = child(PartyRelationship, PartyRelationship.to_party_id, PartyRelationship.created_at)
        self.contact_roles = child(ContactRole, ContactRole.organisation_party_id, ContactRole.created_at)
        self.rm_history = child(RmAssignment, RmAssignment.party_id, RmAssignment.assigned_at)
        self.agreements = child(Agreement, Agreement.party_id, Agreement.offered_at)
        self.entitlements = child(Entitlement, Entitlement.party_id, Entitlement.created_at)


def make_loaders(sessions: async_sessionmaker[AsyncSession], principal: Principal | None,
                 access: RequestAccess | None = None) -> PartyLoaders:
    """Builds the loaders of one request (the access state is the request's; a bare one for direct callers)."""
    return PartyLoaders(sessions, access or RequestAccess(sessions, principal))


@dataclass(frozen=True)
class PartyFilter:
    name_prefix: str | None = None
    external_id: str | None = None
    status: str | None = None
    segment: str | None = None
    relationship_manager_id: str | None = None


async def list_parties(session: AsyncSession, *, filter: PartyFilter, first: int, after: list[Any] | None,
                       scope: Scope) -> tuple[list[Party], bool, int]:
    """Returns one page of parties ordered by (legal name, id), whether more follow, and the total."""
    conditions = []
    if filter.name_prefix:
        escaped = filter.name_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Party.legal_name.ilike(escaped + "%", escape="\\"))
    for column, value in [(Party.external_id, filter.external_id), (Party.status, filter.status),
                          (Party.segment, filter.segment),
                          (Party.relationship_manager_id, filter.relationship_manager_id)]:
        if value is not None:
            conditions.append(column == value)
    visible = scope.party_uuids()
    if visible is not None:
        conditions.append(Party.id.in_(visible))
    base = select(Party).where(and_(True, *conditions))
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    page = base
    if after is not None and len(after) == 2:
        name, last_id = str(after[0]), uuid.UUID(str(after[1]))
        page = page.where(or_(Party.legal_name > name, and_(Party.legal_name == name, Party.id > last_id)))
    rows = list((await session.execute(page.order_by(Party.legal_name, Party.id).limit(first + 1))).scalars())
    shown = [r for r in rows[:first] if scope.admits(r.id)]  # notes the staff reads for access evidence
    return shown, len(rows) > first, total


@dataclass
class GroupNode:
    party_id: uuid.UUID
    ownership_pct: Any
    children: list[GroupNode]


async def get_group_tree(session: AsyncSession, party_id: uuid.UUID) -> GroupNode | None:
    """Returns the whole group the party belongs to, from its ultimate parent down (two queries)."""
    root_row = (await session.execute(text("""
        WITH RECURSIVE up(id, depth) AS (
            SELECT CAST(:start AS uuid), 0
            UNION
            SELECT r.from_party_id, up.depth + 1 FROM party_relationships r JOIN up ON r.to_party_id = up.id
             WHERE r.relationship_type = 'PARENT_OF' AND r.ended_at IS NULL AND up.depth < 50
        ) SELECT id FROM up ORDER BY depth DESC, id LIMIT 1"""), {"start": party_id})).first()
    if root_row is None:
        return None
    root = root_row[0]
    edges = (await session.execute(text("""
        WITH RECURSIVE down(parent, child, pct, depth) AS (
            SELECT from_party_id, to_party_id, ownership_pct, 1 FROM party_relationships
             WHERE from_party_id = :root AND relationship_type = 'PARENT_OF' AND ended_at IS NULL
            UNION
            SELECT r.from_party_id, r.to_party_id, r.ownership_pct, d.depth + 1
              FROM party_relationships r JOIN down d ON r.from_party_id = d.child
             WHERE r.relationship_type = 'PARENT_OF' AND r.ended_at IS NULL AND d.depth < 50
        ) SELECT parent, child, pct FROM down ORDER BY depth, child"""), {"root": root})).all()
    children: dict[uuid.UUID, list[tuple[uuid.UUID, Any]]] = defaultdict(list)
    for parent, child, pct in edges:
        children[parent].append((child, pct))

    def build(node: uuid.UUID, pct: Any, seen: frozenset[uuid.UUID]) -> GroupNode:
        kids = [build(c, p, seen | {c}) for c, p in children.get(node, []) if c not in seen]
        return GroupNode(party_id=node, ownership_pct=pct, children=kids)

    return build(root, None, frozenset({root}))


async def get_consents_as_of(session: AsyncSession, party_id: uuid.UUID, at: dt.datetime) -> list[Consent]:
    """Returns the consent decision in force at `at` for each purpose and channel the party has one for."""
    rows = (await session.execute(
        select(Consent).where(Consent.party_id == party_id, Consent.captured_at <= at)
        .ext(distinct_on(Consent.purpose, Consent.channel))
        .order_by(Consent.purpose, Consent.channel, Consent.captured_at.desc(), Consent.id.desc())
    )).scalars().all()
    return [c for c in rows if c.expires_at is None or c.expires_at > at]


async def list_consent_history(session: AsyncSession, party_id: uuid.UUID) -> list[Consent]:
    """Returns every consent decision of a party, newest first."""
    return list((await session.execute(
        select(Consent).where(Consent.party_id == party_id).order_by(Consent.captured_at.desc(), Consent.id.desc())
    )).scalars())
