"""Fetch-group construction: walks a client operation and assigns every field to a subgraph fetch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    get_named_type,
    is_abstract_type,
    is_composite_type,
    parse,
)
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NameNode,
    OperationDefinitionNode,
    SelectionNode,
)

from router.plan import NO_CONDITIONS, Conditions, conditions_of
from router.selection import Sel, add_nodes, add_text_selection, provided_tree
from router.supergraph import Supergraph

INTROSPECTION_ROOT_FIELDS = frozenset({"__schema", "__type"})


class PlanningError(Exception):
    """The operation cannot be planned against this supergraph."""


@dataclass(eq=False)
class Group:
    """A fetch group: what one subgraph request fetches, where its result merges, and what it waits for."""

    graph: str
    path: tuple[str, ...]
    entity: bool
    parent: Group | None = None
    sel: Sel = field(default_factory=Sel)
    inputs: dict[str, Sel] = field(default_factory=dict)
    rewrites: list[dict] = field(default_factory=list)
    deps: set[Group] = field(default_factory=set)
    # Conditions every selection in this group sits under (None until something is added): the group's
    # fetch, and every fetch below it, only runs when they hold.
    conditions: Conditions | None = None

    def join(self, conditions: Conditions) -> None:
        self.conditions = conditions if self.conditions is None else self.conditions & conditions


def _selections(node) -> list[SelectionNode]:
    return list(node.selection_set.selections) if node.selection_set else []


class _Planner:
    def __init__(
        self,
        sg: Supergraph,
        op: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        active_labels: frozenset[str] = frozenset(),
    ):
        self.sg = sg
        self.labels = active_labels
        self.op = op
        self.fragments = fragments
        self.groups: list[Group] = []
        self.order = {g: i for i, g in enumerate(sg.graph_order())}
        self.depth = 0
        self.cond: Conditions = NO_CONDITIONS  # the @skip/@include variables enclosing the walk's position

    @contextmanager
    def under(self, directives) -> Iterator[None]:
        """Walk below a selection carrying `directives`."""
        extra = conditions_of(directives)
        if not extra:
            yield
            return
        saved = self.cond
        self.cond = saved | extra
        try:
            yield
        finally:
            self.cond = saved

    # -- helpers -----------------------------------------------------------------------------------

    def _applies(self, condition: str | None, type_name: str) -> bool:
        if condition is None or condition == type_name:
            return True
        cond = self.sg.schema.get_type(condition)
        obj = self.sg.schema.get_type(type_name)
        if cond is None or obj is None or not is_abstract_type(cond):
            return False
        if is_abstract_type(obj):
            return bool(set(self._possible(condition)) & set(self._possible(type_name)))
        return self.sg.schema.is_sub_type(cond, obj)

    def _possible(self, abstract: str) -> list[str]:
        return [t.name for t in self.sg.schema.get_possible_types(self.sg.schema.get_type(abstract))]

    def _expand(self, selections: list[SelectionNode]) -> list[SelectionNode]:
        """Turn fragment spreads into inline fragments carrying the spread's directives."""
        out: list[SelectionNode] = []
        for s in selections:
            if isinstance(s, FragmentSpreadNode):
                frag = self.fragments[s.name.value]
                out.append(
                    InlineFragmentNode(
                        type_condition=frag.type_condition, directives=s.directives, selection_set=frag.selection_set
                    )
                )
            else:
                out.append(s)
        return out

    def _field_type(self, parent: str, name: str):
        t = self.sg.schema.get_type(parent)
        return t.fields[name].type

    @staticmethod
    def _list_steps(gtype) -> tuple[str, ...]:
        steps: list[str] = []
        while isinstance(gtype, GraphQLNonNull | GraphQLList):
            if isinstance(gtype, GraphQLList):
                steps.append("@")
            gtype = gtype.of_type
        return tuple(steps)

    def _can_resolve(self, graph: str, parent: str, name: str, provided: dict | None) -> bool:
        if provided is not None and name in provided:
            return True
        fi = self.sg.types[parent].fields.get(name)
        if fi is None:
            return False
        return graph in fi.sources_for(self.labels) and graph not in fi.requires

    # -- walking -----------------------------------------------------------------------------------

    def plan_selections(self, group: Group, sel: Sel, parent: str, selections, path, provided) -> set[Group]:
        """Add `selections` on type `parent` at `path` to `group`, jumping to other subgraphs as needed."""
        touched: set[Group] = {group}
        info = self.sg.types[parent]
        if info.kind != "object":
            return self.plan_abstract(group, sel, parent, selections, path, provided)
        for s in self._expand(selections):
            if isinstance(s, InlineFragmentNode):
                cond = s.type_condition.name.value if s.type_condition else None
                if not self._applies(cond, parent):
                    continue
                target = sel.fragment(None, s.directives) if s.directives else sel
                with self.under(s.directives):
                    touched |= self.plan_selections(group, target, parent, _selections(s), path, provided)
                continue
            assert isinstance(s, FieldNode)
            name = s.name.value
            if name == "__typename":
                sel.typename()
                continue
            if self._can_resolve(group.graph, parent, name, provided):
                touched |= self._add_local(group, sel, parent, s, path, provided)
            else:
                touched |= self._jump(group, sel, parent, s, path, provided)
        return touched

    def _add_local(self, group: Group, sel: Sel, parent: str, node: FieldNode, path, provided) -> set[Group]:
        gtype = self._field_type(parent, node.name.value)
        named = get_named_type(gtype)
        item = sel.field(node, composite=is_composite_type(named))
        if item.sub is None:
            return {group}
        child_path = (*path, item.response_name, *self._list_steps(gtype))
        child_provided = None
        if provided is not None and node.name.value in provided:
            child_provided = provided[node.name.value]
        fi = self.sg.types[parent].fields.get(node.name.value)
        if fi is not None and group.graph in fi.provides:
            child_provided = provided_tree(fi.provides[group.graph], child_provided)
        with self.under(node.directives):
            return self.plan_selections(group, item.sub, named.name, _selections(node), child_path, child_provided)

    def plan_abstract(self, group: Group, sel: Sel, abstract: str, selections, path, provided) -> set[Group]:
        sg, graph = self.sg, group.graph
        info = sg.types[abstract]
        selections = self._expand(selections)
        if graph in info.interface_object_in:
            return self._from_interface_object(group, sel, abstract, selections, path, provided)
        sel.typename()
        possible = sg.possible_types_in(abstract, graph)
        plain = info.kind == "interface" and all(
            isinstance(s, FieldNode)
            and (
                s.name.value == "__typename"
                or (
                    self._can_resolve(graph, abstract, s.name.value, provided)
                    and all(self._can_resolve(graph, p, s.name.value, provided) for p in possible)
                )
            )
            for s in selections
        )
        if plain:
            touched: set[Group] = {group}
            for s in selections:
                if s.name.value != "__typename":
                    touched |= self._add_local(group, sel, abstract, s, path, provided)
            return touched
        touched = {group}
        for p in possible:
            applicable = [
                s
                for s in selections
                if isinstance(s, FieldNode)
                or self._applies(s.type_condition.name.value if s.type_condition else None, p)
            ]
            if applicable:
                touched |= self.plan_selections(group, sel.fragment(p), p, applicable, path, provided)
        return touched

    def _from_interface_object(self, group: Group, sel: Sel, iface: str, selections, path, provided):
        """In an @interfaceObject graph the concrete type is unknown: resolve what needs it elsewhere."""
        touched: set[Group] = {group}
        rest = []
        for s in selections:
            if (
                isinstance(s, FieldNode)
                and s.name.value != "__typename"
                and self._can_resolve(group.graph, iface, s.name.value, provided)
            ):
                touched |= self._add_local(group, sel, iface, s, path, provided)
            else:
                rest.append(s)
        if not rest:
            return touched
        info = self.sg.types[iface]
        for target in sorted(info.graphs - info.interface_object_in, key=self.order.__getitem__):
            for key in info.resolvable_keys(target):
                if all(self._can_resolve(group.graph, iface, f.name.value, provided) for f in key.selection.selections):
                    deps = self.plan_selections(group, sel, iface, [*key.selection.selections], path, provided)
                    sel.typename()
                    child = self._child(group, target, path, deps)
                    inp = child.inputs.setdefault(iface, Sel())
                    inp.typename()
                    add_text_selection(inp, key.fields)
                    frag = child.sel.fragment(iface)
                    touched |= self.plan_abstract(child, frag, iface, rest, path, None)
                    return touched | {child}
        raise PlanningError(f"cannot resolve the concrete type of interface object {iface}")

    def _jump(self, group: Group, sel: Sel, parent: str, node: FieldNode, path, provided) -> set[Group]:
        if self.depth > 8:
            raise PlanningError(f"no way to reach {parent}.{node.name.value} from {group.graph}")
        sg = self.sg
        name = node.name.value
        fi = sg.types[parent].fields.get(name)
        if fi is None:
            raise PlanningError(f"unknown field {parent}.{name}")
        sources = fi.sources_for(self.labels)
        if not sources and fi.via_interface_object:
            return self._jump_to_interface_object(group, sel, parent, node, path, provided)
        existing = {c.graph for c in self.groups if c.parent is group and c.path == path}
        candidates = sorted(
            sources, key=lambda g: (g not in existing, g in fi.requires, g == group.graph, self.order[g])
        )
        if not candidates:
            raise PlanningError(f"no subgraph resolves {parent}.{name}")
        info = sg.types[parent]
        choice = None
        for target in candidates:
            keys = info.resolvable_keys(target)
            direct = [k for k in keys if self._key_available(group.graph, parent, k, provided)]
            if direct:
                choice = (target, direct[0])
                break
            if keys and choice is None:
                choice = (target, keys[0])
        if choice is None:
            raise PlanningError(f"{parent}.{name} needs a key of {parent} that no subgraph can jump with")
        target, key = choice
        self.depth += 1
        try:
            sel.typename()
            deps = self.plan_selections(group, sel, parent, list(key.selection.selections), path, provided)
            requires = fi.requires.get(target)
            req_nodes: list = []
            if requires:
                req_sel = parse("{" + requires + "}", no_location=True).definitions[0].selection_set
                # A required field with arguments gets an alias, so it can never collide with the client's own
                # selection of that field; the representation still sends it under its bare name.
                req_nodes = [
                    _internal_alias(n) if isinstance(n, FieldNode) and n.arguments else n for n in req_sel.selections
                ]
                deps |= self.plan_selections(group, sel, parent, req_nodes, path, provided)
        finally:
            self.depth -= 1
        child = self._child(group, target, path, deps, conditions_of(node.directives))
        inp = child.inputs.setdefault(parent, Sel())
        inp.typename()
        add_text_selection(inp, key.fields)
        add_nodes(inp, req_nodes)
        frag = child.sel.fragment(parent)
        touched = self._add_local(child, frag, parent, node, path, None)
        return touched | deps | {child}

    def _jump_to_interface_object(self, group: Group, sel: Sel, parent: str, node: FieldNode, path, provided):
        sg = self.sg
        name = node.name.value
        for iface in sorted(sg.types[parent].implements.get(group.graph, set()) or self._interfaces(parent)):
            info = sg.types.get(iface)
            if info is None:
                continue
            for target in sorted(info.interface_object_in, key=self.order.__getitem__):
                ifi = info.fields.get(name)
                if ifi is None or target not in ifi.sources_for(self.labels):
                    continue
                for key in info.resolvable_keys(target):
                    sel.typename()
                    deps = self.plan_selections(group, sel, parent, list(key.selection.selections), path, provided)
                    child = self._child(group, target, path, deps, conditions_of(node.directives))
                    inp = child.inputs.setdefault(parent, Sel())
                    inp.typename()
                    add_text_selection(inp, key.fields)
                    rewrite = {"kind": "ValueSetter", "path": [f"... on {parent}", "__typename"], "setValueTo": iface}
                    if rewrite not in child.rewrites:
                        child.rewrites.append(rewrite)
                    frag = child.sel.fragment(iface)
                    return self._add_local(child, frag, iface, node, path, None) | deps | {child}
        raise PlanningError(f"no interface object resolves {parent}.{name}")

    def _interfaces(self, type_name: str) -> set[str]:
        t = self.sg.schema.get_type(type_name)
        return {i.name for i in getattr(t, "interfaces", ())}

    def _key_available(self, graph: str, parent: str, key, provided) -> bool:
        return all(self._can_resolve(graph, parent, s.name.value, provided) for s in key.selection.selections)

    def _child(self, parent: Group, graph: str, path, deps: set[Group], own: Conditions = NO_CONDITIONS) -> Group:
        """The entity group below `parent` for `graph` at `path`; `own` are the jumping field's conditions."""
        for c in self.groups:
            if c.parent is parent and c.graph == graph and c.path == path and c not in deps:
                c.deps |= deps
                c.join(self.cond | own)
                return c
        child = Group(graph, path, True, parent, deps=set(deps) | {parent})
        child.join(self.cond | own)
        self.groups.append(child)
        return child

    # -- root --------------------------------------------------------------------------------------

    def root_fields(self, selections, wrappers=()) -> list[tuple[FieldNode, tuple]]:
        out: list[tuple[FieldNode, tuple]] = []
        for s in self._expand(selections):
            if isinstance(s, FieldNode):
                if s.name.value not in INTROSPECTION_ROOT_FIELDS and s.name.value != "__typename":
                    out.append((s, wrappers))
            else:
                out.extend(self.root_fields(_selections(s), (*wrappers, *(s.directives or ()))))
        return out

    def choose_root_graph(self, root: str, node: FieldNode, chosen: list[str]) -> str:
        fi = self.sg.types[root].fields.get(node.name.value)
        if fi is None or not fi.sources_for(self.labels):
            raise PlanningError(f"no subgraph resolves {root}.{node.name.value}")
        gtype = self._field_type(root, node.name.value)

        def score(g: str) -> tuple:
            return (-self._local_size(g, get_named_type(gtype).name, node), g not in chosen, self.order[g])

        return min(fi.sources_for(self.labels), key=score)

    def _local_size(self, graph: str, type_name: str, node) -> int:
        info = self.sg.types.get(type_name)
        if info is None or not node.selection_set:
            return 0
        total = 0
        for s in self._expand(list(node.selection_set.selections)):
            if isinstance(s, FieldNode):
                if s.name.value == "__typename":
                    continue
                if info.kind == "union" or s.name.value not in info.fields:
                    continue
                if self._can_resolve(graph, type_name, s.name.value, None):
                    child = get_named_type(self._field_type(type_name, s.name.value)).name
                    total += 1 + self._local_size(graph, child, s)
            else:
                cond = s.type_condition.name.value if s.type_condition else type_name
                total += self._local_size(graph, cond, s)
        return total


def _internal_alias(node: FieldNode) -> FieldNode:
    return FieldNode(
        alias=NameNode(value=f"{node.name.value}__internal"),
        name=node.name,
        arguments=node.arguments,
        directives=node.directives,
        selection_set=node.selection_set,
    )
