"""Conformance-style scenarios: each folder's cases run through the router against live subgraphs."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.client import SubgraphClient
from router.engine import Engine
from router.supergraph import Supergraph
from tests.router.harness import load_cases, scenario_names

CASES = [
    pytest.param(scenario, case, id=f"{scenario}: {case['name']}")
    for scenario in scenario_names()
    for case in load_cases(scenario)
]


def error_paths(body: dict) -> list:
    return sorted((e.get("path") for e in body.get("errors", [])), key=str)


@pytest.mark.parametrize(("scenario", "case"), CASES)
async def test_case(make_engine, scenario: str, case: dict) -> None:
    engine = make_engine(scenario)
    if "setup" in case:
        setup = await engine.run(case["setup"], None, None, {})
        assert "errors" not in setup.body, setup.body
    result = await engine.run(case["query"], case.get("variables"), case.get("operationName"), {})
    assert result.status == case.get("status", 200), result.body
    if "expected" in case:
        assert result.body.get("data") == case["expected"]["data"]
    if "error_paths" in case:
        assert error_paths(result.body) == sorted(case["error_paths"], key=str)
    elif result.status == 200:
        assert "errors" not in result.body, result.body


FED1_ENTITIES = Path(__file__).parent / "supergraphs" / "entities_fed1.graphql"


@pytest.mark.parametrize("case", load_cases("entities"), ids=lambda c: c["name"])
async def test_fed1_supergraph_of_the_same_subgraphs(scenarios, case: dict) -> None:
    # The entities subgraphs described by a Federation 1 (core v0.2, join v0.1) supergraph answer the same.
    sg = Supergraph.from_file(FED1_ENTITIES, scenarios.urls("entities"))
    engine = Engine(sg, SubgraphClient())
    result = await engine.run(case["query"], case.get("variables"), case.get("operationName"), {})
    assert result.status == case.get("status", 200), result.body
    assert result.body.get("data") == case["expected"]["data"]
