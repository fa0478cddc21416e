"""The chain verifier: recomputes every link and compares with the signed external checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from subgraphs.audit.chain import CANONICAL_JSON_SQL, GENESIS_HASH, canonical_from_json, event_id_from_json
from subgraphs.audit.checkpoints import CheckpointError, load_public_key, read_checkpoints
from subgraphs.audit.config import AuditConfig

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


_SELECT = (
    f"SELECT sequence, prev_hash, hash, {CANONICAL_JSON_SQL} FROM audit_evidence "
    "WHERE sequence > $1 ORDER BY sequence LIMIT $2"
)
_NO_CHECKPOINT = (sys.maxsize, sys.maxsize, ())
_YIELD_EVERY = 4096  # rows hashed between two event-loop turns, so the prefetch streams in meanwhile


async def _driver_connection(session: AsyncSession) -> Any:
    """Returns the session's asyncpg connection: rows as plain records, no ORM or JSON processors."""
    raw = await (await session.connection()).get_raw_connection()
    return raw.driver_connection


async def verify_chain(
    sessions: async_sessionmaker[AsyncSession],
    checkpoint_dir: Path,
    public_key: Ed25519PublicKey,
    *,
    progress: Progress | None = None,
    batch: int = 20000,
) -> VerifyResult:
    """Verifies sequence continuity, every prev-hash link, every hash and every checkpoint; stops at the first fault.

    PostgreSQL hands each entry over as one JSON object (chain.CANONICAL_JSON_SQL); it is decoded and re-encoded
    canonically here, so the hash is recomputed from the stored values, in one tight loop over plain records.
    """
    try:
        checkpoints = read_checkpoints(checkpoint_dir, public_key)
    except CheckpointError as exc:
        return VerifyResult(False, 0, 0, 0, GENESIS_HASH, problem="CHECKPOINT_INVALID", message=str(exc))
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    prev_raw = bytes.fromhex(GENESIS_HASH)

    def window(index: int) -> tuple[int, int, tuple[str, ...]]:
        if index < len(checkpoints):
            cp = checkpoints[index]
            return cp.from_seq, cp.to_seq, cp.hashes
        return _NO_CHECKPOINT

    cp_index = 0
    cp_from, cp_to, cp_hashes = window(0)

    def bad(body: str | None, sequence: int, problem: str, message: str) -> VerifyResult:
        event_id = event_id_from_json(body) if body is not None else None
        return VerifyResult(
            False, checked, len(checkpoints), expected_seq - 1, prev_hash, sequence, event_id, problem, message
        )

    async def fetch(connection: Any, after: int) -> list[Any]:
        return list(await connection.fetch(_SELECT, after, batch))

    sha256, canonical = hashlib.sha256, canonical_from_json
    # Two connections: the next batch is read while this one is hashed.
    async with sessions() as one, sessions() as other:
        spare, current = await _driver_connection(other), await _driver_connection(one)
        pending: asyncio.Task[list[Any]] | None = None
        try:
            rows = await fetch(current, 0)
            while rows:
                pending = asyncio.create_task(fetch(spare, rows[-1][0]))
                spare, current = current, spare
                await asyncio.sleep(0)  # let the query go out; the server works while this batch is hashed
                for sequence, stored_prev, stored_hash, body in rows:
                    if sequence != expected_seq:
                        return bad(
                            None,
                            expected_seq,
                            "MISSING_ENTRY",
                            f"entry {expected_seq} is missing (next stored entry is {sequence})",
                        )
                    if stored_prev != prev_hash:
                        return bad(
                            body,
                            sequence,
                            "BROKEN_LINK",
                            f"entry {sequence} does not link to the hash of entry {sequence - 1}",
                        )
                    digest = sha256(prev_raw)
                    digest.update(canonical(body))
                    if digest.hexdigest() != stored_hash:
                        return bad(
                            body, sequence, "HASH_MISMATCH", f"entry {sequence}'s content does not match its hash"
                        )
                    while sequence > cp_to:
                        cp_index += 1
                        cp_from, cp_to, cp_hashes = window(cp_index)
                    if sequence >= cp_from and cp_hashes[sequence - cp_from] != stored_hash:
                        return bad(
                            body,
                            sequence,
                            "CHECKPOINT_MISMATCH",
                            f"entry {sequence} differs from signed checkpoint "
                            f"{checkpoints[cp_index].path.name} (rewritten and re-hashed)",
                        )
                    prev_hash, prev_raw, expected_seq = stored_hash, digest.digest(), sequence + 1
                    checked += 1
                    if not checked % _YIELD_EVERY:
                        await asyncio.sleep(0)
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
        return bad(
            None,
            expected_seq,
            "MISSING_TAIL",
            f"signed checkpoints cover entries up to {covered} but the chain ends at {expected_seq - 1}",
        )
    return VerifyResult(True, checked, len(checkpoints), expected_seq - 1, prev_hash)


async def verify(
    settings: Settings, *, config: AuditConfig | None = None, progress: Progress | None = None
) -> VerifyResult:
    """Verifies the audit database of the configured server (entry point for `finpace audit verify`)."""
    config = config or AuditConfig.from_settings(settings)
    engine: AsyncEngine = create_engine(settings, "audit")
    try:
        public = await asyncio.to_thread(load_public_key, config.public_key_path())
        return await verify_chain(create_sessionmaker(engine), config.checkpoint_dir, public, progress=progress)
    finally:
        await engine.dispose()
