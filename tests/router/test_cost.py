"""The cost limit: static cost ≤ 5,000 before any subgraph call, persisted operations included."""

from __future__ import annotations

import pytest
from graphql import parse

from router.limits import CostDirectives, operation_cost
from router.planner import select_operation
from router.supergraph import Supergraph
from tests.router import test_limits
from tests.router.harness import SCENARIOS
from tests.router.test_limits import Router

supergraph_file = test_limits.supergraph_file  # the entities scenario on live subgraphs
ENTITIES = Supergraph.from_file(SCENARIOS / "entities" / "supergraph.graphql")


def cost(query: str, variables: dict | None = None, **options) -> int:
    doc = parse(query)
    fragments = {d.name.value: d for d in doc.definitions if d.kind == "fragment_definition"}
    return operation_cost(ENTITIES.api_schema, select_operation(doc, None), fragments, variables or {}, **options)


def authors(n: int, alias: str) -> str:
    """topProducts(first: n) { reviews { author { id } } }: n * (1 + 10 * (1 + 1)) = 21n."""
    return f"{alias}: topProducts(first: {n}) {{ reviews {{ author {{ id }} }} }}"


def costing(total: int) -> str:
    """An operation of exactly `total` (4,998 from 21 * 238, the rest from a list of scalars-only objects)."""
    rest = total - 21 * 238
    return (
        "{ "
        + " ".join([authors(100, "a"), authors(100, "b"), authors(38, "c")])
        + (f" d: topProducts(first: {rest}) {{ upc }} }}")
    )


def test_the_model() -> None:
    assert cost("{ me { id name } }") == 1  # one object; scalars cost nothing
    assert cost("{ topProducts(first: 7) { upc } }") == 7  # a list multiplies by `first`
    assert cost("query($n: Int!) { topProducts(first: $n) { upc } }", {"n": 9}) == 9  # ... also from a variable
    assert cost("{ users { id } }") == 10  # without first/last: the default list size
    assert cost("{ users { id } }", default_list_size=3) == 3
    assert cost("{ topProducts(first: 2) { reviews { author { id } } } }") == 42
    assert cost("{ __typename __schema { queryType { name } } }") == 0  # the router answers introspection


def test_fragments_count_once_per_use() -> None:
    inline = "{ me { reviews { product { upc } } } user(id: 1) { reviews { product { upc } } } }"
    named = "{ me { ...R } user(id: 1) { ...R } } fragment R on User { reviews { product { upc } } }"
    assert cost(inline) == cost(named) == 2 * (1 + 10 * 2)


def test_cost_and_list_size_directives() -> None:
    directives = CostDirectives(weights={"Product.price": 5, "User": 3}, list_sizes={"Query.users": (4, ())})
    assert cost("{ topProducts(first: 2) { price } }", directives=directives) == 2 * (1 + 5)
    assert cost("{ users { id } }", directives=directives) == 4 * 3


@pytest.fixture
async def router(supergraph_file):
    r = Router(supergraph_file)
    yield r
    await r.client.aclose()


@pytest.mark.parametrize(("total", "status"), [(4_999, 200), (5_000, 200), (5_001, 400)])
async def test_cost_limit(router, total: int, status: int) -> None:
    assert cost(costing(total)) == total
    resp, fetches = await router.post(costing(total))
    assert resp.status_code == status
    if status == 400:
        assert resp.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
        assert "5001" in resp.json()["errors"][0]["message"]
        assert fetches == 0
    else:
        assert "errors" not in resp.json() and fetches > 0


async def test_cost_limit_is_configurable_and_counts_variables(supergraph_file) -> None:
    router = Router(supergraph_file, max_cost=50)
    query = "query($n: Int!) { topProducts(first: $n) { upc } }"
    resp, _ = await router.post(query, variables={"n": 50})
    assert resp.status_code == 200
    resp, fetches = await router.post(query, variables={"n": 51})
    assert (resp.status_code, fetches) == (400, 0)
    assert resp.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"


async def test_cost_limit_applies_to_persisted_operations(supergraph_file, tmp_path) -> None:
    operations = tmp_path / "operations"
    operations.mkdir()
    (operations / "Expensive.graphql").write_text(
        "query Expensive { topProducts(first: 100) { reviews { author { reviews { id } } } } }"  # 12,100
    )
    router = Router(supergraph_file, operations_dir=operations)
    resp, fetches = await router.post(documentId="Expensive")
    assert (resp.status_code, fetches) == (400, 0)
    assert resp.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
