"""Loads a Federation supergraph SDL into an ownership model and derives the client-facing API schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from graphql import (
    DocumentNode,
    GraphQLSchema,
    build_ast_schema,
    parse,
    value_from_ast_untyped,
)
from graphql.language import (
    DirectiveNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    SelectionSetNode,
    TypeDefinitionNode,
    UnionTypeDefinitionNode,
)

from router.apischema import build_api_document
from router.authorization import FEATURES as AUTHORIZATION_FEATURES
from router.authorization import Rules
from router.limits import CostDirectives

# (identity, version) pairs this router implements; anything else linked `for: SECURITY|EXECUTION` is refused.
SUPPORTED_FEATURES: frozenset[tuple[str, str]] = frozenset(
    {("https://specs.apollo.dev/core", v) for v in ("v0.1", "v0.2")}
    | {("https://specs.apollo.dev/link", "v1.0")}
    | {("https://specs.apollo.dev/join", f"v0.{n}") for n in range(1, 6)}
    | {("https://specs.apollo.dev/tag", f"v0.{n}") for n in range(1, 4)}
    | {("https://specs.apollo.dev/inaccessible", v) for v in ("v0.1", "v0.2")}
    | AUTHORIZATION_FEATURES  # enforced by router/authorization.py
)


class SupergraphError(Exception):
    """A supergraph that cannot be served, with an Apollo-compatible error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Feature:
    """One `@link`/`@core` application: identity, version, local prefix, purpose and imports."""

    identity: str
    name: str
    version: str
    prefix: str
    purpose: str | None
    imports: dict[str, str]  # local name (with @ for directives) -> original name

    def owns(self, element: str, directive: bool) -> bool:
        local = f"@{element}" if directive else element
        if local in self.imports:
            return True
        if directive and element == self.prefix:
            return True
        return element.startswith(f"{self.prefix}__")

    def local(self, name: str) -> str:
        """Local name of one of this feature's directives (given without prefix)."""
        for local, original in self.imports.items():
            if original == f"@{name}":
                return local.lstrip("@")
        if name == self.name:
            return self.prefix
        return f"{self.prefix}__{name}"


@dataclass(frozen=True)
class Key:
    """One `@key` of a type in one subgraph."""

    graph: str
    fields: str
    selection: SelectionSetNode
    resolvable: bool


@dataclass
class FieldInfo:
    """Which subgraphs resolve one field and what they need or provide for it."""

    parent: str
    name: str
    sources: set[str] = field(default_factory=set)
    external_in: set[str] = field(default_factory=set)
    requires: dict[str, str] = field(default_factory=dict)
    provides: dict[str, str] = field(default_factory=dict)
    type_in: dict[str, str] = field(default_factory=dict)
    via_interface_object: bool = False
    label: tuple[str, str, str] | None = None  # progressive override: (label, graph when on, graph when off)

    def sources_for(self, active_labels: frozenset[str]) -> set[str]:
        """The resolving subgraphs under the request's active override labels."""
        if self.label is None or self.label[0] not in active_labels:
            return self.sources
        _, on, off = self.label
        return (self.sources - {off}) | {on}


