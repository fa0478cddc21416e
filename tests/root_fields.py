"""Every root field of every subgraph, who its SDL lets call it, and a minimal valid call of it.

The field-by-role matrix tests (router: tests/router/test_platform_authorization.py; subgraphs:
tests/fuzz/test_graphs.py) read the expectation here, from each subgraph's own SDL snapshot, and check
it against what the router and the subgraph actually do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLInputType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    is_enum_type,
    is_input_object_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    parse,
)

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schema"
SUPERGRAPH_FILE = SCHEMA_DIR / "supergraph.graphql"
ROLES = ("customer", "rm", "ops", "auditor", "partner", "admin")
DENIED = frozenset({"UNAUTHENTICATED", "FORBIDDEN", "UNAUTHORIZED_FIELD_OR_TYPE"})
_OPERATIONS = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}
# A well-formed value of each scalar: enough to pass validation and coercion, not to find a record.
_SCALARS: dict[str, Any] = {
    "ID": "00000000-0000-4000-8000-000000000000", "String": "x", "Int": 1, "Float": 1.5, "Boolean": False,
    "Date": "2026-01-01", "DateTime": "2026-01-01T00:00:00Z", "Decimal": "1.00", "JSON": {}, "Long": 1,
}


@dataclass(frozen=True)
class RootField:
    subgraph: str
    operation: str  # query | mutation | subscription
    name: str
    # None: anyone, even without a token; (): any valid token; else any one clause, all of its roles.
    clauses: tuple[tuple[str, ...], ...] | None

    @property
    def id(self) -> str:
        return f"{self.subgraph}.{self.operation}.{self.name}"

    @property
    def who(self) -> str:
        """The requirement in words, as docs/api.md lists it."""
        if self.clauses is None:
            return "anyone, no token"
        if not self.clauses:
            return "any valid token"
        return "roles: " + " or ".join(" and ".join(clause) for clause in self.clauses)

    def may(self, role: str | None) -> bool:
        """Whether a caller with `role` (None: no token) may select this field, by the SDL."""
        if self.clauses is None:
            return True
        if role is None:
            return False
        return not self.clauses or any(set(clause) <= {role} for clause in self.clauses)

    def call(self, schema: GraphQLSchema) -> tuple[str, dict[str, Any]]:
        """An operation selecting only this field, with every required argument as a variable, and the values."""
        root = {"query": schema.query_type, "mutation": schema.mutation_type,
                "subscription": schema.subscription_type}[self.operation]
        assert root is not None and self.name in root.fields, self.id
        field = root.fields[self.name]
        required = {n: a for n, a in field.args.items() if is_non_null_type(a.type) and a.default_value is Undefined}
        definitions = ", ".join(f"${n}: {a.type}" for n, a in required.items())
        arguments = ", ".join(f"{n}: ${n}" for n in required)
        selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
        text = (f"{self.operation} Matrix{f'({definitions})' if definitions else ''} "
                f"{{ {self.name}{f'({arguments})' if arguments else ''}{selection} }}")
        return text, {n: sample(a.type) for n, a in required.items()}


def sample(gtype: GraphQLInputType) -> Any:
    """A minimal well-formed value of an input type: required input fields only, one list item."""
    if is_non_null_type(gtype):
        return sample(gtype.of_type)  # type: ignore[union-attr]
    if is_list_type(gtype):
        return [sample(gtype.of_type)]  # type: ignore[union-attr]
    if is_enum_type(gtype):
        return next(iter(gtype.values))  # type: ignore[union-attr]
    if is_input_object_type(gtype):
        return {n: sample(f.type) for n, f in gtype.fields.items()  # type: ignore[union-attr]
                if is_non_null_type(f.type) and f.default_value is Undefined}
    return _SCALARS[gtype.name]  # type: ignore[union-attr]


def root_fields() -> list[RootField]:
    """Every public root field (not `_entities` / `_service`) of every subgraph snapshot, with its requirement."""
    found = []
    for path in sorted(SCHEMA_DIR.glob("*.graphql")):
        if path == SUPERGRAPH_FILE:
            continue
        for node in parse(path.read_text(encoding="utf-8")).definitions:
            operation = _OPERATIONS.get(getattr(getattr(node, "name", None), "value", ""))
            for field in (getattr(node, "fields", None) or ()) if operation else ():
                if not field.name.value.startswith("_"):
                    found.append(RootField(path.stem, operation, field.name.value, _requirement(field.directives)))
    return found


def _requirement(directives: Any) -> tuple[tuple[str, ...], ...] | None:
    names = {d.name.value: d for d in directives or ()}
    assert "requiresScopes" not in names, "a field needs scopes: teach this matrix which tokens carry them"
    if "policy" in names:
        clauses = names["policy"].arguments[0].value.values
        roles = [[p.value for p in clause.values] for clause in clauses]
        assert all(p.startswith("role:") for clause in roles for p in clause), roles
        return tuple(tuple(p.removeprefix("role:") for p in clause) for clause in roles)
    return () if "authenticated" in names else None
