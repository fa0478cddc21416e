"""Helpers every party use case shares: idempotent replay, locking the party row, conflicts."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared import access
from shared.db import UnitOfWork
from shared.errors import Conflict, NotFound
from shared.graphql import parse_uuid
from subgraphs.party.models import (
    Party,
)

HIERARCHY_LOCK = 0x5041525459  # one advisory lock serialises group-hierarchy changes (cycle checks)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def lock_party(uow: UnitOfWork, party_id: str | uuid.UUID, missing: NotFound | None = None) -> Party:
    """Locks the party a command changes; one the caller may not write raises what a missing one does.

    `missing` is the NotFound of the record the command was addressed by (an identifier, an agreement, ...),
    so another portfolio's record answers exactly like an absent one.
    """
    pid = party_id if isinstance(party_id, uuid.UUID) else parse_uuid(party_id, field="partyId")
    missing = missing or NotFound(f"Party {pid} does not exist.", party_id=str(pid))
    party = (await uow.session.execute(select(Party).where(Party.id == pid).with_for_update())).scalar_one_or_none()
    if party is None:
        raise missing
    await access.require_party(uow, party.id, missing)
    return party


async def flush_or_conflict(uow: UnitOfWork, conflict: str) -> None:
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Conflict(conflict) from None
