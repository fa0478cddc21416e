"""The hash chain: appends, the write-once guard, signed checkpoints and the five tamper cases."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from subgraphs.audit.chain import CANONICAL_JSON_SQL, GENESIS_HASH, canonical_entry, canonical_from_json, entry_hash
from subgraphs.audit.checkpoints import Checkpointer, load_public_key
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.models import Evidence
from subgraphs.audit.service import append_evidence
from subgraphs.audit.verify import VerifyResult, verify_chain
from tests.subgraphs.audit.conftest import envelope

Chain = tuple[async_sessionmaker[AsyncSession], Checkpointer, AuditConfig]


async def build(chain: Chain, entries: int = 12) -> None:
    """Appends entries and writes the checkpoints due (every 5 entries: 1-5, 6-10; 11-12 not yet covered)."""
    sessions, checkpointer, _ = chain
    for i in range(entries):
        async with sessions() as session, session.begin():
            await append_evidence(session, envelope(version=i + 1, note=f"entry {i}"))
    await checkpointer.run_once()


async def verify(chain: Chain) -> VerifyResult:
    sessions, _, config = chain
    return await verify_chain(sessions, config.checkpoint_dir, load_public_key(config.public_key_path()))


async def tamper(chain: Chain, *statements: str) -> None:
    """Runs SQL with the write-once triggers disabled (as a superuser could)."""
    sessions = chain[0]
    async with sessions() as session, session.begin():
        await session.execute(text("ALTER TABLE audit_evidence DISABLE TRIGGER USER"))
        for statement in statements:
            await session.execute(text(statement))
        await session.execute(text("ALTER TABLE audit_evidence ENABLE TRIGGER USER"))


async def test_intact_chain_verifies_with_checkpoints(fresh_chain: Chain) -> None:
    await build(fresh_chain)
    result = await verify(fresh_chain)
    assert result.ok, result
    assert (result.entries_checked, result.checkpoints_checked, result.last_sequence) == (12, 2, 12)
    files = sorted(fresh_chain[2].checkpoint_dir.glob("*.json"))
    assert [json.loads(f.read_text())["to_sequence"] for f in files] == [5, 10]


async def test_each_entry_links_to_the_previous_hash(fresh_chain: Chain) -> None:
    await build(fresh_chain, 3)
    async with fresh_chain[0]() as session:
        rows = (await session.execute(text("SELECT * FROM audit_evidence ORDER BY sequence"))).all()
    prev = GENESIS_HASH
    for row in rows:
        assert row.prev_hash == prev and entry_hash(prev, row) == row.hash
        prev = row.hash
    assert [r.sequence for r in rows] == [1, 2, 3]
    assert rows[0].before == {"status": "PROSPECT"} and rows[0].after == {"status": "ACTIVE"}
    assert rows[0].actor_sub == "ops-1" and rows[0].reason == "customer request"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_evidence SET reason = 'changed' WHERE sequence = 1",
        "DELETE FROM audit_evidence WHERE sequence = 1",
        "TRUNCATE audit_evidence",
    ],
)
async def test_update_delete_truncate_are_refused(fresh_chain: Chain, statement: str) -> None:
    await build(fresh_chain, 2)
    async with fresh_chain[0]() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement))
    assert (await verify(fresh_chain)).ok


async def test_flipped_byte_is_named(fresh_chain: Chain) -> None:
    await build(fresh_chain)
    await tamper(fresh_chain, "UPDATE audit_evidence SET reason = 'customer requesT' WHERE sequence = 4")
    result = await verify(fresh_chain)
    assert (result.ok, result.first_bad_sequence, result.problem) == (False, 4, "HASH_MISMATCH")
    assert result.first_bad_event_id


async def test_deleted_row_is_named(fresh_chain: Chain) -> None:
    await build(fresh_chain)
    await tamper(fresh_chain, "DELETE FROM audit_evidence WHERE sequence = 7")
    result = await verify(fresh_chain)
    assert (result.ok, result.first_bad_sequence, result.problem) == (False, 7, "MISSING_ENTRY")


async def test_swapped_rows_are_named(fresh_chain: Chain) -> None:
    await build(fresh_chain)
    await tamper(
        fresh_chain,
        "UPDATE audit_evidence SET sequence = -3 WHERE sequence = 3",
        "UPDATE audit_evidence SET sequence = 3 WHERE sequence = 8",
        "UPDATE audit_evidence SET sequence = 8 WHERE sequence = -3",
    )
    result = await verify(fresh_chain)
    assert (result.ok, result.first_bad_sequence, result.problem) == (False, 3, "BROKEN_LINK")


async def test_truncated_tail_is_caught_by_the_checkpoint(fresh_chain: Chain) -> None:
    await build(fresh_chain)
    await tamper(fresh_chain, "DELETE FROM audit_evidence WHERE sequence >= 9")
    result = await verify(fresh_chain)
    assert (result.ok, result.first_bad_sequence, result.problem) == (False, 9, "MISSING_TAIL")


async def test_rewrite_and_rehash_is_caught_by_the_external_checkpoint(fresh_chain: Chain) -> None:
    await build(fresh_chain)
    sessions = fresh_chain[0]
    await tamper(fresh_chain, "UPDATE audit_evidence SET reason = 'nothing to see' WHERE sequence = 4")
    async with sessions() as session, session.begin():
        await session.execute(text("ALTER TABLE audit_evidence DISABLE TRIGGER USER"))
        rows = (await session.execute(text("SELECT * FROM audit_evidence WHERE sequence >= 3 ORDER BY sequence"))).all()
        prev = rows[0].hash
        for row in rows[1:]:
            new = entry_hash(prev, row)
            await session.execute(
                text("UPDATE audit_evidence SET prev_hash = :p, hash = :h WHERE sequence = :s"),
                {"p": prev, "h": new, "s": row.sequence},
            )
            prev = new
        await session.execute(text("ALTER TABLE audit_evidence ENABLE TRIGGER USER"))
    result = await verify(fresh_chain)
    assert (result.ok, result.first_bad_sequence, result.problem) == (False, 4, "CHECKPOINT_MISMATCH")


async def test_forged_checkpoint_is_refused(fresh_chain: Chain) -> None:
    await build(fresh_chain)
    path = sorted(fresh_chain[2].checkpoint_dir.glob("*.json"))[0]
    body = json.loads(path.read_text())
    body["hashes"][0] = "0" * 64
    path.write_text(json.dumps(body))
    result = await verify(fresh_chain)
    assert (result.ok, result.problem) == (False, "CHECKPOINT_INVALID")
    assert path.name in result.message


async def test_count_is_global_under_concurrent_appends(fresh_chain: Chain) -> None:
    import asyncio

    sessions = fresh_chain[0]

    async def one() -> None:
        async with sessions() as session, session.begin():
            await append_evidence(session, envelope())

    await asyncio.gather(*(one() for _ in range(20)))
    result = await verify(fresh_chain)
    assert result.ok and result.last_sequence == 20
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(DISTINCT hash) FROM audit_evidence"))).scalar_one() == 20
    assert Evidence.__tablename__ == "audit_evidence"


async def test_checkpoints_are_also_time_based_and_resume_from_the_directory(fresh_chain: Chain) -> None:
    sessions, checkpointer, config = fresh_chain
    await build(fresh_chain, 7)  # 1-5 by count; 6-7 wait for the clock
    timed = Checkpointer(sessions, config.checkpoint_dir, checkpointer.key, every_entries=5, every_seconds=0)
    [path] = await timed.run_once()
    body = json.loads(path.read_text())
    assert (body["from_sequence"], body["to_sequence"]) == (6, 7) and body["key_id"]
    assert await timed.run_once() == []  # nothing new
    result = await verify(fresh_chain)
    assert result.ok and result.checkpoints_checked == 2


async def test_long_and_unicode_fields_are_recorded_and_verify(fresh_chain: Chain) -> None:
    sessions = fresh_chain[0]
    env = envelope(
        reason="Grund: Überprüfung 🔍 " * 50,
        note="ünïcödé",
        amount="1234567.8900",
        ratio=0.1,
        nested={"b": [1, 2.5, None, True], "a": {"z": "x"}},
    )
    env = type(env)(**{**env.__dict__, "correlation_id": "c" * 300})
    async with sessions() as session, session.begin():
        await append_evidence(session, env)
    result = await verify(fresh_chain)
    assert result.ok and result.last_sequence == 1


async def test_verdicts_hold_across_small_batches(fresh_chain: Chain) -> None:
    sessions, _, config = fresh_chain
    await build(fresh_chain)
    public = load_public_key(config.public_key_path())
    seen: list[int] = []
    intact = await verify_chain(sessions, config.checkpoint_dir, public, batch=4, progress=seen.append)
    assert intact.ok and intact.entries_checked == 12 and seen == [4, 8, 12]
    await tamper(fresh_chain, 'UPDATE audit_evidence SET actor = \'{"sub": "mallory"}\' WHERE sequence = 9')
    broken = await verify_chain(sessions, config.checkpoint_dir, public, batch=4)
    assert (broken.ok, broken.first_bad_sequence, broken.problem, broken.entries_checked) == (
        False,
        9,
        "HASH_MISMATCH",
        8,
    )


async def test_the_verifier_s_sql_form_gives_the_canonical_bytes_of_each_entry(fresh_chain: Chain) -> None:
    sessions = fresh_chain[0]
    tricky = [
        envelope(reason='quote " backslash \\ newline \n tab \t bell \x07 ' + "\u2028 \u00e9 \U0001f50d", note=""),
        envelope(reason=None, nested={"b": [1, -2.5, 0.1, 1e-07, 2**53 + 1, None, False], "a": {"": {}}, "Z": []}),
        envelope(actor="ünï", amount="-0.00", **{"key with space": "v", "ü": 1, "a": 2}),
    ]
    eastern = dt.timezone(dt.timedelta(hours=-5, minutes=-30))
    later = {"id": uuid.uuid4(), "occurred_at": dt.datetime(1999, 12, 31, 23, 30, tzinfo=eastern)}
    tricky.append(type(tricky[0])(**{**tricky[0].__dict__, **later}))
    for env in tricky:
        async with sessions() as session, session.begin():
            await append_evidence(session, env)
    async with sessions() as session:
        rows = (await session.execute(select(*Evidence.__table__.c).order_by(Evidence.sequence))).all()
        sql = (await session.execute(text(f"SELECT {CANONICAL_JSON_SQL} FROM audit_evidence ORDER BY sequence"))).all()
    assert len(rows) == len(sql) == 4
    for row, (body,) in zip(rows, sql, strict=True):
        assert canonical_from_json(body) == canonical_entry(row)
    assert b'"occurred_at":"2000-01-01T05:00:00.000000Z"' in canonical_entry(rows[3])
    assert (await verify(fresh_chain)).ok
