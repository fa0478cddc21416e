"""Merges parsed subgraphs into Federation 2 supergraph SDL (link v1.0, join v0.5)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from graphql import print_ast

from router.composition.access import DEFINITIONS, LINKS, SCALARS, AccessControl
from router.composition.subgraph import SField, SType, Subgraph, key_field_names

_HEADER_DIRECTIVES = [
    "directive @join__directive(graphs: [join__Graph!], name: String!, args: join__DirectiveArguments) "
    "repeatable on SCHEMA | OBJECT | INTERFACE | FIELD_DEFINITION",
    "directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE",
    "directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, "
    "external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String, "
    "contextArguments: [join__ContextArgument!]) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION",
    "directive @join__graph(name: String!, url: String!) on ENUM_VALUE",
    "directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE",
    "directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, "
    "resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION "
    "| ENUM | INPUT_OBJECT | SCALAR",
    "directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION",
    "directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA",
]
_JOIN_TYPES = {
    "join__ContextArgument": "input join__ContextArgument {\n  name: String!\n  type: String!\n  context: String!\n"
    "  selection: join__FieldValue!\n}",
    "join__DirectiveArguments": "scalar join__DirectiveArguments",
    "join__FieldSet": "scalar join__FieldSet",
    "join__FieldValue": "scalar join__FieldValue",
    "link__Import": "scalar link__Import",
    "link__Purpose": 'enum link__Purpose {\n  """\n  `SECURITY` features provide metadata necessary to securely '
    'resolve fields.\n  """\n  SECURITY\n\n  """\n  `EXECUTION` features provide metadata necessary for operation '
    'execution.\n  """\n  EXECUTION\n}',
}
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def graph_enum_value(name: str, taken: set[str]) -> str:
    """join__Graph value for a subgraph name: sanitised and upper-cased, collisions numbered."""
    value = re.sub(r"\W", "_", name).upper()
    if value[:1].isdigit():
        value = "_" + value
    if re.search(r"_\d+$", value):
        value += "_"
    base, n = value, 1
    while value in taken:
        value = f"{base}_{n}"
        n += 1
    taken.add(value)
    return value


def _q(text: str) -> str:
    return json.dumps(text)


def _block_string(value: str) -> str:
    """A description as Apollo's printer writes it: one line when it fits, else a block of its own lines."""
    single = "\n" not in value
    multi = not single or value.endswith(('"', "\\")) or len(value) > 70
    body = ("\n" if multi and not (single and value[:1] in (" ", "\t")) else "") + value + ("\n" if multi else "")
    return '"""' + body.replace('"""', '\\"""') + '"""'


def _desc(text: str | None, indent: str, first: bool = True) -> str:
    """The description line(s) before an element; a described field after the first has a blank line before it."""
    if text is None:
        return ""
    prefix = "\n" + indent if indent and not first else indent
    return prefix + _block_string(text).replace("\n", "\n" + indent) + "\n"


def merged_description(descriptions: Iterable[str | None]) -> str | None:
    """The description the supergraph keeps when subgraphs describe one element, as Apollo's composition does:
    the only one, else the only non-empty one, else the one most subgraphs use (the first of those tied)."""
    counts: dict[str, int] = {}
    for text in descriptions:
        if text is not None:
            counts[text] = counts.get(text, 0) + (1 if text else -(2**31))
    if not counts:
        return None
    non_empty = [text for text in counts if text]
    if len(counts) > 1 and len(non_empty) == 1:
        return non_empty[0]
    return max(counts, key=lambda text: counts[text])  # max keeps the first of equal counts


