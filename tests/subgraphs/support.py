"""Helpers the domain test suites share: provisioning, row and outbox counts, publishing envelopes, waiting."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import outbox_table
from shared.messaging import connect, provision_from

REPO = Path(__file__).resolve().parents[2]


async def provision(nats_url: str) -> None:
    """Provisions every stream and consumer of the repository's nats/ folder."""
    nc = await connect(nats_url, name="test-provision")
    try:
        await provision_from(nc, REPO / "nats")
    finally:
        await nc.close()


def token(settings: Settings, role: str, sub: str, party_ids: list[str] | None = None) -> str:
    """Issues a dev access token."""
    return issue_dev_token(settings, role=role, sub=sub, party_ids=party_ids)


async def counts(sessions: async_sessionmaker[AsyncSession], *models: Any) -> tuple[int, ...]:
    """Returns the row count of each model, then of the outbox: what a refused command must leave unchanged."""
    async with sessions() as session:
        totals = [int(await session.scalar(select(func.count()).select_from(m)) or 0) for m in models]
        totals.append(int(await session.scalar(select(func.count()).select_from(outbox_table)) or 0))
    return tuple(totals)


async def outbox_types(sessions: async_sessionmaker[AsyncSession], aggregate_id: str) -> list[str]:
    """Returns the event types written for one aggregate, in outbox order."""
    async with sessions() as session:
        rows = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == aggregate_id).order_by(outbox_table.c.id))).scalars().all()
    return [r["type"] for r in rows]


async def publish_reply(settings: Settings, subject: str, data: dict[str, Any], *, event_id: str | None = None,
                        msg_id: str | None = None, source: str = "account") -> str:
    """Publishes an envelope into JetStream as another domain's outbox relay would; returns the event id."""
    eid = event_id or str(uuid.uuid4())
    envelope = {"id": eid, "type": "Payment" + subject.rsplit(".", 1)[1].title(), "source": source,
                "subject": str(uuid.uuid4()), "aggregate_version": 1,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
                "actor": {"sub": "system", "roles": ["system"], "client_id": None}, "reason": None,
                "correlation_id": "test", "causation_id": None, "schema_version": 1, "data": data}
    nc = await connect(settings.nats_url or "", name="test-publisher")
    try:
        await nc.jetstream().publish(subject, json.dumps(envelope).encode(), headers={"Nats-Msg-Id": msg_id or eid})
    finally:
        await nc.close()
    return eid


async def eventually(probe: Callable[[], Awaitable[bool]], within: float = 15) -> None:
    """Waits until probe() is true, failing after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await probe():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)
