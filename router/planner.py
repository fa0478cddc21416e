"""Pure, deterministic query planner: supergraph model plus client operation in, query plan out."""

from __future__ import annotations

import re

from graphql import print_ast, strip_ignored_characters
from graphql.language import BooleanValueNode, DocumentNode, FragmentDefinitionNode, OperationDefinitionNode

from router.grouping import INTROSPECTION_ROOT_FIELDS, Group, PlanningError, _Planner
from router.plan import (
    NO_CONDITIONS,
    Fetch,
    Flatten,
    PlanNode,
    QueryPlan,
    Sequence,
    conditional,
    conditions_of,
    parallel,
    sequence,
)
from router.supergraph import Supergraph

_NON_WORD = re.compile(r"\W")

__all__ = ["PlanningError", "build_query_plan", "select_operation"]


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    """The operation to run, by name, or the only one in the document."""
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        for op in ops:
            if op.name and op.name.value == operation_name:
                return op
        raise PlanningError(f'Unknown operation named "{operation_name}".')
    if len(ops) != 1:
        raise PlanningError("Must provide operation name if query contains multiple operations.")
    return ops[0]


def build_query_plan(
    sg: Supergraph,
    document: DocumentNode,
    operation_name: str | None = None,
    override_labels: frozenset[str] = frozenset(),
) -> QueryPlan:
    """Plan `operation_name` of the validated `document` against `sg`, with the active override labels."""
    op = select_operation(document, operation_name)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    planner = _Planner(sg, op, fragments, override_labels)
    root = sg.root_type_names()[op.operation.value]
    fields = planner.root_fields(list(op.selection_set.selections))
    introspection = tuple(
        s.name.value
        for s in op.selection_set.selections
        if getattr(s, "name", None) is not None and s.name.value in INTROSPECTION_ROOT_FIELDS
    )
    printer = _Printer(op)
    if op.operation.value == "mutation":
        nodes: list[PlanNode] = []
        batch: list = []
        batch_graph = None
        for f, wrappers in [*fields, (None, ())]:
            graph = planner.choose_root_graph(root, f, []) if f is not None else None
            if batch and graph != batch_graph:
                planner.groups = []
                group = Group(batch_graph, (), False)
                planner.groups.append(group)
                group.conditions = NO_CONDITIONS  # mutation fields run in order, each one whatever it selects
                for bf, bw in batch:
                    planner.plan_selections(group, _wrap(group, bw), root, [bf], (), None)
                node = _assemble(planner, printer)
                if node is not None:
                    nodes.append(node)
                batch = []
            batch_graph = graph
            if f is not None:
                batch.append((f, wrappers))
        return QueryPlan(sequence(nodes), introspection)
    if op.operation.value == "subscription":
        return _plan_subscription(planner, printer, root, fields, introspection)
    roots: dict[str, Group] = {}
    for f, wrappers in fields:
        graph = planner.choose_root_graph(root, f, list(roots))
        group = roots.get(graph)
        if group is None:
            group = roots[graph] = Group(graph, (), False)
            planner.groups.append(group)
        planner.cond = conditions_of(wrappers)
        group.join(planner.cond | conditions_of(f.directives))
        planner.plan_selections(group, _wrap(group, wrappers), root, [f], (), None)
    planner.cond = NO_CONDITIONS
    return QueryPlan(_assemble(planner, printer), introspection)


def _plan_subscription(planner: _Planner, printer: _Printer, root: str, fields, introspection) -> QueryPlan:
    """One upstream subscription to the owning subgraph; the remaining groups become the per-event plan."""
    if len(fields) != 1:
        raise PlanningError("A subscription must select exactly one root field.")
    f, wrappers = fields[0]
    group = Group(planner.choose_root_graph(root, f, []), (), False, conditions=NO_CONDITIONS)
    planner.groups.append(group)
    planner.plan_selections(group, _wrap(group, wrappers), root, [f], (), None)
    primary = printer.node(group)
    assert isinstance(primary, Fetch)
    group.sel = type(group.sel)()  # printed already: the per-event plan starts from its results
    return QueryPlan(_assemble(planner, printer), introspection, primary)


def _wrap(group: Group, wrappers: tuple):
    sel = group.sel
    for w in wrappers:
        sel = sel.fragment(None, (w,))
    return sel


def _assemble(planner: _Planner, printer: _Printer) -> PlanNode | None:
    """Nest when every group depends only on its ancestors; otherwise fall back to topological stages.

    A group under variable-driven `@skip`/`@include` is wrapped in Condition nodes (Apollo's shape), so
    when the condition fails neither its fetch nor anything below it is sent.
    """
    _settle_conditions(planner.groups)
    groups = planner.groups
    nested = _nest(groups, printer)
    return nested if nested is not None else _stages(groups, printer)


