"""The supergraph model, feature checks and the API schema, checked against Apollo's own outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema, print_schema

from router.supergraph import Supergraph, SupergraphError, parse_link_url
from tests.router.harness import SCENARIOS, scenario_names

FED1 = Path(__file__).parent / "supergraphs" / "fed1.graphql"


def load(scenario: str) -> Supergraph:
    return Supergraph.from_file(SCENARIOS / scenario / "supergraph.graphql")


@pytest.mark.parametrize("scenario", scenario_names())
def test_api_schema_matches_apollo(scenario: str) -> None:
    # api.graphql is Supergraph.build(sdl).apiSchema() printed by @apollo/federation-internals.
    expected = build_schema((SCENARIOS / scenario / "api.graphql").read_text())
    assert print_schema(load(scenario).api_schema) == print_schema(expected)


def test_graph_names_come_from_join_graph_not_the_enum_value() -> None:
    sg = load("entities")
    assert [(g.enum_value, g.name) for g in sg.graphs.values()] == [
        ("ACCOUNTS", "accounts"),
        ("PRODUCTS", "products"),
        ("REVIEWS", "reviews"),
    ]
    assert sg.url_of("reviews") == "http://reviews.invalid/graphql"


def test_url_overrides_win() -> None:
    sdl = (SCENARIOS / "entities" / "supergraph.graphql").read_text()
    sg = Supergraph(sdl, {"reviews": "http://127.0.0.1:9/graphql"})
    assert sg.url_of("reviews") == "http://127.0.0.1:9/graphql"
    assert sg.url_of("accounts") == "http://accounts.invalid/graphql"


def test_field_sources_and_keys() -> None:
    user = load("entities").types["User"]
    assert user.fields["id"].sources == {"accounts", "reviews"}
    assert user.fields["name"].sources == {"accounts"}
    assert user.fields["reviewCount"].sources == {"reviews"}
    assert [k.fields for k in user.resolvable_keys("accounts")] == ["id"]


def test_multiple_compound_and_nested_keys() -> None:
    sg = load("keys")
    assert [k.fields for k in sg.types["User"].keys["people"]] == ["id", "ssn"]
    assert [k.fields for k in sg.types["Account"].keys["risk"]] == ["number org"]
    assert [k.fields for k in sg.types["Transfer"].keys["risk"]] == ["from_ { iso } to { iso }"]


def test_requires_provides_and_external() -> None:
    item = load("requires_provides").types["Item"]
    assert item.fields["shippingEstimate"].requires == {"shipping": 'weight(unit: "G") price'}
    assert item.fields["shippingEstimate"].external_in == {"insurance"}
    assert item.fields["name"].sources == {"catalog"}
    assert item.fields["name"].external_in == {"market"}
    offer = load("requires_provides").types["Offer"]
    assert offer.fields["item"].provides == {"market": "name"}


def test_override_keeps_only_the_new_owner() -> None:
    branch = load("shareable_override").types["Branch"]
    assert branch.fields["address"].sources == {"geo"}
    assert branch.fields["city"].sources == {"branches", "geo"}


def test_interface_object_model() -> None:
    sg = load("interface_object")
    product = sg.types["Product"]
    assert product.interface_object_in == {"pricing"}
    assert sg.types["Card"].fields["fee"].via_interface_object
    assert sg.types["Card"].fields["fee"].sources == set()
    assert sg.possible_types_in("Product", "catalog") == ["Card", "Loan"]


def test_union_members_per_graph() -> None:
    sg = load("abstract_types")
    assert sg.possible_types_in("SearchResult", "media") == ["Author", "Book", "Movie"]
    assert sg.possible_types_in("Pick", "ratings") == ["Book", "Movie"]


def _with_link(scenario: str, link: str, extra: str = "") -> str:
    sdl = (SCENARIOS / scenario / "supergraph.graphql").read_text()
    return (
        sdl.replace(
            '@link(url: "https://specs.apollo.dev/link/v1.0")',
            f'@link(url: "https://specs.apollo.dev/link/v1.0")\n  {link}',
        )
        + extra
    )


@pytest.mark.parametrize("purpose", ["SECURITY", "EXECUTION"])
@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://specs.apollo.dev/context/v0.1", "context"),
        ("https://specs.apollo.dev/authenticated/v0.2", "authenticated"),  # a version we do not implement
        ("https://example.com/entitlements/v1.0", "entitlements"),
    ],
)
def test_unsupported_security_or_execution_feature_is_refused(purpose: str, url: str, name: str) -> None:
    sdl = _with_link("entities", f'@link(url: "{url}", for: {purpose})', f"\ndirective @{name} on FIELD_DEFINITION\n")
    with pytest.raises(SupergraphError) as err:
        Supergraph(sdl)
    assert err.value.code == "UNSUPPORTED_LINKED_FEATURE"
    assert f"is for: {purpose} but is unsupported" in err.value.message


def test_authorization_features_are_served_and_read() -> None:
    sg = load("authorization")
    rules = sg.authorization
    assert rules.field("Query", "me").authenticated
    assert rules.type("Tier").authenticated and rules.type("Node").authenticated  # enum; interface (composed)
    assert [sorted(c) for c in rules.field("Customer", "email").scopes[0]] == [["pii:read"], ["admin"]]
    assert rules.type("RiskGrade").scopes and rules.field("Query", "auditLog").policies
    assert rules.policy_names == {"role:rm", "mfa", "role:auditor"}
    assert "policy__Policy" not in print_schema(sg.api_schema)  # the features' machinery stays out of the API


def test_unknown_feature_without_purpose_is_accepted_and_removed_from_the_api() -> None:
    sdl = _with_link(
        "entities",
        '@link(url: "https://example.com/cache/v1.0", import: ["@cached"])',
        "\ndirective @cached(seconds: Int) on FIELD_DEFINITION\n",
    )
    sdl = sdl.replace("me: User! @join__field", "me: User! @cached(seconds: 5) @join__field")
    sg = Supergraph(sdl)
    assert "cached" not in print_schema(sg.api_schema)
    assert print_schema(sg.api_schema) == print_schema(load("entities").api_schema)


def test_renamed_inaccessible_is_resolved_through_the_import() -> None:
    sdl = (SCENARIOS / "inaccessible" / "supergraph.graphql").read_text()
    sdl = sdl.replace(
        '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)',
        '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY, '
        'import: [{name: "@inaccessible", as: "@hidden"}])',
    ).replace("@inaccessible", "@hidden")
    sdl = sdl.replace('import: [{name: "@hidden", as: "@hidden"}]', 'import: [{name: "@inaccessible", as: "@hidden"}]')
    sg = Supergraph(sdl)
    assert print_schema(sg.api_schema) == print_schema(load("inaccessible").api_schema)


def test_join_under_another_prefix() -> None:
    sdl = (SCENARIOS / "entities" / "supergraph.graphql").read_text()
    sdl = sdl.replace('join/v0.5", for: EXECUTION)', 'join/v0.5", as: "j", for: EXECUTION)').replace("join__", "j__")
    sg = Supergraph(sdl)
    assert sg.types["User"].fields["name"].sources == {"accounts"}
    assert print_schema(sg.api_schema) == print_schema(load("entities").api_schema)


def test_fed1_supergraph() -> None:
    sg = Supergraph.from_file(FED1)
    assert sg.fed1
    assert sg.url_of("reviews") == ""  # "undefined" in old files means no URL
    # Key fields resolve wherever the key is declared; value types resolve everywhere.
    assert sg.types["User"].fields["id"].sources == {"accounts", "reviews"}
    assert sg.types["Money"].fields["amount"].sources == {"accounts", "products", "reviews"}
    assert sg.types["Review"].fields["author"].provides == {"reviews": "username"}
    assert "join__" not in print_schema(sg.api_schema)
    assert "core__" not in print_schema(sg.api_schema)


def test_supergraph_without_join_is_refused() -> None:
    with pytest.raises(SupergraphError):
        Supergraph(
            'schema @link(url: "https://specs.apollo.dev/link/v1.0") { query: Query } type Query { a: Int }'
            "\ndirective @link(url: String) repeatable on SCHEMA"
        )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://specs.apollo.dev/join/v0.5", ("https://specs.apollo.dev/join", "join", "v0.5")),
        ("https://specs.apollo.dev/join/v0.3/", ("https://specs.apollo.dev/join", "join", "v0.3")),
        ("https://example.com/my-feature/v1.2?x=1#frag", ("https://example.com/my-feature", "my-feature", "v1.2")),
    ],
)
def test_parse_link_url(url: str, expected: tuple) -> None:
    assert parse_link_url(url) == expected
