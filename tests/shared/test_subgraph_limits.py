"""Each subgraph's own operation limits (depth, aliases, tokens): refused before execution with the router's codes."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from strawberry.federation import Schema

from shared.app import profiled_schema
from shared.config import Settings
from shared.graphql import FinpaceErrors


@strawberry.type
class Node:
    name: str

    @strawberry.field
    def child(self) -> Node:
        calls.append(self.name)
        return Node(name=self.name + "'")


@strawberry.type
class Query:
    @strawberry.field
    def root(self) -> Node:
        calls.append("root")
        return Node(name="n")


calls: list[str] = []
SCHEMA = Schema(query=Query, extensions=[lambda: FinpaceErrors("test")])


def nested(depth: int) -> str:
    """`{ root { child { ... name } } }` with `depth` levels of fields above `name`."""
    return "{ " + "root { " + "child { " * (depth - 1) + "name" + " }" * depth + " }"


class Context:
    settings = Settings()


async def run(query: str, **limits: Any) -> tuple[dict[str, Any] | None, set[str]]:
    calls.clear()
    result = await profiled_schema(SCHEMA, Settings(**limits)).execute(query, context_value=Context())
    return result.data, {e.extensions.get("code") for e in result.errors or ()}


@pytest.mark.parametrize(("query", "limits", "code"), [
    (nested(5), {"subgraph_max_depth": 4}, "MAX_DEPTH_EXCEEDED"),
    ("{ " + " ".join(f"a{i}: root {{ name }}" for i in range(4)) + " }", {"subgraph_max_aliases": 3},
     "MAX_ALIASES_EXCEEDED"),
    ("{ root { " + "name " * 200 + "} }", {"subgraph_max_tokens": 150}, "MAX_TOKENS_EXCEEDED"),
])
async def test_an_operation_over_a_limit_is_refused_before_any_resolver(query: str, limits: dict[str, int],
                                                                        code: str) -> None:
    data, codes = await run(query, **limits)
    assert codes == {code} and data is None
    assert calls == []  # refused before execution: not one resolver ran


@pytest.mark.parametrize(("query", "limits"), [
    (nested(4), {"subgraph_max_depth": 4}),
    ("{ " + " ".join(f"a{i}: root {{ name }}" for i in range(3)) + " }", {"subgraph_max_aliases": 3}),
    ("{ root { " + "name " * 100 + "} }", {"subgraph_max_tokens": 150}),
])
async def test_an_operation_at_a_limit_runs(query: str, limits: dict[str, int]) -> None:
    data, codes = await run(query, **limits)
    assert codes == set() and data is not None and calls


async def test_the_defaults_sit_above_the_router_s_limits() -> None:
    defaults = Settings()
    # The router refuses depth > 7, aliases > 15 and tokens > 2,000; a fetch it plans adds `_entities` and keys.
    assert defaults.subgraph_max_depth > 8 and defaults.subgraph_max_aliases > 15
    assert defaults.subgraph_max_tokens > 2_000
    data, codes = await run(nested(12))
    assert codes == set() and data is not None
    _, codes = await run(nested(13))
    assert codes == {"MAX_DEPTH_EXCEEDED"}
