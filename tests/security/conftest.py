"""Security fixtures: routers in the production (or dev) profile in front of stub subgraphs on loopback."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.app import create_app
from router.config import RouterSettings
from tests.router.harness import SCENARIOS, serve_subgraphs

SCENARIO = "mutations"  # a query root, a mutation root and an entity across two subgraphs
_FETCHES = re.compile(r"^finpace_router_subgraph_fetches_total\{[^}]*\} (\S+)$", re.M)


@pytest.fixture(scope="session")
def stub_urls() -> Iterator[dict[str, str]]:
    """The scenario's Strawberry subgraphs served over real HTTP: {subgraph name: URL}."""
    servers = serve_subgraphs(SCENARIO)
    yield {name: server.url for name, server in servers.items()}
    for server in servers.values():
        server.stop()


@pytest.fixture
def supergraph_for(stub_urls: dict[str, str], tmp_path: Path) -> Callable[..., Path]:
    """Factory: the scenario's supergraph with live subgraph URLs (some may be overridden, e.g. a dead port)."""

    def make(**overrides: str) -> Path:
        sdl = (SCENARIOS / SCENARIO / "supergraph.graphql").read_text()
        for name, url in {**stub_urls, **overrides}.items():
            sdl = sdl.replace(f"http://{name}.invalid/graphql", url)
        path = tmp_path / f"supergraph-{len(list(tmp_path.iterdir()))}.graphql"
        path.write_text(sdl)
        return path

    return make


class RouterClient(httpx.AsyncClient):
    """An in-process router; `fetches()` reads the subgraph fetch counter from /metrics."""

    def __init__(self, settings: RouterSettings, **app_options: Any) -> None:
        self.app = create_app(settings, **app_options)
        super().__init__(transport=httpx.ASGITransport(app=self.app), base_url="http://router")

    async def fetches(self) -> float:
        return sum(float(v) for v in _FETCHES.findall((await self.get("/metrics")).text))


@pytest.fixture
def production_router(supergraph_for: Callable[..., Path]) -> Callable[..., RouterClient]:
    """Factory: a router in the production profile (settings may be overridden)."""

    def make(token_validator: Any = None, overrides: dict[str, str] | None = None, **settings: Any) -> RouterClient:
        config = RouterSettings.production(supergraph=supergraph_for(**(overrides or {})), **settings)
        return RouterClient(config, token_validator=token_validator)

    return make
