"""The project's supergraph: current with the subgraph snapshots, and the same API schema Apollo composes."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema, print_schema

from router.composition import compose
from router.supergraph import Supergraph
from shared.registry import load_subgraphs
from tests.router.apollo_gateway import ensure_node_modules
from tests.router.harness import compose_with_apollo

SCHEMA = Path(__file__).resolve().parents[1] / "schema"


def _sorted_api(schema) -> str:
    # Compare type by type so declaration order does not matter.
    printed = print_schema(schema)
    blocks = [b.strip() for b in printed.split("\n\n") if b.strip()]
    return "\n\n".join(sorted(blocks))


def test_committed_supergraph_is_current() -> None:
    result = compose(SCHEMA / "supergraph.yaml")
    assert result.ok, str(result)
    assert (SCHEMA / "supergraph.graphql").read_text() == result.supergraph_sdl, "run `finpace compose`"


def test_every_subgraph_in_the_supergraph() -> None:
    sdl = (SCHEMA / "supergraph.graphql").read_text()
    for service in load_subgraphs():
        assert f'@join__graph(name: "{service.name}", url: "http://127.0.0.1:{service.port}/graphql")' in sdl


def test_supergraph_and_api_schema_equal_apollo_composition(tmp_path: Path) -> None:
    ensure_node_modules()
    sdls = {s.name: (f"http://127.0.0.1:{s.port}/graphql", (SCHEMA / f"{s.name}.graphql").read_text())
            for s in load_subgraphs()}
    apollo = compose_with_apollo(sdls, tmp_path)
    assert not apollo.get("errors"), apollo.get("errors")
    committed = (SCHEMA / "supergraph.graphql").read_text()
    ours = Supergraph(committed)
    assert _sorted_api(ours.api_schema) == _sorted_api(build_schema(apollo["apiSchema"]))
    # Byte for byte: descriptions merged and printed as Apollo does, directives in its order.
    assert committed == apollo["supergraphSdl"] + "\n"
