"""Covenant compliance: tests per period → PASS or BREACH; a breach suspends drawdowns until waived or cured."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from shared.db import UnitOfWork
from shared.errors import FourEyesRequired, InputError, NotFound
from shared.validation import reason as check_reason
from shared.validation import text
from subgraphs.corporate_lending import events
from subgraphs.corporate_lending.common import lock, now
from subgraphs.corporate_lending.facilities import move, open_breaches
from subgraphs.corporate_lending.models import (
    Covenant,
    CovenantStatus,
    CovenantTest,
    Facility,
    FacilityStatus,
    Operator,
    check,
)


def passes(operator: Operator, actual: Decimal, threshold: Decimal) -> bool:
    return actual <= threshold if operator is Operator.LTE else actual >= threshold


async def _reinstate_if_clear(uow: UnitOfWork, f: Facility, reason: str) -> None:
    if f.status == FacilityStatus.SUSPENDED and not await open_breaches(uow, f.id):
        await move(uow, f, FacilityStatus.AVAILABLE, reason)


async def submit_compliance(uow: UnitOfWork, *, covenant_id: str, period_end: dt.date, actual_value: Decimal,
                            evidence_ref: str | None) -> CovenantTest:
    """Records a compliance certificate; a breach suspends the facility, a pass cures an open breach."""
    evidence = text(evidence_ref, field="evidenceRef", max_length=200, required=False)
    if not actual_value.is_finite():
        raise InputError("actualValue must be a finite number.", field="actualValue")
    if period_end > now().date():
        raise InputError("periodEnd is in the future.", field="periodEnd")
    async with uow:
        c = await lock(uow, Covenant, covenant_id, "covenantId")
        f = await lock(uow, Facility, c.facility_id, "facilityId")
        ok = passes(Operator(c.operator), actual_value, c.threshold)
        test = CovenantTest(id=uuid.uuid4(), covenant_id=c.id, period_end=period_end, actual_value=actual_value,
                            result="PASS" if ok else "BREACH", evidence_ref=evidence,
                            submitted_by=uow.context.actor.sub)
        uow.session.add(test)
        ids = {"covenant_id": str(c.id), "facility_id": str(c.facility_id)}
        await uow.emit(events.CovenantTested(**ids, test_id=str(test.id), period_end=period_end.isoformat(),
                                             actual_value=str(actual_value), result=test.result),
                       aggregate_id=c.id, aggregate_version=c.touch())
        if not ok:
            c.status, c.pending_waiver, c.waiver_expires_on = CovenantStatus.BREACHED.value, None, None
            await uow.emit(events.CovenantBreached(**ids, metric=c.metric, threshold=str(c.threshold),
                                                   actual_value=str(actual_value)),
                           aggregate_id=c.id, aggregate_version=c.touch())
            if f.status == FacilityStatus.AVAILABLE:
                await move(uow, f, FacilityStatus.SUSPENDED, f"covenant {c.metric} breached")
        elif c.status == CovenantStatus.BREACHED:
            c.status = CovenantStatus.ACTIVE.value
            await uow.emit(events.CovenantCured(**ids, test_id=str(test.id)),
                           aggregate_id=c.id, aggregate_version=c.touch())
            await uow.session.flush()
            await _reinstate_if_clear(uow, f, f"covenant {c.metric} cured")
        await uow.commit()
        return test


async def request_waiver(uow: UnitOfWork, *, covenant_id: str, reason: str, expires_on: dt.date) -> Covenant:
    """Proposes a waiver of a breach (maker): a reason and an expiry are mandatory."""
    reason = check_reason(reason)
    if expires_on <= now().date():
        raise InputError("A waiver expires in the future.", field="expiresOn")
    async with uow:
        c = await lock(uow, Covenant, covenant_id, "covenantId")
        check(c.status, {CovenantStatus.BREACHED}, "request a waiver", "covenant")
        c.pending_waiver = {"reason": reason, "expires_on": expires_on.isoformat(),
                            "requested_by": uow.context.actor.sub}
        await uow.emit(events.CovenantWaiverRequested(covenant_id=str(c.id), facility_id=str(c.facility_id),
                                                      requested_by=uow.context.actor.sub,
                                                      expires_on=expires_on.isoformat()),
                       aggregate_id=c.id, aggregate_version=c.touch(), reason=reason)
        await uow.commit()
        return c


async def approve_waiver(uow: UnitOfWork, *, covenant_id: str) -> Covenant:
    """Grants a requested waiver (checker ≠ maker); drawdowns resume when no other breach is open."""
    async with uow:
        c = await lock(uow, Covenant, covenant_id, "covenantId")
        check(c.status, {CovenantStatus.BREACHED}, "approve a waiver", "covenant")
        pending = c.pending_waiver
        if not pending:
            raise NotFound(f"Covenant {c.id} has no waiver awaiting approval.")
        if pending["requested_by"] == uow.context.actor.sub:
            raise FourEyesRequired("A waiver must be approved by someone other than who requested it.")
        f = await lock(uow, Facility, c.facility_id, "facilityId")
        c.status, c.pending_waiver = CovenantStatus.WAIVED.value, None
        c.waiver_expires_on = dt.date.fromisoformat(pending["expires_on"])
        await uow.emit(events.CovenantWaived(covenant_id=str(c.id), facility_id=str(c.facility_id),
                                             requested_by=pending["requested_by"],
                                             approved_by=uow.context.actor.sub, expires_on=pending["expires_on"]),
                       aggregate_id=c.id, aggregate_version=c.touch(), reason=pending["reason"])
        await uow.session.flush()
        await _reinstate_if_clear(uow, f, f"covenant {c.metric} waived")
        await uow.commit()
        return c
