"""Subgraphs that are not ours: Node.js @apollo/subgraph servers, composed by @apollo/composition, served by
the router and by Apollo Gateway, which must answer alike.

The scenario (tests/router/scenarios/foreign) mixes a Federation 1 style subgraph (inventory: no @link,
`extend type`, @external, @requires) with federation v2.0 and v2.3 subgraphs (join v0.3), entity jumps,
@provides, @shareable, a union over subgraphs, and an enum and an input type that differ between subgraphs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from router.app import create_app
from router.config import RouterSettings
from tests.router.apollo_gateway import ApolloGatewayProcess, NodeProcess, ensure_node_modules
from tests.router.differential import compare_errors
from tests.router.harness import SCENARIOS, compose_with_apollo

FOREIGN = SCENARIOS / "foreign"
NAMES = ("accounts", "products", "reviews", "inventory")
CASES = json.loads((FOREIGN / "cases.json").read_text())


def join_version(supergraph_sdl: str) -> str:
    return re.search(r"specs\.apollo\.dev/join/(v\d+\.\d+)", supergraph_sdl).group(1)


def compose(urls: dict[str, str], workdir: Path, federation: str | None = None) -> str:
    """The scenario composed by Apollo; `federation` relinks the Federation 2 subgraphs to that version."""
    sdls = {}
    for name in NAMES:
        sdl = (FOREIGN / f"{name}.graphql").read_text()
        if federation:
            sdl = re.sub(r"federation/v2\.\d+", f"federation/{federation}", sdl)
        sdls[name] = (urls[name], sdl)
    result = compose_with_apollo(sdls, workdir)
    assert "errors" not in result, result
    return result["supergraphSdl"]


@pytest.fixture(scope="module")
def subgraphs() -> Iterator[dict[str, str]]:
    ensure_node_modules()
    started: list[NodeProcess] = []
    try:
        for name in NAMES:
            started.append(NodeProcess(FOREIGN / "subgraphs.mjs", name, what=f"subgraph {name}"))
        yield {name: proc.url for name, proc in zip(NAMES, started, strict=True)}
    finally:
        for proc in started:
            proc.stop()


@pytest.fixture(scope="module")
def supergraph_path(subgraphs, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("foreign")
    path = workdir / "supergraph.graphql"
    path.write_text(compose(subgraphs, workdir))
    return path


@pytest.fixture(scope="module")
def gateway(supergraph_path) -> Iterator[str]:
    proc = ApolloGatewayProcess(supergraph_path)
    yield proc.url
    proc.stop()


def test_apollo_composes_join_v0_3(supergraph_path) -> None:
    # federation v2.0 and v2.3 subgraphs (and a Federation 1 one) compose to join v0.3.
    assert join_version(supergraph_path.read_text()) == "v0.3"


async def ask(url: str, body: dict, app=None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app) if app else None
    async with httpx.AsyncClient(transport=transport, timeout=20) as client:
        return await client.post(url, json=body, headers={"accept": "application/json"})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
async def test_same_response_as_apollo_gateway(supergraph_path, gateway, case: dict) -> None:
    app = create_app(RouterSettings(supergraph=supergraph_path, csrf_prevention=False))
    body = {"query": case["query"], "variables": case.get("variables")}
    ours = await ask("http://router/graphql", body, app)
    apollo = await ask(gateway, body)
    assert ours.status_code == apollo.status_code, (ours.text, apollo.text)
    ours_body, apollo_body = ours.json(), apollo.json()
    assert json.dumps(ours_body.get("data")) == json.dumps(apollo_body.get("data")), (ours_body, apollo_body)
    compare_errors(ours_body, apollo_body, case.get("apollo_differences", {}))
    if "expected" in case:
        assert ours_body.get("data") == case["expected"]["data"]
