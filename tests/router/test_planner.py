"""Query planning: plan snapshots per scenario case plus targeted properties of the plans."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from graphql import parse

from router.plan import Fetch, Flatten, Parallel, Sequence
from router.planner import PlanningError, build_query_plan
from router.supergraph import Supergraph
from tests.router.harness import SCENARIOS, load_cases, scenario_names

UPDATE = os.environ.get("FINPACE_UPDATE_PLAN_SNAPSHOTS") == "1"
FED1 = Path(__file__).parent / "supergraphs" / "fed1.graphql"


def load(scenario: str) -> Supergraph:
    return Supergraph.from_file(SCENARIOS / scenario / "supergraph.graphql")


def plan(scenario: str, query: str, operation_name: str | None = None):
    return build_query_plan(load(scenario), parse(query), operation_name)


@pytest.mark.parametrize("scenario", scenario_names())
def test_plan_snapshots(scenario: str) -> None:
    # Snapshots are reviewed by hand when they change (FINPACE_UPDATE_PLAN_SNAPSHOTS=1 rewrites them);
    # the responses these plans produce are checked against Apollo Gateway in test_apollo_gateway.py.
    sg = load(scenario)
    plans = {}
    for case in load_cases(scenario):
        if case.get("status", 200) == 200:
            plans[case["name"]] = build_query_plan(sg, parse(case["query"]), case.get("operationName")).to_json()
    path = SCENARIOS / scenario / "plans.json"
    if UPDATE or not path.exists():
        path.write_text(json.dumps(plans, indent=2) + "\n")
    assert plans == json.loads(path.read_text())


def test_planning_is_deterministic() -> None:
    query = "{ topReviews { body author { name reviews { product { name price } } } } }"
    assert plan("entities", query).to_json() == plan("entities", query).to_json()


def test_single_subgraph_query_is_one_fetch() -> None:
    node = plan("entities", "query Me { me { id name } }").node
    assert node == Fetch(
        service_name="accounts",
        operation="query Me__accounts__0{me{id name}}",
        operation_kind="query",
        variable_usages=(),
        operation_name="Me__accounts__0",
    )


def test_entity_fetch_shape() -> None:
    node = plan("entities", "query Q($f: Int) { me { reviews { body } } topReviews(first: $f) { id } }").node
    # Parallel[Sequence[Fetch(accounts), Flatten(me, Fetch(reviews))], Fetch(reviews)]
    assert isinstance(node, Parallel)
    branch = node.nodes[0]
    assert isinstance(branch, Sequence)
    flatten = branch.nodes[1]
    assert isinstance(flatten, Flatten)
    assert flatten.path == ("me",)
    fetch = flatten.node
    assert fetch.operation == (
        "query Q__reviews__1($representations:[_Any!]!){_entities(representations:$representations)"
        "{...on User{reviews{body}}}}"
    )
    assert fetch.variable_usages == ()  # $f is used by the root fetch only
    assert fetch.requires == (
        {
            "kind": "InlineFragment",
            "typeCondition": "User",
            "selections": [{"kind": "Field", "name": "__typename"}, {"kind": "Field", "name": "id"}],
        },
    )


def test_variables_keep_their_defaults() -> None:
    fetch = plan("entities", "query Q($n: Int = 2) { topReviews(first: $n) { id } }").node
    assert fetch.operation == "query Q__reviews__0($n:Int=2){topReviews(first:$n){id}}"
    assert fetch.variable_usages == ("n",)


def test_list_paths_use_at() -> None:
    node = plan("entities", "{ topReviews { author { reviews { product { name } } } } }").node
    paths = [n.path for n in node.nodes if isinstance(n, Flatten)]
    assert paths == [("topReviews", "@", "author", "reviews", "@", "product")]


def test_independent_branches_do_not_wait_for_each_other() -> None:
    node = plan("entities", "{ me { reviewCount } topProducts { reviews { author { name } } } }").node
    assert isinstance(node, Parallel)
    me, products = node.nodes
    assert [type(n).__name__ for n in me.nodes] == ["Fetch", "Flatten"]
    assert [type(n).__name__ for n in products.nodes] == ["Fetch", "Flatten", "Flatten"]


def test_requires_from_a_sibling_falls_back_to_stages() -> None:
    node = plan("requires_provides", "{ offers { plainItem { name shippingEstimate } } }").node
    assert isinstance(node, Sequence)
    assert [
        f.service_name for f in plan("requires_provides", "{ offers { plainItem { shippingEstimate } } }").fetches()
    ] == ["market", "catalog", "shipping"]


def test_key_chain_goes_through_the_subgraph_that_knows_both_keys() -> None:
    fetches = plan("keys", "{ authors { riskScore } }").fetches()
    assert [f.service_name for f in fetches] == ["notes", "people", "risk"]
    assert "ssn" in fetches[1].operation
    assert fetches[2].requires[0]["selections"][1] == {"kind": "Field", "name": "ssn"}


def test_requires_fetched_before_and_sent_in_representations() -> None:
    fetches = plan("requires_provides", "{ items { insurance } }").fetches()
    assert [f.service_name for f in fetches] == ["catalog", "shipping", "insurance"]
    assert 'weight(unit:"G")' in fetches[0].operation
    names = [s["name"] for s in fetches[2].requires[0]["selections"]]
    assert names == ["__typename", "id", "shippingEstimate"]


def test_provides_avoids_a_fetch() -> None:
    fetches = plan("requires_provides", "{ offers { seller item { name } } }").fetches()
    assert [f.service_name for f in fetches] == ["market"]


def test_shareable_root_picks_the_subgraph_needing_fewest_fetches() -> None:
    fetches = plan("shareable_override", "{ headquarters { city country timezone } }").fetches()
    assert [f.service_name for f in fetches] == ["geo"]
    fetches = plan("shareable_override", "{ headquarters { city manager } }").fetches()
    assert [f.service_name for f in fetches] == ["branches"]


def test_override_targets_the_new_owner() -> None:
    fetches = plan("shareable_override", "{ branches { address } }").fetches()
    assert [f.service_name for f in fetches] == ["branches", "geo"]


def test_abstract_selections_get_typename_and_explode_when_needed() -> None:
    fetches = plan("abstract_types", "{ library { title ... on Book { stars } } }").fetches()
    assert fetches[0].operation == "{library{__typename ...on Book{title __typename id}...on Movie{title}}}"
    assert fetches[1].operation.endswith("{...on Book{stars}}}")
    plain = plan("abstract_types", "{ library { id title } }").fetches()
    assert plain[0].operation == "{library{__typename id title}}"


def test_interface_object_jump_rewrites_typename() -> None:
    fetches = plan("interface_object", "{ products { fee } }").fetches()
    assert [f.service_name for f in fetches] == ["catalog", "pricing"]
    assert {"kind": "ValueSetter", "path": ["... on Card", "__typename"], "setValueTo": "Product"} in fetches[
        1
    ].input_rewrites
    assert fetches[1].operation.endswith("{...on Product{fee}}}")


def test_mutations_are_serial_and_followups_are_queries() -> None:
    node = plan(
        "mutations",
        'mutation M { a: deposit(id: "1", amount: 1) { id } n: note(text: "x") '
        'b: deposit(id: "1", amount: 2) { history } }',
    ).node
    assert isinstance(node, Sequence)
    kinds = [(n.service_name, n.operation_kind) if isinstance(n, Fetch) else type(n).__name__ for n in node.nodes]
    assert kinds[:3] == [("ledger", "mutation"), ("audit", "mutation"), "Sequence"]
    last = node.nodes[2]
    assert last.nodes[0].operation_kind == "mutation"
    assert last.nodes[1].node.operation_kind == "query"


def test_introspection_only_has_no_node() -> None:
    result = plan("entities", "{ __schema { queryType { name } } __typename }")
    assert result.to_json() == {"kind": "QueryPlan"}
    assert result.introspection_fields == ("__schema",)


def test_fed1_plan_uses_provides() -> None:
    sg = Supergraph.from_file(FED1)
    fetches = build_query_plan(sg, parse("{ me { reviews { author { username } } } }")).fetches()
    assert [f.service_name for f in fetches] == ["accounts", "reviews"]


def test_unknown_operation_name() -> None:
    with pytest.raises(PlanningError):
        plan("entities", "query A { me { id } }", "B")
