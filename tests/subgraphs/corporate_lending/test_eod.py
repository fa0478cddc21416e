"""The scheduled end of day: once per business date (also when two replicas race), overdue raised once, the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from shared.config import Settings
from shared.db import outbox_table
from shared.eod import EodSettings, business_date, eod_group, run_periodically
from subgraphs.corporate_lending.eod import run_eod
from subgraphs.corporate_lending.models import Drawdown, EodRun, RepaymentRequest
from tests.helpers import stop
from tests.subgraphs.account.test_repayment_saga import backdate
from tests.subgraphs.corporate_lending.conftest import eventually, outbox_types, publish_reply
from tests.subgraphs.corporate_lending.test_journey import DRAW, available_facility, eur


async def overdue_drawdown(staff: Any, settings: Settings, co_sessions: Any) -> str:
    """A settled drawdown whose first instalment fell due ten days ago."""
    party = str(uuid.uuid4())
    f = await available_facility(staff, party)
    d = (await staff("rm", "rm-maker").data(DRAW, {"id": f["id"], "amount": eur("60000.00"),
                                                   "acct": str(uuid.uuid4()), "key": uuid.uuid4().hex}))[
        "executeDrawdown"]
    async with co_sessions() as s:
        idem = str((await s.get(Drawdown, uuid.UUID(d["id"]))).disbursement_id)
    await publish_reply(settings, "finpace.account.payment.executed", {"idempotency_id": idem})

    async def settled() -> bool:
        async with co_sessions() as s:
            return (await s.get(Drawdown, uuid.UUID(d["id"]))).status == "ACTIVE"

    await eventually(settled)
    await backdate(co_sessions, d["id"], 40)
    return str(d["id"])


async def test_end_of_day_runs_once_per_business_date(staff, settings: Settings, co_sessions) -> None:
    drawdown_id = await overdue_drawdown(staff, settings, co_sessions)
    as_of = dt.datetime.now(dt.UTC).date()  # only this module runs the end of day on this database
    first, second = await asyncio.gather(run_eod(co_sessions, as_of), run_eod(co_sessions, as_of))
    done = [r for r in (first, second) if r is not None]
    assert len(done) == 1, (first, second)  # two replicas raced: one ran the date, the other did nothing
    assert done[0]["installments_overdue"] >= 1 and done[0]["collections_requested"] >= 1  # other suites' too
    types = await outbox_types(co_sessions, drawdown_id)
    assert types.count("InstallmentOverdue") == 1 and types.count("DrawdownRepaymentRequested") == 1
    async with co_sessions() as s:
        run = await s.get(EodRun, as_of)
        [req] = (await s.execute(select(RepaymentRequest).where(
            RepaymentRequest.drawdown_id == uuid.UUID(drawdown_id)))).scalars().all()
        envelope = (await s.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == drawdown_id))).scalars().all()
    assert run is not None and run.summary == done[0]
    assert req.purpose == "INSTALMENT_DUE" and req.status == "PENDING" and req.installment_number == 1
    overdue = [e["data"] for e in envelope if e["type"] == "InstallmentOverdue"]
    assert [o["installment_number"] for o in overdue] == [1]

    # The next business date: the instalment stays overdue (no second event), the pending collection is not re-asked.
    assert await run_eod(co_sessions, as_of + dt.timedelta(days=1)) is not None
    types = await outbox_types(co_sessions, drawdown_id)
    assert types.count("InstallmentOverdue") == 1 and types.count("DrawdownRepaymentRequested") == 1

    # The CLI runs a date once too.
    group = eod_group("corporate_lending", run_eod, lambda: contextlib.nullcontext(settings))
    result = await asyncio.to_thread(CliRunner().invoke, group, ["eod", "--as-of", as_of.isoformat()])
    assert result.exit_code == 0, result.output
    assert "has already run" in result.output
    fresh = await asyncio.to_thread(CliRunner().invoke, group, ["eod", "--as-of", "2026-01-02"])
    assert fresh.exit_code == 0 and "end of day 2026-01-02 done" in fresh.output, fresh.output
    async with co_sessions() as s:
        assert await s.get(EodRun, dt.date(2026, 1, 2)) is not None


def test_business_date_follows_the_cutoff() -> None:
    cutoff = dt.time(22, 0)
    assert business_date(dt.datetime(2026, 3, 10, 21, 59, tzinfo=dt.UTC), cutoff) == dt.date(2026, 3, 9)
    assert business_date(dt.datetime(2026, 3, 10, 22, 0, tzinfo=dt.UTC), cutoff) == dt.date(2026, 3, 10)


async def test_the_timer_runs_the_due_business_date(co_sessions) -> None:
    seen: list[dt.date] = []
    twice = asyncio.Event()

    async def run(_sessions: Any, as_of: dt.date) -> dict[str, int] | None:
        seen.append(as_of)
        if len(seen) == 2:
            twice.set()
        return None

    clock = lambda: dt.datetime(2026, 3, 10, 23, 0, tzinfo=dt.UTC)  # noqa: E731
    task = asyncio.create_task(run_periodically(run, co_sessions, domain="test", clock=clock,
                                                settings=EodSettings(cutoff=dt.time(22, 0), interval_seconds=0.01)))
    try:
        await asyncio.wait_for(twice.wait(), timeout=10)
    finally:
        await stop(task)
    assert seen[:2] == [dt.date(2026, 3, 10)] * 2
