"""Scheduled end-of-day jobs: once per business date, on a timer in the app and from the CLI, safe with replicas.

A domain provides `run(sessions, as_of) -> summary | None` that claims the business date first (an `eod_runs`
row with the date as its primary key, inserted in the same transaction as the day's work): a second run for
the same date, or a second replica racing the first, finds the row and does nothing (the insert of a
concurrent transaction waits for the first one's commit, then conflicts). The timer runs the latest business
date whose cut-off has passed; the CLI runs any date.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import click
import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker

log = structlog.get_logger(__name__)

Summary = dict[str, int]
Run = Callable[[async_sessionmaker[AsyncSession], dt.date], Awaitable[Summary | None]]


class EodSettings(BaseSettings):
    """FINPACE_EOD_ENABLED, FINPACE_EOD_CUTOFF (HH:MM, UTC) and FINPACE_EOD_INTERVAL_SECONDS."""

    model_config = SettingsConfigDict(env_prefix="FINPACE_EOD_", env_file=None, extra="ignore")
    enabled: bool = True
    cutoff: dt.time = dt.time(22, 0)
    interval_seconds: float = Field(default=300.0, gt=0)


def business_date(now: dt.datetime, cutoff: dt.time) -> dt.date:
    """The latest business date whose end of day is due: today once past the cut-off, else yesterday."""
    utc = now.astimezone(dt.UTC)
    return utc.date() if utc.time() >= cutoff else utc.date() - dt.timedelta(days=1)


async def claim(session: AsyncSession, model: Any, as_of: dt.date) -> bool:
    """Inserts the business date's eod_runs row; False when that date has run (or is running) already."""
    stmt = pg_insert(model).values(business_date=as_of, summary={}).on_conflict_do_nothing()
    return bool((await session.execute(stmt.returning(model.business_date))).scalar())


async def run_periodically(run: Run, sessions: async_sessionmaker[AsyncSession], *, domain: str,
                           settings: EodSettings | None = None,
                           clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
    """The app's end-of-day timer: every interval, runs the due business date (a no-op once it has run)."""
    config = settings or EodSettings()
    while True:
        as_of = business_date(clock(), config.cutoff)
        try:
            summary = await run(sessions, as_of)
            if summary is not None:
                log.info("eod_completed", domain=domain, business_date=as_of.isoformat(), **summary)
        except Exception:
            log.exception("eod_failed", domain=domain, business_date=as_of.isoformat())
        await asyncio.sleep(config.interval_seconds)


def scheduled(run: Run, domain: str) -> Callable[[async_sessionmaker[AsyncSession]], Awaitable[None]] | None:
    """The background job a subgraph app starts in its lifespan, or None when FINPACE_EOD_ENABLED is false."""
    config = EodSettings()
    if not config.enabled:
        return None
    return lambda sessions: run_periodically(run, sessions, domain=domain, settings=config)


def eod_group(name: str, run: Run,
              live_settings: Callable[[], contextlib.AbstractContextManager[Settings]] | None = None) -> click.Group:
    """`finpace <domain> eod [--as-of DATE]`: runs one business date now (default: today, UTC)."""
    live = live_settings or (lambda: contextlib.nullcontext(Settings()))

    @click.group(name=name)
    def group() -> None:
        """Lending operations."""

    @group.command(name="eod")
    @click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Business date (YYYY-MM-DD); default today (UTC).")
    def eod(as_of: dt.datetime | None) -> None:
        """Run end of day for a business date: arrears, overdue instalments, collections. Once per date."""
        day = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()

        async def once(settings: Settings) -> Summary | None:
            engine = create_engine(settings, name)
            try:
                return await run(create_sessionmaker(engine), day)
            finally:
                await engine.dispose()

        with live() as settings:
            summary = asyncio.run(once(settings))
        if summary is None:
            click.echo(f"{name}: end of day {day} has already run; nothing done.")
        else:
            click.echo(f"{name}: end of day {day} done: " + ", ".join(f"{k} {v}" for k, v in summary.items()))

    return group
