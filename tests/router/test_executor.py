"""Execution: paths, merging, representation de-duplication and batching, failures and timeouts."""

from __future__ import annotations

import pytest
from strawberry.asgi import GraphQL

from router.client import SubgraphClient
from router.engine import Engine
from router.executor import deep_merge, resolve_path
from tests.router.harness import ServerThread, free_port, load_subgraphs
from tests.router.recording import Recorder


def test_resolve_path_expands_lists_and_drops_nulls() -> None:
    data = {"a": [{"b": {"x": 1}}, {"b": None}, {"b": {"x": 2}}], "c": None}
    assert resolve_path(data, ("a", "@", "b")) == [(("a", 0, "b"), {"x": 1}), (("a", 2, "b"), {"x": 2})]
    assert resolve_path(data, ("c",)) == []
    # A list met where a key is expected is walked as if "@" had been written.
    assert resolve_path(data, ("a", "b")) == [(("a", 0, "b"), {"x": 1}), (("a", 2, "b"), {"x": 2})]


def test_deep_merge(make_engine) -> None:
    sg = make_engine("interface_object").supergraph
    target = {"__typename": "Card", "id": "c1", "list": [{"a": 1}, {"a": 2}], "o": {"x": 1}}
    deep_merge(target, {"__typename": "Product", "fee": 10, "list": [{"b": 1}, {"b": 2}], "o": {"y": 2}}, sg)
    assert target == {
        "__typename": "Card",  # an interface name never overwrites a concrete type
        "id": "c1",
        "list": [{"a": 1, "b": 1}, {"a": 2, "b": 2}],
        "o": {"x": 1, "y": 2},
        "fee": 10,
    }
    target = {"__typename": "Product"}
    deep_merge(target, {"__typename": "Card"}, sg)
    assert target == {"__typename": "Card"}


@pytest.fixture
def recorded_entities():
    """The entities scenario with a recorder in front of the accounts subgraph."""
    schemas = load_subgraphs("entities")
    recorder = Recorder(GraphQL(schemas["accounts"]))
    servers = {name: ServerThread(GraphQL(s)) for name, s in schemas.items() if name != "accounts"}
    servers["accounts"] = ServerThread(recorder)
    for server in servers.values():
        server.start()
    yield recorder, {name: s.url for name, s in servers.items()}
    for server in servers.values():
        server.stop()


async def test_representations_are_deduplicated_and_batched(make_engine, recorded_entities) -> None:
    recorder, urls = recorded_entities
    engine = make_engine("entities", **urls)
    result = await engine.run("{ topReviews { author { name } } }", None, None, {})
    assert [r["author"]["name"] for r in result.body["data"]["topReviews"]] == ["Ada", "Alan", "Ada", "Grace"]
    # One _entities call carrying each distinct author once (four reviews, three authors).
    assert len(recorder.requests) == 1
    reps = recorder.requests[0][1]["variables"]["representations"]
    assert reps == [
        {"__typename": "User", "id": "1"},
        {"__typename": "User", "id": "2"},
        {"__typename": "User", "id": "3"},
    ]


async def test_only_provided_variables_are_sent(make_engine, recorded_entities) -> None:
    recorder, urls = recorded_entities
    engine = make_engine("entities", **urls)
    await engine.run('query Q($id: ID = "2") { user(id: $id) { name } }', {}, None, {})
    body = recorder.requests[-1][1]
    assert body["variables"] == {}  # omitted stays omitted: the subgraph applies the default
    assert body["query"] == 'query Q__accounts__0($id:ID="2"){user(id:$id){name}}'
    await engine.run('query Q($id: ID = "2") { user(id: $id) { name } }', {"id": "3"}, None, {})
    assert recorder.requests[-1][1]["variables"] == {"id": "3"}


async def test_no_request_when_there_are_no_representations(make_engine, recorded_entities) -> None:
    recorder, urls = recorded_entities
    engine = make_engine("entities", **urls)
    result = await engine.run('{ product(upc: "nope") { reviews { author { name } } } }', None, None, {})
    assert result.body == {"data": {"product": None}}
    assert recorder.requests == []


