"""The product subgraph over HTTP: SDL snapshot, federation, idempotency, auth, lookups and the product list."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from shared.auth import issue_dev_token
from shared.config import Settings
from subgraphs.product.schema import build_schema
from tests.helpers import GraphQLClient
from tests.subgraphs.product.conftest import (
    CREATE,
    NEW_VERSION,
    counts,
    create,
    current_account,
    outbox_types,
    publish,
    step,
    term_loan,
    unique_code,
)

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema" / "product.graphql"


async def test_sdl_snapshot_is_current() -> None:
    # `finpace schema export` writes this file; a stale snapshot means the graph changed unannounced.
    assert SNAPSHOT.read_text() == build_schema().as_str() + "\n"


async def test_service_sdl_is_federation_2(gql: GraphQLClient) -> None:
    sdl = (await gql.with_token(None).data("{ _service { sdl } }"))["_service"]["sdl"]
    assert 'type Product @key(fields: "id")' in sdl
    assert "https://specs.apollo.dev/federation/v2.9" in sdl


async def test_entities_resolve_in_one_batch(gql: GraphQLClient) -> None:
    ids = [(await create(gql))["id"] for _ in range(3)]
    reps = [{"__typename": "Product", "id": i} for i in ids] + [{"__typename": "Product", "id": str(uuid.uuid4())}]
    query = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Product {
        id code version family currency name
        pricing { dayCount overdraftRate } charges { code amount { amount currency } } } } }"""
    entities = (await gql.data(query, {"r": reps}))["_entities"]
    assert [e["id"] if e else None for e in entities] == [*ids, None]
    assert entities[0]["pricing"] == {"dayCount": "ACTUAL_365", "overdraftRate": "12.9"}
    assert entities[0]["charges"] == [{"code": "MONTHLY_FEE", "amount": {"amount": "6.50", "currency": "GBP"}}]


async def test_definition_round_trips_with_money_and_rates(gql: GraphQLClient, sessions) -> None:
    loan = await create(gql, term_loan())
    assert loan["lending"] == {
        "principal": {"min": {"amount": "25000.00", "currency": "GBP"}, "default": {"amount": "100000.00"},
                      "max": {"amount": "1000000.00"}},
        "termMonths": {"min": 12, "default": 60, "max": 120}, "interestMethod": "DECLINING_BALANCE",
        "amortisation": "EQUAL_INSTALLMENTS", "repaymentFrequency": "MONTHLY", "graceOnPrincipalPeriods": 3,
        "graceOnInterestPeriods": 0}
    assert loan["charges"][0] == {
        "code": "ARRANGEMENT", "name": "Arrangement fee", "feeType": "ARRANGEMENT", "calculation": "PERCENTAGE",
        "frequency": "ONE_OFF", "amount": None, "rate": "1.5", "minCap": {"amount": "250.00", "currency": "GBP"},
        "maxCap": {"amount": "5000.00", "currency": "GBP"}}
    assert loan["pricing"]["interestRate"] == {"min": "5", "default": "7.5", "max": "12"}
    assert await outbox_types(sessions, loan["id"]) == ["ProductDraftCreated"]


async def test_same_idempotency_key_yields_one_version_and_one_event(gql: GraphQLClient, sessions) -> None:
    body, key = current_account(), uuid.uuid4().hex
    before = await counts(sessions)
    first, second = [(await gql.data(CREATE, {"input": body, "key": key}))["createProductDraft"] for _ in range(2)]
    assert first["id"] == second["id"] and second["__typename"] == "Product"
    assert await counts(sessions) == (before[0] + 1, before[1], before[2] + 1)


async def test_concurrent_requests_with_one_key_create_one_version(gql: GraphQLClient, sessions) -> None:
    body, key = current_account(), uuid.uuid4().hex
    before = await counts(sessions)
    results = await asyncio.gather(*[gql.data(CREATE, {"input": body, "key": key}) for _ in range(8)])
    assert len({r["createProductDraft"]["id"] for r in results}) == 1
    assert await counts(sessions) == (before[0] + 1, before[1], before[2] + 1)


