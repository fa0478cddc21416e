"""Composition: our supergraphs equal @apollo/composition's, and broken subgraphs give Apollo's error codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from graphql import build_schema, print_schema

from router.composition import SubgraphSource, compose, compose_sources, write_supergraph
from router.supergraph import Supergraph
from tests.router.apollo_gateway import ensure_node_modules
from tests.router.harness import APOLLO, SCENARIOS, load_subgraphs, scenario_names
from tests.router.regenerate import PLACEHOLDER, compose_scenario

FED2 = (
    '@link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable", "@external", "@requires"])'
)


def sources(scenario: str) -> list[SubgraphSource]:
    return [
        SubgraphSource(name, PLACEHOLDER.format(name=name), schema.as_str())
        for name, schema in load_subgraphs(scenario).items()
    ]


def sorted_api(schema) -> str:
    """The API schema printed with its definitions sorted, so only content is compared."""
    return "\n\n".join(sorted(print_schema(schema).split("\n\n")))


@pytest.mark.parametrize("scenario", scenario_names())
def test_supergraph_is_identical_to_apollo_composition(scenario: str) -> None:
    # supergraph.graphql is @apollo/composition 2.14.4 output (checked by test_apollo_gateway.py).
    result = compose_sources(sources(scenario))
    assert result.errors == []
    assert result.supergraph_sdl == (SCENARIOS / scenario / "supergraph.graphql").read_text()


@pytest.mark.parametrize("scenario", scenario_names())
def test_api_schema_equals_apollo_api_schema(scenario: str) -> None:
    ours = Supergraph(compose_sources(sources(scenario)).supergraph_sdl)
    apollo = build_schema((SCENARIOS / scenario / "api.graphql").read_text())
    assert sorted_api(ours.api_schema) == sorted_api(apollo)


def test_compose_reads_rover_config(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    lines = ["federation_version: =2.9.3", "subgraphs:"]
    for src in sources("entities"):
        (tmp_path / "schemas" / f"{src.name}.graphql").write_text(src.sdl)
        lines += [
            f"  {src.name}:",
            f"    routing_url: {src.url}",
            "    schema:",
            f"      file: ./schemas/{src.name}.graphql",
        ]
    config = tmp_path / "supergraph.yaml"
    config.write_text("\n".join(lines) + "\n")
    result = compose(config)
    assert result.ok
    assert result.supergraph_sdl == (SCENARIOS / "entities" / "supergraph.graphql").read_text()


BROKEN = {
    "INVALID_FIELD_SHARING": {
        "a": f'extend schema {FED2}\ntype Query {{ t: T }}\ntype T @key(fields: "id") {{ id: ID! name: String }}',
        "b": f'extend schema {FED2}\ntype Query {{ u: T }}\ntype T @key(fields: "id") {{ id: ID! name: String }}',
    },
    "EXTERNAL_TYPE_MISMATCH": {
        "a": f'extend schema {FED2}\ntype Query {{ t: T }}\ntype T @key(fields: "id") {{ id: ID! w: Int }}',
        "b": f"extend schema {FED2}\ntype Query {{ u: Int }}\n"
        'type T @key(fields: "id") { id: ID! w: String @external x: Int @requires(fields: "w") }',
    },
    "EXTERNAL_MISSING_ON_BASE": {
        "a": f'extend schema {FED2}\ntype Query {{ t: T }}\ntype T @key(fields: "id") {{ id: ID! }}',
        "b": f"extend schema {FED2}\ntype Query {{ u: Int }}\n"
        'type T @key(fields: "id") { id: ID! w: Int @external x: Int @requires(fields: "w") }',
    },
    "KEY_INVALID_FIELDS": {
        "a": f'extend schema {FED2}\ntype Query {{ t: T }}\ntype T @key(fields: "nope") {{ id: ID! }}',
    },
    "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE": {
        "a": 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@requiresScopes"])\n'
        'type Query { n: [N] }\ninterface N { id: ID! @requiresScopes(scopes: [["x"]]) }\n'
        "type A implements N { id: ID! }",
    },
    "SATISFIABILITY_ERROR": {
        "a": f'extend schema {FED2}\ntype Query {{ t: T }}\ntype T @key(fields: "id") {{ id: ID! a: Int }}',
        "b": f"extend schema {FED2}\ntype Query {{ u: Int }}\ntype T {{ id: ID! @shareable b: Int }}",
    },
}


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_composition_errors(code: str) -> None:
    result = compose_sources([SubgraphSource(n, f"http://{n}", sdl) for n, sdl in BROKEN[code].items()])
    assert result.supergraph_sdl is None
    assert code in {e.code for e in result.errors}
    error = next(e for e in result.errors if e.code == code)
    assert error.subgraphs and set(error.subgraphs) <= set(BROKEN[code])
    assert error.message


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_apollo_reports_the_same_error(code: str, tmp_path: Path) -> None:
    ensure_node_modules()
    args = []
    for name, sdl in BROKEN[code].items():
        path = tmp_path / f"{name}.graphql"
        path.write_text(sdl)
        args.append(f"{name}=http://{name}={path}")
    out = subprocess.run(["node", str(APOLLO / "compose.mjs"), *args], capture_output=True, text=True, cwd=APOLLO)
    apollo_codes = {e["code"] for e in json.loads(out.stdout)["errors"]}
    assert code in apollo_codes


def test_write_supergraph(tmp_path: Path) -> None:
    for src in sources("keys"):
        (tmp_path / f"{src.name}.graphql").write_text(src.sdl)
    entries = "".join(
        f"  {s.name}:\n    routing_url: {s.url}\n    schema:\n      file: {s.name}.graphql\n" for s in sources("keys")
    )
    (tmp_path / "supergraph.yaml").write_text("federation_version: =2.9.3\nsubgraphs:\n" + entries)
    assert write_supergraph(tmp_path / "supergraph.graphql") is None
    assert (tmp_path / "supergraph.graphql").read_text() == (SCENARIOS / "keys" / "supergraph.graphql").read_text()
    (tmp_path / "notes.graphql").write_text(BROKEN["KEY_INVALID_FIELDS"]["a"])
    failed = write_supergraph(tmp_path / "supergraph.graphql")
    assert failed is not None and not failed.ok
    assert "KEY_INVALID_FIELDS [notes]" in str(failed)


@pytest.mark.parametrize("scenario", scenario_names())
def test_api_schema_equals_live_apollo_composition(scenario: str) -> None:
    # Composed right now by @apollo/composition (node), not read from the committed files.
    ensure_node_modules()
    apollo = compose_scenario(scenario)
    ours = Supergraph(compose_sources(sources(scenario)).supergraph_sdl)
    assert sorted_api(ours.api_schema) == sorted_api(build_schema(apollo["apiSchema"]))


ACCESS = (
    '@link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable", "@authenticated", '
    '"@requiresScopes", "@policy", "@inaccessible"])'
)
ACCESS_SUBGRAPHS = {
    # One subgraph uses every feature: Apollo links them in spec order, not import or usage order.
    "a": f"extend schema {ACCESS}\n"
    'type Query { a: String @requiresScopes(scopes: [["x"]]) b: String @inaccessible c: String @authenticated '
    'd: String @policy(policies: [["p"]]) }',
    # A shareable field with different scopes in two subgraphs: DNF conjunction, subsumed clauses dropped.
    "b": f"extend schema {ACCESS}\n"
    'type Query { e: String @policy(policies: [["p2"]]) n: [N] }\n'
    'type T @key(fields: "id") { id: ID! x: String @shareable @requiresScopes(scopes: [["s1"]]) }\n'
    "interface N { id: ID! }\n"
    "type A implements N { id: ID! }\n"
    'type B implements N @requiresScopes(scopes: [["a", "b"]]) { id: ID! }\n'
    'type C implements N @requiresScopes(scopes: [["b", "a"], ["d"]]) @policy(policies: [["p"]]) { id: ID! }',
    "c": f"extend schema {ACCESS}\n"
    "type Query { h: T }\n"
    'type T @key(fields: "id") { id: ID! x: String @shareable @requiresScopes(scopes: [["s2"], ["s3"]]) '
    '@policy(policies: [["q"]]) }',
}


def test_access_control_merging_is_identical_to_apollo(tmp_path: Path) -> None:
    ensure_node_modules()
    args = []
    for name, sdl in ACCESS_SUBGRAPHS.items():
        (tmp_path / f"{name}.graphql").write_text(sdl)
        args.append(f"{name}=http://{name}={tmp_path / name}.graphql")
    out = subprocess.run(["node", str(APOLLO / "compose.mjs"), *args], capture_output=True, text=True, cwd=APOLLO)
    apollo = json.loads(out.stdout)["supergraphSdl"]
    ours = compose_sources([SubgraphSource(n, f"http://{n}", sdl) for n, sdl in ACCESS_SUBGRAPHS.items()])
    assert ours.supergraph_sdl == apollo + "\n"
    assert 'x: String @requiresScopes(scopes: [["s1", "s2"], ["s1", "s3"]]) @policy(policies: [["q"]])' in apollo
    assert '@requiresScopes(scopes: [["a", "b"]])\n{' in apollo  # interface N inherits B's and C's, simplified


DESCRIBED = {
    # T is described three ways: two subgraphs agree on one text, which Apollo keeps over the first subgraph's.
    # T.x is owned by a and b, @external in c: an external copy's description does not count. U has one
    # non-empty description beside empty ones; I's input field differs per subgraph; V is described once.
    # Arguments and enum values merge the same way, and a described argument puts the arguments on lines.
    "a": f"extend schema {FED2}\n"
    '"""A in a"""\ntype T @key(fields: "id") { id: ID! """x by a""" x: String @shareable '
    'z("""p by a""" p: Int): String @shareable }\n'
    'type Query { t: T u: U v(i: I): String e: E @shareable s("""how many""" n: Int, m: Int = 2): [String] }\n'
    '""""""\ntype U @shareable { id: ID! }\n'
    'input I { """i by a""" f: String }\nenum E { """one in a""" ONE TWO }',
    "b": f"extend schema {FED2}\n"
    '"""B and C"""\ntype T @key(fields: "id") { id: ID! """x by b""" x: String @shareable '
    'z("""p by b""" p: Int): String @shareable }\n'
    '"""U by b"""\ntype U @shareable { id: ID! }\ninput I { """i by b""" f: String }\n'
    'type Query { w: String @shareable e: E @shareable }\n'
    'enum E { """one in b""" ONE """two in b""" TWO """three,\nin b""" THREE }',
    "c": f"extend schema {FED2}\n"
    '"""B and C"""\ntype T @key(fields: "id") { id: ID! """x by c""" x: String @external '
    'y: String @requires(fields: "x") }\n""""""\ntype U @shareable { id: ID! }\n"""V once"""\ntype V { id: ID! }\n'
    'type Query { w: String @shareable v2: V }',
}


def test_inconsistent_descriptions_merge_as_apollo_merges_them(tmp_path: Path) -> None:
    ensure_node_modules()
    args = []
    for name, sdl in DESCRIBED.items():
        (tmp_path / f"{name}.graphql").write_text(sdl)
        args.append(f"{name}=http://{name}={tmp_path / name}.graphql")
    out = subprocess.run(["node", str(APOLLO / "compose.mjs"), *args], capture_output=True, text=True, cwd=APOLLO)
    apollo = json.loads(out.stdout)
    assert not apollo.get("errors"), apollo
    ours = compose_sources([SubgraphSource(n, f"http://{n}", sdl) for n, sdl in DESCRIBED.items()])
    assert ours.errors == []
    assert ours.supergraph_sdl == apollo["supergraphSdl"] + "\n"
    api = build_schema(apollo["apiSchema"])
    assert api.type_map["T"].description == "B and C" and api.type_map["U"].description == "U by b"
    assert api.type_map["T"].fields["x"].description == "x by a"  # a and b tie, c's copy is @external
    assert api.type_map["T"].fields["z"].args["p"].description == "p by a"
    assert api.type_map["Query"].fields["s"].args["n"].description == "how many"
    assert {name: v.description for name, v in api.type_map["E"].values.items()} == {
        "ONE": "one in a", "TWO": "two in b", "THREE": "three,\nin b"}
