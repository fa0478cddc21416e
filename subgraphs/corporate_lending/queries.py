"""Corporate lending reads: per-request DataLoaders (one query per kind and request)."""

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
from subgraphs.corporate_lending.models import (
    Covenant,
    CovenantTest,
    CreditApplication,
    Drawdown,
    Facility,
    Offer,
    Repayment,
)

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
class CorporateLendingLoaders:
    applications: DataLoader
    offers: DataLoader
    facilities: DataLoader
    drawdowns: DataLoader
    covenants: DataLoader
    offers_by_application: DataLoader
    facilities_by_party: DataLoader
    drawdowns_by_facility: DataLoader
    covenants_by_facility: DataLoader
    tests_by_covenant: DataLoader
    repayments_by_drawdown: DataLoader


def make_loaders(sessions: async_sessionmaker[AsyncSession],
                 principal: Principal | None) -> CorporateLendingLoaders:
    """Builds the loaders of one request."""
    return CorporateLendingLoaders(
        applications=_by_id(sessions, CreditApplication), offers=_by_id(sessions, Offer),
        facilities=_by_id(sessions, Facility), drawdowns=_by_id(sessions, Drawdown),
        covenants=_by_id(sessions, Covenant),
        offers_by_application=_children(sessions, Offer, Offer.application_id, Offer.expires_at),
        facilities_by_party=_children(sessions, Facility, Facility.borrower_party_id, Facility.created_at),
        drawdowns_by_facility=_children(sessions, Drawdown, Drawdown.facility_id, Drawdown.created_at),
        covenants_by_facility=_children(sessions, Covenant, Covenant.facility_id, Covenant.metric),
        tests_by_covenant=_children(sessions, CovenantTest, CovenantTest.covenant_id, CovenantTest.submitted_at),
        repayments_by_drawdown=_children(sessions, Repayment, Repayment.drawdown_id, Repayment.created_at),
    )
