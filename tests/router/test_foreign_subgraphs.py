"""Subgraphs that are not ours: Node.js @apollo/subgraph servers, composed by @apollo/composition, served by
the router and by Apollo Gateway, which must answer alike.

The scenario (tests/router/scenarios/foreign) mixes a Federation 1 style subgraph (inventory: no @link,
`extend type`, @external, @requires) with federation v2.0 and v2.3 subgraphs, entity jumps, @provides,
@shareable, an interface entity, a union over subgraphs, and an enum and an input type that differ between
subgraphs. Apollo composes it three times: as written (join v0.3); with the Federation 2 subgraphs relinked
to v2.7 plus editorial (@interfaceObject, @override with a label; join v0.4); and relinked to v2.9 plus
ratings (@cost, @listSize; join v0.5). The subgraph servers are shared by the compositions: the linked
version decides what composition accepts, not how @apollo/subgraph resolves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from router.app import create_app
from router.config import RouterSettings
from tests.router.apollo_gateway import ApolloGatewayProcess, NodeProcess, ensure_node_modules
from tests.router.differential import compare_errors
from tests.router.harness import SCENARIOS, compose_with_apollo

FOREIGN = SCENARIOS / "foreign"
CASES = json.loads((FOREIGN / "cases.json").read_text())
# join version Apollo writes -> the federation version the Federation 2 subgraphs are relinked to (None: as written).
COMPOSITIONS = {"v0.3": None, "v0.4": "v2.7", "v0.5": "v2.9"}
JOINS = list(COMPOSITIONS)
# subgraph -> the first composition it takes part in (its SDL uses directives of that federation version).
SUBGRAPHS = {
    "accounts": "v0.3",
    "products": "v0.3",
    "reviews": "v0.3",
    "inventory": "v0.3",
    "editorial": "v0.4",
    "ratings": "v0.5",
}


def since(first: str, join: str) -> bool:
    return JOINS.index(first) <= JOINS.index(join)


def join_version(supergraph_sdl: str) -> str:
    return re.search(r"specs\.apollo\.dev/join/(v\d+\.\d+)", supergraph_sdl).group(1)


def compose(urls: dict[str, str], workdir: Path, federation: str | None = None) -> str:
    """These subgraphs composed by Apollo; `federation` relinks the Federation 2 subgraphs to that version."""
    sdls = {}
    for name, url in urls.items():
        sdl = (FOREIGN / f"{name}.graphql").read_text()
        if federation:
            sdl = re.sub(r"federation/v2\.\d+", f"federation/{federation}", sdl)
        sdls[name] = (url, sdl)
    result = compose_with_apollo(sdls, workdir)
    assert "errors" not in result, result
    return result["supergraphSdl"]


class Foreign:
    """The module's Node processes and compositions, each started or composed once, when first needed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: dict[str, NodeProcess] = {}
        self.supergraphs: dict[str, Path] = {}

    def subgraphs(self, names: list[str]) -> dict[str, str]:
        """The subgraphs' URLs; the missing ones are started side by side."""
        missing = [name for name in names if name not in self.processes]
        with ThreadPoolExecutor() as pool:
            started = {n: pool.submit(NodeProcess, FOREIGN / "subgraphs.mjs", n, what=f"subgraph {n}") for n in missing}
        failed = [n for n, future in started.items() if future.exception()]
        self.processes.update({n: future.result() for n, future in started.items() if n not in failed})
        if failed:
            raise RuntimeError(f"subgraphs {failed} did not start")
        return {name: self.processes[name].url for name in names}

    def supergraph(self, join: str) -> Path:
        if join not in self.supergraphs:
            urls = self.subgraphs([name for name, first in SUBGRAPHS.items() if since(first, join)])
            workdir = self.workdir / join
            workdir.mkdir()
            path = workdir / "supergraph.graphql"
            path.write_text(compose(urls, workdir, COMPOSITIONS[join]))
            self.supergraphs[join] = path
        return self.supergraphs[join]

    def gateway(self, join: str) -> str:
        key = f"gateway {join}"
        if key not in self.processes:
            self.processes[key] = ApolloGatewayProcess(self.supergraph(join))
        return self.processes[key].url

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.stop()


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> Iterator[Foreign]:
    ensure_node_modules()
    scenario = Foreign(tmp_path_factory.mktemp("foreign"))
    yield scenario
    scenario.stop()


