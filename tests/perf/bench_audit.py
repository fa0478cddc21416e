"""Benchmark: commit → evidence latency at a fixed event rate, and `finpace audit verify` over N entries.

Run with `python -m tests.perf.bench_audit [--rate 200] [--seconds 10] [--entries 1000000]`
(`--skip-latency` / `--skip-verify` run one half). Everything is real: an embedded PostgreSQL and NATS,
the audit subgraph under uvicorn in this process (its consumers, checkpointer and monitor), and a party
outbox relay publishing what the load generator commits.

Latency: each business transaction writes a PartyStatusChanged outbox row (UnitOfWork.emit) and commits;
the commit's wall-clock time is noted when commit() returns. The relay (NOTIFY-woken) publishes it, the
audit consumer appends it; the evidence row's `recorded_at` is the end time. The first second is warm-up.

Verify: a throw-away audit database is filled with N chained entries by COPY (hashes from
subgraphs.audit.chain, a signed checkpoint every 1,000 entries, as the subgraph writes them), then
`verify_chain` (what `finpace audit verify` runs) is timed on it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.config import Profile, Settings
from shared.db import RequestContext, UnitOfWork, create_engine, create_sessionmaker, outbox_table
from shared.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shared.events import Actor
from shared.messaging import connect, provision_from
from shared.migrations import upgrade
from shared.outbox import OutboxRelay
from subgraphs.audit.app import create_app
from subgraphs.audit.chain import GENESIS_HASH, entry_hash
from subgraphs.audit.checkpoints import load_or_create_key, load_public_key, write_checkpoint
from subgraphs.audit.config import AuditConfig
from subgraphs.audit.models import Base, Evidence, install_append_only
from subgraphs.audit.verify import verify_chain
from subgraphs.party.events import PartyStatusChanged
from tests.helpers import serve

REPO = Path(__file__).resolve().parents[2]


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


async def latency(settings: Settings, tmp: Path, rate: float, seconds: float) -> None:
    """Commits `rate` party events per second for `seconds` and reports commit → evidence p50/p99."""
    await upgrade(settings, "party")
    await upgrade(settings, "audit")
    config = AuditConfig(checkpoint_dir=tmp / "checkpoints", signing_key=tmp / "keys" / "audit.pem")
    party = create_engine(settings, "party")
    sessions = create_sessionmaker(party)
    nc = await connect(settings.nats_url or "", name="bench-relay")
    relay = OutboxRelay(engine=party, js=nc.jetstream(), domain="party")
    committed: dict[uuid.UUID, float] = {}
    context = RequestContext(actor=Actor.system("bench"), correlation_id="bench-audit")

    async def one(n: int) -> None:
        party_id = uuid.uuid4()
        async with UnitOfWork(sessions, context) as uow:
            envelope = await uow.emit(
                PartyStatusChanged(party_id=str(party_id), from_status="PROSPECT", to_status="ACTIVE", action="bench"),
                aggregate_id=party_id,
                aggregate_version=n + 1,
                reason="benchmark",
                before={"status": "PROSPECT"},
                after={"status": "ACTIVE"},
            )
            await uow.commit()
        committed[envelope.id] = time.time()

    try:
        async with serve(create_app(settings, config=config)) as _:
            relay_task = asyncio.create_task(relay.run())
            total, started, pending = int(rate * seconds), time.perf_counter(), set()
            for n in range(total):  # open loop: the schedule does not wait for slow commits
                await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
                task = asyncio.create_task(one(n))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)
            achieved = total / (time.perf_counter() - started)
            audit = create_engine(settings, "audit")
            for _ in range(600):
                async with audit.connect() as conn:
                    rows = (await conn.execute(select(Evidence.event_id, Evidence.recorded_at))).all()
                if len(rows) >= total:
                    break
                await asyncio.sleep(0.1)
            await audit.dispose()
            relay_task.cancel()
            async with party.connect() as conn:
                claimed = dict((await conn.execute(select(outbox_table.c.event_id, outbox_table.c.published_at))).all())
    finally:
        await nc.close()
        await party.dispose()
    warm = sorted(committed.values())[int(rate)] if total > rate else 0.0
    lat = [r.recorded_at.timestamp() - committed[r.event_id] for r in rows if committed.get(r.event_id, 0) >= warm]
    relay = [
        claimed[r.event_id].timestamp() - committed[r.event_id] for r in rows if committed.get(r.event_id, 0) >= warm
    ]
    print(f"  of which commit → claimed by the relay: p50 {_pct(relay, 50):.0f} ms, p99 {_pct(relay, 99):.0f} ms")
    print(
        f"commit → evidence at {rate:.0f} events/s offered ({achieved:.0f}/s achieved), {total} events, "
        f"{len(rows)} evidence rows: p50 {_pct(lat, 50):.0f} ms, p99 {_pct(lat, 99):.0f} ms, "
        f"max {max(lat) * 1000:.0f} ms (first second left out)"
    )


def _entry(sequence: int, at: dt.datetime) -> dict[str, Any]:
    party = str(uuid.UUID(int=random.getrandbits(128), version=4))
    before, after = {"status": "PROSPECT"}, {"status": "ACTIVE", "segment": "SME"}
    data = {
        "party_id": party,
        "from_status": "PROSPECT",
        "to_status": "ACTIVE",
        "action": "activate",
        "before": before,
        "after": after,
    }
    return {
        "sequence": sequence,
        "event_id": uuid.UUID(int=random.getrandbits(128), version=4),
        "occurred_at": at,
        "recorded_at": at,
        "source": "party",
        "event_type": "PartyStatusChanged",
        "nats_subject": "finpace.party.party.status_changed",
        "subject": party,
        "aggregate_version": 2,
        "actor_sub": "ops-1",
        "actor": {"sub": "ops-1", "roles": ["ops"], "client_id": None},
        "reason": "customer request",
        "correlation_id": uuid.uuid4().hex,
        "causation_id": None,
        "schema_version": 1,
        "before": before,
        "after": after,
        "data": data,
    }


async def build_chain(url: str, checkpoints: Path, key_path: Path, entries: int) -> float:
    """Fills an empty audit database with `entries` chained entries and their signed checkpoints."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(install_append_only)
    await engine.dispose()
    key, columns = load_or_create_key(key_path), [c.name for c in Evidence.__table__.columns]
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    started, prev, hashes, records = time.perf_counter(), GENESIS_HASH, [], []
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    try:
        for sequence in range(1, entries + 1):
            entry = _entry(sequence, at + dt.timedelta(milliseconds=sequence))
            entry["prev_hash"], entry["hash"] = prev, entry_hash(prev, entry)
            prev = entry["hash"]
            hashes.append(prev)
            for name in ("actor", "before", "after", "data"):
                entry[name] = json.dumps(entry[name])
            records.append(tuple(entry[c] for c in columns))
            if len(hashes) == 1000:
                write_checkpoint(checkpoints, key, from_seq=sequence - 999, hashes=hashes)
                hashes = []
            if len(records) == 20000 or sequence == entries:
                await conn.copy_records_to_table("audit_evidence", records=records, columns=columns)
                records = []
        if hashes:
            write_checkpoint(checkpoints, key, from_seq=entries - len(hashes) + 1, hashes=hashes)
        await conn.execute("VACUUM ANALYZE audit_evidence")
    finally:
        await conn.close()
    return time.perf_counter() - started