async def test_subgraph_down_gives_partial_data_and_names_the_subgraph(make_engine) -> None:
    engine = make_engine("errors", rewards=f"http://127.0.0.1:{free_port()}/graphql")
    result = await engine.run('{ cards { id } card(id: "k1") { brand points } }', None, None, {})
    assert result.status == 200
    assert result.body["data"] == {"cards": [{"id": "k1"}, {"id": "k2"}, {"id": "k3"}], "card": None}
    [error] = result.body["errors"]
    assert error["extensions"]["code"] == "SUBREQUEST_HTTP_ERROR"
    assert error["extensions"]["service"] == "rewards"
    assert "rewards" in error["message"]
    assert error["path"] == ["card"]


async def test_subgraph_timeout(make_engine) -> None:
    engine = make_engine("errors", timeout=0.3)
    result = await engine.run('{ card(id: "k1") { brand slowPoints } }', None, None, {})
    assert result.body["data"] == {"card": {"brand": "Visa", "slowPoints": None}}
    [error] = result.body["errors"]
    assert error["extensions"] == {"code": "GATEWAY_TIMEOUT", "service": "rewards"}
    assert error["path"] == ["card"]


async def test_entity_errors_are_repathed_to_every_position(make_engine) -> None:
    engine = make_engine("errors")
    result = await engine.run('{ a: card(id: "k3") { limit } b: card(id: "k3") { limit } }', None, None, {})
    assert result.body["data"] == {"a": None, "b": None}
    paths = sorted(e["path"] for e in result.body["errors"])
    # Both positions hold the same entity: one representation, the error copied to each path.
    assert paths == [["a", "limit"], ["b", "limit"]]
    assert all(e["extensions"]["service"] == "limits" for e in result.body["errors"])


async def test_value_completion_errors_go_to_extensions(make_engine) -> None:
    engine = make_engine("errors")
    result = await engine.run("{ ghostCard { id brand } }", None, None, {})
    assert result.body["data"] is None
    assert "errors" not in result.body
    # One entry per origin: the null in Card.brand, not again for each non-null level it bubbles through.
    assert result.body["extensions"]["valueCompletion"] == [
        {"message": "Cannot return null for non-nullable field Card.brand.", "path": ["ghostCard", "brand"]}
    ]


async def test_subgraph_answering_html_500(make_engine) -> None:
    async def broken(scope, receive, send):
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html>oops</html>"})

    server = ServerThread(broken).start()
    try:
        engine = make_engine("errors", rewards=server.url)
        result = await engine.run('{ card(id: "k1") { brand } program }', None, None, {})
    finally:
        server.stop()
    assert result.body["data"] is None  # program is non-null at the root
    [error] = result.body["errors"]
    assert error["extensions"]["code"] == "SUBREQUEST_HTTP_ERROR"
    assert "500" in error["message"]


async def test_plans_and_documents_are_cached(make_engine) -> None:
    engine: Engine = make_engine("entities")
    for _ in range(3):
        await engine.run("{ me { name } }", None, None, {})
    assert engine.plans.hits == 2
    assert engine.documents.hits == 2


async def test_shaping_plans_are_shared_unless_a_variable_can_change_them(make_engine) -> None:
    engine: Engine = make_engine("entities")
    query = "{ topReviews { body author { name } } }"
    first = await engine.run(query, None, None, {})
    assert engine.shapings.get((query, None))  # planned once, by the first request
    assert (await engine.run(query, None, None, {})).body == first.body
    assert engine.shapings.hits == 2

    conditional = "query Q($b: Boolean!) { topReviews { body author @include(if: $b) { name } } }"
    with_author = await engine.run(conditional, {"b": True}, None, {})
    without = await engine.run(conditional, {"b": False}, None, {})
    assert engine.shapings.get((conditional, "Q")) is None and engine.shaping(conditional, "Q") is None
    assert all("author" in r for r in with_author.body["data"]["topReviews"])
    assert all(set(r) == {"body"} for r in without.body["data"]["topReviews"])


async def test_coalescing_shares_identical_inflight_queries(make_engine, recorded_entities) -> None:
    import asyncio

    recorder, urls = recorded_entities
    engine = make_engine("entities", **urls)
    engine.executor.client = SubgraphClient(coalesce=True)
    await asyncio.gather(*(engine.run("{ users { name } }", None, None, {}) for _ in range(5)))
    assert 1 <= len(recorder.requests) < 5
