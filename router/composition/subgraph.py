"""Reads one subgraph SDL (Federation 2 `@link`ed, or Federation 1 style) into a plain model for merging."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import parse, print_ast, value_from_ast_untyped
from graphql.language import (
    DirectiveNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ScalarTypeDefinitionNode,
    ScalarTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
)

FEDERATION_SPEC = "https://specs.apollo.dev/federation/"
# Access-control directives carried into the supergraph, in the order Apollo links their specs.
ACCESS_CONTROL = ("authenticated", "requiresScopes", "policy")
# A directive application kept for the supergraph: (federation name, its list argument or None).
Applied = tuple[str, list | None]
_FEDERATION_TYPES = {"_Any", "_Entity", "_Service", "_FieldSet", "FieldSet", "link__Import", "link__Purpose"}
_ROOT_FEDERATION_FIELDS = {"_entities", "_service"}
_KINDS = {
    ObjectTypeDefinitionNode: "object",
    ObjectTypeExtensionNode: "object",
    InterfaceTypeDefinitionNode: "interface",
    InterfaceTypeExtensionNode: "interface",
    UnionTypeDefinitionNode: "union",
    UnionTypeExtensionNode: "union",
    EnumTypeDefinitionNode: "enum",
    EnumTypeExtensionNode: "enum",
    InputObjectTypeDefinitionNode: "input",
    InputObjectTypeExtensionNode: "input",
    ScalarTypeDefinitionNode: "scalar",
    ScalarTypeExtensionNode: "scalar",
}


@dataclass
class SField:
    """A field (or input field) as one subgraph declares it."""

    name: str
    type: str
    args: list = field(default_factory=list)  # InputValueDefinitionNode
    description: str | None = None
    external: bool = False
    shareable: bool = False
    requires: str | None = None
    provides: str | None = None
    override: str | None = None
    inaccessible: bool = False
    default: str | None = None  # an input field's default value, printed
    deprecated: DirectiveNode | None = None
    auth: list[Applied] = field(default_factory=list)  # @authenticated / @requiresScopes / @policy, in order


@dataclass
class SType:
    """A named type as one subgraph declares it (definitions and extensions merged)."""

    name: str
    kind: str
    fields: dict[str, SField] = field(default_factory=dict)
    keys: list[tuple[str, bool]] = field(default_factory=list)
    shareable: bool = False
    extension: bool = False
    interface_object: bool = False
    inaccessible: bool = False
    interfaces: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    # enum values: name, @inaccessible, @deprecated, description
    values: list[tuple[str, bool, DirectiveNode | None, str | None]] = field(default_factory=list)
    description: str | None = None
    specified_by: str | None = None  # a scalar's @specifiedBy(url:)
    auth: list[Applied] = field(default_factory=list)  # @authenticated / @requiresScopes / @policy, in order


@dataclass
class Subgraph:
    """A parsed subgraph: its name, routing URL, whether it is Fed-1 style, and its types."""

    name: str
    url: str
    fed1: bool
    types: dict[str, SType] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)


def _names(doc) -> tuple[dict[str, str], bool]:
    """Local directive name -> federation directive name, and whether the SDL is Federation 1 style."""
    links = []
    for d in doc.definitions:
        if isinstance(d, SchemaDefinitionNode | SchemaExtensionNode):
            links.extend(x for x in d.directives or () if x.name.value == "link")
    for link in links:
        args = {a.name.value: value_from_ast_untyped(a.value) for a in link.arguments}
        if str(args.get("url", "")).startswith(FEDERATION_SPEC):
            prefix = args.get("as") or "federation"
            names: dict[str, str] = {}
            for imp in args.get("import") or ():
                local, original = (imp, imp) if isinstance(imp, str) else (imp.get("as") or imp["name"], imp["name"])
                names[local.lstrip("@")] = original.lstrip("@")
            for directive in (
                "key",
                "external",
                "requires",
                "provides",
                "shareable",
                "override",
                "inaccessible",
                "interfaceObject",
                "extends",
                "tag",
                *ACCESS_CONTROL,
            ):
                names.setdefault(f"{prefix}__{directive}", directive)
            return names, False
    plain = ("key", "external", "requires", "provides", "extends", "inaccessible", "tag", "shareable", "override")
    return {n: n for n in plain}, True


def parse_subgraph(name: str, url: str, sdl: str) -> Subgraph:
    """Parse a subgraph SDL; federation machinery (`_entities`, `_Any`, directive definitions) is dropped."""
    doc = parse(sdl)
    names, fed1 = _names(doc)
    sub = Subgraph(name, url, fed1)
    for d in doc.definitions:
        if isinstance(d, SchemaDefinitionNode | SchemaExtensionNode):
            for op in d.operation_types or ():
                sub.roots[op.operation.value] = op.type.name.value
    for d in doc.definitions:
        kind = _KINDS.get(type(d))
        if kind is None or d.name.value in _FEDERATION_TYPES or d.name.value.startswith("federation__"):
            continue
        t = sub.types.get(d.name.value)
        if t is None:
            t = sub.types[d.name.value] = SType(d.name.value, kind)
        if getattr(d, "description", None) and t.description is None:
            t.description = d.description.value
        directives = {x.name.value: x for x in d.directives or ()}
        is_extension = "Extension" in type(d).__name__ or any(names.get(n) == "extends" for n in directives)
        # Federation 1 extensions are how that style declares entities, not extensions in the join sense.
        t.extension = t.extension or (is_extension and not fed1)
        for x in d.directives or ():
            role = names.get(x.name.value)
            args = {a.name.value: value_from_ast_untyped(a.value) for a in x.arguments or ()}
            if role == "key":
                t.keys.append((args["fields"], args.get("resolvable", True)))
            elif role == "shareable":
                t.shareable = True
            elif role == "interfaceObject":
                t.interface_object = True
            elif role == "inaccessible":
                t.inaccessible = True
            elif role in ACCESS_CONTROL:
                t.auth.append(_access_control(role, args))
            elif x.name.value == "specifiedBy" and kind == "scalar":
                t.specified_by = t.specified_by or args.get("url")
        t.interfaces.extend(
            i.name.value for i in getattr(d, "interfaces", None) or () if i.name.value not in t.interfaces
        )
        t.members.extend(m.name.value for m in getattr(d, "types", None) or () if m.name.value not in t.members)
        for v in getattr(d, "values", None) or ():
            hidden = any(names.get(x.name.value) == "inaccessible" for x in v.directives or ())
            deprecated = next((x for x in v.directives or () if x.name.value == "deprecated"), None)
            description = v.description.value if v.description else None
            t.values.append((v.name.value, hidden, deprecated, description))
        for f in getattr(d, "fields", None) or ():
            if f.name.value in _ROOT_FEDERATION_FIELDS:
                continue
            t.fields[f.name.value] = _field(f, names)
    if fed1:
        _fed1_adjustments(sub)
    _normalise_roots(sub)
    return sub


_DEFAULT_ROOTS = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}


def _normalise_roots(sub: Subgraph) -> None:
    """Root types take their default names in the supergraph, whatever the subgraph calls them."""
    renames = {}
    for op, default in _DEFAULT_ROOTS.items():
        current = sub.roots.get(op)
        if current is None and default in sub.types:
            sub.roots[op] = default
        elif current is not None and current != default:
            renames[current] = default
            sub.roots[op] = default
    for root in sub.roots.values():
        if root in sub.types:
            sub.types[root].extension = False
    if not renames:
        return
    sub.types = {renames.get(n, n): t for n, t in sub.types.items()}
    for t in sub.types.values():
        t.name = renames.get(t.name, t.name)
        for f in t.fields.values():
            named = f.type.replace("[", "").replace("]", "").replace("!", "")
            if named in renames:
                f.type = f.type.replace(named, renames[named])


def _field(f, names: dict[str, str]) -> SField:
    out = SField(f.name.value, print_ast(f.type), list(getattr(f, "arguments", None) or ()))
    if getattr(f, "default_value", None) is not None:
        out.default = print_ast(f.default_value)
    if f.description:
        out.description = f.description.value
    for x in f.directives or ():
        role = names.get(x.name.value)
        args = {a.name.value: value_from_ast_untyped(a.value) for a in x.arguments or ()}
        if role == "external":
            out.external = True
        elif role == "shareable":
            out.shareable = True
        elif role == "requires":
            out.requires = args["fields"]
        elif role == "provides":
            out.provides = args["fields"]
        elif role == "override":
            out.override = args["from"]
        elif role == "inaccessible":
            out.inaccessible = True
        elif role in ACCESS_CONTROL:
            out.auth.append(_access_control(role, args))
        elif x.name.value == "deprecated":
            out.deprecated = x
    return out


def _access_control(role: str, args: dict) -> Applied:
    """An access-control application: @authenticated has no argument, the others one list of lists."""
    if role == "authenticated":
        return role, None
    return role, args.get("scopes" if role == "requiresScopes" else "policies")


def _fed1_adjustments(sub: Subgraph) -> None:
    """Federation 1 semantics: everything is shareable, and key fields of extensions are not external."""
    for t in sub.types.values():
        t.shareable = True
        for f in t.fields.values():
            f.shareable = True
        if t.extension:
            for key, _ in t.keys:
                for top in parse("{" + key + "}").definitions[0].selection_set.selections:
                    f = t.fields.get(top.name.value)
                    if f is not None:
                        f.external = False


def key_coordinates(sub: Subgraph) -> set[tuple[str, str]]:
    """(type, field) pairs selected by any @key of the subgraph, nested selections included."""
    out: set[tuple[str, str]] = set()

    def walk(t: SType | None, selections) -> None:
        if t is None:
            return
        for sel in selections:
            if sel.kind == "inline_fragment":
                walk(
                    sub.types.get(sel.type_condition.name.value) if sel.type_condition else t,
                    sel.selection_set.selections,
                )
                continue
            out.add((t.name, sel.name.value))
            f = t.fields.get(sel.name.value)
            if f is not None and sel.selection_set:
                walk(
                    sub.types.get(f.type.replace("[", "").replace("]", "").replace("!", "")),
                    sel.selection_set.selections,
                )

    for t in sub.types.values():
        for key, _ in t.keys:
            walk(t, parse("{" + key + "}").definitions[0].selection_set.selections)
    return out


def key_field_names(t: SType) -> set[str]:
    """Top-level field names used by the type's keys in this subgraph."""
    out: set[str] = set()
    for key, _ in t.keys:
        out |= {s.name.value for s in parse("{" + key + "}").definitions[0].selection_set.selections}
    return out
