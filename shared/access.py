"""Who sees what: the entitlement and RM-portfolio read model, fed by the party domain's events, and a caller's scope.

Every subgraph that holds customer data keeps the read model in its own database (the platform tables
`access_entitlements` and `access_portfolio`) through a durable consumer `<domain>-access` on
`FINPACE_PARTY`, and asks `scope(info)` (or `RequestAccess.scope()` inside its loaders) what the caller
may see. The rules (docs/security.md, "Who sees what"):

- customer: the parties it holds an entitlement for that is in force today (valid_from <= today <=
  valid_to, not revoked). The token's `party_ids` claim is not consulted: the read model is authoritative.
- rm: the parties whose current relationship manager is the token's `sub` (PartyRegistered's
  relationship_manager_id, then RelationshipManagerAssigned's to_rm_id). A group's subsidiaries belong
  to the portfolio only when they are assigned to that RM themselves (least privilege; RelationshipLinked
  grants nothing).
- ops, admin: every party. auditor: no customer data (audit only). partner: none. Roles add up.

Another party's record must answer exactly like a missing one: callers treat "not admitted" as "absent".
When a staff principal (rm, ops, admin) is admitted to a party, the read is noted for access evidence
(shared/access_evidence.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.db import access_entitlements_table as entitlements
from shared.db import access_portfolio_table as portfolio
from shared.errors import DomainError, NotFound
from shared.events import Envelope
from shared.graphql import parse_uuid

if TYPE_CHECKING:
    from shared.access_evidence import EvidenceRecorder

M = TypeVar("M")
PARTY_STREAM = "FINPACE_PARTY"
ALL_PARTIES_ROLES = ("ops", "admin")
STAFF_ROLES = ("rm", "ops", "admin")  # an admitted read by one of these is access evidence
ACCESS_EVENT_TYPES = frozenset(
    {"PartyRegistered", "RelationshipManagerAssigned", "EntitlementGranted", "EntitlementRevoked"}
)


def durable_for(domain: str) -> str:
    """The durable consumer name of a domain's access read model (nats/consumers/<domain>-access.json)."""
    return f"{domain}-access"


def access_subscriber(domain: str) -> Any:
    """The consumer that keeps a domain's read model: its `<domain>-access` durable on FINPACE_PARTY."""
    from shared.app import SubscriberSpec  # shared.app builds on this module

    return SubscriberSpec(stream=PARTY_STREAM, durable=durable_for(domain), handler=apply_access_event)


# -- the read model ----------------------------------------------------------------------------
def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


async def apply_access_event(session: AsyncSession, envelope: Envelope) -> None:
    """Applies one party event to the read model, inside the Subscriber's inbox transaction (once per event id).

    Out-of-order delivery is harmless: a revocation that arrives before its grant leaves a revoked row the
    grant does not reopen, and a portfolio row only moves to a higher party version.
    """
    d, kind = envelope.data, envelope.type
    if kind == "EntitlementGranted":
        values = {
            "user_sub": d["user_sub"],
            "party_id": uuid.UUID(d["party_id"]),
            "valid_from": _date(d["valid_from"]),
            "valid_to": _date(d.get("valid_to")),
        }
        await session.execute(
            pg_insert(entitlements)
            .values(entitlement_id=uuid.UUID(d["entitlement_id"]), **values)
            .on_conflict_do_update(index_elements=[entitlements.c.entitlement_id], set_=values)
        )
    elif kind == "EntitlementRevoked":
        await session.execute(
            pg_insert(entitlements)
            .values(
                entitlement_id=uuid.UUID(d["entitlement_id"]),
                user_sub=d["user_sub"],
                party_id=uuid.UUID(d["party_id"]),
                valid_from=envelope.occurred_at.date(),
                revoked_at=envelope.occurred_at,
            )
            .on_conflict_do_update(
                index_elements=[entitlements.c.entitlement_id], set_={"revoked_at": envelope.occurred_at}
            )
        )
    elif kind in ("RelationshipManagerAssigned", "PartyRegistered"):
        rm_id = d.get("to_rm_id") if kind == "RelationshipManagerAssigned" else d.get("relationship_manager_id")
        if not rm_id:
            return
        stmt = pg_insert(portfolio).values(
            party_id=uuid.UUID(d["party_id"]), rm_id=rm_id, party_version=envelope.aggregate_version
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[portfolio.c.party_id],
                set_={"rm_id": stmt.excluded.rm_id, "party_version": stmt.excluded.party_version},
                where=portfolio.c.party_version < stmt.excluded.party_version,
            )
        )


async def entitled_parties(session: AsyncSession, user_sub: str, today: dt.date | None = None) -> frozenset[str]:
    """The parties a user holds an entitlement for that is in force on `today` (default: today, UTC)."""
    day = today or dt.datetime.now(dt.UTC).date()
    rows = await session.execute(
        select(entitlements.c.party_id).where(
            entitlements.c.user_sub == user_sub,
            entitlements.c.revoked_at.is_(None),
            entitlements.c.valid_from <= day,
            or_(entitlements.c.valid_to.is_(None), entitlements.c.valid_to >= day),
        )
    )
    return frozenset(str(p) for p in rows.scalars())


