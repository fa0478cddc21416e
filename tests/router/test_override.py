"""Progressive @override: labelled fields follow the labels active for each request."""

from __future__ import annotations

import pytest
from graphql import parse

from router.client import SubgraphClient
from router.engine import Engine
from router.planner import build_query_plan
from router.supergraph import Supergraph
from tests.router.harness import SCENARIOS

PLAIN = '  address: String! @join__field(graph: GEO, override: "branches")'


def progressive(label: str) -> str:
    sdl = (SCENARIOS / "shareable_override" / "supergraph.graphql").read_text()
    assert PLAIN in sdl
    return sdl.replace(
        PLAIN,
        f'  address: String! @join__field(graph: BRANCHES, overrideLabel: "{label}") '
        f'@join__field(graph: GEO, override: "branches", overrideLabel: "{label}")',
    )


def test_model_keeps_both_owners() -> None:
    sg = Supergraph(progressive("beta"))
    field = sg.types["Branch"].fields["address"]
    assert field.label == ("beta", "geo", "branches")
    assert field.sources_for(frozenset()) == {"branches"}
    assert field.sources_for(frozenset({"beta"})) == {"geo"}
    assert sg.override_labels() == {"beta"}


@pytest.mark.parametrize(("labels", "expected"), [((), ["branches"]), (("beta",), ["branches", "geo"])])
def test_plan_follows_the_labels(labels: tuple, expected: list) -> None:
    sg = Supergraph(progressive("beta"))
    plan = build_query_plan(sg, parse("{ branches { address } }"), None, frozenset(labels))
    assert [f.service_name for f in plan.fetches()] == expected


async def test_execution_with_configured_and_percent_labels(scenarios) -> None:
    urls = scenarios.urls("shareable_override")
    query = "{ branches { address } }"
    off = Engine(Supergraph(progressive("beta"), urls), SubgraphClient())
    on = Engine(Supergraph(progressive("beta"), urls), SubgraphClient(), override_labels=frozenset({"beta"}))
    always = Engine(Supergraph(progressive("percent(100)"), urls), SubgraphClient())
    never = Engine(Supergraph(progressive("percent(0)"), urls), SubgraphClient())
    old = {"data": {"branches": [{"address": "old Rue A"}, {"address": "old Strasse B"}]}}
    new = {"data": {"branches": [{"address": "Rue A"}, {"address": "Strasse B"}]}}
    assert (await off.run(query, None, None, {})).body == old
    assert (await on.run(query, None, None, {})).body == new
    assert (await always.run(query, None, None, {})).body == new
    assert (await never.run(query, None, None, {})).body == old


async def test_plan_cache_is_keyed_by_labels(scenarios) -> None:
    engine = Engine(Supergraph(progressive("percent(50)"), scenarios.urls("shareable_override")), SubgraphClient())
    answers = {str((await engine.run("{ branches { address } }", None, None, {})).body) for _ in range(40)}
    assert len(answers) == 2  # both owners answered, each from its own cached plan
    assert len(engine.plans._items) == 2
