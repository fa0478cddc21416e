"""Regenerates each scenario's supergraph.graphql and api.graphql with @apollo/composition (needs node)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.router.harness import SCENARIOS, compose_with_apollo, load_subgraphs, scenario_names

PLACEHOLDER = "http://{name}.invalid/graphql"


def compose_scenario(scenario: str) -> dict:
    sdls = {name: (PLACEHOLDER.format(name=name), schema.as_str()) for name, schema in load_subgraphs(scenario).items()}
    with tempfile.TemporaryDirectory() as tmp:
        return compose_with_apollo(sdls, Path(tmp))


def main(names: list[str]) -> None:
    for scenario in names or scenario_names():
        result = compose_scenario(scenario)
        if "errors" in result:
            sys.exit(f"{scenario}: {result['errors']}")
        (SCENARIOS / scenario / "supergraph.graphql").write_text(result["supergraphSdl"] + "\n")
        (SCENARIOS / scenario / "api.graphql").write_text(result["apiSchema"] + "\n")
        print(f"composed {scenario}")


if __name__ == "__main__":
    main(sys.argv[1:])
