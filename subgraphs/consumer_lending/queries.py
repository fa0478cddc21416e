"""Consumer lending reads: per-request DataLoaders (one query per kind and request)."""

from __future__ import annotations

from dataclasses import dataclass

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.access import RequestAccess
from shared.auth import Principal
from shared.loaders import rows_by_id, rows_by_parent
from subgraphs.consumer_lending.models import Application, Contract, Decision, Hardship, Loan, Quote


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


def make_loaders(sessions: async_sessionmaker[AsyncSession], principal: Principal | None,
                 access: RequestAccess | None = None) -> ConsumerLendingLoaders:
    """Builds the loaders of one request (rows unscoped: resolvers check shared.access's scope)."""
    return ConsumerLendingLoaders(
        quotes=rows_by_id(sessions, Quote), applications=rows_by_id(sessions, Application),
        loans=rows_by_id(sessions, Loan),
        hardships=rows_by_id(sessions, Hardship),
        loans_by_party=rows_by_parent(sessions, Loan, Loan.party_id, Loan.created_at),
        loans_by_application=rows_by_parent(sessions, Loan, Loan.application_id, Loan.created_at),
        decisions_by_application=rows_by_parent(sessions, Decision, Decision.application_id, Decision.decided_at),
        contracts_by_application=rows_by_parent(sessions, Contract, Contract.application_id, Contract.issued_at),
        hardships_by_loan=rows_by_parent(sessions, Hardship, Hardship.loan_id, Hardship.created_at),
    )
