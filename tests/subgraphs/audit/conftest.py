"""Audit test fixtures: the migrated audit database, a running audit subgraph, fresh throw-away chains, envelopes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from starlette.applications import Starlette

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import create_engine, create_sessionmaker, platform_metadata
from shared.embedded import EmbeddedNats, free_port
from shared.events import Envelope
from shared.messaging import Handler, connect, provision_from
from shared.migrations import upgrade
from shared.ordered_consumer import BatchHandler, OrderedBatchSubscriber
from subgraphs.audit.app import create_app
from subgraphs.audit.checkpoints import Checkpointer, load_or_create_key
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.models import Base, Evidence, install_append_only
from subgraphs.audit.service import handle_event, handle_events
from tests.helpers import GraphQLClient, serve, stop

REPO_NATS = Path(__file__).resolve().parents[3] / "nats"
DURABLE = "audit-party"
BATCH = 16


@pytest.fixture(scope="session")
async def audit_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "audit")
    engine = create_engine(settings, "audit")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def audit_sessions(audit_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(audit_db)


@pytest.fixture(scope="session")
async def party_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await upgrade(settings, "party")
    engine = create_engine(settings, "party")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def audit_provisioned(settings: Settings) -> None:
    nc = await connect(settings.nats_url or "", name="test-provision")
    try:
        await provision_from(nc, REPO_NATS)
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def audit_config(tmp_path_factory: pytest.TempPathFactory) -> AuditConfig:
    base = tmp_path_factory.mktemp("audit")
    return AuditConfig(
        checkpoint_dir=base / "checkpoints",
        signing_key=base / "keys" / "checkpoint.pem",
        checkpoint_every_entries=5,
        checkpoint_every_seconds=1.0,
        checkpoint_poll_seconds=0.2,
        monitor_seconds=0.2,
        stall_seconds=30,
        leader_poll_seconds=0.2,
    )


@pytest.fixture(scope="session")
async def audit_app(
    settings: Settings, audit_db: AsyncEngine, audit_provisioned: None, audit_config: AuditConfig
) -> AsyncIterator[tuple[Starlette, str]]:
    app = create_app(settings, config=audit_config)
    async with serve(app) as base:
        yield app, base


@pytest.fixture(scope="session")
async def audit_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def auditor(audit_http: httpx.AsyncClient, audit_app: tuple[Starlette, str], settings: Settings) -> GraphQLClient:
    token = issue_dev_token(settings, role="auditor", sub="auditor-1")
    return GraphQLClient(audit_http, f"{audit_app[1]}/graphql", token)


def envelope(
    subject: str | None = None,
    *,
    version: int = 1,
    event_type: str = "PartyStatusChanged",
    actor: str = "ops-1",
    reason: str | None = "customer request",
    **data: Any,
) -> Envelope:
    """Builds a party-like envelope (as the outbox would publish it)."""
    body = {
        "party_id": subject or str(uuid.uuid4()),
        "before": {"status": "PROSPECT"},
        "after": {"status": "ACTIVE"},
        "amount": "10.50",
        **data,
    }
    return Envelope(
        id=uuid.uuid4(),
        type=event_type,
        source="party",
        subject=body["party_id"],
        aggregate_version=version,
        occurred_at=dt.datetime.now(dt.UTC),
        actor={"sub": actor, "roles": ["ops"], "client_id": None},
        reason=reason,
        correlation_id=uuid.uuid4().hex,
        causation_id=None,
        schema_version=1,
        data=body,
        nats_subject="finpace.party.party.status_changed",
    )


@pytest.fixture
async def fresh_chain(
    settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Checkpointer, AuditConfig]]:
    """A throw-away audit database (same schema and guard) with its own checkpoint directory and key."""
    name = f"finpace_audit_t{uuid.uuid4().hex[:12]}"
    admin = make_url(settings.server_database_url("postgres")).set(drivername="postgresql")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(settings.server_database_url(name)).render_as_string(hide_password=False)
    engine = create_async_engine(url)
    async with engine.begin() as c:
        await c.run_sync(Base.metadata.create_all)
        await c.run_sync(install_append_only)
        await c.run_sync(platform_metadata.create_all)
    config = AuditConfig(
        checkpoint_dir=tmp_path / "checkpoints",
        signing_key=tmp_path / "key.pem",
        checkpoint_every_entries=5,
        checkpoint_every_seconds=3600,
    )
    sessions = create_sessionmaker(engine)
    checkpointer = Checkpointer(
        sessions, config.checkpoint_dir, load_or_create_key(config.signing_key), every_entries=5, every_seconds=3600
    )
    try:
        yield sessions, checkpointer, config
    finally:
        await engine.dispose()
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.close()


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedNats, NATS]]:
    """A private nats-server with the repo's streams and the audit-party consumer: ack_wait 1 s, max_deliver 3,
    no backoff schedule, and batches (max_ack_pending) of BATCH so that a few dozen events make several."""
    server = await asyncio.to_thread(EmbeddedNats(tmp_path / "nats", port=free_port()).start)
    nc = await connect(server.url, name="test-audit-broker")
    try:
        for path in sorted((REPO_NATS / "streams").glob("*.json")):
            config = json.loads(path.read_text())
            await nc.request(f"$JS.API.STREAM.CREATE.{config['name']}", json.dumps(config).encode(), timeout=5)
        definition = json.loads((REPO_NATS / "consumers" / f"{DURABLE}.json").read_text())
        config = {**definition["config"], "ack_wait": 1_000_000_000, "max_deliver": 3, "max_ack_pending": BATCH}
        config.pop("backoff")  # the production schedule (1 s … 10 min) would make the test slow
        reply = await nc.request(
            f"$JS.API.CONSUMER.CREATE.FINPACE_PARTY.{DURABLE}",
            json.dumps({"stream_name": "FINPACE_PARTY", "config": config}).encode(),
            timeout=5,
        )
        assert "error" not in json.loads(reply.data), reply.data
        yield server, nc
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        await asyncio.to_thread(server.stop)


async def publish(js: JetStreamContext, env: Envelope, within: float = 60) -> None:
    """Publishes like the outbox relay: Nats-Msg-Id = event id, retried until JetStream acknowledges."""
    body = json.dumps(env.to_dict()).encode()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await js.publish(env.nats_subject, body, headers={"Nats-Msg-Id": str(env.id)}, timeout=2)
            return
        except Exception as exc:
            if loop.time() >= deadline:
                raise AssertionError(f"JetStream did not acknowledge event {env.id} within {within} s") from exc
            await asyncio.sleep(0.1)


def events(aggregates: int, versions: range) -> list[Envelope]:
    subjects = [f"00000000-0000-4000-8000-{i:012d}" for i in range(aggregates)]
    return [envelope(s, version=v) for v in versions for s in subjects]


async def stored(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Evidence))).scalar_one())


async def run_until_it_crashes(sub: OrderedBatchSubscriber, within: float = 30) -> None:
    """Runs a CrashBeforeAck subscriber until it dies at its first acknowledgement; fails after `within` seconds.

    Not `asyncio.wait_for`: on its timeout it cancels once and then waits, unbounded, for the task to end.
    """
    task = asyncio.create_task(sub.run())
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        await stop(task)
        raise AssertionError(f"the subscriber did not reach its first acknowledgement within {within} s")
    with pytest.raises(asyncio.CancelledError):
        task.result()


async def at_least(sessions: async_sessionmaker[AsyncSession], n: int) -> bool:
    return await stored(sessions) >= n


class CrashBeforeAck(OrderedBatchSubscriber):
    """Commits its first batch, then dies before acknowledging any of it (a process killed mid-batch)."""

    async def _ack_batch(self, msgs: list[Msg], applied: list[bool]) -> None:
        raise asyncio.CancelledError


def subscriber(
    nc: NATS,
    sessions: async_sessionmaker[AsyncSession],
    handler: Handler = handle_event,
    cls: type[OrderedBatchSubscriber] = OrderedBatchSubscriber,
    *,
    at_once: bool = True,
) -> OrderedBatchSubscriber:
    """The audit-party consumer as the audit runtime runs it (batches of the consumer's max_ack_pending).

    `at_once` (the runtime's way) applies a batch with one inbox insert and one batch-handler call; with a
    test's own per-message handler the batch handler runs it for each fresh envelope in order. Without
    `at_once` each message gets its own inbox row and handler call inside the batch's transaction.
    """
    batch_handler: BatchHandler | None = None
    if at_once:
        if handler is handle_event:
            batch_handler = handle_events
        else:
            async def each(session: AsyncSession, envelopes: list[Envelope]) -> None:
                for envelope in envelopes:
                    await handler(session, envelope)

            batch_handler = each
    return cls(
        nc=nc, sessions=sessions, stream="FINPACE_PARTY", durable=DURABLE, handler=handler,
        batch_handler=batch_handler, batch=256, fetch_timeout=0.3,
    )
