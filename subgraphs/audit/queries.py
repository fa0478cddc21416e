"""Audit reads: the filtered, keyset-paged audit trail shared by the GraphQL query and the extracts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import Principal
from subgraphs.audit.models import Evidence


@dataclass(frozen=True)
class TrailFilter:
    """Which entries an audit trail covers; every field is optional."""

    subject: str | None = None
    actor: str | None = None
    event_type: str | None = None
    occurred_from: dt.datetime | None = None
    occurred_to: dt.datetime | None = None

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        """Adds this filter's conditions to a select over Evidence."""
        if self.subject:
            stmt = stmt.where(Evidence.subject == self.subject)
        if self.actor:
            stmt = stmt.where(Evidence.actor_sub == self.actor)
        if self.event_type:
            stmt = stmt.where((Evidence.event_type == self.event_type) | (Evidence.nats_subject == self.event_type))
        if self.occurred_from:
            stmt = stmt.where(Evidence.occurred_at >= self.occurred_from)
        if self.occurred_to:
            stmt = stmt.where(Evidence.occurred_at < self.occurred_to)
        return stmt


async def trail_page(session: AsyncSession, trail: TrailFilter, *, first: int,
                     after_seq: int | None) -> tuple[list[Evidence], bool, int]:
    """Returns one page of entries in sequence order, whether more follow, and the filter's total count."""
    stmt = trail.apply(select(Evidence))
    if after_seq is not None:
        stmt = stmt.where(Evidence.sequence > after_seq)
    rows = list((await session.execute(stmt.order_by(Evidence.sequence).limit(first + 1))).scalars())
    total = int((await session.execute(trail.apply(select(func.count()).select_from(Evidence)))).scalar_one())
    return rows[:first], len(rows) > first, total


async def iter_trail(sessions: async_sessionmaker[AsyncSession], trail: TrailFilter,
                     batch: int = 2000) -> AsyncIterator[Evidence]:
    """Yields every entry the filter covers in sequence order, a batch at a time."""
    last = 0
    while True:
        async with sessions() as session:
            stmt = trail.apply(select(Evidence)).where(Evidence.sequence > last)
            rows = list((await session.execute(stmt.order_by(Evidence.sequence).limit(batch))).scalars())
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].sequence


async def count_trail(sessions: async_sessionmaker[AsyncSession], trail: TrailFilter) -> int:
    """Returns how many entries the filter covers."""
    async with sessions() as session:
        return int((await session.execute(trail.apply(select(func.count()).select_from(Evidence)))).scalar_one())


def make_loaders(sessions: async_sessionmaker[AsyncSession], principal: Principal | None,
                 access: Any = None) -> dict[str, Any]:
    """The audit subgraph has no federated entities to batch; no loaders."""
    return {}