def _settle_conditions(groups: list[Group]) -> None:
    """A group another group waits for runs whenever that one does (a `@requires` input, a parent's keys)."""
    for g in groups:
        if g.conditions is None:
            g.conditions = NO_CONDITIONS
    changed = True
    while changed:
        changed = False
        for g in groups:
            for d in g.deps:
                narrowed = d.conditions & g.conditions
                if d is not g and narrowed != d.conditions:
                    d.conditions = narrowed
                    changed = True


def _ancestors(g: Group) -> set[int]:
    out: set[int] = set()
    parent = g.parent
    while parent is not None:
        out.add(id(parent))
        parent = parent.parent
    return out


def _nest(groups: list[Group], printer: _Printer) -> PlanNode | None:
    """Apollo's shape: Sequence[fetch, Parallel[children...]], so a branch never waits for an unrelated one."""
    for g in groups:
        if any(id(d) not in _ancestors(g) for d in g.deps if d is not g):
            return None
    children: dict[int, list[Group]] = {}
    for g in groups:
        if g.parent is not None:
            children.setdefault(id(g.parent), []).append(g)

    def subtree(g: Group, applied: frozenset) -> PlanNode | None:
        # A child's conditions include its parent's (settle_conditions), so only the new ones wrap it.
        own = g.conditions - applied
        head = [printer.node(g)] if g.sel else []
        below = [n for c in children.get(id(g), []) if (n := subtree(c, applied | own)) is not None]
        rest = parallel(below)
        tail = list(rest.nodes) if isinstance(rest, Sequence) else [rest] if rest is not None else []
        return conditional(sequence(head + tail), own, printer.defaults)

    roots = [n for g in groups if g.parent is None if (n := subtree(g, frozenset())) is not None]
    return parallel(roots)


def _stages(groups: list[Group], printer: _Printer) -> PlanNode | None:
    """Topological stages: each stage is a Parallel of groups whose dependencies all ran before."""
    depth: dict[int, int] = {}

    def level(g: Group, seen: frozenset = frozenset()) -> int:
        if id(g) in depth:
            return depth[id(g)]
        if id(g) in seen:
            raise PlanningError("cyclic fetch dependencies")
        others = [d for d in g.deps if d is not g]
        value = 0 if not others else 1 + max(level(d, seen | {id(g)}) for d in others)
        depth[id(g)] = value
        return value

    for g in groups:
        level(g)
    stages: dict[int, list[Group]] = {}
    for g in groups:
        stages.setdefault(depth[id(g)], []).append(g)
    out: list[PlanNode] = []
    for i in sorted(stages):
        nodes = [conditional(printer.node(g), g.conditions, printer.defaults) for g in stages[i] if g.sel]
        stage = parallel(nodes)
        if stage is not None:
            out.append(stage)
    return sequence(out)


class _Printer:
    """Prints fetch groups as compact subgraph operations with only the variables they use."""

    def __init__(self, op: OperationDefinitionNode) -> None:
        self.op = op
        self.count = 0
        self.var_defs = {v.variable.name.value: v for v in op.variable_definitions or ()}
        self.defaults = {
            name: v.default_value.value if isinstance(v.default_value, BooleanValueNode) else None
            for name, v in self.var_defs.items()
        }
        self.op_dirs = "".join(" " + print_ast(d) for d in op.directives or ())

    def node(self, g: Group) -> PlanNode:
        used = [v for v in g.sel.variables() if v in self.var_defs]
        defs = [print_ast(self.var_defs[v]) for v in used]
        name = None
        if self.op.name:
            name = f"{self.op.name.value}__{_NON_WORD.sub('_', g.graph)}__{self.count}"
        self.count += 1
        if g.entity:
            defs.insert(0, "$representations:[_Any!]!")
            body = "{_entities(representations:$representations)" + g.sel.print() + "}"
            kind = "query"
        else:
            body = g.sel.print()
            kind = self.op.operation.value
        head = kind
        if name:
            head += " " + name
        if defs:
            head += "(" + ",".join(defs) + ")"
        head += self.op_dirs
        text = body if head == "query" else f"{head}{body}"
        fetch = Fetch(
            service_name=g.graph,
            operation=strip_ignored_characters(text),
            operation_kind=kind,
            variable_usages=tuple(used),
            requires=tuple(
                {"kind": "InlineFragment", "typeCondition": t, "selections": s.to_qp()} for t, s in g.inputs.items()
            ),
            operation_name=name,
            input_rewrites=tuple(g.rewrites),
            id=self.count - 1,
        )
        return Flatten(g.path, fetch) if g.entity else fetch
