"""Corporate lending reads: per-request DataLoaders (one query per kind and request)."""

from __future__ import annotations

from dataclasses import dataclass

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.access import RequestAccess
from shared.auth import Principal
from shared.loaders import rows_by_id, rows_by_parent
from subgraphs.corporate_lending.models import (
    Covenant,
    CovenantTest,
    CreditApplication,
    Drawdown,
    Facility,
    Offer,
    Repayment,
)


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


def make_loaders(sessions: async_sessionmaker[AsyncSession], principal: Principal | None,
                 access: RequestAccess | None = None) -> CorporateLendingLoaders:
    """Builds the loaders of one request (rows unscoped: resolvers check shared.access's scope)."""
    return CorporateLendingLoaders(
        applications=rows_by_id(sessions, CreditApplication), offers=rows_by_id(sessions, Offer),
        facilities=rows_by_id(sessions, Facility), drawdowns=rows_by_id(sessions, Drawdown),
        covenants=rows_by_id(sessions, Covenant),
        offers_by_application=rows_by_parent(sessions, Offer, Offer.application_id, Offer.expires_at),
        facilities_by_party=rows_by_parent(sessions, Facility, Facility.borrower_party_id, Facility.created_at),
        drawdowns_by_facility=rows_by_parent(sessions, Drawdown, Drawdown.facility_id, Drawdown.created_at),
        covenants_by_facility=rows_by_parent(sessions, Covenant, Covenant.facility_id, Covenant.metric),
        tests_by_covenant=rows_by_parent(sessions, CovenantTest, CovenantTest.covenant_id, CovenantTest.submitted_at),
        repayments_by_drawdown=rows_by_parent(sessions, Repayment, Repayment.drawdown_id, Repayment.created_at),
    )
