"""Party use cases against the real database: the lifecycle matrix, groups, roles, consents and outbox rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from shared.db import UnitOfWork, outbox_table
from shared.errors import Conflict, InputError, InvalidTransition, NotFound
from subgraphs.party import events, service
from subgraphs.party.commands import (
    AssignContactRole,
    GrantEntitlement,
    IdentifierData,
    LinkParties,
    PartyDetailsChanges,
    RecordConsent,
    RegisterParty,
)
from subgraphs.party.models import (
    TRANSITIONS,
    ConsentChannel,
    ConsentDecision,
    ConsentPurpose,
    ContactRoleType,
    LifecycleAction,
    PartyStatus,
    PartyType,
    RelationshipType,
)
from subgraphs.party.queries import get_consents_as_of, get_group_tree
from tests.subgraphs.party.conftest import counts

# The shortest legal path from registration (PROSPECT) to each status.
PATH_TO = {
    PartyStatus.PROSPECT: [],
    PartyStatus.PENDING_VERIFICATION: [LifecycleAction.SUBMIT_FOR_VERIFICATION],
    PartyStatus.ACTIVE: [LifecycleAction.SUBMIT_FOR_VERIFICATION, LifecycleAction.ACTIVATE],
    PartyStatus.RESTRICTED: [LifecycleAction.SUBMIT_FOR_VERIFICATION, LifecycleAction.ACTIVATE,
                             LifecycleAction.RESTRICT],
    PartyStatus.CLOSED: [LifecycleAction.SUBMIT_FOR_VERIFICATION, LifecycleAction.ACTIVATE, LifecycleAction.CLOSE],
    PartyStatus.REJECTED: [LifecycleAction.SUBMIT_FOR_VERIFICATION, LifecycleAction.REJECT],
}


async def new_party(uow: UnitOfWork, kind: PartyType = PartyType.ORGANISATION, name: str | None = None) -> str:
    data = RegisterParty(party_type=kind, legal_name=name or f"Party {uuid.uuid4().hex[:8]}")
    return str((await service.register_party(uow, data=data, idempotency_key=uuid.uuid4().hex)).id)


async def party_in(uow: UnitOfWork, status: PartyStatus) -> str:
    party_id = await new_party(uow)
    for action in PATH_TO[status]:
        await service.change_party_status(uow, party_id=party_id, action=action, reason="test path")
    return party_id


MATRIX = [(s, a) for s in PartyStatus for a in LifecycleAction]


@pytest.mark.parametrize(("status", "action"), MATRIX, ids=[f"{s.value}-{a.value}" for s, a in MATRIX])
async def test_lifecycle_matrix(uow: UnitOfWork, sessions, status: PartyStatus, action: LifecycleAction) -> None:
    party_id = await party_in(uow, status)
    target = TRANSITIONS.get((status, action))
    before = await counts(sessions)
    if target is None:
        with pytest.raises(InvalidTransition):
            await service.change_party_status(uow, party_id=party_id, action=action, reason="try")
        assert await counts(sessions) == before
        return
    party = await service.change_party_status(uow, party_id=party_id, action=action, reason="try")
    assert party.status == target.value
    assert await counts(sessions) == (before[0], before[1] + 1)
    async with sessions() as session:
        row = (await session.execute(select(outbox_table).order_by(outbox_table.c.id.desc()).limit(1))).one()
    assert row.nats_subject == "finpace.party.party.status_changed"
    assert row.envelope["data"]["before"] == {"status": status.value}
    assert row.envelope["data"]["after"] == {"status": target.value}
    assert row.envelope["reason"] == "try"
    assert row.aggregate_version == party.version


def test_every_status_is_reachable_and_the_matrix_is_the_documented_one() -> None:
    assert set(PATH_TO) == set(PartyStatus)
    assert len(TRANSITIONS) == 8


async def test_transition_needs_a_reason(uow: UnitOfWork, sessions) -> None:
    party_id = await new_party(uow)
    before = await counts(sessions)
    with pytest.raises(InputError):
        await service.change_party_status(uow, party_id=party_id, action=LifecycleAction.SUBMIT_FOR_VERIFICATION,
                                          reason=" ")
    assert await counts(sessions) == before


async def test_rollback_after_emit_leaves_no_outbox_row(uow: UnitOfWork, sessions) -> None:
    before = await counts(sessions)

    class Boom(Exception):
        pass

    async def emit_then_fail() -> None:
        async with uow:
            await uow.emit(events.PartyDetailsChanged(party_id=str(uuid.uuid4()), changed_fields=["x"]),
                           aggregate_id=uuid.uuid4(), aggregate_version=1)
            raise Boom

    with pytest.raises(Boom):
        await emit_then_fail()
    assert await counts(sessions) == before


async def test_details_change_records_before_and_after(uow: UnitOfWork, sessions) -> None:
    party_id = await new_party(uow, name="Old Name Ltd")
    party = await service.update_party_details(uow, party_id=party_id, reason="renamed at Companies House",
                                               changes=PartyDetailsChanges(legal_name="New Name Ltd", segment="SME"))
    assert party.legal_name == "New Name Ltd"
    async with sessions() as session:
        row = (await session.execute(select(outbox_table).order_by(outbox_table.c.id.desc()).limit(1))).one()
    assert row.envelope["data"]["changed_fields"] == ["legal_name", "segment"]
    assert row.envelope["data"]["before"]["legal_name"] == "Old Name Ltd"
    assert row.envelope["data"]["after"]["legal_name"] == "New Name Ltd"


async def test_group_cycles_are_refused_and_the_tree_is_whole(uow: UnitOfWork, sessions) -> None:
    # A owns B and C; C owns D. Linking D (or B) as parent of A would close a loop.
    a, b, c, d = [await new_party(uow) for _ in range(4)]

    async def link(parent: str, child: str, pct: str | None = "60") -> None:
        await service.link_parties(uow, reason="group", idempotency_key=uuid.uuid4().hex, data=LinkParties(
            from_party_id=parent, to_party_id=child, relationship_type=RelationshipType.PARENT_OF,
            ownership_pct=Decimal(pct) if pct else None))

    await link(a, b)
    await link(a, c)
    await link(c, d)
    before = await counts(sessions)
    for parent, child in [(d, a), (b, a), (d, c)]:
        with pytest.raises(Conflict, match="cycle"):
            await link(parent, child)
    with pytest.raises(InputError):
        await link(a, a)
    assert await counts(sessions) == before
    async with sessions() as session:
        tree = await get_group_tree(session, uuid.UUID(d))
    assert tree is not None and str(tree.party_id) == a
    assert sorted(str(n.party_id) for n in tree.children) == sorted([b, c])
    c_node = next(n for n in tree.children if str(n.party_id) == c)
    assert [str(n.party_id) for n in c_node.children] == [d]
    assert c_node.ownership_pct == Decimal("60")


async def test_ownership_above_100_percent_is_refused(uow: UnitOfWork) -> None:
    a, b, child = [await new_party(uow) for _ in range(3)]
    await service.link_parties(uow, reason="r", idempotency_key=uuid.uuid4().hex, data=LinkParties(
        from_party_id=a, to_party_id=child, relationship_type=RelationshipType.PARENT_OF, ownership_pct=Decimal(70)))
    with pytest.raises(Conflict, match="exceed 100"):
        await service.link_parties(uow, reason="r", idempotency_key=uuid.uuid4().hex, data=LinkParties(
            from_party_id=b, to_party_id=child, relationship_type=RelationshipType.PARENT_OF,
            ownership_pct=Decimal(31)))


async def test_concurrent_cross_links_cannot_both_succeed(uow: UnitOfWork, sessions) -> None:
    # Two requests racing to link X→Y and Y→X: the hierarchy lock lets exactly one through.
    x, y = await new_party(uow), await new_party(uow)

    async def attempt(parent: str, child: str) -> bool:
        try:
            await service.link_parties(UnitOfWork(sessions, uow.context), reason="r",
                                       idempotency_key=uuid.uuid4().hex, data=LinkParties(
                from_party_id=parent, to_party_id=child, relationship_type=RelationshipType.PARENT_OF))
        except Conflict:
            return False
        return True

    results = await asyncio.gather(attempt(x, y), attempt(y, x))
    assert sorted(results) == [False, True]


async def test_consents_as_of_a_time(uow: UnitOfWork, sessions) -> None:
    party_id = await new_party(uow)

    async def record(decision: ConsentDecision, channel: ConsentChannel = ConsentChannel.EMAIL) -> dt.datetime:
        consent = await service.record_consent(uow, idempotency_key=uuid.uuid4().hex, data=RecordConsent(
            party_id=party_id, purpose=ConsentPurpose.MARKETING, channel=channel, decision=decision,
            notice_version="v1"))
        await asyncio.sleep(0.01)
        return consent.captured_at

    t_granted = await record(ConsentDecision.GRANTED)
    t_sms = await record(ConsentDecision.REFUSED, ConsentChannel.SMS)
    t_withdrawn = await record(ConsentDecision.WITHDRAWN)
    pid = uuid.UUID(party_id)
    async with sessions() as session:
        before_any = await get_consents_as_of(session, pid, t_granted - dt.timedelta(seconds=1))
        at_grant = await get_consents_as_of(session, pid, t_sms - dt.timedelta(microseconds=1))
        after_sms = await get_consents_as_of(session, pid, t_sms)
        now = await get_consents_as_of(session, pid, t_withdrawn + dt.timedelta(seconds=1))
    assert before_any == []
    assert [(c.channel, c.decision) for c in at_grant] == [("EMAIL", "GRANTED")]
    assert sorted((c.channel, c.decision) for c in after_sms) == [("EMAIL", "GRANTED"), ("SMS", "REFUSED")]
    assert sorted((c.channel, c.decision) for c in now) == [("EMAIL", "WITHDRAWN"), ("SMS", "REFUSED")]
    withdrawn = next(c for c in now if c.channel == "EMAIL")
    assert withdrawn.supersedes_id is not None  # history is kept, nothing is overwritten


async def test_expired_consent_is_not_in_force(uow: UnitOfWork, sessions) -> None:
    party_id = await new_party(uow)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    await service.record_consent(uow, idempotency_key=uuid.uuid4().hex, data=RecordConsent(
        party_id=party_id, purpose=ConsentPurpose.PROFILING, channel=ConsentChannel.ALL,
        decision=ConsentDecision.GRANTED, notice_version="v2", expires_at=expires))
    async with sessions() as session:
        assert len(await get_consents_as_of(session, uuid.UUID(party_id), expires - dt.timedelta(days=1))) == 1
        assert await get_consents_as_of(session, uuid.UUID(party_id), expires + dt.timedelta(seconds=1)) == []


async def test_identifiers_unique_and_one_active_per_type(uow: UnitOfWork) -> None:
    p1, p2 = await new_party(uow), await new_party(uow)
    value = uuid.uuid4().hex[:10]
    first = await service.add_identifier(uow, party_id=p1, idempotency_key=uuid.uuid4().hex,
                                         data=IdentifierData(identifier_type="lei", value=value))
    assert first.identifier_type == "LEI"
    with pytest.raises(Conflict):
        await service.add_identifier(uow, party_id=p2, idempotency_key=uuid.uuid4().hex,
                                     data=IdentifierData(identifier_type="LEI", value=value))
    with pytest.raises(Conflict, match="active"):
        await service.add_identifier(uow, party_id=p1, idempotency_key=uuid.uuid4().hex,
                                     data=IdentifierData(identifier_type="LEI", value=value + "X"))
    await service.deactivate_identifier(uow, identifier_id=str(first.id), reason="lapsed")
    renewed = await service.add_identifier(uow, party_id=p1, idempotency_key=uuid.uuid4().hex,
                                           data=IdentifierData(identifier_type="LEI", value=value + "X"))
    assert renewed.status == "ACTIVE"


async def test_contact_roles_need_an_organisation_and_a_person(uow: UnitOfWork) -> None:
    org, person = await new_party(uow), await new_party(uow, PartyType.PERSON)
    role = await service.assign_contact_role(uow, idempotency_key=uuid.uuid4().hex, data=AssignContactRole(
        organisation_party_id=org, person_party_id=person, role=ContactRoleType.DIRECTOR,
        valid_from=dt.date(2025, 1, 1)))
    assert role.role == "DIRECTOR"
    with pytest.raises(Conflict):
        await service.assign_contact_role(uow, idempotency_key=uuid.uuid4().hex, data=AssignContactRole(
            organisation_party_id=person, person_party_id=org, role=ContactRoleType.UBO,
            valid_from=dt.date(2025, 1, 1)))
    await service.revoke_contact_role(uow, contact_role_id=str(role.id), reason="resigned")
    with pytest.raises(InvalidTransition):
        await service.revoke_contact_role(uow, contact_role_id=str(role.id), reason="again")


async def test_rm_assignment_keeps_history(uow: UnitOfWork, sessions) -> None:
    party_id = await new_party(uow)
    for rm in ("rm-1", "rm-2", "rm-3"):
        await service.assign_relationship_manager(uow, party_id=party_id, rm_id=rm, reason="portfolio move")
    from subgraphs.party.models import RmAssignment

    async with sessions() as session:
        rows = (await session.execute(select(RmAssignment).where(RmAssignment.party_id == uuid.UUID(party_id))
                                      .order_by(RmAssignment.assigned_at))).scalars().all()
    assert [r.rm_id for r in rows] == ["rm-1", "rm-2", "rm-3"]
    assert [r.ended_at is None for r in rows] == [False, False, True]


async def test_agreements_and_entitlements(uow: UnitOfWork) -> None:
    from subgraphs.party.models import AgreementStatus

    party_id = await new_party(uow)
    agreement = await service.offer_agreement(uow, party_id=party_id, agreement_type="MASTER", terms_version="2026.1",
                                              idempotency_key=uuid.uuid4().hex)
    signed = await service.change_agreement(uow, agreement_id=str(agreement.id), target=AgreementStatus.SIGNED,
                                            reason="wet signature received")
    assert signed.status == "SIGNED" and signed.signed_by == "tester"
    with pytest.raises(InvalidTransition):
        await service.change_agreement(uow, agreement_id=str(agreement.id), target=AgreementStatus.SIGNED,
                                       reason="again")
    grant = await service.grant_entitlement(uow, idempotency_key=uuid.uuid4().hex, data=GrantEntitlement(
        party_id=party_id, user_sub="user-7", permissions=("VIEW", "TRANSACT"), valid_from=dt.date(2026, 1, 1)))
    assert grant.permissions == ["TRANSACT", "VIEW"]
    with pytest.raises(InputError):
        GrantEntitlement(party_id=party_id, user_sub="u", permissions=("FLY",), valid_from=dt.date(2026, 1, 1))


async def test_unknown_party_is_not_found(uow: UnitOfWork) -> None:
    with pytest.raises(NotFound):
        await service.change_party_status(uow, party_id=str(uuid.uuid4()), action=LifecycleAction.ACTIVATE,
                                          reason="x")
