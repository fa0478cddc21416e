"""Query plan nodes (Sequence, Parallel, Flatten, Fetch) in the shape of Apollo's query-plan JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


PlanNode = Fetch | Flatten | Sequence | Parallel


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

        walk(self.node)
        return out


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