def _cpu(pid: int | None) -> dict[int, float]:
    """CPU seconds so far of the postmaster's children (the backends), by pid."""
    if pid is None:
        return {}
    children = psutil.Process(pid).children(recursive=True)
    return {c.pid: sum(c.cpu_times()[:2]) for c in children if c.is_running()}


async def verify_speed(settings: Settings, tmp: Path, entries: int, pg_pid: int | None) -> None:
    """Builds a chain of `entries` in a throw-away database and times verify_chain over it."""
    name = "finpace_audit_bench"
    admin = await asyncpg.connect(settings.server_database_url("postgres").replace("+asyncpg", ""))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(settings.server_database_url(name)).render_as_string(hide_password=False)
    try:
        built = await build_chain(url, tmp / "bench-checkpoints", tmp / "bench-key.pem", entries)
        print(f"built {entries} entries in {built:.0f} s")
        engine = create_async_engine(url)
        before, started, cpu = _cpu(pg_pid), time.perf_counter(), time.process_time()
        result = await verify_chain(
            create_sessionmaker(engine), tmp / "bench-checkpoints", load_public_key(tmp / "bench-key.pub")
        )
        wall, cpu, after = time.perf_counter() - started, time.process_time() - cpu, _cpu(pg_pid)
        await engine.dispose()
        server = sum(t - before.get(pid, 0.0) for pid, t in after.items())
        assert result.ok and result.entries_checked == entries, result
        print(
            f"verify {entries} entries, {result.checkpoints_checked} checkpoints: {wall:.1f} s wall "
            f"({entries / wall:,.0f} entries/s); CPU: verifier {cpu:.1f} s, PostgreSQL {server:.1f} s; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedPostgres(Path(tmp) / "pg", port=free_port()) as pg,
        EmbeddedNats(Path(tmp) / "nats", port=free_port()) as ns,
    ):
        settings = Settings(
            profile=Profile.DEV,
            database_url=pg.url,
            nats_url=ns.url,
            data_dir=Path(tmp) / "data",
            log_json=False,
            log_level="WARNING",
        )
        nc = await connect(ns.url, name="bench-provision")
        await provision_from(nc, REPO / "nats")
        await nc.close()
        if not args.skip_latency:
            await latency(settings, Path(tmp), args.rate, args.seconds)
        if not args.skip_verify:
            await verify_speed(settings, Path(tmp), args.entries, pg.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
