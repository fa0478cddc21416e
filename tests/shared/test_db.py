"""Unit of work and idempotency keys against a real PostgreSQL database (`finpace_kit`)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

from shared.config import Settings
from shared.db import RequestContext, UnitOfWork, create_engine, idempotency_table, outbox_table
from shared.errors import IdempotencyKeyReused, InputError
from shared.events import Actor
from shared.migrations import create_platform_tables, drop_platform_tables, ensure_database
from tests.shared.conftest import WidgetCreated, make_uow, side_effects, write_widget


async def counts(engine: AsyncEngine) -> tuple[int, int]:
    """Returns (business rows, outbox rows)."""
    async with engine.connect() as conn:
        business = (await conn.execute(select(func.count()).select_from(side_effects))).scalar_one()
        outbox = (await conn.execute(select(func.count()).select_from(outbox_table))).scalar_one()
    return business, outbox


async def test_commit_writes_the_business_row_and_its_outbox_row_together(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    uow = UnitOfWork(sessions, RequestContext(Actor(sub="ops-7", roles=("ops",)), "corr-42", causation_id="c-1"))
    async with uow:
        widget_id = await write_widget(uow, "first")
        await uow.commit()
    assert await counts(kit_db) == (1, 1)
    async with kit_db.connect() as conn:
        row = (await conn.execute(select(outbox_table))).one()
    assert row.nats_subject == WidgetCreated.subject() == "finpace.kit.widget.created"
    assert row.aggregate_id == str(widget_id)
    assert row.aggregate_version == 1
    assert row.published_at is None
    assert row.envelope["id"] == str(row.event_id)
    assert row.envelope["data"] == {"widget_id": str(widget_id), "label": "first"}
    assert row.envelope["actor"] == {"sub": "ops-7", "roles": ["ops"], "client_id": None}
    assert (row.envelope["correlation_id"], row.envelope["causation_id"]) == ("corr-42", "c-1")


async def test_leaving_without_commit_rolls_back_business_and_outbox_rows(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with make_uow(sessions) as uow:
        await write_widget(uow, "forgotten")
    assert await counts(kit_db) == (0, 0)


async def test_an_exception_rolls_back_everything_and_propagates(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async def failing() -> None:
        async with make_uow(sessions) as uow:
            await uow.claim_idempotency("create_widget", "key-boom", {"label": "x"})
            await write_widget(uow, "x")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing()
    assert await counts(kit_db) == (0, 0)
    async with kit_db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(idempotency_table))).scalar_one() == 0


async def test_a_unit_of_work_can_be_reused_for_the_next_transaction(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    uow = make_uow(sessions)
    async with uow:
        await write_widget(uow, "one")
        await uow.commit()
    async with uow:
        await write_widget(uow, "rolled back")
    async with uow:
        await write_widget(uow, "two")
        await uow.commit()
    assert await counts(kit_db) == (2, 2)


async def create_widget(
    sessions: async_sessionmaker[AsyncSession], *, key: str | None, label: str, sub: str = "tester",
    pause: float = 0.0, fail: bool = False,
) -> dict[str, Any]:
    """A service function written the way domains write them: claim, change, emit, commit(result)."""
    async with make_uow(sessions, sub=sub) as uow:
        stored = await uow.claim_idempotency("create_widget", key, {"label": label})
        if stored is not None:
            return stored
        widget_id = await write_widget(uow, label)
        await asyncio.sleep(pause)
        if fail:
            raise RuntimeError("the business change failed")
        result = {"widget_id": widget_id, "label": label}
        await uow.commit(result)
        return {"widget_id": str(widget_id), "label": label}


async def test_replay_returns_the_stored_result_and_writes_nothing(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await create_widget(sessions, key="k-1", label="Acme")
    again = await create_widget(sessions, key="k-1", label="Acme")
    padded = await create_widget(sessions, key="  k-1 ", label="Acme")
    assert first == again == padded
    assert await counts(kit_db) == (1, 1)
    async with kit_db.connect() as conn:
        row = (await conn.execute(select(idempotency_table))).one()
    assert row.completed_at is not None
    assert row.actor == "tester"
    assert row.result == first


async def test_same_key_with_another_input_is_refused(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await create_widget(sessions, key="k-2", label="Acme")
    with pytest.raises(IdempotencyKeyReused, match="k-2") as info:
        await create_widget(sessions, key="k-2", label="Other")
    assert info.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert await counts(kit_db) == (1, 1)


async def test_same_key_from_another_actor_is_refused_not_replayed(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Replaying would hand one caller's stored result to another.
    await create_widget(sessions, key="k-actor", label="Acme", sub="alice")
    with pytest.raises(IdempotencyKeyReused):
        await create_widget(sessions, key="k-actor", label="Acme", sub="mallory")
    assert await counts(kit_db) == (1, 1)


async def test_keys_are_scoped_per_operation(kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    await create_widget(sessions, key="shared-key", label="A")
    async with make_uow(sessions) as uow:
        assert await uow.claim_idempotency("rename_widget", "shared-key", {"label": "B"}) is None
        await uow.commit({"ok": True})
    async with kit_db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(idempotency_table))).scalar_one() == 2


async def test_no_key_means_no_idempotency(kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    await create_widget(sessions, key=None, label="A")
    await create_widget(sessions, key=None, label="A")
    assert await counts(kit_db) == (2, 2)


@pytest.mark.parametrize("key", ["", "   ", "k" * 129])
async def test_malformed_keys_are_bad_input(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], key: str
) -> None:
    with pytest.raises(InputError) as info:
        await create_widget(sessions, key=key, label="A")
    assert info.value.field == "idempotencyKey"
    assert await counts(kit_db) == (0, 0)


async def test_stored_result_may_hold_decimals_and_uuids(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ref = uuid.uuid4()
    async with make_uow(sessions) as uow:
        await uow.claim_idempotency("book", "k-dec", {"amount": Decimal("10.50")})
        await uow.commit({"posting_id": ref, "amount": Decimal("10.50")})
    async with make_uow(sessions) as uow:
        stored = await uow.claim_idempotency("book", "k-dec", {"amount": Decimal("10.50")})
    assert stored == {"posting_id": str(ref), "amount": "10.50"}


async def test_concurrent_requests_with_one_key_have_one_effect(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Ten copies of one request race; the first holds its claim while it works.
    results = await asyncio.gather(*[
        create_widget(sessions, key="k-race", label="Acme", pause=0.2) for _ in range(10)
    ])
    assert len({r["widget_id"] for r in results}) == 1
    assert await counts(kit_db) == (1, 1)


async def test_a_rolled_back_claim_lets_the_waiting_request_take_the_key_over(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    failing = asyncio.create_task(create_widget(sessions, key="k-over", label="Acme", pause=0.3, fail=True))
    await asyncio.sleep(0.1)  # the failing request holds the key
    waiting = asyncio.create_task(create_widget(sessions, key="k-over", label="Acme"))
    with pytest.raises(RuntimeError, match="failed"):
        await failing
    result = await waiting
    assert await counts(kit_db) == (1, 1)
    async with kit_db.connect() as conn:
        assert (await conn.execute(select(side_effects.c.id))).scalar_one() == uuid.UUID(result["widget_id"])


async def test_rolled_back_transactions_leave_no_outbox_row(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # 1,000 business transactions; every tenth is rolled back after its outbox insert.
    semaphore = asyncio.Semaphore(20)
    committed: set[str] = set()

    async def one(i: int) -> None:
        async with semaphore, make_uow(sessions) as uow:
            widget_id = await write_widget(uow, f"w-{i}")
            if i % 10 == 0:
                return
            await uow.commit()
            committed.add(str(widget_id))

    await asyncio.gather(*[one(i) for i in range(1000)])
    assert await counts(kit_db) == (900, 900)
    async with kit_db.connect() as conn:
        aggregates = set((await conn.execute(select(outbox_table.c.aggregate_id))).scalars())
        business = {str(i) for i in (await conn.execute(select(side_effects.c.id))).scalars()}
    assert aggregates == business == committed


async def test_platform_tables_and_the_notify_trigger_exist(settings: Settings, kit_engine: AsyncEngine) -> None:
    await ensure_database(settings, "kit")  # idempotent: the database already exists
    async with kit_engine.connect() as conn:
        tables = set((await conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )).scalars())
        trigger = (await conn.exec_driver_sql(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'outbox'::regclass AND NOT tgisinternal"
        )).scalars().all()
        index = (await conn.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_unpublished'"
        )).scalar_one()
    assert {"outbox", "inbox", "idempotency_keys"} <= tables
    assert trigger == ["outbox_notify"]
    assert "WHERE (published_at IS NULL)" in index


async def test_ensure_database_creates_a_missing_database_once(settings: Settings) -> None:
    domain = f"kit_{uuid.uuid4().hex[:8]}"
    await asyncio.gather(*[ensure_database(settings, domain) for _ in range(3)])  # racing creators
    conn = await asyncpg.connect(make_url(settings.server_database_url()).set(drivername="postgresql")
                                 .render_as_string(hide_password=False))
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", f"finpace_{domain}") == 1
        await conn.execute(f'DROP DATABASE "finpace_{domain}"')
    finally:
        await conn.close()


async def test_platform_tables_can_be_dropped_and_recreated(settings: Settings) -> None:
    domain = f"kit_{uuid.uuid4().hex[:8]}"
    await ensure_database(settings, domain)
    engine = create_engine(settings, domain)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(create_platform_tables)
            await conn.run_sync(drop_platform_tables)
            await conn.run_sync(create_platform_tables)
    finally:
        await engine.dispose()
    conn2 = await asyncpg.connect(make_url(settings.server_database_url()).set(drivername="postgresql")
                                  .render_as_string(hide_password=False))
    try:
        await conn2.execute(f'DROP DATABASE "finpace_{domain}"')
    finally:
        await conn2.close()


class _Base(DeclarativeBase):
    pass


class Widget(_Base):
    __table__ = side_effects


async def test_replayed_returns_the_stored_row_readable_after_the_rollback(
    kit_db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with make_uow(sessions) as uow:
        assert await uow.replayed("create_widget", "k-row", {"label": "Acme"}, Widget) is None
        widget_id = await write_widget(uow, "Acme")
        await uow.commit({"id": widget_id})
    async with make_uow(sessions) as uow:
        row = await uow.replayed("create_widget", "k-row", {"label": "Acme"}, Widget)
    assert row is not None
    assert (row.id, row.label) == (widget_id, "Acme")
    assert await counts(kit_db) == (1, 1)