class Merger:
    """Holds the subgraphs (sorted by name) and prints the supergraph."""

    def __init__(self, subgraphs: list[Subgraph]) -> None:
        self.subgraphs = sorted(subgraphs, key=lambda s: s.name)
        taken: set[str] = set()
        self.enum = {s.name: graph_enum_value(s.name, taken) for s in self.subgraphs}
        self.type_names: list[str] = []
        for s in self.subgraphs:
            for name in s.types:
                if name not in self.type_names and name not in BUILT_IN_SCALARS:
                    self.type_names.append(name)
        self.access = AccessControl(self)

    def holders(self, type_name: str) -> list[tuple[Subgraph, SType]]:
        return [(s, s.types[type_name]) for s in self.subgraphs if type_name in s.types]

    def kind(self, type_name: str) -> str:
        kinds = {t.kind for _, t in self.holders(type_name)}
        if "interface" in kinds:
            return "interface"  # an @interfaceObject is an object type in its own subgraph
        return kinds.pop()

    def print(self) -> str:
        roots = {}
        for s in self.subgraphs:
            roots.update(s.roots)
        links = [
            '  @link(url: "https://specs.apollo.dev/link/v1.0")',
            '  @link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION)',
            *(LINKS[name] for name in self.access.features),
        ]
        directives = sorted([*_HEADER_DIRECTIVES, *(DEFINITIONS[name] for name in self.access.features)])
        ops = "".join(f"  {op}: {roots[op]}\n" for op in ("query", "mutation", "subscription") if op in roots)
        parts = ["schema\n" + "\n".join(links) + "\n{\n" + ops + "}", *directives]
        blocks = dict(_JOIN_TYPES)
        blocks.update({SCALARS[n]: f"scalar {SCALARS[n]}" for n in self.access.features if n in SCALARS})
        blocks["join__Graph"] = (
            "enum join__Graph {\n"
            + "".join(
                f"  {self.enum[s.name]} @join__graph(name: {_q(s.name)}, url: {_q(s.url)})\n" for s in self.subgraphs
            )
            + "}"
        )
        for name in self.type_names:
            blocks[name] = self.print_type(name)
        parts.extend(blocks[name] for name in sorted(blocks, key=str.lower))
        return "\n\n".join(parts)

    # -- types -------------------------------------------------------------------------------------

    def _hidden(self, type_name: str) -> str:
        return " @inaccessible" if any(t.inaccessible for _, t in self.holders(type_name)) else ""

    def print_type(self, name: str) -> str:
        kind = self.kind(name)
        holders = self.holders(name)
        head = _desc(merged_description(t.description for _, t in holders), "")
        if kind == "scalar":
            hidden = "\n  @inaccessible" if self._hidden(name) else ""
            url = next((t.specified_by for _, t in holders if t.specified_by), None)
            specified = f"\n  @specifiedBy(url: {json.dumps(url)})" if url else ""
            return (
                head
                + f"scalar {name}"
                + "".join(f"\n  @join__type(graph: {self.enum[s.name]})" for s, _ in holders)
                + hidden
                + specified
                + self.access.type_directives(name, kind)
            )
        if kind == "union":
            members: list[str] = []
            lines = []
            for s, _ in holders:
                lines.append(f"  @join__type(graph: {self.enum[s.name]})")
            for s, t in holders:
                for m in t.members:
                    lines.append(f"  @join__unionMember(graph: {self.enum[s.name]}, member: {_q(m)})")
                    if m not in members:
                        members.append(m)
            if self._hidden(name):
                lines.append("  @inaccessible")
            return head + f"union {name}\n" + "\n".join(lines) + "\n = " + " | ".join(members)
        if kind == "enum":
            return head + self._print_enum(name, holders)
        if kind == "input":
            return head + self._print_input(name, holders)
        return head + self._print_composite(name, kind, holders)

    def _print_enum(self, name: str, holders) -> str:
        lines = [f"  @join__type(graph: {self.enum[s.name]})" for s, _ in holders]
        values: dict[str, list] = {}
        for s, t in holders:
            for value, hidden, deprecated, description in t.values:
                entry = values.setdefault(value, [False, None, [], []])
                entry[0] = entry[0] or hidden
                entry[1] = entry[1] or deprecated
                entry[2].append(self.enum[s.name])
                entry[3].append(description)
        body = []
        for i, (value, (hidden, deprecated, graphs, descriptions)) in enumerate(values.items()):
            extra = (" " + print_ast(deprecated)) if deprecated else ""
            extra += " @inaccessible" if hidden else ""
            joins = "".join(f" @join__enumValue(graph: {g})" for g in graphs)
            body.append(f"{_desc(merged_description(descriptions), '  ', not i)}  {value}{extra}{joins}")
        if self._hidden(name):
            lines.append("  @inaccessible")
        lines += self.access.type_directives(name, "enum").splitlines()[1:]
        return f"enum {name}\n" + "\n".join(lines) + "\n{\n" + "\n".join(body) + "\n}"

    def _print_input(self, name: str, holders) -> str:
        lines = [f"  @join__type(graph: {self.enum[s.name]})" for s, _ in holders]
        first = holders[0][1]
        fields = [f for f in first.fields.values() if all(f.name in t.fields for _, t in holders)]
        body = []
        for i, f in enumerate(fields):
            hidden = any(t.fields[f.name].inaccessible for _, t in holders)
            # Subgraphs that declare a default must agree on it (checked in validation); keep that one.
            defaults = [t.fields[f.name].default for _, t in holders if t.fields[f.name].default is not None]
            default = f" = {defaults[0]}" if defaults else ""
            body.append(
                f"{_desc(merged_description(t.fields[f.name].description for _, t in holders), '  ', not i)}  "
                f"{f.name}: {f.type}{default}{' @inaccessible' if hidden else ''}"
            )
        if self._hidden(name):
            lines.append("  @inaccessible")
        return f"input {name}\n" + "\n".join(lines) + "\n{\n" + "\n".join(body) + "\n}"

    def _print_composite(self, name: str, kind: str, holders) -> str:
        lines = []
        interfaces: list[str] = []
        for s, t in holders:
            for i in t.interfaces:
                lines.append(f"  @join__implements(graph: {self.enum[s.name]}, interface: {_q(i)})")
                if i not in interfaces:
                    interfaces.append(i)
        for s, t in holders:
            g = self.enum[s.name]
            flags = ""
            if t.extension:
                flags += ", extension: true"
            if kind == "interface" and t.interface_object:
                flags += ", isInterfaceObject: true"
            if not t.keys:
                lines.append(f"  @join__type(graph: {g}{flags})")
            for key, resolvable in t.keys:
                extra = flags + ("" if resolvable else ", resolvable: false")
                lines.append(f"  @join__type(graph: {g}, key: {_q(key)}{extra})")
        word = "interface" if kind == "interface" else "type"
        impl = (" implements " + " & ".join(interfaces)) if interfaces else ""
        order = self._field_order(name, holders)
        body = [self._print_field(name, fname, holders, not i) for i, fname in enumerate(order)]
        if self._hidden(name):
            lines.append("  @inaccessible")
        lines += self.access.type_directives(name, kind).splitlines()[1:]
        return f"{word} {name}{impl}\n" + "\n".join(lines) + "\n{\n" + "\n".join(body) + "\n}"

    def _field_order(self, name: str, holders) -> list[str]:
        order: list[str] = []
        for _, t in holders:
            for f in t.fields:
                if f not in order:
                    order.append(f)
        for f in self.interface_object_fields(name):
            if f not in order:
                order.append(f)
        return order

    def interface_object_fields(self, type_name: str) -> list[str]:
        """Fields an @interfaceObject subgraph adds to this object type through one of its interfaces."""
        out: list[str] = []
        interfaces = {i for _, t in self.holders(type_name) for i in t.interfaces}
        for i in sorted(interfaces):
            for _, t in self.holders(i):
                if t.interface_object and t.kind == "object":
                    out.extend(f for f in t.fields if f not in out)
        return out

    def _print_field(self, type_name: str, fname: str, holders, first: bool) -> str:
        defs: list[tuple[Subgraph, SType, SField]] = [(s, t, t.fields[fname]) for s, t in holders if fname in t.fields]
        if not defs:
            # Added by an @interfaceObject: resolvable only through the interface object's subgraph.
            src = next(
                t.fields[fname]
                for i in self._interfaces(type_name)
                for _, t in self.holders(i)
                if t.interface_object and fname in t.fields
            )
            return f"{_desc(src.description, '  ', first)}  {self._signature(src, [src], [src])} @join__field"
        fields = [f for _, _, f in defs]
        main = next((f for f in fields if not f.external), fields[0])
        types = {f.type for f in fields}
        overridden = {f.override for f in fields if f.override}
        needs = (
            len(defs) != len(holders)
            or len(types) > 1
            or any(f.external or f.requires or f.provides or f.override for f in fields)
            or bool(overridden)
        )
        joins = ""
        if needs:
            for s, t, f in defs:
                args = [f"graph: {self.enum[s.name]}"]
                if s.name in overridden:
                    if fname in key_field_names(t) or self._required_in(fname, t):
                        args.append("usedOverridden: true")
                    else:
                        continue
                if f.requires:
                    args.append(f"requires: {_q(f.requires)}")
                if f.provides:
                    args.append(f"provides: {_q(f.provides)}")
                if len(types) > 1:
                    args.append(f"type: {_q(f.type)}")
                if f.external:
                    args.append("external: true")
                if f.override:
                    args.append(f"override: {_q(f.override)}")
                joins += f" @join__field({', '.join(args)})"
        hidden = " @inaccessible" if any(f.inaccessible for f in fields) else ""
        deprecated = next((" " + print_ast(f.deprecated) for f in fields if f.deprecated), "")
        owned = [f for f in fields if not f.external] or fields  # Apollo ignores @external copies' descriptions
        desc = _desc(merged_description(f.description for f in owned), "  ", first)
        access = self.access.field_directives(type_name, fields)
        return f"{desc}  {self._signature(main, fields, owned)}{deprecated}{hidden}{joins}{access}"

    def _interfaces(self, type_name: str) -> list[str]:
        return sorted({i for _, t in self.holders(type_name) for i in t.interfaces})

    @staticmethod
    def _required_in(fname: str, t: SType) -> bool:
        return any(f.requires and re.search(rf"\b{re.escape(fname)}\b", f.requires) for f in t.fields.values())

    @staticmethod
    def _signature(main: SField, fields: list[SField], owned: list[SField]) -> str:
        """`name(args): Type`; arguments go one per line, under their descriptions, when one is described
        (each merged over the subgraphs that own the field, like the field's own description)."""
        ftype = main.type
        if any(not f.type.endswith("!") for f in fields) and ftype.endswith("!"):
            ftype = ftype[:-1]
        args = ""
        if main.args:
            rendered, descriptions = [], []
            for a in main.args:
                copies = [x for f in fields for x in f.args if x.name.value == a.name.value]
                hidden = any(d.name.value.endswith("inaccessible") for x in copies for d in x.directives or ())
                default = f" = {print_ast(a.default_value)}" if a.default_value is not None else ""
                rendered.append(f"{a.name.value}: {print_ast(a.type)}{default}{' @inaccessible' if hidden else ''}")
                descriptions.append(merged_description(
                    x.description.value if x.description else None
                    for f in owned for x in f.args if x.name.value == a.name.value))
            if any(d is not None for d in descriptions):
                lines = [f"{_desc(d, '    ', not i)}    {r}" for i, (d, r) in enumerate(zip(descriptions, rendered,
                                                                                             strict=True))]
                args = "(\n" + "\n".join(lines) + "\n  )"
            else:
                args = "(" + ", ".join(rendered) + ")"
        return f"{main.name}{args}: {ftype}"