async def test_key_reused_with_other_input_is_refused(gql: GraphQLClient, sessions) -> None:
    key = uuid.uuid4().hex
    await gql.data(CREATE, {"input": current_account(), "key": key})
    before = await counts(sessions)
    result = (await gql.data(CREATE, {"input": current_account(), "key": key}))["createProductDraft"]
    assert result["__typename"] == "IdempotencyKeyReused" and result["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await counts(sessions) == before


async def test_new_version_replay_returns_the_same_draft(gql: GraphQLClient, checker, sessions) -> None:
    v1 = await create(gql)
    await publish(gql, checker, v1["id"], "2025-01-01")
    key = uuid.uuid4().hex
    first = await step(gql, NEW_VERSION, id=v1["id"], key=key)
    before = await counts(sessions)
    again = await step(gql, NEW_VERSION, id=v1["id"], key=key)
    assert again["id"] == first["id"] and again["version"] == 2
    assert await counts(sessions) == before


async def test_duplicate_code_is_a_typed_conflict(gql: GraphQLClient, sessions) -> None:
    body = current_account()
    await create(gql, body)
    before = await counts(sessions)
    result = (await gql.data(CREATE, {"input": body, "key": uuid.uuid4().hex}))["createProductDraft"]
    assert result["__typename"] == "Conflict" and body["code"] in result["message"]
    assert await counts(sessions) == before


async def test_only_staff_maintain_the_catalogue(gql: GraphQLClient, checker, settings: Settings, sessions) -> None:
    before = await counts(sessions)
    for role in ("customer", "rm", "auditor"):
        client = gql.with_token(issue_dev_token(settings, role=role, sub=f"{role}-1"))
        body = await client(CREATE, {"input": current_account(), "key": uuid.uuid4().hex})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql.with_token(None)(CREATE, {"input": current_account(), "key": uuid.uuid4().hex})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await counts(sessions) == before
    # Customers and partners read the published catalogue; drafts and pending approvals are internal.
    draft, published = await create(gql), await create(gql)
    await publish(gql, checker, published["id"], "2025-01-01")
    customer = gql.with_token(issue_dev_token(settings, role="customer", sub="c-1"))
    query = "query($id: ID!, $c: String!) { product(id: $id) { code } productByCode(code: $c, version: 1) { id } }"
    assert (await customer.data(query, {"id": published["id"], "c": published["code"]})) == {
        "product": {"code": published["code"]}, "productByCode": {"id": published["id"]}}
    assert (await customer.data(query, {"id": draft["id"], "c": draft["code"]})) == {
        "product": None, "productByCode": None}
    listed = await customer.data("query($c: String!) { products(filter: {code: $c}) { totalCount } }",
                                 {"c": draft["code"]})
    assert listed["products"]["totalCount"] == 0
    entities = await customer.data("query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id } } }",
                                   {"r": [{"__typename": "Product", "id": draft["id"]}]})
    assert entities["_entities"] == [None]
    # Catalogue reads are @authenticated: an anonymous read is refused before any resolver runs.
    anonymous = await gql.with_token(None)(query, {"id": draft["id"], "c": draft["code"]})
    assert anonymous["data"] == {"product": None, "productByCode": None}
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"] * 2


async def test_lookups_by_id_and_code(gql: GraphQLClient) -> None:
    product = await create(gql)
    by_code = await step(gql, "query($c: String!) { productByCode(code: $c, version: 1) { id } }", c=product["code"])
    assert by_code["id"] == product["id"]
    assert await step(gql, "query($c: String!) { productByCode(code: $c, version: 2) { id } }",
                      c=product["code"]) is None
    assert await step(gql, "query($id: ID!) { product(id: $id) { id } }", id=str(uuid.uuid4())) is None
    bad = await gql('{ product(id: "nope") { id } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_products_connection_filters_and_pages(gql: GraphQLClient, checker) -> None:
    segment = unique_code("SEG").replace("-", "_")
    made = [await create(gql, current_account(eligibleSegments=[segment])) for _ in range(4)]
    made.append(await create(gql, term_loan(eligibleSegments=[segment], currency="EUR")))
    await publish(gql, checker, made[0]["id"], "2025-01-01")
    query = """query($f: ProductFilterInput, $after: String) { products(filter: $f, first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { code version status } } } }"""

    async def walk(filter_: dict) -> list[str]:
        seen, after = [], None
        while True:
            page = (await gql.data(query, {"f": filter_, "after": after}))["products"]
            seen += [e["node"]["code"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return seen
            after = page["pageInfo"]["endCursor"]

    assert await walk({"segment": segment}) == sorted(p["code"] for p in made)
    assert await walk({"segment": segment, "family": "TERM_LOAN"}) == [made[4]["code"]]
    assert await walk({"segment": segment, "currency": "EUR"}) == [made[4]["code"]]
    assert await walk({"segment": segment, "status": "ACTIVE"}) == [made[0]["code"]]
    assert await walk({"segment": segment, "onSaleAt": "2025-06-30"}) == [made[0]["code"]]
    assert await walk({"segment": segment, "onSaleAt": "2024-06-30"}) == []
    for first in (0, 101):
        body = await gql(f"{{ products(first: {first}) {{ totalCount }} }}")
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_concurrent_new_versions_make_exactly_one_draft(gql: GraphQLClient, checker, sessions) -> None:
    v1 = await create(gql)
    await publish(gql, checker, v1["id"], "2025-01-01")
    before = await counts(sessions)
    results = await asyncio.gather(*[step(gql, NEW_VERSION, id=v1["id"], key=uuid.uuid4().hex) for _ in range(6)])
    assert sorted(r["__typename"] for r in results) == ["Conflict"] * 5 + ["Product"]
    assert await counts(sessions) == (before[0] + 1, before[1], before[2] + 1)


async def test_snapshot_composes_with_party() -> None:
    from router.composition import SubgraphSource, compose_sources

    schema_dir = SNAPSHOT.parent
    sources = [SubgraphSource(name, f"http://127.0.0.1:{port}/graphql", (schema_dir / f"{name}.graphql").read_text())
               for name, port in (("party", 4001), ("product", 4002))]
    result = compose_sources(sources)
    assert result.ok, result.errors
    assert 'join__type(graph: PRODUCT, key: "id")' in (result.supergraph_sdl or "")


async def test_entity_loader_batches_one_query_per_request(gql: GraphQLClient, sessions) -> None:
    from subgraphs.product.queries import make_loaders

    ids = [uuid.UUID((await create(gql))["id"]) for _ in range(3)]
    opened = 0

    def counting_sessions():  # every batch opens exactly one session and runs one SELECT
        nonlocal opened
        opened += 1
        return sessions()

    loaders = make_loaders(counting_sessions, None)  # type: ignore[arg-type]
    rows = await asyncio.gather(*[loaders.product.load(i) for i in [*ids, uuid.uuid4()]])
    assert [r.id if r else None for r in rows] == [*ids, None]
    assert opened == 1
