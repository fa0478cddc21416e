"""Router test fixtures: scenario subgraphs served over real HTTP on loopback, engines and apps over them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router.client import SubgraphClient
from router.engine import Engine
from router.supergraph import Supergraph
from tests.router.harness import SCENARIOS, ServerThread, serve_subgraphs


class ScenarioServers:
    """Starts each scenario's subgraphs once per session, on demand."""

    def __init__(self) -> None:
        self.running: dict[str, dict[str, ServerThread]] = {}

    def urls(self, scenario: str) -> dict[str, str]:
        if scenario not in self.running:
            self.running[scenario] = serve_subgraphs(scenario)
        return {name: server.url for name, server in self.running[scenario].items()}

    def supergraph(self, scenario: str, **overrides: str) -> Supergraph:
        urls = {**self.urls(scenario), **overrides}
        return Supergraph.from_file(SCENARIOS / scenario / "supergraph.graphql", urls)

    def stop(self) -> None:
        for servers in self.running.values():
            for server in servers.values():
                server.stop()


@pytest.fixture(scope="session")
def scenarios() -> Iterator[ScenarioServers]:
    servers = ScenarioServers()
    yield servers
    servers.stop()


@pytest.fixture
def make_engine(scenarios: ScenarioServers):
    """Factory: an Engine over a scenario's live subgraphs (optionally with some URLs overridden)."""
    clients: list[SubgraphClient] = []

    def make(scenario: str, *, timeout: float = 10.0, **overrides: str) -> Engine:
        client = SubgraphClient(timeout=timeout)
        clients.append(client)
        return Engine(scenarios.supergraph(scenario, **overrides), client)

    yield make
    # The clients' connections die with the session loop; nothing to await here.
    clients.clear()
