"""Helpers shared by the corporate lending use cases: locking, visibility, idempotent replays."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypeVar

from sqlalchemy import select

from shared.db import UnitOfWork
from shared.errors import NotFound
from shared.graphql import parse_uuid

M = TypeVar("M")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def visible(scope: frozenset[str] | None, party_id: uuid.UUID | None) -> bool:
    """True when the caller (None = staff) may see records of that party."""
    return scope is None or (party_id is not None and str(party_id) in scope)


async def lock(uow: UnitOfWork, model: type[M], raw_id: str | uuid.UUID, field: str,
               scope: frozenset[str] | None = None) -> M:
    """Loads a row FOR UPDATE; missing and not-visible look the same."""
    rid = raw_id if isinstance(raw_id, uuid.UUID) else parse_uuid(raw_id, field=field)
    stmt = select(model).where(model.id == rid).with_for_update()  # type: ignore[attr-defined]
    row = (await uow.session.execute(stmt)).scalar_one_or_none()
    if row is None or not visible(scope, getattr(row, "borrower_party_id", None)):
        raise NotFound(f"{model.__name__} {rid} does not exist.")
    return row


async def replayed(uow: UnitOfWork, operation: str, key: str | None, request: Any, model: type[M]) -> M | None:
    """Claims the idempotency key; on a replay returns the stored row (detached, readable after rollback)."""
    prior = await uow.claim_idempotency(operation, key, request)
    if prior is None:
        return None
    row = await uow.session.get(model, uuid.UUID(prior["id"]))
    if row is not None:
        uow.session.expunge(row)
    return row
