"""Helpers shared by the corporate lending use cases: locking, visibility, idempotent replays."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TypeVar

from shared.access import Scope, lock_visible
from shared.access import visible as visible
from shared.db import UnitOfWork

M = TypeVar("M")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def lock(uow: UnitOfWork, model: type[M], raw_id: str | uuid.UUID, field: str,
               scope: Scope | None = None) -> M:
    """Loads a row FOR UPDATE; missing and not-visible look the same (None: an internal caller)."""
    return await lock_visible(uow, model, raw_id, field=field, scope=scope, party_attr="borrower_party_id")


