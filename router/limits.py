"""Operation limits checked before planning: depth, aliases, root fields, directives, tokens and page size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
