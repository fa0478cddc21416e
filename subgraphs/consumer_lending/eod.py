"""Consumer lending's end of day: delinquency ageing and the due collections, once per business date."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import RequestContext, UnitOfWork
from shared.eod import Summary, claim
from shared.events import Actor
from subgraphs.consumer_lending.collections import collect_due
from subgraphs.consumer_lending.models import EodRun


async def run_eod(sessions: async_sessionmaker[AsyncSession], as_of: dt.date) -> Summary | None:
    """Ages every active loan and requests what is due on it; None when the date has run."""
    uow = UnitOfWork(sessions, RequestContext(actor=Actor.system("consumer_lending-eod"),
                                              correlation_id=f"eod-consumer_lending-{as_of.isoformat()}"))
    async with uow:
        if not await claim(uow.session, EodRun, as_of):
            return None
        moved, requested = await collect_due(uow, as_of=as_of)
        summary = {"loans_changed_bucket": moved, "collections_requested": requested}
        await uow.session.execute(update(EodRun).where(EodRun.business_date == as_of).values(summary=summary))
        await uow.commit()
    return summary
