"""Demo seeding through the public mutations: each domain's optional `seed` module, in supergraph order."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.registry import load_subgraphs, service_port

console = Console(stderr=True)


ACCOUNT_HOLDER = """query($id: ID!) { account(id: $id) { holder { id } currency } }"""


class SeedError(RuntimeError):
    """A seeding mutation failed; the message names the domain and the GraphQL error."""


@dataclass
class SeedContext:
    """What a domain's seed function gets: a GraphQL caller per domain, a fixed-seed RNG and shared state."""

    http: httpx.AsyncClient
    urls: dict[str, str]
    token: str
    count: int
    rng: random.Random = field(default_factory=lambda: random.Random(20261122))
    state: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[str], None] = lambda _msg: None

    async def gql(self, domain: str, query: str, variables: dict[str, Any] | None = None,
                  *, token: str | None = None) -> dict[str, Any]:
        """Runs one operation against a domain's subgraph and returns its data, raising SeedError on errors."""
        response = await self.http.post(
            self.urls[domain], json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token or self.token}"},
        )
        body = response.json() if response.headers.get("content-type", "").startswith("application") else {}
        if response.status_code != 200 or body.get("errors"):
            raise SeedError(f"{domain}: {response.status_code} {body.get('errors') or response.text[:300]}")
        data: dict[str, Any] = body["data"]
        return data

    async def command_once_seen(self, domain: str, query: str, variables: dict[str, Any], *,
                                token: str | None = None, attempts: int = 100) -> dict[str, Any]:
        """Runs a one-field mutation and returns that field, repeating it while it answers NOT_FOUND: the
        domain's read model (products, parties) may still be catching up with events earlier steps published."""
        for _ in range(attempts):
            result: dict[str, Any] = next(iter((await self.gql(domain, query, variables, token=token)).values()))
            if result.get("code") != "NOT_FOUND":
                break
            await asyncio.sleep(0.2)
        return result

    async def account_holders(self, account_ids: list[str]) -> list[tuple[str, str, str]]:
        """(party, account, currency) of each account, read from the account subgraph (for lending seeds)."""
        out = []
        for account_id in account_ids:
            acc = (await self.gql("account", ACCOUNT_HOLDER, {"id": account_id}))["account"]
            out.append((acc["holder"]["id"], account_id, acc["currency"]))
        return out

    @staticmethod
    def key() -> str:
        """Returns a fresh idempotency key."""
        return uuid.uuid4().hex


async def run_demo_seed(settings: Settings, *, count: int = 300, url: str | None = None) -> str:
    """Seeds every domain that has a `subgraphs.<name>.seed` module; returns a one-line summary."""
    host = settings.host
    urls = {s.name: f"http://{host}:{service_port(s)}/graphql" for s in load_subgraphs()}
    if url:
        urls = dict.fromkeys(urls, url)  # everything through one endpoint (the router)
    token = issue_dev_token(settings, role="admin", sub="seed-admin", ttl_seconds=3600)
    started = time.monotonic()
    done: list[str] = []
    async with httpx.AsyncClient(timeout=60) as http:
        ctx = SeedContext(http=http, urls=urls, token=token, count=count,
                          progress=lambda msg: console.print(f"  {msg}", highlight=False))
        for name in urls:
            module_name = f"subgraphs.{name}.seed"
            if importlib.util.find_spec(module_name) is None:
                continue
            console.print(f"[bold]seeding {name}[/]", highlight=False)
            module = importlib.import_module(module_name)
            await module.seed(ctx)
            done.append(name)
    return f"Seeded {', '.join(done) or 'nothing'} in {time.monotonic() - started:.1f}s."
