"""`_entities` refuses malformed representations with BAD_USER_INPUT at their index (found by fuzzing)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import strawberry
from strawberry.federation.schema_directives import Key

from shared.federation import Schema
from shared.graphql import FinpaceErrors
from shared.registry import load_subgraphs

ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Thing { id name } ... on Stub { id } } }"


@strawberry.federation.type(keys=["id"])
class Thing:
    id: strawberry.ID
    name: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Thing:
        return Thing(id=id, name=f"thing {id}")


@strawberry.federation.type(keys=[Key(fields="id", resolvable=False)])
class Stub:
    """A reference to another subgraph's entity: Strawberry builds it from the representation itself."""

    id: strawberry.ID


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing | None:
        return None

    @strawberry.field
    def stub(self) -> Stub | None:
        return None


SCHEMA = Schema(query=Query, types=[Thing, Stub], federation_version="2.9", extensions=[lambda: FinpaceErrors("test")])


async def entities(representations: list[Any]) -> Any:
    return await SCHEMA.execute(ENTITIES, variable_values={"r": representations})


async def test_malformed_representations_are_bad_user_input_and_the_rest_resolve() -> None:
    broken = [
        ["a list"],
        {"id": "1"},
        {"__typename": 7, "id": "1"},
        {"__typename": "NoSuchType", "id": "1"},
        {"__typename": "Query", "id": "1"},
        {"__typename": "Thing"},
        {"__typename": "Thing", "id": None},
        {"__typename": "Stub"},
    ]
    result = await entities([{"__typename": "Thing", "id": "a"}, *broken, {"__typename": "Stub", "id": "b"}])
    assert result.data == {"_entities": [{"id": "a", "name": "thing a"}, *[None] * len(broken), {"id": "b"}]}
    assert sorted(e.path[1] for e in result.errors) == list(range(1, len(broken) + 1))
    assert {e.extensions["code"] for e in result.errors} == {"BAD_USER_INPUT"}


@pytest.mark.parametrize("name", [s.name for s in load_subgraphs()])
def test_every_subgraph_builds_the_validating_schema(name: str) -> None:
    assert isinstance(importlib.import_module(f"subgraphs.{name}.schema").build_schema(), Schema)
