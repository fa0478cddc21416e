"""Consumer lending's end of day: hardship ends, delinquency ageing and due collections, once per business date."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import RequestContext, UnitOfWork
from shared.eod import Summary, claim
from shared.events import Actor
from subgraphs.consumer_lending.collections import collect_due
from subgraphs.consumer_lending.models import EodRun
from subgraphs.consumer_lending.servicing import review_hardships


async def run_eod(sessions: async_sessionmaker[AsyncSession], as_of: dt.date) -> Summary | None:
    """Completes or breaks active hardship arrangements, ages every active loan and requests what is due on it;
    None when the date has run."""
    uow = UnitOfWork(sessions, RequestContext(actor=Actor.system("consumer_lending-eod"),
                                              correlation_id=f"eod-consumer_lending-{as_of.isoformat()}"))
    async with uow:
        if not await claim(uow.session, EodRun, as_of):
            return None
        completed, broken = await review_hardships(uow, as_of=as_of)
        moved, requested = await collect_due(uow, as_of=as_of)
        summary = {"hardships_completed": completed, "hardships_broken": broken,
                   "loans_changed_bucket": moved, "collections_requested": requested}
        await uow.session.execute(update(EodRun).where(EodRun.business_date == as_of).values(summary=summary))
        await uow.commit()
    return summary
