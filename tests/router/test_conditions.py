"""Condition plan nodes: variable-driven @skip/@include at a fetch boundary decide whether the fetch is sent."""

from __future__ import annotations

import httpx
from graphql import parse

from router.app import create_app
from router.config import RouterSettings
from router.plan import Condition, Fetch, Flatten, Sequence
from router.planner import build_query_plan
from router.supergraph import Supergraph
from tests.router.harness import SCENARIOS
from tests.router.test_executor import recorded_entities  # noqa: F401  (fixture)

AUTHORS = "query Q($x: Boolean!) { topReviews { body author @include(if: $x) { name } } }"


def plan(scenario: str, query: str):
    return build_query_plan(Supergraph.from_file(SCENARIOS / scenario / "supergraph.graphql"), parse(query))


def test_include_on_an_entity_jump_wraps_the_fetch() -> None:
    node = plan("entities", AUTHORS).node
    assert isinstance(node, Sequence)
    first, cond = node.nodes
    assert isinstance(first, Fetch) and first.service_name == "reviews"
    # The key fields still come with the parent fetch, under the client's directive.
    assert "author@include(if:$x){__typename id}" in first.operation
    assert isinstance(cond, Condition) and cond.condition == "x" and cond.else_clause is None
    assert isinstance(cond.if_clause, Flatten) and cond.if_clause.node.service_name == "accounts"
    assert cond.to_json()["ifClause"]["kind"] == "Flatten"
    assert "elseClause" not in cond.to_json()


def test_skip_on_a_fragment_spread_goes_to_the_else_clause_with_the_default() -> None:
    query = (
        "query Q($s: Boolean = true) { me { name ...Counts @skip(if: $s) } } fragment Counts on User { reviewCount }"
    )
    first, cond = plan("entities", query).node.nodes
    assert first.service_name == "accounts"
    assert cond == Condition("s", None, cond.else_clause, True)
    assert cond.else_clause.node.service_name == "reviews"


def test_a_condition_on_every_field_of_a_root_fetch_wraps_the_whole_branch() -> None:
    node = plan("entities", "query Q($s: Boolean!) { me @skip(if: $s) { name reviews { body } } }").node
    assert isinstance(node, Condition) and node.condition == "s" and node.if_clause is None
    inner = plan("entities", "query Q($s: Boolean!) { me @skip(if: $s) { reviews { body } } }")
    assert [f.service_name for f in inner.fetches()] == ["accounts", "reviews"]


def test_a_fetch_shared_with_unconditional_fields_is_not_wrapped() -> None:
    # me and users share one accounts fetch; only `me` is conditional, so the fetch always runs.
    node = plan("entities", "query Q($s: Boolean!) { me @skip(if: $s) { name } users { id } }").node
    assert isinstance(node, Fetch)
    # reviews' `body` is unconditional, so the reviews fetch is not wrapped either.
    query = "query Q($x: Boolean!) { me { reviews @include(if: $x) { body } reviewCount } }"
    assert not any(isinstance(n, Condition) for n in plan("entities", query).node.nodes)


def test_literal_conditions_stay_in_the_subgraph_operation() -> None:
    node = plan("entities", "{ topReviews { body author @include(if: false) { name } } }").node
    assert not isinstance(node.nodes[1], Condition)


def test_a_required_input_runs_when_the_field_needing_it_runs() -> None:
    # shippingEstimate is asked conditionally, but insurance (unconditional) requires it: no Condition may
    # hide the shipping fetch that feeds insurance.
    query = "query Q($x: Boolean!) { items { id shippingEstimate @include(if: $x) insurance } }"
    text = str(plan("requires_provides", query).to_json())
    assert "'Condition'" not in text


async def test_a_skipped_entity_jump_sends_no_request(make_engine, recorded_entities) -> None:  # noqa: F811
    recorder, urls = recorded_entities
    engine = make_engine("entities", **urls)
    skipped = await engine.run(AUTHORS, {"x": False}, None, {})
    assert skipped.body == {"data": {"topReviews": [{"body": b["body"]} for b in skipped.body["data"]["topReviews"]]}}
    assert len(skipped.body["data"]["topReviews"]) == 4
    assert recorder.requests == []  # accounts never called
    included = await engine.run(AUTHORS, {"x": True}, None, {})
    assert included.body["data"]["topReviews"][0]["author"] == {"name": "Ada"}
    assert len(recorder.requests) == 1


async def test_requires_with_a_conditional_sibling_still_resolves(make_engine) -> None:
    engine = make_engine("requires_provides")
    query = "query Q($x: Boolean!) { items { id shippingEstimate @include(if: $x) insurance } }"
    off = await engine.run(query, {"x": False}, None, {})
    on = await engine.run(query, {"x": True}, None, {})
    assert "errors" not in off.body and "errors" not in on.body
    assert [i["insurance"] for i in off.body["data"]["items"]] == [i["insurance"] for i in on.body["data"]["items"]]
    assert "shippingEstimate" not in off.body["data"]["items"][0]
    assert on.body["data"]["items"][0]["insurance"] == 3 * on.body["data"]["items"][0]["shippingEstimate"]


async def test_the_exposed_plan_shows_the_condition(scenarios, tmp_path) -> None:
    path = tmp_path / "supergraph.graphql"
    sdl = (SCENARIOS / "errors" / "supergraph.graphql").read_text()
    for name, url in scenarios.urls("errors").items():
        sdl = sdl.replace(f"http://{name}.invalid/graphql", url)
    path.write_text(sdl)
    app = create_app(RouterSettings(supergraph=path, expose_query_plan=True))
    query = "query Q($p: Boolean!) { cards { id points @include(if: $p) } }"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
        resp = await client.post(
            "/graphql",
            json={"query": query, "variables": {"p": False}},
            headers={"apollo-expose-query-plan": "true"},
        )
    body = resp.json()
    assert all(set(card) == {"id"} for card in body["data"]["cards"])
    shown = body["extensions"]["apolloQueryPlan"]["object"]["node"]
    assert shown["kind"] == "Sequence"
    assert [n["kind"] for n in shown["nodes"]] == ["Fetch", "Condition"]
    assert shown["nodes"][1]["condition"] == "p"
    assert shown["nodes"][1]["ifClause"]["node"]["serviceName"] == "rewards"
