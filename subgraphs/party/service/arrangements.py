"""Arrangement use cases: agreements, entitlements and the consent ledger."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from shared.db import UnitOfWork
from shared.errors import InvalidTransition, NotFound
from shared.graphql import parse_uuid
from shared.validation import reason as check_reason
from subgraphs.party import events
from subgraphs.party.commands import (
    GrantEntitlement,
    RecordConsent,
)
from subgraphs.party.models import (
    Agreement,
    AgreementStatus,
    Consent,
    Entitlement,
    PartyStatus,
)
from subgraphs.party.service.common import lock_party, now


async def offer_agreement(uow: UnitOfWork, *, party_id: str, agreement_type: str, terms_version: str,
                          idempotency_key: str) -> Agreement:
    """Offers a customer agreement (OFFERED)."""
    async with uow:
        request = {"party_id": party_id, "type": agreement_type, "terms_version": terms_version}
        if (prior := await uow.replayed("offerAgreement", idempotency_key, request, Agreement)) is not None:
            return prior
        party = await lock_party(uow, party_id)
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
        missing = NotFound(f"Agreement {agreement_id} does not exist.")
        if agreement is None:
            raise missing
        party = await lock_party(uow, agreement.party_id, missing)
        agreement.check_can(target)
        before = agreement.status
        agreement.status = target.value
        event_type: type[events.AgreementEvent]
        if target == AgreementStatus.SIGNED:
            agreement.signed_at, agreement.signed_by = now(), uow.context.actor.sub
            event_type = events.AgreementSigned
        else:
            agreement.terminated_at = now()
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
        if (prior := await uow.replayed("grantEntitlement", idempotency_key, data, Entitlement)) is not None:
            return prior
        party = await lock_party(uow, data.party_id)
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
        missing = NotFound(f"Entitlement {entitlement_id} does not exist.")
        if entitlement is None:
            raise missing
        party = await lock_party(uow, entitlement.party_id, missing)
        if entitlement.revoked_at is not None:
            raise InvalidTransition(f"Entitlement {entitlement.id} is already revoked.")
        entitlement.revoked_at = now()
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
        if (prior := await uow.replayed("recordConsent", idempotency_key, data, Consent)) is not None:
            return prior
        party = await lock_party(uow, data.party_id)
        if party.status == PartyStatus.REJECTED:
            raise InvalidTransition(f"Party {party.id} is REJECTED; consents are not recorded.")
        previous = await uow.session.scalar(
            select(Consent).where(Consent.party_id == party.id, Consent.purpose == data.purpose.value,
                                  Consent.channel == data.channel.value)
            .order_by(Consent.captured_at.desc(), Consent.id.desc()).limit(1))
        consent = Consent(id=uuid.uuid4(), party_id=party.id, purpose=data.purpose.value, channel=data.channel.value,
                          decision=data.decision.value, notice_version=data.notice_version, source=data.source,
                          captured_by=uow.context.actor.sub, captured_at=now(), expires_at=data.expires_at,
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
