"""The chain verifier: recomputes every link and compares with the signed external checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from subgraphs.audit.chain import GENESIS_HASH, entry_hash
from subgraphs.audit.checkpoints import CheckpointError, load_public_key, read_checkpoints
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.models import Evidence

Progress = Callable[[int], None]


@dataclass(frozen=True)
class VerifyResult:
    """The verdict: ok, or the first bad entry with what is wrong with it."""

    ok: bool
    entries_checked: int
    checkpoints_checked: int
    last_sequence: int
    last_hash: str
    first_bad_sequence: int | None = None
    first_bad_event_id: str | None = None
    problem: str | None = None
    message: str = "chain intact"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def verify_chain(
    sessions: async_sessionmaker[AsyncSession],
    checkpoint_dir: Path,
    public_key: Ed25519PublicKey,
    *,
    progress: Progress | None = None,
    batch: int = 5000,
) -> VerifyResult:
    """Verifies sequence continuity, every prev-hash link, every hash and every checkpoint; stops at the first fault."""
    try:
        checkpoints = read_checkpoints(checkpoint_dir, public_key)
    except CheckpointError as exc:
        return VerifyResult(False, 0, 0, 0, GENESIS_HASH, problem="CHECKPOINT_INVALID", message=str(exc))
    cp_index, expected_seq, prev_hash, checked = 0, 1, GENESIS_HASH, 0

    def bad(row: Any, sequence: int, problem: str, message: str) -> VerifyResult:
        return VerifyResult(False, checked, len(checkpoints), expected_seq - 1, prev_hash, sequence,
                            str(row.event_id) if row is not None else None, problem, message)

    async def fetch(session: AsyncSession, after: int) -> list[Any]:
        return list((await session.execute(
            select(*Evidence.__table__.c).where(Evidence.sequence > after).order_by(Evidence.sequence).limit(batch)
        )).all())

    # Two sessions: the next batch is read while this one is hashed.
    async with sessions() as one, sessions() as other:
        pending: asyncio.Task[list[Any]] | None = None
        try:
            rows, spare = await fetch(one, 0), other
            while rows:
                pending = asyncio.create_task(fetch(spare, rows[-1].sequence))
                spare = one if spare is other else other
                await asyncio.sleep(0)  # let the query go out; the server works while this batch is hashed
                for row in rows:
                    if row.sequence != expected_seq:
                        return bad(None, expected_seq, "MISSING_ENTRY",
                                   f"entry {expected_seq} is missing (next stored entry is {row.sequence})")
                    if row.prev_hash != prev_hash:
                        return bad(row, row.sequence, "BROKEN_LINK",
                                   f"entry {row.sequence} does not link to the hash of entry {row.sequence - 1}")
                    if entry_hash(prev_hash, row) != row.hash:
                        return bad(row, row.sequence, "HASH_MISMATCH",
                                   f"entry {row.sequence}'s content does not match its hash")
                    while cp_index < len(checkpoints) and checkpoints[cp_index].to_seq < row.sequence:
                        cp_index += 1
                    if cp_index < len(checkpoints):
                        recorded = checkpoints[cp_index].expected(row.sequence)
                        if recorded is not None and recorded != row.hash:
                            return bad(row, row.sequence, "CHECKPOINT_MISMATCH",
                                       f"entry {row.sequence} differs from signed checkpoint "
                                       f"{checkpoints[cp_index].path.name} (rewritten and re-hashed)")
                    prev_hash, expected_seq, checked = row.hash, row.sequence + 1, checked + 1
                if progress is not None:
                    progress(checked)
                rows, pending = await pending, None
        finally:
            if pending is not None:  # an early verdict leaves the prefetch running
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
    covered = max((c.to_seq for c in checkpoints), default=0)
    if covered >= expected_seq:
        return bad(None, expected_seq, "MISSING_TAIL",
                   f"signed checkpoints cover entries up to {covered} but the chain ends at {expected_seq - 1}")
    return VerifyResult(True, checked, len(checkpoints), expected_seq - 1, prev_hash)


async def verify(settings: Settings, *, config: AuditConfig | None = None,
                 progress: Progress | None = None) -> VerifyResult:
    """Verifies the audit database of the configured server (entry point for `finpace audit verify`)."""
    config = config or AuditConfig.from_settings(settings)
    engine: AsyncEngine = create_engine(settings, "audit")
    try:
        public = await asyncio.to_thread(load_public_key, config.public_key_path())
        return await verify_chain(create_sessionmaker(engine), config.checkpoint_dir, public, progress=progress)
    finally:
        await engine.dispose()
