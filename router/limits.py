"""Operation limits checked before planning: depth, aliases, root fields, directives, tokens, page size and cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    get_named_type,
    is_composite_type,
    value_from_ast_untyped,
)
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

INTROSPECTION_ROOTS = frozenset({"__schema", "__type", "__typename"})
PAGE_ARGUMENTS = frozenset({"first", "last"})


@dataclass(frozen=True)
class Limits:
    """Ceilings on one operation; None switches a limit off."""

    max_depth: int | None = None
    max_aliases: int | None = None
    max_root_fields: int | None = None
    max_directives: int | None = None
    max_tokens: int | None = None
    min_page_size: int | None = None
    max_page_size: int | None = None
    max_cost: int | None = None
    default_list_size: int = 10


class LimitExceeded(Exception):
    """An operation over one of the limits; `code` is the stable error code returned to the caller."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class _Measure:
    depth: int = 0
    aliases: int = 0
    directives: int = 0
    fields: int = 0  # fields directly in this selection set, fragments at the same level included
    roots: set[str] = field(default_factory=set)  # names of those fields


class _Measurer:
    """Measures selection sets with fragments expanded; memoised per fragment, so fragment bombs stay cheap."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, _Measure] = {}
        self.active: set[str] = set()

    def fragment(self, name: str) -> _Measure:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return _Measure()  # unknown fragment, or a cycle (validation refuses both; count defensively)
        self.active.add(name)
        try:
            measure = self.selection_set(definition.selection_set)
            measure.directives += len(definition.directives or ())
        finally:
            self.active.discard(name)
        self.memo[name] = measure
        return measure

    def selection_set(self, selection_set: SelectionSetNode | None) -> _Measure:
        out = _Measure()
        if selection_set is None:
            return out
        for selection in selection_set.selections:
            out.directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                inner = self.selection_set(selection.selection_set)
                out.depth = max(out.depth, 1 + inner.depth)
                out.aliases += inner.aliases + (1 if selection.alias is not None else 0)
                out.directives += inner.directives
                out.fields += 1
                out.roots.add(selection.name.value)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            else:  # pragma: no cover - no other selection kinds exist
                continue
            out.depth = max(out.depth, inner.depth)
            out.aliases += inner.aliases
            out.directives += inner.directives
            out.fields += inner.fields
            out.roots |= inner.roots
        return out


def _fragments(doc: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}


def check_document(doc: DocumentNode, limits: Limits) -> None:
    """Raise LimitExceeded when any operation of `doc` is over a structural limit.

    Depth is not checked for operations whose root fields are all introspection fields
    (`__schema`, `__type`, `__typename`): GraphiQL's introspection query nests deeper than 7.
    """
    measurer = _Measurer(_fragments(doc))
    for op in doc.definitions:
        if not isinstance(op, OperationDefinitionNode):
            continue
        m = measurer.selection_set(op.selection_set)
        directives = (
            m.directives
            + len(op.directives or ())
            + sum(len(v.directives or ()) for v in op.variable_definitions or ())
        )
        introspection_only = bool(m.roots) and m.roots <= INTROSPECTION_ROOTS
        if limits.max_depth is not None and not introspection_only and m.depth > limits.max_depth:
            raise LimitExceeded(
                f"Operation is nested {m.depth} levels deep; the limit is {limits.max_depth}.", "MAX_DEPTH_EXCEEDED"
            )
        if limits.max_aliases is not None and m.aliases > limits.max_aliases:
            raise LimitExceeded(
                f"Operation uses {m.aliases} aliases; the limit is {limits.max_aliases}.", "MAX_ALIASES_EXCEEDED"
            )
        if limits.max_root_fields is not None and m.fields > limits.max_root_fields:
            raise LimitExceeded(
                f"Operation selects {m.fields} root fields; the limit is {limits.max_root_fields}.",
                "MAX_ROOT_FIELDS_EXCEEDED",
            )
        if limits.max_directives is not None and directives > limits.max_directives:
            raise LimitExceeded(
                f"Operation uses {directives} directives; the limit is {limits.max_directives}.",
                "MAX_DIRECTIVES_EXCEEDED",
            )


def check_page_sizes(
    op: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: Any,
    limits: Limits,
) -> None:
    """Raise LimitExceeded when a `first` or `last` argument (literal or coerced variable) is out of range."""
    # graphql-core's coerced VariableValues keeps the values in `.coerced`; a plain dict also works.
    values: dict[str, Any] = getattr(variables, "coerced", variables)
    low, high = limits.min_page_size, limits.max_page_size
    if low is None and high is None:
        return
    seen: set[str] = set()

    def visit(selection_set: SelectionSetNode | None) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    if argument.name.value in PAGE_ARGUMENTS:
                        check(selection, argument.name.value, argument.value)
                visit(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    visit(fragments[name].selection_set)

    def check(node: FieldNode, argument: str, value: Any) -> None:
        if isinstance(value, IntValueNode):
            size: Any = int(value.value)
        elif isinstance(value, VariableNode):
            size = values.get(value.name.value)
        else:
            return  # null, or a type error validation has already refused
        if not isinstance(size, int):
            return
        if (low is not None and size < low) or (high is not None and size > high):
            raise LimitExceeded(
                f"'{argument}' on '{node.name.value}' is {size}; page sizes must be between {low} and {high}.",
                "PAGE_SIZE_OUT_OF_RANGE",
            )

    visit(op.selection_set)


# -- cost --------------------------------------------------------------------------------------------

COST_FEATURE = "https://specs.apollo.dev/cost"
MUTATION_COST = 10


@dataclass(frozen=True)
class ListSize:
    """One field's `@listSize`: its assumed length, the arguments that slice it, the child fields they size
    (a connection's `edges`), and whether exactly one slicing argument must be given (the spec's default)."""

    assumed_size: int | None = None
    slicing_arguments: tuple[str, ...] = ()
    sized_fields: tuple[str, ...] = ()
    require_one_slicing_argument: bool = True


Sizes = tuple[tuple[str, int], ...]  # the lengths a parent's @listSize(sizedFields:) gives its child lists


@dataclass(frozen=True)
class CostDirectives:
    """`@cost(weight:)` on types and fields, `@listSize` on fields."""

    weights: dict[str, int] = field(default_factory=dict)  # "Type" or "Type.field" -> weight
    list_sizes: dict[str, ListSize] = field(default_factory=dict)  # "Type.field"

    @classmethod
    def read(cls, doc: DocumentNode, features: list) -> CostDirectives:
        """From a supergraph linking the cost spec (Federation 2.9's demand control); empty otherwise."""
        spec = next((f for f in features if f.identity == COST_FEATURE), None)
        if spec is None:
            return cls()
        cost, list_size = spec.local("cost"), spec.local("listSize")
        out = cls()
        for d in doc.definitions:
            if not hasattr(d, "name") or d.kind.endswith("directive_definition"):
                continue
            out._take(d.name.value, d.directives, cost, list_size)
            for f in getattr(d, "fields", None) or ():
                out._take(f"{d.name.value}.{f.name.value}", f.directives, cost, list_size)
        return out

    def _take(self, coordinate: str, directives, cost: str, list_size: str) -> None:
        for app in directives or ():
            args = {a.name.value: value_from_ast_untyped(a.value) for a in app.arguments or ()}
            if app.name.value == cost and isinstance(args.get("weight"), int):
                self.weights[coordinate] = args["weight"]
            elif app.name.value == list_size:
                assumed = args.get("assumedSize")
                self.list_sizes[coordinate] = ListSize(
                    assumed_size=assumed if isinstance(assumed, int) else None,
                    slicing_arguments=tuple(args.get("slicingArguments") or ()),
                    sized_fields=tuple(args.get("sizedFields") or ()),
                    require_one_slicing_argument=args.get("requireOneSlicingArgument", True) is not False,
                )


def operation_cost(
    schema: GraphQLSchema,
    op: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: Any,
    *,
    default_list_size: int = 10,
    directives: CostDirectives | None = None,
) -> int:
    """The static cost of an operation (docs/router.md, "Operation cost").

    Each object, interface or union value costs 1, scalars and enums 0 (or their `@cost` weight); a root
    mutation field costs 10. A list multiplies the cost of one element by its `first`/`last` argument
    (or `@listSize` slicing argument), else `@listSize(assumedSize:)`, else `default_list_size`; a
    `@listSize(sizedFields:)` field hands that length to the named child lists instead (a connection's
    `edges`). Fragments count once per spread; every type condition of an abstract selection counts (an
    upper bound); introspection fields cost 0. A `@listSize` with slicing arguments and
    `requireOneSlicingArgument` (its default) raises COST_INVALID_SLICING_ARGUMENTS unless exactly one of
    them has a value (given, from a variable, or the argument's default), as Apollo Router does.
    """
    values: dict[str, Any] = getattr(variables, "coerced", variables) or {}
    known = directives or CostDirectives()
    memo: dict[tuple[str, Sizes], int] = {}

    def argument(node: FieldNode, name: str, default: Any = None) -> int | None:
        for a in node.arguments or ():
            if a.name.value == name:
                if isinstance(a.value, IntValueNode):
                    return int(a.value.value)
                if isinstance(a.value, VariableNode) and isinstance(values.get(a.value.name.value), int):
                    return values[a.value.name.value]
                return None
        return default if isinstance(default, int) and not isinstance(default, bool) else None

    def sliced(node: FieldNode, coordinate: str, fdef: Any, spec: ListSize | None) -> int | None:
        """The length the arguments give the list, if any; refuses a missing or doubled slicing argument.

        `@listSize` slicing arguments count their schema default when the operation leaves them out (as in
        Apollo Router); without them, `first` / `last` count only when the operation gives them."""
        if spec is None or not spec.slicing_arguments:
            sizes = [s for name in PAGE_ARGUMENTS if (s := argument(node, name)) is not None]
            return max(0, max(sizes)) if sizes else None
        sizes = [
            s
            for name in spec.slicing_arguments
            if (s := argument(node, name, _int_default(fdef.args.get(name)))) is not None
        ]
        if spec.require_one_slicing_argument and len(sizes) != 1:
            raise LimitExceeded(
                f"Exactly one slicing argument is required for field '{coordinate}', but found {len(sizes)}.",
                "COST_INVALID_SLICING_ARGUMENTS",
            )
        return max(0, max(sizes)) if sizes else None

    def cost_of(
        selection_set: SelectionSetNode | None, parent, mutation_root: bool = False, upstream: Sizes = ()
    ) -> int:
        total = 0
        for s in selection_set.selections if selection_set else ():
            if isinstance(s, FieldNode):
                total += one_field(s, parent, mutation_root, upstream)
            elif isinstance(s, InlineFragmentNode):
                cond = schema.get_type(s.type_condition.name.value) if s.type_condition else parent
                total += cost_of(s.selection_set, cond, upstream=upstream)
            elif isinstance(s, FragmentSpreadNode):
                total += fragment(s.name.value, upstream)
        return total

    def fragment(name: str, upstream: Sizes) -> int:
        key = (name, upstream)
        if key not in memo:
            memo[key] = 0  # a cycle (refused by validation anyway) counts as empty
            definition = fragments.get(name)
            if definition is not None:
                condition = schema.get_type(definition.type_condition.name.value)
                memo[key] = cost_of(definition.selection_set, condition, upstream=upstream)
        return memo[key]

    def one_field(node: FieldNode, parent, mutation_root: bool, upstream: Sizes) -> int:
        name = node.name.value
        fdef = getattr(parent, "fields", {}).get(name)
        if name.startswith("__") or fdef is None:
            return 0
        named = get_named_type(fdef.type)
        coordinate = f"{parent.name}.{name}"
        composite = is_composite_type(named)
        base = known.weights.get(coordinate, known.weights.get(named.name, 1 if composite else 0))
        if mutation_root and coordinate not in known.weights:
            base = MUTATION_COST
        spec = known.list_sizes.get(coordinate)
        length = sliced(node, coordinate, fdef, spec)
        if length is None and spec is not None:
            length = spec.assumed_size
        children: Sizes = tuple((f, length) for f in spec.sized_fields) if spec and length is not None else ()
        inner = cost_of(node.selection_set, named, upstream=children) if composite else 0
        if not _is_list(fdef.type):
            return base + inner
        given = dict(upstream).get(name)
        size = given if given is not None else length if length is not None else default_list_size
        return size * (base + inner)

    root = schema.get_root_type(op.operation)
    return cost_of(op.selection_set, root, mutation_root=op.operation.value == "mutation")


def check_cost(
    schema: GraphQLSchema,
    op: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: Any,
    limits: Limits,
    directives: CostDirectives | None = None,
) -> None:
    """Raise LimitExceeded (COST_LIMIT_EXCEEDED) when the operation's static cost is over `max_cost`."""
    if limits.max_cost is None:
        return
    cost = operation_cost(
        schema, op, fragments, variables, default_list_size=limits.default_list_size, directives=directives
    )
    if cost > limits.max_cost:
        raise LimitExceeded(f"Operation costs {cost}; the limit is {limits.max_cost}.", "COST_LIMIT_EXCEEDED")


def _int_default(arg: Any) -> int | None:
    """An argument's integer default in the schema's SDL (`top: Int = 3`), if it has one."""
    literal = getattr(getattr(arg, "ast_node", None), "default_value", None)
    return int(literal.value) if isinstance(literal, IntValueNode) else None


def _is_list(gtype) -> bool:
    while isinstance(gtype, GraphQLNonNull):
        gtype = gtype.of_type
    return isinstance(gtype, GraphQLList)