@pytest.mark.parametrize("join", JOINS)
def test_apollo_composes_the_join_version(foreign, join: str) -> None:
    sdl = foreign.supergraph(join).read_text()
    assert join_version(sdl) == join
    assert sdl.count("https://specs.apollo.dev/join/") == 1


async def ask(url: str, body: dict, app=None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app) if app else None
    async with httpx.AsyncClient(transport=transport, timeout=20) as client:
        return await client.post(url, json=body, headers={"accept": "application/json"})


def router(foreign: Foreign, join: str, **settings):
    return create_app(RouterSettings(supergraph=foreign.supergraph(join), csrf_prevention=False, **settings))


@pytest.mark.parametrize(
    ("join", "case"),
    [
        pytest.param(join, case, id=f"{join}-{case['name']}")
        for join in JOINS
        for case in CASES
        if since(case.get("join", "v0.3"), join)
    ],
)
async def test_same_response_as_apollo_gateway(foreign, join: str, case: dict) -> None:
    body = {"query": case["query"], "variables": case.get("variables")}
    ours = await ask("http://router/graphql", body, router(foreign, join))
    apollo = await ask(foreign.gateway(join), body)
    assert ours.status_code == apollo.status_code, (ours.text, apollo.text)
    ours_body, apollo_body = ours.json(), apollo.json()
    assert json.dumps(ours_body.get("data")) == json.dumps(apollo_body.get("data")), (ours_body, apollo_body)
    compare_errors(ours_body, apollo_body, case.get("apollo_differences", {}))
    if "expected" in case:
        assert ours_body.get("data") == case["expected"]["data"]


@pytest.mark.parametrize("join", ["v0.4", "v0.5"])
async def test_override_label_on_moves_the_field(foreign, join: str) -> None:
    # Apollo Gateway never turns a label on (the differential cases cover it off); configured, ours follows it.
    app = router(foreign, join, override_labels=["moderated-bodies"])
    resp = await ask("http://router/graphql", {"query": "{ topReviews(page: {first: 2}) { id body stars } }"}, app)
    assert resp.json() == {
        "data": {
            "topReviews": [
                {"id": "r1", "body": "great (moderated)", "stars": 5},
                {"id": "r2", "body": "meh (moderated)", "stars": 2},
            ]
        }
    }


async def test_typename_beside_an_interface_object_field(foreign) -> None:
    # Apollo Gateway 2.14.4 answers [null, null, null] here: it lets editorial's "Item" overwrite "Product".
    query = "{ topProducts { __typename ... on Item { blurb } } }"
    resp = await ask("http://router/graphql", {"query": query}, router(foreign, "v0.4"))
    assert resp.json() == {
        "data": {
            "topProducts": [
                {"__typename": "Product", "blurb": "Spins forever."},
                {"__typename": "Product", "blurb": None},
                {"__typename": "Product", "blurb": "Leaves no leaf behind."},
            ]
        }
    }


async def test_cost_directives_of_a_join_v0_5_supergraph(foreign) -> None:
    # product 1 + ratings(top: n) * Rating's @cost(weight: 3): 13 for n = 4, 16 for n = 5. Without @cost, n = 5
    # would cost 6; without @listSize(slicingArguments: ["top"]), n = 4 would cost 1 + 10 (default size) * 3.
    app = router(foreign, "v0.5", max_cost=15)
    query = '{ product(upc: "p1") { ratings(top: %d) { stars } } }'
    ok = await ask("http://router/graphql", {"query": query % 4}, app)
    assert ok.json() == {"data": {"product": {"ratings": [{"stars": 5}, {"stars": 4}, {"stars": 4}]}}}
    refused = await ask("http://router/graphql", {"query": query % 5}, app)
    assert refused.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED", refused.text
    # `top` is ratings' slicing argument, and the spec requires exactly one by default (as Apollo Router does).
    unsliced = await ask("http://router/graphql", {"query": '{ product(upc: "p1") { ratings { stars } } }'}, app)
    assert unsliced.status_code == 400
    assert unsliced.json()["errors"] == [{
        "message": "Exactly one slicing argument is required for field 'Product.ratings', but found 0.",
        "extensions": {"code": "COST_INVALID_SLICING_ARGUMENTS"}}]
