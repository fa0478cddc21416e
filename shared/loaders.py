"""Per-request DataLoaders over one domain's tables: N keys cost one SQL query."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def rows_by_id(sessions: async_sessionmaker[AsyncSession], model: Any) -> DataLoader:
    """Returns a loader of `model` rows by primary key `id` (None where missing)."""

    async def batch(ids: Sequence[uuid.UUID]) -> list[Any]:
        async with sessions() as session:
            rows = (await session.execute(select(model).where(model.id.in_(ids)))).scalars().all()
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    return DataLoader(batch)


def rows_by_parent(sessions: async_sessionmaker[AsyncSession], model: Any, column: Any, order: Any,
                   *conditions: Any) -> DataLoader:
    """Returns a loader of the `model` rows whose `column` equals each key (and meet `conditions`), by `order`."""

    async def batch(ids: Sequence[uuid.UUID]) -> list[list[Any]]:
        async with sessions() as session:
            query = select(model).where(column.in_(ids), *conditions).order_by(order)
            rows = (await session.execute(query)).scalars().all()
        grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
        for row in rows:
            grouped[getattr(row, column.key)].append(row)
        return [grouped.get(i, []) for i in ids]

    return DataLoader(batch)