async def portfolio_parties(session: AsyncSession, rm_id: str) -> frozenset[str]:
    """The parties whose current relationship manager is `rm_id`."""
    rows = await session.execute(select(portfolio.c.party_id).where(portfolio.c.rm_id == rm_id))
    return frozenset(str(p) for p in rows.scalars())


# -- the caller's scope ------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """The parties one caller may see in one request; `admits` is the only test domains apply."""

    everything: bool = False
    entitled: frozenset[str] = frozenset()
    portfolio: frozenset[str] = frozenset()
    request: RequestAccess | None = field(default=None, compare=False)

    def admits(self, party_id: Any) -> bool:
        """True when the caller may see records of the party; notes staff reads for access evidence."""
        if party_id is None:
            return False
        pid = str(party_id)
        if self.everything or pid in self.portfolio:
            if self.request is not None:
                self.request.note(pid)
            return True
        return pid in self.entitled

    def acts_for(self, party_id: Any) -> bool:
        """True when the caller is the party's own user (a customer entitlement), not staff acting on it."""
        return party_id is not None and str(party_id) in self.entitled

    def party_uuids(self) -> list[uuid.UUID] | None:
        """The visible party ids for an SQL filter, or None when every party is visible."""
        if self.everything:
            return None
        return sorted(uuid.UUID(p) for p in self.entitled | self.portfolio)


NOTHING = Scope()


async def resolve_scope(
    sessions: async_sessionmaker[AsyncSession] | None, principal: Principal | None, request: RequestAccess | None = None
) -> Scope:
    """Computes a caller's scope from its roles and the local read model (at most one database round trip)."""
    if principal is None:
        return NOTHING
    staff_request = request if principal.has_role(*STAFF_ROLES) else None
    if principal.has_role(*ALL_PARTIES_ROLES):
        return Scope(everything=True, request=staff_request)
    is_customer, is_rm = principal.has_role("customer"), principal.has_role("rm")
    if sessions is None or not (is_customer or is_rm):
        return NOTHING
    async with sessions() as session:
        entitled = await entitled_parties(session, principal.sub) if is_customer else frozenset()
        assigned = await portfolio_parties(session, principal.sub) if is_rm else frozenset()
    return Scope(entitled=entitled, portfolio=assigned, request=staff_request)


@dataclass
class RequestAccess:
    """One request's access state: the lazily resolved scope and the staff reads noted for evidence."""

    sessions: async_sessionmaker[AsyncSession] | None
    principal: Principal | None
    correlation_id: str = ""
    service: str = ""
    recorder: EvidenceRecorder | None = None
    operation: str | None = None
    noted: dict[str, None] = field(default_factory=dict)
    _scope: Scope | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def scope(self) -> Scope:
        """The caller's scope, resolved once per request however many resolvers ask."""
        if self._scope is None:
            async with self._lock:
                if self._scope is None:
                    self._scope = await resolve_scope(self.sessions, self.principal, self)
        return self._scope

    def note(self, party_id: str) -> None:
        """Remembers that a staff caller was admitted to the party (once per party and request)."""
        self.noted.setdefault(party_id)

    def flush(self) -> int:
        """Hands the noted reads to the evidence recorder without waiting; returns how many were handed over."""
        parties, self.noted = list(self.noted), {}
        if not parties or self.principal is None:
            return 0
        if self.recorder is None:
            from shared.access_evidence import count_dropped

            count_dropped(self.service, len(parties))
            return 0
        return self.recorder.record(
            self.principal, parties, operation=self.operation, correlation_id=self.correlation_id
        )


async def scope(info: Any) -> Scope:
    """The caller's scope in a resolver: `(await scope(info)).admits(party_id)`."""
    access: RequestAccess | None = getattr(info.context, "access", None)
    if access is None:
        return await resolve_scope(info.context.sessions, info.context.principal)
    return await access.scope()


async def require_party(uow: UnitOfWork, party_id: Any, missing: DomainError) -> None:
    """Raises `missing` (the very NotFound a missing record raises) unless the unit of work's caller may write
    records of the party: rm its portfolio, customer its entitlements (the mutation's role check decides whether
    a customer may call it at all), ops and admin every party, internal units of work (no caller) every party.

    Domains call it where they lock the party or the account a command changes, before anything is written, so
    a refusal rolls the whole transaction back: no business row, no outbox row, no idempotency key consumed.
    """
    if uow.caller_scope is not None and not (await uow.caller_scope()).admits(party_id):
        raise missing


def visible(scope: Scope | None, party_id: Any) -> bool:
    """True when the scope admits the party; None is an internal caller (a job, a saga) that sees every party."""
    return scope is None or scope.admits(party_id)


async def lock_visible(
    uow: UnitOfWork,
    model: type[M],
    raw_id: str | uuid.UUID,
    *,
    field: str,
    scope: Scope | None,
    party_attr: str = "party_id",
) -> M:
    """Loads a row FOR UPDATE; a row of a party outside the scope raises the same NotFound as a missing one."""
    rid = raw_id if isinstance(raw_id, uuid.UUID) else parse_uuid(raw_id, field=field)
    stmt = select(model).where(model.id == rid).with_for_update()  # type: ignore[attr-defined]
    row = (await uow.session.execute(stmt)).scalar_one_or_none()
    if row is None or not visible(scope, getattr(row, party_attr, None)):
        raise NotFound(f"{model.__name__} {rid} does not exist.")
    return row
