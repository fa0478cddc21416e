"""Corporate lending's end of day: overdue instalments and the due collections, once per business date."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import RequestContext, UnitOfWork
from shared.eod import Summary, claim
from shared.events import Actor
from subgraphs.corporate_lending.collections import collect_due
from subgraphs.corporate_lending.models import EodRun


async def run_eod(sessions: async_sessionmaker[AsyncSession], as_of: dt.date) -> Summary | None:
    """Raises InstallmentOverdue and requests what is due on every active drawdown; None when the date has run."""
    uow = UnitOfWork(sessions, RequestContext(actor=Actor.system("corporate_lending-eod"),
                                              correlation_id=f"eod-corporate_lending-{as_of.isoformat()}"))
    async with uow:
        if not await claim(uow.session, EodRun, as_of):
            return None
        overdue, requested = await collect_due(uow, as_of=as_of)
        summary = {"installments_overdue": overdue, "collections_requested": requested}
        await uow.session.execute(update(EodRun).where(EodRun.business_date == as_of).values(summary=summary))
        await uow.commit()
    return summary
