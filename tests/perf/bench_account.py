"""Benchmark: account postings per second (one hot account, and spread over 1,000 accounts) and balance lookups.

Run with `python -m tests.perf.bench_account [--seconds 10] [--concurrency 32] [--accounts 1000]`.
Everything is real: an embedded PostgreSQL and NATS, the account subgraph under uvicorn in this process,
and the load generator posting GraphQL over HTTP (so figures include HTTP, GraphQL and the outbox).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from shared.auth import issue_dev_token
from shared.config import Profile, Settings
from shared.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shared.events import Actor, Envelope
from shared.messaging import connect, provision_from
from shared.migrations import upgrade
from subgraphs.account.app import create_app
from subgraphs.product import events as product_events
from tests.helpers import serve

REPO = Path(__file__).resolve().parents[2]
OPEN = """mutation($input: OpenAccountInput!, $key: String!) { openAccount(input: $input, idempotencyKey: $key) {
  __typename ... on Account { id } ... on DomainError { code message } } }"""
ACTIVATE = """mutation($id: ID!) { activateAccount(accountId: $id, reason: "bench") { __typename } }"""
RECEIVE = """mutation($id: ID!, $key: String!) { receivePayment(accountId: $id, idempotencyKey: $key,
  amount: {amount: "1.00", currency: "EUR"}) { __typename } }"""
BALANCE = """query($id: ID!) { account(id: $id) { bookedBalance { amount } availableBalance { amount } } }"""


async def _publish_product(settings: Settings, product_id: uuid.UUID) -> None:
    event = product_events.ProductVersionPublished(
        product_id=str(product_id),
        code="BCA-BENCH",
        version=1,
        family="CURRENT_ACCOUNT",
        currency="EUR",
        effective_from=dt.date.today().isoformat(),
        supersedes_version=None,
        superseded_product_id=None,
    )
    envelope = Envelope.wrap(
        event,
        aggregate_id=product_id,
        aggregate_version=1,
        actor=Actor.system("bench"),
        reason=None,
        correlation_id="bench",
    )
    nc = await connect(settings.nats_url or "", name="bench")
    try:
        await nc.jetstream().publish(
            envelope.nats_subject, json.dumps(envelope.to_dict()).encode(), headers={"Nats-Msg-Id": str(envelope.id)}
        )
    finally:
        await nc.close()


async def _call(client: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


async def _open(client: httpx.AsyncClient, url: str, product: uuid.UUID) -> str:
    for _ in range(200):
        data = (
            await _call(
                client,
                url,
                OPEN,
                {
                    "key": uuid.uuid4().hex,
                    "input": {
                        "partyId": str(uuid.uuid4()),
                        "productId": str(product),
                        "currency": "EUR",
                        "overdraftDebitRatePct": "10",
                        "dayCount": "ACT_365",
                        "monthlyFee": "0",
                    },
                },
            )
        )["openAccount"]
        if data["__typename"] == "Account":
            await _call(client, url, ACTIVATE, {"id": data["id"]})
            return str(data["id"])
        await asyncio.sleep(0.1)  # the product read model is still catching up
    raise RuntimeError("product never reached the read model")


async def _drive(seconds: float, concurrency: int, job: Any) -> tuple[int, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return len(latencies), latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def run(seconds: float, concurrency: int, accounts: int) -> None:
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
        await upgrade(settings, "account")
        nc = await connect(ns.url, name="bench-provision")
        await provision_from(nc, REPO / "nats")
        await nc.close()
        token = issue_dev_token(settings, role="ops", sub="bench", ttl_seconds=3600)
        async with serve(create_app(settings)) as base:
            url = f"{base}/graphql"
            limits = httpx.Limits(
                max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8, keepalive_expiry=2
            )
            async with httpx.AsyncClient(
                limits=limits, timeout=60, headers={"authorization": f"Bearer {token}"}
            ) as client:
                product = uuid.uuid4()
                await _publish_product(settings, product)
                hot = await _open(client, url, product)
                gate = asyncio.Semaphore(concurrency)

                async def open_one() -> str:
                    async with gate:
                        return await _open(client, url, product)

                started = time.perf_counter()
                spread = await asyncio.gather(*[open_one() for _ in range(accounts)])
                print(f"opened and activated {accounts} accounts in {time.perf_counter() - started:.1f}s")

                async def post_hot() -> None:
                    await _call(client, url, RECEIVE, {"id": hot, "key": uuid.uuid4().hex})

                async def post_spread() -> None:
                    await _call(client, url, RECEIVE, {"id": random.choice(spread), "key": uuid.uuid4().hex})

                async def lookup() -> None:
                    await _call(client, url, BALANCE, {"id": random.choice(spread)})

                for name, job in (("one hot account", post_hot), (f"spread over {accounts} accounts", post_spread)):
                    n, lat = await _drive(seconds, concurrency, job)
                    # each incoming payment is one journal entry of two postings (customer + clearing)
                    print(
                        f"{name}: {n / seconds:.0f} entries/s = {2 * n / seconds:.0f} postings/s "
                        f"(p50 {_pct(lat, 50):.1f} ms, p95 {_pct(lat, 95):.1f} ms, concurrency {concurrency})"
                    )
                n, lat = await _drive(seconds, concurrency, lookup)
                print(f"balance lookup: {n / seconds:.0f}/s, p50 {_pct(lat, 50):.1f} ms, p95 {_pct(lat, 95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.concurrency, args.accounts))


if __name__ == "__main__":
    main()
