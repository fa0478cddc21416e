"""Operation limits: each boundary passes, one more is refused with its code and no subgraph call."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import websockets
from graphql import get_introspection_query

from router.app import create_app
from router.config import RouterSettings
from tests.router.harness import SCENARIOS, ServerThread

PROTOCOL = "graphql-transport-ws"

_FETCHES = re.compile(r"^finpace_router_subgraph_fetches_total\{[^}]*\} (\S+)$", re.M)

# me(1) reviews(2) product(3) reviews(4) author(5) reviews(6) id(7)
DEPTH_7 = "{ me { reviews { product { reviews { author { reviews { id } } } } } } }"
DEPTH_8 = "{ me { reviews { product { reviews { author { reviews { product { upc } } } } } } } }"


@pytest.fixture
def supergraph_file(scenarios, tmp_path) -> Path:
    """The entities scenario (`topProducts(first:)`, nested users and reviews) with live subgraph URLs."""
    path = tmp_path / "supergraph.graphql"
    sdl = (SCENARIOS / "entities" / "supergraph.graphql").read_text()
    for name, url in scenarios.urls("entities").items():
        sdl = sdl.replace(f"http://{name}.invalid/graphql", url)
    path.write_text(sdl)
    return path


class Router:
    """A router app in process; `fetches()` reads the per-subgraph fetch counter from /metrics."""

    def __init__(self, supergraph: Path, **settings) -> None:
        app = create_app(RouterSettings(supergraph=supergraph, **settings))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router")

    async def fetches(self) -> float:
        text = (await self.client.get("/metrics")).text
        return sum(float(v) for v in _FETCHES.findall(text))

    async def post(self, query: str | None = None, **body) -> tuple[httpx.Response, float]:
        """POST a request; the response and the number of subgraph fetches it caused."""
        before = await self.fetches()
        if query is not None:
            body["query"] = query
        resp = await self.client.post("/graphql", json=body)
        return resp, await self.fetches() - before


@pytest.fixture
async def router(supergraph_file):
    r = Router(supergraph_file)
    async with r.client:
        yield r


def _code(resp: httpx.Response) -> str:
    return resp.json()["errors"][0]["extensions"]["code"]


async def _passes(router: Router, query: str, **body) -> None:
    resp, fetches = await router.post(query, **body)
    assert resp.status_code == 200, resp.text
    assert "errors" not in resp.json(), resp.text
    assert fetches > 0


async def _refused(router: Router, query: str | None, code: str, status: int = 400, **body) -> None:
    resp, fetches = await router.post(query, **body)
    assert resp.status_code == status, resp.text
    assert _code(resp) == code
    assert fetches == 0


async def test_depth(router) -> None:
    await _passes(router, DEPTH_7)
    await _refused(router, DEPTH_8, "MAX_DEPTH_EXCEEDED")


async def test_depth_counts_through_fragments_and_survives_cycles(router) -> None:
    spread = (
        "{ me { reviews { ...R } } } "
        "fragment R on Review { product { reviews { author { reviews { product { upc } } } } } }"
    )
    await _refused(router, spread, "MAX_DEPTH_EXCEEDED")
    cycle = "{ me { ...A } } fragment A on User { reviews { author { ...B } } } fragment B on User { ...A }"
    resp, fetches = await router.post(cycle)
    assert resp.status_code == 400
    assert fetches == 0


async def test_aliases(router) -> None:
    def aliased(n: int) -> str:
        return "{ me { " + " ".join(f"a{i}: id" for i in range(n)) + " } }"

    await _passes(router, aliased(15))
    await _refused(router, aliased(16), "MAX_ALIASES_EXCEEDED")


async def test_root_fields(router) -> None:
    def roots(n: int) -> str:
        return "{ " + " ".join(["me { id }"] * n) + " }"

    await _passes(router, roots(10))
    await _refused(router, roots(11), "MAX_ROOT_FIELDS_EXCEEDED")
    # Fields reached through a fragment at the root count too.
    await _refused(
        router, "{ ...Q } fragment Q on Query { " + " ".join(["me { id }"] * 11) + " }", "MAX_ROOT_FIELDS_EXCEEDED"
    )


async def test_directives(router) -> None:
    def directed(n: int) -> str:
        return "{ me { " + " ".join(["id @include(if: true)"] * n) + " } }"

    await _passes(router, directed(50))
    await _refused(router, directed(51), "MAX_DIRECTIVES_EXCEEDED")


def _tokens(n: int) -> str:
    """A query of exactly `n` tokens: `{ me { id … } }` has 5 + the number of `id`s."""
    return "{ me { " + " ".join(["id"] * (n - 5)) + " } }"


async def test_tokens(supergraph_file) -> None:
    # A small ceiling keeps the boundary document valid GraphQL that validates quickly.
    r = Router(supergraph_file, max_tokens=40)
    async with r.client:
        await _passes(r, _tokens(40))
        await _refused(r, _tokens(41), "MAX_TOKENS_EXCEEDED")


async def test_default_token_limit(router) -> None:
    await _refused(router, _tokens(2_001), "MAX_TOKENS_EXCEEDED")
    # 2,000 tokens parse; the document then reaches validation rather than the token limit.
    resp, _ = await router.post(_tokens(2_000))
    assert _code(resp) != "MAX_TOKENS_EXCEEDED"


def _body_of(size: int) -> bytes:
    """A JSON request body of exactly `size` bytes, padded with spaces inside the query."""
    bare = json.dumps({"query": "{ me { id } }"}).encode()
    return json.dumps({"query": "{ me { id }" + " " * (size - len(bare)) + " }"}).encode()


async def test_body_size(router) -> None:
    headers = {"content-type": "application/json"}
    before = await router.fetches()
    ok = await router.client.post("/graphql", content=_body_of(64 * 1024), headers=headers)
    assert ok.status_code == 200, ok.text
    mid = await router.fetches()
    big = await router.client.post("/graphql", content=_body_of(65 * 1024), headers=headers)
    over_by_one = await router.client.post("/graphql", content=_body_of(64 * 1024 + 1), headers=headers)
    assert mid > before
    for resp in (big, over_by_one):
        assert resp.status_code == 413
        assert _code(resp) == "BODY_TOO_LARGE"
    assert await router.fetches() == mid


async def test_page_size_literals(router) -> None:
    await _passes(router, "{ topProducts(first: 100) { upc } }")
    await _passes(router, "{ topProducts(first: 1) { upc } }")
    await _refused(router, "{ topProducts(first: 101) { upc } }", "PAGE_SIZE_OUT_OF_RANGE")
    await _refused(router, "{ topProducts(first: 0) { upc } }", "PAGE_SIZE_OUT_OF_RANGE")
    await _refused(router, "{ ...Q } fragment Q on Query { topReviews(first: 101) { id } }", "PAGE_SIZE_OUT_OF_RANGE")


async def test_page_size_variables(router) -> None:
    query = "query Top($n: Int!) { topProducts(first: $n) { upc } }"
    await _passes(router, query, variables={"n": 100})
    await _passes(router, query, variables={"n": 1})
    await _refused(router, query, "PAGE_SIZE_OUT_OF_RANGE", variables={"n": 101})
    await _refused(router, query, "PAGE_SIZE_OUT_OF_RANGE", variables={"n": 0})
    # The verdicts are cached per document and integer variables: each value keeps its own.
    await _passes(router, query, variables={"n": 100})
    await _refused(router, query, "PAGE_SIZE_OUT_OF_RANGE", variables={"n": 101})
    # A variable's default value is coerced like a sent one.
    await _refused(router, "query Top($n: Int! = 101) { topProducts(first: $n) { upc } }", "PAGE_SIZE_OUT_OF_RANGE")


async def test_limits_apply_to_persisted_operations(supergraph_file, tmp_path) -> None:
    operations = tmp_path / "operations"
    operations.mkdir()
    (operations / "Deep.graphql").write_text("query Deep " + DEPTH_8 + "\n")
    (operations / "Big.graphql").write_text("query Big { topProducts(first: 101) { upc } }\n")
    r = Router(supergraph_file, operations_dir=operations)
    async with r.client:
        await _refused(r, None, "MAX_DEPTH_EXCEEDED", documentId="Deep")
        await _refused(r, None, "PAGE_SIZE_OUT_OF_RANGE", documentId="Big")


async def test_graphiql_introspection_query_passes(router) -> None:
    resp, fetches = await router.post(get_introspection_query(descriptions=True))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    assert fetches == 0


async def test_limits_are_configurable(supergraph_file) -> None:
    r = Router(supergraph_file, max_depth=8, max_page_size=200)
    async with r.client:
        await _passes(r, DEPTH_8)
        await _passes(r, "{ topProducts(first: 150) { upc } }")


async def test_limits_apply_over_websocket(scenarios, tmp_path) -> None:
    path = tmp_path / "subscriptions.graphql"
    path.write_text((SCENARIOS / "subscriptions" / "supergraph.graphql").read_text())
    app = create_app(RouterSettings(supergraph=path, subgraph_urls=scenarios.urls("subscriptions")))
    server = ServerThread(app)
    server.server.config.lifespan = "on"
    server.start()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/graphql", subprotocols=[PROTOCOL]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            aliases = " ".join(f"a{i}: n" for i in range(16))
            query = "subscription { ticks(to: 1) { " + aliases + " } }"
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "payload": {"query": query}}))
            message = json.loads(await ws.recv())
    finally:
        server.stop()
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "MAX_ALIASES_EXCEEDED"
