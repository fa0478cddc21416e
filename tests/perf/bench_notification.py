"""Benchmark: e-mail notifications sent per second through the dispatcher to a local SMTP server.

Run with `python -m tests.perf.bench_notification [--count 2000] [--dispatchers 1]`. Everything is real: an
embedded PostgreSQL, the notification database, an aiosmtpd server in this process (the dev mail sink's
handler, writing .eml files), and the production Dispatcher with its SmtpAdapter (one SMTP connection per
message, smtplib in a worker thread). `count` QUEUED service notifications are inserted, then the
dispatchers (SKIP LOCKED, in parallel) run until every one is SENT; each send also renders the template and
writes a status event to the outbox in the same transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select

from shared.config import Profile, Settings
from shared.db import create_engine, create_sessionmaker
from shared.embedded import EmbeddedPostgres, free_port
from shared.mailsink import start_dev_mail_sink
from shared.migrations import upgrade
from subgraphs.notification.adapters import SmtpAdapter
from subgraphs.notification.config import NotificationConfig
from subgraphs.notification.dispatcher import Dispatcher
from subgraphs.notification.models import DeliveryStatus, Notification, Template


async def run(count: int, dispatchers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedPostgres(Path(tmp) / "pg", port=free_port()) as pg:
        settings = Settings(
            profile=Profile.DEV, database_url=pg.url, data_dir=Path(tmp) / "data", log_json=False, log_level="WARNING"
        )
        await upgrade(settings, "notification")
        port = free_port()
        sink = start_dev_mail_sink(settings, port=port)
        assert sink is not None
        engine = create_engine(settings, "notification")
        sessions = create_sessionmaker(engine)
        template = uuid.uuid4()
        async with sessions() as session, session.begin():
            await session.execute(
                insert(Template).values(
                    id=template,
                    event_type="StatementReady",
                    channel="EMAIL",
                    locale="en",
                    version=1,
                    category="SERVICE",
                    subject="Your statement for {{ period }}",
                    body="Dear {{ name }}, your statement is ready.",
                    created_by="bench",
                )
            )
            await session.execute(
                insert(Notification),
                [
                    {
                        "id": uuid.uuid4(),
                        "party_id": uuid.uuid4(),
                        "event_id": uuid.uuid4(),
                        "event_type": "StatementReady",
                        "template_id": template,
                        "channel": "EMAIL",
                        "category": "SERVICE",
                        "recipient": f"customer{i}@example.com",
                        "context": json.dumps({"name": f"C{i}", "period": "2026-10"}),
                        "status": DeliveryStatus.QUEUED.value,
                        "attempts": 0,
                        "version": 1,
                    }
                    for i in range(count)
                ],
            )
        config = NotificationConfig(smtp_host="127.0.0.1", smtp_port=port)
        adapters = {"EMAIL": SmtpAdapter("127.0.0.1", port, config.smtp_sender)}
        workers = [Dispatcher(sessions, adapters, config) for _ in range(dispatchers)]

        async def drain(worker: Dispatcher) -> None:
            while await worker.run_once():
                pass

        started = time.perf_counter()
        await asyncio.gather(*(drain(w) for w in workers))
        elapsed = time.perf_counter() - started
        async with sessions() as session:
            sent = await session.scalar(
                select(func.count()).select_from(Notification).where(Notification.status == DeliveryStatus.SENT.value)
            )
        sink.stop()
        await engine.dispose()
        assert sent == count == len(sink.handler.received), (sent, len(sink.handler.received))
        print(
            f"{count} e-mail notifications sent in {elapsed:.1f} s: {count / elapsed:.0f}/s "
            f"({dispatchers} dispatcher(s), batch 20, every one received by the SMTP server)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--dispatchers", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.count, args.dispatchers))


if __name__ == "__main__":
    main()
