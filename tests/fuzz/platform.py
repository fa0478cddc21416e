"""A throw-away platform for fuzzing: every subgraph and the router on a private PostgreSQL and NATS, seeded.

schemathesis drives its cases synchronously (requests), so the servers run on an event loop of their own in a
background thread; the test thread only speaks HTTP to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from graphql import parse

from router.app import create_app as create_router
from router.config import RouterSettings
from shared.auth import issue_dev_token
from shared.cli import router_token_validator
from shared.config import Settings
from shared.migrations import upgrade
from shared.seed import SeedContext
from subgraphs.account.app import create_app as create_account
from subgraphs.account.seed import seed as seed_accounts
from subgraphs.audit.app import create_app as create_audit
from subgraphs.consumer_lending.app import create_app as create_consumer_lending
from subgraphs.corporate_lending.app import create_app as create_corporate_lending
from subgraphs.notification.app import create_app as create_notification
from subgraphs.partner.app import create_app as create_partner
from subgraphs.party.app import create_app as create_party
from subgraphs.party.seed import seed as seed_parties
from subgraphs.product.app import create_app as create_product
from subgraphs.product.seed import seed as seed_products
from tests.helpers import serve
from tests.subgraphs.support import provision

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
SUPERGRAPH = SCHEMA_DIR / "supergraph.graphql"
SUBGRAPHS = {
    "party": create_party,
    "product": create_product,
    "account": create_account,
    "corporate_lending": create_corporate_lending,
    "consumer_lending": create_consumer_lending,
    "notification": create_notification,
    "audit": create_audit,
    "partner": create_partner,
}
# Each entity type, the subgraph and query that list some of its ids after seeding.
ENTITY_QUERIES = {
    "Party": ("party", "{ parties(first: 50) { edges { node { id } } } }"),
    "Product": ("product", "{ products(first: 50) { edges { node { id } } } }"),
}
T = TypeVar("T")


def entity_types() -> list[str]:
    """Every type that some subgraph snapshot declares with a @key."""
    names = set()
    for path in SCHEMA_DIR.glob("*.graphql"):
        if path != SUPERGRAPH:
            for node in parse(path.read_text()).definitions:
                if any(d.name.value == "key" for d in getattr(node, "directives", None) or ()):
                    names.add(node.name.value)
    return sorted(names)


@dataclass
class Platform:
    """URLs of the running graphs, the ids the seed created, and tokens for the roles the fuzzer acts as."""

    urls: dict[str, str]
    settings: Settings
    background: BackgroundLoop | None = None
    stack: contextlib.AsyncExitStack | None = None
    entities: dict[str, list[str]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def known_ids(self) -> list[str]:
        found = {i for ids in self.entities.values() for i in ids}
        for value in self.state.values():
            values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
            found.update(v for v in values if isinstance(v, str) and len(v) == 36)
        return sorted(found)

    def token(self, role: str, party_ids: list[str] | None = None) -> str:
        return issue_dev_token(self.settings, role=role, sub=f"fuzz-{role}", party_ids=party_ids, ttl_seconds=3600)


class BackgroundLoop:
    """An event loop in a daemon thread; run() executes a coroutine there and waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.closed = False
        self.thread = threading.Thread(target=self._forever, name="fuzz-servers", daemon=True)
        self.thread.start()

    def _forever(self) -> None:
        while not self.closed:
            # uvicorn exits a server that fails to start with SystemExit, which would end the loop with it.
            with contextlib.suppress(SystemExit):
                self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.closed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


async def _start(stack: contextlib.AsyncExitStack, settings: Settings, seed_count: int) -> Platform:
    await provision(settings.nats_url or "")
    urls: dict[str, str] = {}
    for name, factory in SUBGRAPHS.items():
        await upgrade(settings, name)
        app = factory(settings, lending_saga=False) if name == "account" else factory(settings)
        urls[name] = f"{await stack.enter_async_context(serve(app))}/graphql"
    platform = Platform(urls=urls, settings=settings, entities={name: [] for name in entity_types()})
    async with httpx.AsyncClient(timeout=60) as http:
        ctx = SeedContext(http=http, urls=urls, token=platform.token("admin"), count=seed_count)
        for seed in (seed_parties, seed_products, seed_accounts):
            await seed(ctx)
        platform.state = ctx.state
        for typename, (graph, query) in ENTITY_QUERIES.items():
            data = await ctx.gql(graph, query)
            connection = next(iter(data.values()))
            platform.entities[typename] = [edge["node"]["id"] for edge in connection["edges"]]
    platform.entities["Account"] = list(ctx.state.get("account.accounts") or [])
    return platform


async def _start_router(platform: Platform) -> str:
    assert platform.stack is not None
    config = RouterSettings(supergraph=SUPERGRAPH, subgraph_urls=platform.urls, subgraph_timeout=10)
    app = create_router(config, token_validator=router_token_validator(platform.settings))
    return f"{await platform.stack.enter_async_context(serve(app))}/graphql"


def start_router(platform: Platform) -> str:
    """Starts the router over the platform's subgraphs (composed from schema/supergraph.graphql); returns its URL."""
    assert platform.background is not None
    return platform.background.run(_start_router(platform))


@contextlib.contextmanager
def running_platform(settings: Settings, *, seed_count: int = 4) -> Iterator[Platform]:
    """Starts, seeds and finally stops the platform on a background loop."""
    background = BackgroundLoop()
    stack = contextlib.AsyncExitStack()
    try:
        platform = background.run(_start(stack, settings, seed_count))
        platform.background, platform.stack = background, stack
        yield platform
    finally:
        with contextlib.suppress(Exception):
            background.run(stack.aclose(), timeout=60)
        background.close()
