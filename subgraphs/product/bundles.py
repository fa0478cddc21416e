"""Bundle use cases: products sold together; every change emits BundleChanged."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from sqlalchemy import delete, select

from shared.db import UnitOfWork
from shared.errors import Conflict, InvalidTransition, NotFound
from shared.graphql import parse_uuid
from shared.validation import reason as check_reason
from subgraphs.product import events
from subgraphs.product.commands import BundleDefinition
from subgraphs.product.commands import code as check_code
from subgraphs.product.models import Bundle, BundleComponent, BundleStatus, Product
from subgraphs.product.service import flush_or_conflict


async def _check_components(uow: UnitOfWork, data: BundleDefinition) -> None:
    codes = [c.product_code for c in data.components]
    known = set((await uow.session.execute(select(Product.code).where(Product.code.in_(codes)))).scalars())
    missing = [c for c in codes if c not in known]
    if missing:
        raise NotFound(f"Bundle components {missing} are not product codes.")


def _components(bundle_id: uuid.UUID, data: BundleDefinition) -> list[BundleComponent]:
    return [BundleComponent(id=uuid.uuid4(), bundle_id=bundle_id, product_code=c.product_code, required=c.required,
                            position=i) for i, c in enumerate(data.components)]


def _bundle_event(bundle: Bundle, data: BundleDefinition, change: str) -> events.BundleChanged:
    return events.BundleChanged(bundle_id=str(bundle.id), code=bundle.code, change=change, status=bundle.status,
                                product_codes=[c.product_code for c in data.components])


async def create_bundle(uow: UnitOfWork, *, code: str, data: BundleDefinition, idempotency_key: str) -> Bundle:
    """Creates an ACTIVE bundle of product codes with an optional bundle price."""
    code = check_code(code, field="code")
    async with uow:
        request = {"code": code, **asdict(data)}
        if (prior := await uow.replayed("createBundle", idempotency_key, request, Bundle)) is not None:
            return prior
        if await uow.session.scalar(select(Bundle.id).where(Bundle.code == code)):
            raise Conflict(f"Bundle code '{code}' already exists.")
        await _check_components(uow, data)
        bundle = Bundle(id=uuid.uuid4(), code=code, name=data.name, description=data.description,
                        currency=data.currency, monthly_fee=data.monthly_fee,
                        eligible_segments=list(data.eligible_segments), status=BundleStatus.ACTIVE.value,
                        revision=1, created_by=uow.context.actor.sub)
        uow.session.add(bundle)
        await flush_or_conflict(uow, f"Bundle code '{code}' already exists.")
        uow.session.add_all(_components(bundle.id, data))
        await uow.emit(_bundle_event(bundle, data, "CREATED"), aggregate_id=bundle.id,
                       aggregate_version=bundle.revision, after=request)
        await uow.commit({"id": str(bundle.id)})
        return bundle


async def update_bundle(uow: UnitOfWork, *, bundle_id: str, data: BundleDefinition, reason: str) -> Bundle:
    """Replaces an ACTIVE bundle's components, price and eligibility."""
    reason = check_reason(reason)
    async with uow:
        bundle = await _lock_bundle(uow, bundle_id)
        if bundle.currency != data.currency:
            raise Conflict(f"Bundle {bundle.code} is priced in {bundle.currency}; its currency does not change.")
        await _check_components(uow, data)
        before = {"name": bundle.name, "monthly_fee": bundle.monthly_fee, "segments": list(bundle.eligible_segments)}
        bundle.name, bundle.description, bundle.monthly_fee = data.name, data.description, data.monthly_fee
        bundle.eligible_segments = list(data.eligible_segments)
        await uow.session.execute(delete(BundleComponent).where(BundleComponent.bundle_id == bundle.id))
        uow.session.add_all(_components(bundle.id, data))
        await uow.emit(_bundle_event(bundle, data, "UPDATED"), aggregate_id=bundle.id,
                       aggregate_version=bundle.touch(), reason=reason, before=before, after=asdict(data))
        await uow.commit()
        return bundle


async def retire_bundle(uow: UnitOfWork, *, bundle_id: str, reason: str) -> Bundle:
    """ACTIVE → RETIRED: the bundle is no longer offered."""
    reason = check_reason(reason)
    async with uow:
        bundle = await _lock_bundle(uow, bundle_id)
        bundle.status = BundleStatus.RETIRED.value
        codes = list((await uow.session.execute(select(BundleComponent.product_code).where(
            BundleComponent.bundle_id == bundle.id).order_by(BundleComponent.position))).scalars())
        await uow.emit(events.BundleChanged(bundle_id=str(bundle.id), code=bundle.code, change="RETIRED",
                                            status=bundle.status, product_codes=codes),
                       aggregate_id=bundle.id, aggregate_version=bundle.touch(), reason=reason,
                       before={"status": BundleStatus.ACTIVE.value}, after={"status": bundle.status})
        await uow.commit()
        return bundle


async def _lock_bundle(uow: UnitOfWork, bundle_id: str) -> Bundle:
    bid = parse_uuid(bundle_id, field="bundleId")
    bundle = (await uow.session.execute(select(Bundle).where(Bundle.id == bid).with_for_update())).scalar_one_or_none()
    if bundle is None:
        raise NotFound(f"Bundle {bid} does not exist.")
    if bundle.status != BundleStatus.ACTIVE:
        raise InvalidTransition(f"Bundle {bundle.code} is {bundle.status}; it cannot change.", status=bundle.status)
    return bundle
