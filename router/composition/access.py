"""Access-control directives in the supergraph: @authenticated, @requiresScopes and @policy as Apollo composes them.

Each subgraph's applications are copied to the supergraph element; when several subgraphs (or, for an
interface, its implementations) apply one directive with different arguments, the arguments are
merged by DNF conjunction, `dnfConjunction` of `@apollo/federation-internals`: the caller must meet
every source's requirement. An interface (type or field) inherits the requirements of its
implementations, since any of them may be returned through it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from router.composition.subgraph import ACCESS_CONTROL, Applied, Subgraph

if TYPE_CHECKING:
    from router.composition.merge import Merger

# Linked features in the order Apollo adds them for one subgraph (first subgraph that uses one wins).
SPEC_ORDER = ("inaccessible", *ACCESS_CONTROL)
LINKS = {
    "inaccessible": '  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)',
    "authenticated": '  @link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)',
    "requiresScopes": '  @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)',
    "policy": '  @link(url: "https://specs.apollo.dev/policy/v0.1", for: SECURITY)',
}
_LOCATIONS = "FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"
DEFINITIONS = {
    "inaccessible": "directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | "
    "SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION",
    "authenticated": f"directive @authenticated on {_LOCATIONS}",
    "requiresScopes": f"directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on {_LOCATIONS}",
    "policy": f"directive @policy(policies: [[policy__Policy!]!]!) on {_LOCATIONS}",
}
SCALARS = {"requiresScopes": "requiresScopes__Scope", "policy": "policy__Policy"}


def dnf_conjunction(values: list[list[list[str]]]) -> list[list[str]]:
    """AND of several OR-of-AND requirements, simplified like Apollo's (sorted, subsumed clauses dropped)."""
    normalised: list[list[list[str]]] = []
    for value in values:
        clauses = sorted((sorted(c) for c in (value or [[]])), key=json.dumps)
        if clauses not in normalised:
            normalised.append(clauses)
    result = normalised[0]
    for current in normalised[1:]:
        combined: list[list[str]] = []
        for left in result:
            for right in current:
                candidate = sorted([*left, *(e for e in right if e not in left)])
                if candidate not in combined:
                    combined.append(candidate)
        result = []
        for candidate in sorted(combined, key=len):
            if not any(set(kept) <= set(candidate) for kept in result):
                result.append(candidate)
    return result


def _uses(sub: Subgraph) -> set[str]:
    used: set[str] = set()
    for t in sub.types.values():
        used |= {name for name, _ in t.auth}
        if t.inaccessible or any(v[1] for v in t.values):
            used.add("inaccessible")
        for f in t.fields.values():
            used |= {name for name, _ in f.auth}
            if f.inaccessible or any(
                any(d.name.value.endswith("inaccessible") for d in a.directives or ()) for a in f.args
            ):
                used.add("inaccessible")
    return used


class AccessControl:
    """Which security features the supergraph links, and the access-control directives of each element."""

    def __init__(self, merger: Merger) -> None:
        self.merger = merger
        self.features: list[str] = []
        for sub in merger.subgraphs:
            used = _uses(sub)
            self.features += [name for name in SPEC_ORDER if name in used and name not in self.features]
        self.controls = [name for name in self.features if name in ACCESS_CONTROL]
        self._type_extra: dict[str, dict[str, list[Applied]]] = {}
        self._field_extra: dict[tuple[str, str], dict[str, list[Applied]]] = {}
        if self.controls:
            self._collect_from_implementations()

    def _collect_from_implementations(self) -> None:
        interfaces: dict[str, set[str]] = {}  # object type -> interfaces it implements in any subgraph
        for sub in self.merger.subgraphs:
            for t in sub.types.values():
                if t.kind == "object" and not t.interface_object:
                    interfaces.setdefault(t.name, set()).update(t.interfaces)
        for sub in self.merger.subgraphs:
            for control in ACCESS_CONTROL:
                for t in sub.types.values():
                    if t.kind != "object" or t.interface_object:
                        continue
                    for intf in sorted(interfaces.get(t.name, ())):
                        for applied in t.auth:
                            if applied[0] == control:
                                self._type_extra.setdefault(intf, {}).setdefault(control, []).append(applied)
                        for f in t.fields.values():
                            for applied in f.auth:
                                if applied[0] == control and not f.external:
                                    key = (intf, f.name)
                                    self._field_extra.setdefault(key, {}).setdefault(control, []).append(applied)

    def type_directives(self, name: str, kind: str) -> str:
        """The type's directives, one per line (`\\n  @x`), after its join and @inaccessible lines."""
        own = [a for _, t in self.merger.holders(name) for a in t.auth]
        if kind == "interface":
            return "".join(f"\n  {d}" for d in self._merge(own, self._type_extra.get(name, {}), self.controls))
        order = list(dict.fromkeys(a[0] for a in own))
        return "".join(f"\n  {d}" for d in self._merge(own, {}, order))

    def field_directives(self, type_name: str, fields: list) -> str:
        """A field's directives (` @x`), after its join directives."""
        own = [a for f in fields for a in f.auth]
        if not own and not self.controls:
            return ""
        name = fields[0].name if fields else ""
        extra = self._field_extra.get((type_name, name), {})
        return "".join(f" {d}" for d in self._merge(own, extra, self.controls))

    @staticmethod
    def _merge(own: list[Applied], extra: dict[str, list[Applied]], order: list[str]) -> list[str]:
        out = []
        for control in order:
            values = [v for c, v in own if c == control] + [v for c, v in extra.get(control, []) if c == control]
            if not values:
                continue
            if control == "authenticated":
                out.append("@authenticated")
                continue
            distinct: list = []
            for v in values:
                if v not in distinct:
                    distinct.append(v)
            merged = distinct[0] if len(distinct) == 1 else dnf_conjunction(distinct)
            argument = "scopes" if control == "requiresScopes" else "policies"
            out.append(f"@{control}({argument}: {json.dumps(merged)})")
        return out
