"""Consumer lending reads: per-request DataLoaders (one query per kind and request)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import Principal
from subgraphs.consumer_lending.models import Application, Contract, Decision, Hardship, Loan, Quote

STAFF_ROLES = ("rm", "ops", "admin", "auditor")


def scope_of(principal: Principal | None) -> frozenset[str] | None:
    """The parties a customer may see; None for staff (who see all)."""
    if principal is not None and principal.has_role(*STAFF_ROLES):
        return None
    return principal.party_ids if principal is not None else frozenset()


def _by_id(sessions: async_sessionmaker[AsyncSession], model: Any) -> DataLoader:
    async def batch(ids: Sequence[uuid.UUID]) -> list[Any]:
        async with sessions() as session:
            rows = (await session.execute(select(model).where(model.id.in_(ids)))).scalars().all()
        found = {r.id: r for r in rows}
        return [found.get(i) for i in ids]
    return DataLoader(batch)


def _children(sessions: async_sessionmaker[AsyncSession], model: Any, column: Any, order: Any) -> DataLoader:
    async def batch(ids: Sequence[uuid.UUID]) -> list[list[Any]]:
        async with sessions() as session:
            rows = (await session.execute(select(model).where(column.in_(ids)).order_by(order))).scalars().all()
        grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
        for r in rows:
            grouped[getattr(r, column.key)].append(r)
        return [grouped.get(i, []) for i in ids]
    return DataLoader(batch)


@dataclass
class ConsumerLendingLoaders:
    quotes: DataLoader
    applications: DataLoader
    loans: DataLoader
    hardships: DataLoader
    loans_by_party: DataLoader
    loans_by_application: DataLoader
    decisions_by_application: DataLoader
    contracts_by_application: DataLoader
    hardships_by_loan: DataLoader


def make_loaders(sessions: async_sessionmaker[AsyncSession], principal: Principal | None) -> ConsumerLendingLoaders:
    """Builds the loaders of one request."""
    return ConsumerLendingLoaders(
        quotes=_by_id(sessions, Quote), applications=_by_id(sessions, Application), loans=_by_id(sessions, Loan),
        hardships=_by_id(sessions, Hardship),
        loans_by_party=_children(sessions, Loan, Loan.party_id, Loan.created_at),
        loans_by_application=_children(sessions, Loan, Loan.application_id, Loan.created_at),
        decisions_by_application=_children(sessions, Decision, Decision.application_id, Decision.decided_at),
        contracts_by_application=_children(sessions, Contract, Contract.application_id, Contract.issued_at),
        hardships_by_loan=_children(sessions, Hardship, Hardship.loan_id, Hardship.created_at),
    )
