"""Product use cases: one async function per command, each one transaction that writes its events to the outbox."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shared.db import UnitOfWork
from shared.errors import Conflict, FourEyesRequired, InputError, InvalidTransition, NotFound
from shared.graphql import parse_uuid
from shared.validation import reason as check_reason
from subgraphs.product import events
from subgraphs.product.commands import ChargeData, ProductDefinition, charges_of
from subgraphs.product.models import (
    OPEN,
    PUBLISHED,
    Product,
    ProductAction,
    ProductStatus,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _today() -> dt.date:
    return _now().date()


async def flush_or_conflict(uow: UnitOfWork, conflict: str) -> None:
    """Flushes pending rows, turning a unique-constraint violation into a typed Conflict."""
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Conflict(conflict) from None


async def _lock_product(uow: UnitOfWork, product_id: str | uuid.UUID) -> Product:
    pid = product_id if isinstance(product_id, uuid.UUID) else parse_uuid(product_id, field="productId")
    row = (await uow.session.execute(select(Product).where(Product.id == pid).with_for_update())).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Product {pid} does not exist.", product_id=str(pid))
    return row


def _ids(product: Product) -> dict[str, Any]:
    return {"product_id": str(product.id), "code": product.code, "version": product.version}


def _apply(product: Product, data: ProductDefinition) -> None:
    product.family, product.name, product.description = data.family.value, data.name, data.description
    product.currency, product.terms = data.currency, data.terms()
    product.eligible_segments = list(data.eligible_segments)


def _definition(product: Product) -> dict[str, Any]:
    return {"terms": product.terms, "family": product.family, "name": product.name,
            "description": product.description, "currency": product.currency,
            "eligible_segments": list(product.eligible_segments)}


def _charge_event(product: Product, before: tuple[ChargeData, ...],
                  after: tuple[ChargeData, ...]) -> events.ChargeDefinitionChanged | None:
    old, new = {c.code: c for c in before}, {c.code: c for c in after}
    added, removed = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
    changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    if not (added or removed or changed):
        return None
    return events.ChargeDefinitionChanged(product_id=str(product.id), code=product.code, version=product.version,
                                          added=added, removed=removed, changed=changed)


async def create_product_draft(uow: UnitOfWork, *, data: ProductDefinition, idempotency_key: str) -> Product:
    """Creates version 1 of a new product code as a DRAFT."""
    async with uow:
        if (prior := await uow.replayed("createProductDraft", idempotency_key, data, Product)) is not None:
            return prior
        if await uow.session.scalar(select(Product.id).where(Product.code == data.code).limit(1)):
            raise Conflict(f"Product code '{data.code}' already exists; use createProductVersion to change it.")
        product = Product(id=uuid.uuid4(), code=data.code, version=1, status=ProductStatus.DRAFT.value,
                          created_by=uow.context.actor.sub, revision=1)
        _apply(product, data)
        uow.session.add(product)
        await flush_or_conflict(uow, f"Product code '{data.code}' already exists.")
        await uow.emit(
            events.ProductDraftCreated(**_ids(product), family=product.family, currency=product.currency,
                                       supersedes_version=None),
            aggregate_id=product.id, aggregate_version=product.revision, after=product.snapshot(),
        )
        await uow.commit({"id": str(product.id)})
        return product


async def update_product_draft(uow: UnitOfWork, *, product_id: str, data: ProductDefinition, reason: str) -> Product:
    """Replaces the definition of a DRAFT version; any other state is immutable."""
    reason = check_reason(reason)
    async with uow:
        product = await _lock_product(uow, product_id)
        product.check_is_draft()
        if data.code != product.code:
            raise InputError(f"code '{data.code}' differs from the draft's code '{product.code}'; codes never change.",
                             field="code")
        if product.version > 1 and (data.family.value, data.currency) != (product.family, product.currency):
            raise Conflict(f"Product {product.code} keeps its family {product.family} and currency "
                           f"{product.currency} across versions.")
        before = _definition(product)
        old_charges = charges_of(product.terms)
        after = {"terms": data.terms(), "family": data.family.value, "name": data.name,
                 "description": data.description, "currency": data.currency,
                 "eligible_segments": list(data.eligible_segments)}
        changed = sorted(k for k in after if after[k] != before[k])
        if not changed:
            await uow.commit()  # nothing to write; committing keeps the row readable (a rollback expires it)
            return product
        _apply(product, data)
        await uow.emit(events.ProductDraftUpdated(**_ids(product), changed_fields=changed),
                       aggregate_id=product.id, aggregate_version=product.touch(), reason=reason,
                       before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
        if (charge_event := _charge_event(product, old_charges, data.charges)) is not None:
            await uow.emit(charge_event,
                           aggregate_id=product.id, aggregate_version=product.revision, reason=reason,
                           before=[asdict(c) for c in old_charges], after=product.terms["charges"])
        await uow.commit()
        return product


async def create_product_version(uow: UnitOfWork, *, product_id: str, idempotency_key: str) -> Product:
    """Starts the next version of a published product as a DRAFT copy of it."""
    async with uow:
        request = {"product_id": product_id}
        if (prior := await uow.replayed("createProductVersion", idempotency_key, request, Product)) is not None:
            return prior
        source = await _lock_product(uow, product_id)
        if source.status in OPEN:
            raise InvalidTransition(f"Product {source.code} v{source.version} is {source.status}; new versions start "
                                    "from a published version.", status=source.status)
        conflict = f"Product {source.code} already has an unpublished version; finish or reject it first."
        if await uow.session.scalar(select(Product.id).where(Product.code == source.code,
                                                             Product.status.in_([s.value for s in OPEN]))):
            raise Conflict(conflict)
        latest = int(await uow.session.scalar(select(func.max(Product.version)).where(Product.code == source.code))
                     or 0)
        product = Product(id=uuid.uuid4(), code=source.code, version=latest + 1, family=source.family,
                          name=source.name, description=source.description, currency=source.currency,
                          terms=source.terms, eligible_segments=list(source.eligible_segments),
                          status=ProductStatus.DRAFT.value, supersedes_version=source.version,
                          created_by=uow.context.actor.sub, revision=1)
        uow.session.add(product)
        await flush_or_conflict(uow, conflict)
        await uow.emit(
            events.ProductDraftCreated(**_ids(product), family=product.family, currency=product.currency,
                                       supersedes_version=source.version),
            aggregate_id=product.id, aggregate_version=product.revision, after=product.snapshot(),
        )
        await uow.commit({"id": str(product.id)})
        return product


async def _move(uow: UnitOfWork, product: Product, action: ProductAction, event: events.ProductEvent,
                reason: str) -> None:
    before = product.status
    product.status = product.check_transition(action).value
    await uow.emit(event, aggregate_id=product.id, aggregate_version=product.touch(), reason=reason,
                   before={"status": before}, after={"status": product.status})


def _check_four_eyes(product: Product, checker: str, what: str) -> None:
    if product.submitted_by == checker:
        raise FourEyesRequired(f"Product {product.code} v{product.version} was submitted by {checker}; "
                               f"a different person must {what} it.", submitted_by=checker)


async def submit_product_for_approval(uow: UnitOfWork, *, product_id: str, reason: str) -> Product:
    """DRAFT → PENDING_APPROVAL; the submitter is the maker and cannot approve."""
    reason = check_reason(reason)
    async with uow:
        product = await _lock_product(uow, product_id)
        product.check_transition(ProductAction.SUBMIT)
        product.submitted_by, product.submitted_at = uow.context.actor.sub, _now()
        await _move(uow, product, ProductAction.SUBMIT,
                    events.ProductSubmittedForApproval(**_ids(product), submitted_by=product.submitted_by), reason)
        await uow.commit()
        return product


async def approve_product_version(uow: UnitOfWork, *, product_id: str, reason: str) -> Product:
    """PENDING_APPROVAL → APPROVED, by someone other than the submitter (four eyes)."""
    reason = check_reason(reason)
    async with uow:
        product = await _lock_product(uow, product_id)
        product.check_transition(ProductAction.APPROVE)
        checker = uow.context.actor.sub
        _check_four_eyes(product, checker, "approve")
        product.approved_by, product.approved_at = checker, _now()
        await _move(uow, product, ProductAction.APPROVE,
                    events.ProductVersionApproved(**_ids(product), submitted_by=product.submitted_by or "",
                                                  approved_by=checker), reason)
        await uow.commit()
        return product


async def reject_product_version(uow: UnitOfWork, *, product_id: str, reason: str) -> Product:
    """PENDING_APPROVAL → DRAFT, by someone other than the submitter, with a mandatory reason."""
    reason = check_reason(reason)
    async with uow:
        product = await _lock_product(uow, product_id)
        product.check_transition(ProductAction.REJECT)
        checker = uow.context.actor.sub
        _check_four_eyes(product, checker, "reject")
        product.submitted_by, product.submitted_at = None, None
        await _move(uow, product, ProductAction.REJECT,
                    events.ProductApprovalRejected(**_ids(product), rejected_by=checker), reason)
        await uow.commit()
        return product


async def publish_product_version(uow: UnitOfWork, *, product_id: str, effective_from: dt.date,
                                  reason: str) -> Product:
    """APPROVED → ACTIVE: on sale from effective_from; the version it follows stops selling that day."""
    reason = check_reason(reason)
    async with uow:
        product = await _lock_product(uow, product_id)
        product.check_transition(ProductAction.PUBLISH)
        # Lock every published version of the code so two publications cannot cut the same window.
        published = list((await uow.session.execute(
            select(Product).where(Product.code == product.code, Product.status.in_([s.value for s in PUBLISHED]))
            .order_by(Product.effective_from.desc(), Product.version.desc()).with_for_update())).scalars())
        later = [p for p in published if p.effective_from is not None and p.effective_from >= effective_from]
        if later:
            raise Conflict(f"Product {product.code} v{later[0].version} is already effective from "
                           f"{later[0].effective_from}; v{product.version} must start after it.")
        # The version whose sale window the new one cuts is the one it supersedes (newest first).
        superseded: Product | None = None
        for previous in published:
            if previous.effective_to is None or previous.effective_to > effective_from:
                previous.effective_to = effective_from
                previous.touch()
                superseded = superseded or previous
        product.effective_from, product.published_at = effective_from, _now()
        await _move(uow, product, ProductAction.PUBLISH, events.ProductVersionPublished(
            **_ids(product), family=product.family, currency=product.currency,
            effective_from=effective_from.isoformat(), supersedes_version=superseded.version if superseded else None,
            superseded_product_id=str(superseded.id) if superseded else None, terms=product.terms), reason)
        if superseded is not None and (charge_event := _charge_event(
                product, charges_of(superseded.terms), charges_of(product.terms))) is not None:
            await uow.emit(charge_event,
                           aggregate_id=product.id, aggregate_version=product.revision, reason=reason,
                           before=superseded.terms["charges"], after=product.terms["charges"])
        await uow.commit()
        return product


async def withdraw_product(uow: UnitOfWork, *, product_id: str, effective_at: dt.date | None,
                           reason: str) -> Product:
    """ACTIVE → WITHDRAWN: no new sales from effective_at (today or later); existing contracts keep the version."""
    reason = check_reason(reason)
    at = effective_at or _today()
    if at < _today():
        raise InputError(f"effectiveAt {at.isoformat()} is in the past; a withdrawal cannot be back-dated.",
                         field="effectiveAt")
    async with uow:
        product = await _lock_product(uow, product_id)
        product.check_transition(ProductAction.WITHDRAW)
        if product.effective_to is None or product.effective_to > at:
            product.effective_to = at
        product.withdrawn_at = _now()
        await _move(uow, product, ProductAction.WITHDRAW,
                    events.ProductWithdrawn(**_ids(product), effective_at=product.effective_to.isoformat()), reason)
        await uow.commit()
        return product


async def retire_product(uow: UnitOfWork, *, product_id: str, reason: str) -> Product:
    """WITHDRAWN → RETIRED, once the withdrawal has taken effect."""
    reason = check_reason(reason)
    async with uow:
        product = await _lock_product(uow, product_id)
        product.check_transition(ProductAction.RETIRE)
        if product.effective_to is not None and product.effective_to > _today():
            raise InvalidTransition(f"Product {product.code} v{product.version} is on sale until "
                                    f"{product.effective_to}; retire it after that.", status=product.status)
        product.retired_at = _now()
        await _move(uow, product, ProductAction.RETIRE, events.ProductRetired(**_ids(product)), reason)
        await uow.commit()
        return product
