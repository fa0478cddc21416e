"""Query plan nodes (Sequence, Parallel, Flatten, Fetch, Condition) in the shape of Apollo's query-plan JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from graphql.language import VariableNode

Conditions = frozenset[tuple[str, bool]]  # (variable, value that lets the selection run)
NO_CONDITIONS: Conditions = frozenset()


def conditions_of(directives) -> Conditions:
    """The variable-driven `@skip` / `@include` of a selection: `@include(if: $v)` is (v, True), `@skip` (v, False)."""
    out = set()
    for d in directives or ():
        if d.name.value not in ("skip", "include"):
            continue
        for arg in d.arguments or ():
            if arg.name.value == "if" and isinstance(arg.value, VariableNode):
                out.add((arg.value.name.value, d.name.value == "include"))
    return frozenset(out)


@dataclass(frozen=True)
class Fetch:
    """One request to one subgraph; `requires` makes it an `_entities` fetch fed by representations."""

    service_name: str
    operation: str
    operation_kind: str
    variable_usages: tuple[str, ...]
    requires: tuple[dict, ...] = ()
    operation_name: str | None = None
    input_rewrites: tuple[dict, ...] = ()
    id: int = 0

    @cached_property
    def key_fields(self) -> tuple[str, tuple[str, ...]] | None:
        """(type, fields) when `requires` is one inline fragment of plain fields with __typename (the usual @key).

        A representation is then those fields of an object of that type, read without walking `requires`.
        """
        if len(self.requires) != 1 or self.input_rewrites:
            return None
        frag = self.requires[0]
        selections = frag.get("selections") or ()
        if frag.get("kind") != "InlineFragment" or not frag.get("typeCondition"):
            return None
        if any(s.get("kind") != "Field" or "alias" in s or "selections" in s for s in selections):
            return None
        fields = tuple(s["name"] for s in selections)
        return (frag["typeCondition"], fields) if "__typename" in fields else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Fetch", "serviceName": self.service_name}
        if self.requires:
            out["requires"] = list(self.requires)
        out["variableUsages"] = list(self.variable_usages)
        out["operation"] = self.operation
        if self.operation_name:
            out["operationName"] = self.operation_name
        out["operationKind"] = self.operation_kind
        if self.input_rewrites:
            out["inputRewrites"] = list(self.input_rewrites)
        return out


@dataclass(frozen=True)
class Flatten:
    """Runs `node` at every object reached by `path` (response names, "@" for list elements)."""

    path: tuple[str, ...]
    node: Fetch

    def to_json(self) -> dict[str, Any]:
        return {"kind": "Flatten", "path": list(self.path), "node": self.node.to_json()}


@dataclass(frozen=True)
class Sequence:
    """Children one after another on the same data."""

    nodes: tuple[PlanNode, ...]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "Sequence", "nodes": [n.to_json() for n in self.nodes]}


@dataclass(frozen=True)
class Parallel:
    """Children concurrently on the same data."""

    nodes: tuple[PlanNode, ...]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "Parallel", "nodes": [n.to_json() for n in self.nodes]}


@dataclass(frozen=True)
class Condition:
    """Runs `if_clause` when the Boolean variable `condition` is true, `else_clause` when it is false.

    `@include(if: $v)` on a fetch boundary becomes `Condition(v, if_clause=...)`, `@skip(if: $v)` becomes
    `Condition(v, else_clause=...)`, so a skipped branch sends nothing. `default` is the variable's default
    value, used when the request leaves the variable out.
    """

    condition: str
    if_clause: PlanNode | None = None
    else_clause: PlanNode | None = None
    default: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Condition", "condition": self.condition}
        if self.if_clause is not None:
            out["ifClause"] = self.if_clause.to_json()
        if self.else_clause is not None:
            out["elseClause"] = self.else_clause.to_json()
        return out


PlanNode = Fetch | Flatten | Sequence | Parallel | Condition


@dataclass(frozen=True)
class QueryPlan:
    """The plan of one operation: the node tree plus what the router answers itself."""

    node: PlanNode | None
    introspection_fields: tuple[str, ...] = field(default=())
    primary: Fetch | None = None  # subscriptions: the upstream subscription; `node` then runs per event

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "QueryPlan"}
        if self.primary is not None:
            sub: dict[str, Any] = {"kind": "Subscription", "primary": self.primary.to_json()}
            if self.node is not None:
                sub["rest"] = self.node.to_json()
            out["node"] = sub
        elif self.node is not None:
            out["node"] = self.node.to_json()
        return out

    def fetches(self) -> list[Fetch]:
        out: list[Fetch] = []

        def walk(n: PlanNode | None) -> None:
            if isinstance(n, Fetch):
                out.append(n)
            elif isinstance(n, Flatten):
                walk(n.node)
            elif isinstance(n, Sequence | Parallel):
                for c in n.nodes:
                    walk(c)
            elif isinstance(n, Condition):
                walk(n.if_clause)
                walk(n.else_clause)

        walk(self.node)
        return out


def conditional(node: PlanNode | None, conditions, defaults: dict[str, bool | None]) -> PlanNode | None:
    """Wrap `node` in one Condition per (variable, passing value), outermost first in name order."""
    if node is None:
        return None
    for variable, passing in sorted(conditions, reverse=True):
        default = defaults.get(variable)
        node = Condition(variable, node, None, default) if passing else Condition(variable, None, node, default)
    return node


def sequence(nodes: list[PlanNode]) -> PlanNode | None:
    """Sequence without the single-child wrapper."""
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else Sequence(tuple(nodes))


def parallel(nodes: list[PlanNode]) -> PlanNode | None:
    """Parallel without the single-child wrapper."""
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else Parallel(tuple(nodes))
