"""Decision policy administration: publish a new immutable policy version (rules as data)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UnitOfWork
from shared.errors import Conflict, InputError
from shared.money import check_currency
from shared.validation import reason as check_reason
from shared.validation import required_text
from subgraphs.consumer_lending import events
from subgraphs.consumer_lending.models import DecisionPolicy, Outcome


def _ratio(value: Any, field: str) -> str:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise InputError(f"{field} must be a decimal.", field=field) from None
    if not Decimal(0) < d <= Decimal(5):
        raise InputError(f"{field} must be above 0 and at most 5.", field=field)
    return str(d)


def validate_rules(rules: dict[str, Any]) -> dict[str, Any]:
    """Checks a policy's shape: contiguous score bands 0-999, ordered ratios, positive caps."""
    bands = sorted(rules.get("score_bands") or [], key=lambda b: b.get("min", -1))
    expected = 0
    for b in bands:
        if b.get("min") != expected or not isinstance(b.get("max"), int) or b["max"] < b["min"]:
            raise InputError("scoreBands must cover 0-999 without gaps or overlaps.", field="scoreBands")
        if b.get("outcome") not in {o.value for o in Outcome}:
            raise InputError("Each score band needs an outcome APPROVE, DECLINE or REFER.", field="scoreBands")
        if b["outcome"] != Outcome.APPROVE and not b.get("reason"):
            raise InputError("A DECLINE or REFER band needs a reason code.", field="scoreBands")
        expected = b["max"] + 1
    if expected != 1000:
        raise InputError("scoreBands must cover 0-999 without gaps or overlaps.", field="scoreBands")
    refer = _ratio(rules.get("refer_affordability_ratio"), "referAffordabilityRatio")
    decline = _ratio(rules.get("max_affordability_ratio"), "maxAffordabilityRatio")
    if Decimal(refer) > Decimal(decline):
        raise InputError("referAffordabilityRatio may not exceed maxAffordabilityRatio.",
                         field="referAffordabilityRatio")
    caps = {check_currency(c): str(Decimal(str(v))) for c, v in (rules.get("exposure_caps") or {}).items()}
    default_cap = str(Decimal(str(rules.get("default_exposure_cap", "0"))))
    if any(Decimal(v) <= 0 for v in [*caps.values(), default_cap]):
        raise InputError("Exposure caps must be positive.", field="exposureCaps")
    return {"score_bands": [{k: b.get(k) for k in ("min", "max", "outcome", "reason")} for b in bands],
            "refer_affordability_ratio": refer, "max_affordability_ratio": decline, "exposure_caps": caps,
            "default_exposure_cap": default_cap}


async def active_policy(session: AsyncSession) -> DecisionPolicy | None:
    """Returns the policy new applications are decided under."""
    stmt = select(DecisionPolicy).where(DecisionPolicy.active).order_by(DecisionPolicy.created_at.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def publish_policy(uow: UnitOfWork, *, version: str, rules: dict[str, Any], reason: str) -> DecisionPolicy:
    """Publishes a new policy version and makes it the active one (earlier versions stay for the record)."""
    version = required_text(version, field="version", max_length=32)
    reason = check_reason(reason)
    clean = validate_rules(rules)
    async with uow:
        if await uow.session.scalar(select(DecisionPolicy.version).where(DecisionPolicy.version == version)):
            raise Conflict(f"Policy version {version} already exists; published versions are immutable.")
        await uow.session.execute(update(DecisionPolicy).values(active=False))
        policy = DecisionPolicy(version=version, rules=clean, active=True)
        uow.session.add(policy)
        await uow.emit(events.DecisionPolicyPublished(policy_version=version, rules=clean),
                       aggregate_id=version, aggregate_version=1, reason=reason)
        await uow.commit()
        return policy
