"""The cost limit: static cost ≤ 5,000 before any subgraph call, persisted operations included."""

from __future__ import annotations

import pytest
from graphql import build_schema, parse

from router.limits import CostDirectives, LimitExceeded, ListSize, operation_cost
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
    directives = CostDirectives(weights={"Product.price": 5, "User": 3}, list_sizes={"Query.users": ListSize(4)})
    assert cost("{ topProducts(first: 2) { price } }", directives=directives) == 2 * (1 + 5)
    assert cost("{ users { id } }", directives=directives) == 4 * 3


BOOKS = build_schema("""type Query { books(first: Int, last: Int, top: Int = 3): BookConnection shelf: [Book] }
  type BookConnection { edges: [BookEdge] count: Int } type BookEdge { node: Book } type Book { title: String }""")


def book_cost(query: str, variables: dict | None = None, **list_sizes: ListSize) -> int:
    directives = CostDirectives(list_sizes={f"Query.{name}": spec for name, spec in list_sizes.items()})
    doc = parse(query)
    fragments = {d.name.value: d for d in doc.definitions if d.kind == "fragment_definition"}
    return operation_cost(BOOKS, select_operation(doc, None), fragments, variables or {}, directives=directives)


def test_sized_fields_hand_the_sliced_length_to_the_connection_s_lists() -> None:
    edges = "{ books(first: 5) { edges { node { title } } } }"
    sized = ListSize(slicing_arguments=("first",), sized_fields=("edges",))
    assert book_cost(edges, books=sized) == 1 + 5 * (1 + 1)  # the connection, then 5 edges with a node each
    assert book_cost(edges, books=ListSize(slicing_arguments=("first",))) == 1 + 10 * 2  # edges: default size
    assert book_cost("{ books(first: 5) { ...E } } fragment E on BookConnection { edges { node { title } } }",
                     books=sized) == 11  # through a fragment too
    assumed = ListSize(assumed_size=7, sized_fields=("edges",))
    assert book_cost("{ books { edges { node { title } } } }", books=assumed) == 1 + 7 * 2


@pytest.mark.parametrize(("query", "found"), [
    ("{ books { count } }", 0),  # none given
    ("{ books(first: 2, last: 2) { count } }", 2),  # two given
    ("query($n: Int) { books(first: $n) { count } }", 0),  # a variable without a value
])
def test_exactly_one_slicing_argument_is_required_by_default(query: str, found: int) -> None:
    spec = ListSize(slicing_arguments=("first", "last"), sized_fields=("edges",))
    with pytest.raises(LimitExceeded) as refused:
        book_cost(query, books=spec)
    assert refused.value.code == "COST_INVALID_SLICING_ARGUMENTS"
    assert refused.value.message == (
        f"Exactly one slicing argument is required for field 'Query.books', but found {found}.")
    assert book_cost("query($n: Int) { books(last: $n) { count } }", {"n": 4}, books=spec) == 1
    # requireOneSlicingArgument: false takes the largest of those given, else the default size.
    lenient = ListSize(slicing_arguments=("first", "last"), require_one_slicing_argument=False)
    assert book_cost("{ shelf { title } }", shelf=lenient) == 10
    assert book_cost("{ books(first: 2, last: 6) { edges { node { title } } } }",
                     books=ListSize(slicing_arguments=("first", "last"), sized_fields=("edges",),
                                    require_one_slicing_argument=False)) == 1 + 6 * 2


def test_a_slicing_argument_s_default_counts_when_it_is_left_out() -> None:
    top = ListSize(slicing_arguments=("top",), sized_fields=("edges",))
    assert book_cost("{ books { edges { node { title } } } }", books=top) == 1 + 3 * 2  # top: Int = 3
    assert book_cost("{ books(top: 8) { edges { node { title } } } }", books=top) == 1 + 8 * 2


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