@dataclass
class TypeInfo:
    """A composite type: the subgraphs that know it, its keys, interfaces and members per subgraph."""

    name: str
    kind: str  # object | interface | union
    graphs: set[str] = field(default_factory=set)
    keys: dict[str, list[Key]] = field(default_factory=dict)
    interface_object_in: set[str] = field(default_factory=set)
    implements: dict[str, set[str]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    fields: dict[str, FieldInfo] = field(default_factory=dict)

    def resolvable_keys(self, graph: str) -> list[Key]:
        return [k for k in self.keys.get(graph, []) if k.resolvable]


@dataclass(frozen=True)
class Graph:
    """A subgraph: the join__Graph enum value, its real name and its routing URL."""

    enum_value: str
    name: str
    url: str


_URL_RE = re.compile(r"^(?P<identity>.*?)/(?P<name>[A-Za-z_][\w-]*)/(?P<version>v\d+\.\d+)/?$")


def parse_link_url(url: str) -> tuple[str, str, str]:
    """Split a feature URL into identity, name and version, ignoring query, fragment and trailing slash."""
    clean = url.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    match = _URL_RE.match(clean + "/")
    if not match:
        raise SupergraphError("INVALID_LINK_IDENTIFIER", f"link url {url!r} has no name/version")
    return f"{match['identity']}/{match['name']}", match["name"], match["version"]


def _args(node: DirectiveNode) -> dict:
    return {a.name.value: value_from_ast_untyped(a.value) for a in node.arguments or ()}


def _features(doc: DocumentNode) -> list[Feature]:
    schema_defs = [d for d in doc.definitions if isinstance(d, SchemaDefinitionNode)]
    schema_ext = [d for d in doc.definitions if d.kind == "schema_extension"]
    directives = [d for s in schema_defs + schema_ext for d in (s.directives or ())]
    features: list[Feature] = []
    for d in directives:
        if d.name.value not in ("link", "core"):
            continue
        args = _args(d)
        url = args.get("url") or args.get("feature")
        if not url:
            continue
        identity, name, version = parse_link_url(url)
        imports: dict[str, str] = {}
        for imp in args.get("import") or ():
            if isinstance(imp, str):
                imports[imp] = imp
            else:
                imports[imp.get("as") or imp["name"]] = imp["name"]
        features.append(Feature(identity, name, version, args.get("as") or name, args.get("for"), imports))
    if not features:
        raise SupergraphError("INVALID_SUPERGRAPH", "the schema links no core features (no @link/@core)")
    return features


def check_feature_support(features: list[Feature]) -> None:
    """Refuse supergraphs that link a SECURITY or EXECUTION feature this router does not implement."""
    for f in features:
        if f.purpose in ("SECURITY", "EXECUTION") and (f.identity, f.version) not in SUPPORTED_FEATURES:
            raise SupergraphError(
                "UNSUPPORTED_LINKED_FEATURE",
                f"feature {f.identity}/{f.version} is for: {f.purpose} but is unsupported",
            )


class Supergraph:
    """The loaded supergraph: features, subgraphs, ownership model, supergraph and API schemas."""

    def __init__(self, sdl: str, url_overrides: dict[str, str] | None = None) -> None:
        self.sdl = sdl
        doc = parse(sdl)
        self.features = _features(doc)
        check_feature_support(self.features)
        join = next((f for f in self.features if f.identity == "https://specs.apollo.dev/join"), None)
        if join is None:
            raise SupergraphError("INVALID_SUPERGRAPH", "the schema does not link the join spec")
        self.join = join
        self.join_version = join.version
        self.fed1 = join.version in ("v0.1", "v0.2") and not any(
            f.identity == "https://specs.apollo.dev/link" for f in self.features
        )
        self.schema: GraphQLSchema = build_ast_schema(doc, assume_valid_sdl=True)
        inaccessible = next((f for f in self.features if f.identity == "https://specs.apollo.dev/inaccessible"), None)
        self.inaccessible_name = inaccessible.local("inaccessible") if inaccessible else None
        api_doc = build_api_document(doc, self.features, self.inaccessible_name)
        self.api_document = api_doc
        self.api_schema: GraphQLSchema = build_ast_schema(api_doc, assume_valid_sdl=True)
        self.authorization = Rules(doc, self.features)
        self.cost = CostDirectives.read(doc, self.features)
        self.graphs: dict[str, Graph] = {}
        self.types: dict[str, TypeInfo] = {}
        self._load(doc, url_overrides or {})

    @classmethod
    def from_file(cls, path: str | Path, url_overrides: dict[str, str] | None = None) -> Supergraph:
        return cls(Path(path).read_text(encoding="utf-8"), url_overrides)

    # -- model -------------------------------------------------------------------------------------

    def _d(self, name: str) -> str:
        return self.join.local(name)

    def _load(self, doc: DocumentNode, url_overrides: dict[str, str]) -> None:
        graph_enum = self.join.local("Graph") if self.join.imports else f"{self.join.prefix}__Graph"
        for d in doc.definitions:
            if isinstance(d, EnumTypeDefinitionNode) and d.name.value == graph_enum:
                for v in d.values or ():
                    app = next(a for a in v.directives or () if a.name.value == self._d("graph"))
                    args = _args(app)
                    name = args["name"]
                    url = url_overrides.get(name) or args.get("url") or ""
                    self.graphs[v.name.value] = Graph(v.name.value, name, "" if url == "undefined" else url)
        definitions = [d for d in doc.definitions if isinstance(d, TypeDefinitionNode)]
        kinds = {
            ObjectTypeDefinitionNode: "object",
            InterfaceTypeDefinitionNode: "interface",
            UnionTypeDefinitionNode: "union",
        }
        for d in definitions:
            kind = kinds.get(type(d))
            if kind:
                self._load_type(d, kind)
        self._finish_fed1()

    def graph_name(self, enum_value: str) -> str:
        return self.graphs[enum_value].name

    def _load_type(self, d: TypeDefinitionNode, kind: str) -> None:
        info = TypeInfo(d.name.value, kind)
        self.types[info.name] = info
        owner: str | None = None
        for app in d.directives or ():
            name = app.name.value
            args = _args(app)
            if name == self._d("type"):
                g = self.graph_name(args["graph"])
                info.graphs.add(g)
                info.keys.setdefault(g, [])
                if args.get("key"):
                    sel = parse("{" + args["key"] + "}", no_location=True)
                    info.keys[g].append(
                        Key(g, args["key"], sel.definitions[0].selection_set, args.get("resolvable", True))
                    )
                if args.get("isInterfaceObject"):
                    info.interface_object_in.add(g)
            elif name == self._d("owner"):
                owner = self.graph_name(args["graph"])
            elif name == self._d("implements"):
                info.implements.setdefault(self.graph_name(args["graph"]), set()).add(args["interface"])
            elif name == self._d("unionMember"):
                info.members.setdefault(self.graph_name(args["graph"]), set()).add(args["member"])
        if not info.graphs:
            # Fed-1 value type: present in every subgraph.
            info.graphs = {g.name for g in self.graphs.values()}
        all_ifaces = {i.name.value for i in getattr(d, "interfaces", None) or ()}
        for g in info.graphs:
            if kind != "union" and (self.fed1 or self._d("implements") not in self._applied_names(d)):
                info.implements.setdefault(g, set(all_ifaces))
            if kind == "union" and not any(info.members.values()):
                info.members[g] = {t.name.value for t in d.types or ()}
        for fd in getattr(d, "fields", None) or ():
            info.fields[fd.name.value] = self._load_field(info, fd, owner)

    @staticmethod
    def _applied_names(d: TypeDefinitionNode) -> set[str]:
        return {a.name.value for a in d.directives or ()}

    def _load_field(self, info: TypeInfo, fd: FieldDefinitionNode, owner: str | None) -> FieldInfo:
        fi = FieldInfo(info.name, fd.name.value)
        apps = [a for a in fd.directives or () if a.name.value == self._d("field")]
        if not apps:
            if self.fed1 and owner:
                fi.sources = {owner} | {
                    g for g, keys in info.keys.items() if any(_top_fields(k.selection) & {fi.name} for k in keys)
                }
            else:
                fi.sources = set(info.graphs)
            return fi
        for app in apps:
            args = _args(app)
            if "graph" not in args or args["graph"] is None:
                fi.via_interface_object = True
                continue
            g = self.graph_name(args["graph"])
            if args.get("type"):
                fi.type_in[g] = args["type"]
            if args.get("external") or args.get("usedOverridden"):
                fi.external_in.add(g)
            elif args.get("overrideLabel") and args.get("override"):
                # Progressive override: sources hold the inactive-label owner; the planner swaps when active.
                fi.label = (args["overrideLabel"], g, fi.label[2] if fi.label else "")
            else:
                fi.sources.add(g)
                if args.get("overrideLabel"):
                    fi.label = (args["overrideLabel"], fi.label[1] if fi.label else "", g)
            if args.get("requires"):
                fi.requires[g] = args["requires"]
            if args.get("provides"):
                fi.provides[g] = args["provides"]
        if self.fed1:
            for g, keys in info.keys.items():
                if any(fi.name in _top_fields(k.selection) for k in keys):
                    fi.sources.add(g)
        return fi

    def _finish_fed1(self) -> None:
        if not self.fed1:
            return
        for info in self.types.values():
            if info.kind == "interface":
                info.graphs = {g.name for g in self.graphs.values()}

    # -- queries used by the planner --------------------------------------------------------------

    def is_entity(self, type_name: str) -> bool:
        info = self.types.get(type_name)
        return bool(info and any(info.resolvable_keys(g) for g in info.graphs))

    def possible_types_in(self, abstract: str, graph: str) -> list[str]:
        """Object types that can appear at a field of abstract type `abstract` in `graph`."""
        info = self.types[abstract]
        if info.kind == "union":
            members = info.members.get(graph, set())
            return sorted(m for m in members if graph in self.types[m].graphs)
        out = []
        for t in self.schema.get_possible_types(self.schema.get_type(abstract)):
            ti = self.types[t.name]
            if graph in ti.graphs and abstract in ti.implements.get(graph, set()):
                out.append(t.name)
        return sorted(out)

    def override_labels(self) -> set[str]:
        """Every progressive-override label the supergraph uses."""
        return {fi.label[0] for t in self.types.values() for fi in t.fields.values() if fi.label}

    def root_type_names(self) -> dict[str, str]:
        names = {}
        for op in ("query", "mutation", "subscription"):
            t = getattr(self.schema, f"{op}_type")
            if t is not None:
                names[op] = t.name
        return names

    def graph_order(self) -> list[str]:
        return [g.name for g in self.graphs.values()]

    def url_of(self, name: str) -> str:
        return next(g.url for g in self.graphs.values() if g.name == name)


def _top_fields(sel: SelectionSetNode) -> set[str]:
    return {s.name.value for s in sel.selections if s.kind == "field"}
