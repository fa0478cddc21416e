"""The federation schema every subgraph builds: Strawberry's, with `_entities` refusing malformed representations.

Strawberry resolves `_entities(representations:)` trusting the router: a representation that is not an object,
lacks `__typename`, names a type this subgraph does not resolve, or lacks a key argument of `resolve_reference`
(for a stub entity, a required field) makes it raise KeyError/TypeError, which surfaces as INTERNAL_SERVER_ERROR.
Here each such representation gets a BAD_USER_INPUT error at its own index; the well-formed ones resolve as before.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

import strawberry
from strawberry.federation.schema import FederationAny
from strawberry.types import Info

from shared import errors

_IMPLICIT = frozenset({"info", "cls", "self"})


@functools.cache
def _required_keys(origin: type) -> tuple[str, ...]:
    """What a representation must carry: `resolve_reference`'s required arguments, or, for a stub entity that
    Strawberry builds from the representation itself, the type's required fields."""
    resolve_reference = getattr(origin, "resolve_reference", None)
    if resolve_reference is None:
        if not dataclasses.is_dataclass(origin):
            return ()
        return tuple(f.name for f in dataclasses.fields(origin) if f.init and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    return tuple(
        name
        for name, p in inspect.signature(resolve_reference).parameters.items()
        if name not in _IMPLICIT and p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


class Schema(strawberry.federation.Schema):
    """strawberry.federation.Schema with a validating `_entities` resolver."""

    def entities_resolver(self, info: Info, representations: list[FederationAny]) -> list[FederationAny]:
        results: list[Any] = [None] * len(representations)
        valid: list[tuple[int, Any]] = []
        for index, representation in enumerate(representations):
            problem = self._refusal(representation)
            if problem:
                results[index] = errors.InputError(f"representations[{index}]: {problem}", field="representations")
            else:
                valid.append((index, representation))
        resolved = super().entities_resolver(info, [r for _, r in valid]) if valid else []
        for (index, _), result in zip(valid, resolved, strict=True):
            results[index] = result
        return results

    def _refusal(self, representation: Any) -> str | None:
        """Says why a representation cannot be resolved here, or None when it can."""
        if not isinstance(representation, dict):
            return "a representation is an object with __typename and the entity's key."
        type_name = representation.get("__typename")
        if not isinstance(type_name, str):
            return "__typename is missing."
        graphql_type = self.schema_converter.type_map.get(type_name)
        origin = getattr(getattr(graphql_type, "definition", None), "origin", None)
        if origin is None or type_name not in self._entity_names():
            return f"{type_name[:40]!r} is not an entity of this subgraph."
        missing = [name for name in _required_keys(origin) if representation.get(name) is None]
        return f"key field {missing[0]!r} is missing." if missing else None

    def _entity_names(self) -> frozenset[str]:
        union = self._schema.type_map.get("_Entity")
        return frozenset(t.name for t in getattr(union, "types", ()))
