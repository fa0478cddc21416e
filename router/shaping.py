"""Shapes the internal data tree into the client's response: field order, aliases, null propagation."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    is_abstract_type,
)
from graphql.execution.values import get_directive_values
from graphql.language import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode
from graphql.type import GraphQLIncludeDirective, GraphQLSkipDirective

_BUBBLE = object()
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_TYPENAME, _INTROSPECTION = object(), object()
# Leaf types whose values pass through unchanged when they already have this Python type.
_FAST = {"String": str, "ID": str, "Boolean": bool, "Int": int}
_SCALAR, _LIST, _ENUM, _COMPOSITE = "scalar", "list", "enum", "composite"
_KIND: dict[type, str] = {GraphQLScalarType: _SCALAR, GraphQLList: _LIST, GraphQLEnumType: _ENUM}


def _kind(gtype) -> str:
    """The kind of a (nullable) output type; subclasses of the graphql-core classes are remembered on first sight."""
    for cls, kind in ((GraphQLScalarType, _SCALAR), (GraphQLList, _LIST), (GraphQLEnumType, _ENUM)):
        if isinstance(gtype, cls):
            _KIND[type(gtype)] = kind
            return kind
    _KIND[type(gtype)] = _COMPOSITE
    return _COMPOSITE


def _nullable(gtype):
    return gtype.of_type if isinstance(gtype, GraphQLNonNull) else gtype


def _shortcut(gtype) -> tuple[GraphQLObjectType | None, tuple | None]:
    """What _object shapes without dispatch: the object type of an object field, or (item type, its object type)
    for a list of objects."""
    inner = _nullable(gtype)
    if type(inner) is GraphQLObjectType:
        return inner, None
    if type(inner) is GraphQLList and type(item := _nullable(inner.of_type)) is GraphQLObjectType:
        return None, (inner.of_type, item)
    return None, None


def _materialize(path) -> list:
    """Response paths are built as (parent, key) links while shaping; only errors need them as lists."""
    out = []
    while path is not None:
        path, key = path
        out.append(key)
    out.reverse()
    return out


class Shaper:
    """One shaping pass over the client operation; collects value-completion errors."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        introspection: dict[str, Any] | None = None,
        plans: dict | None = None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.introspection = introspection or {}
        self.errors: list[dict] = []
        # (id(selections), type name) -> (fields to answer, the selections kept alive so the id stays theirs).
        # Objects of one type at one position share it, so a list of a thousand objects is collected once;
        # `plans` shares it between the requests of one operation when no variable can change it.
        self._fields: dict[tuple[int, GraphQLObjectType], tuple[list[tuple], Any]] = {} if plans is None else plans
        self._runtimes: dict[tuple[str, str], GraphQLObjectType | None] = {}

    def shape(self, data: dict, root: GraphQLObjectType, selections) -> dict | None:
        result = self._object(data, root, selections, None, is_root=True)
        return None if result is _BUBBLE else result

    # -- collection --------------------------------------------------------------------------------

    def _included(self, node) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and include.get("if") is False)

    def _applies(self, condition: str | None, runtime) -> bool:
        if condition is None or condition == runtime.name:
            return True
        cond = self.schema.get_type(condition)
        if cond is None or not is_abstract_type(cond) or is_abstract_type(runtime):
            return False
        return self.schema.is_sub_type(cond, runtime)

    def collect(self, selections, runtime: GraphQLObjectType, out: dict | None = None) -> dict[str, list[FieldNode]]:
        out = {} if out is None else out
        for s in selections:
            if not self._included(s):
                continue
            if isinstance(s, FieldNode):
                out.setdefault(s.alias.value if s.alias else s.name.value, []).append(s)
            elif isinstance(s, InlineFragmentNode):
                cond = s.type_condition.name.value if s.type_condition else None
                if self._applies(cond, runtime):
                    self.collect(s.selection_set.selections, runtime, out)
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag and self._applies(frag.type_condition.name.value, runtime):
                    self.collect(frag.selection_set.selections, runtime, out)
        return out

    # -- completion --------------------------------------------------------------------------------

    def _error(self, message: str, path) -> None:
        self.errors.append({"message": message, "path": _materialize(path)})

    def _plan(self, selections, otype: GraphQLObjectType, is_root: bool) -> list[tuple]:
        fields: list[tuple] = []
        for name, nodes in self.collect(selections, otype).items():
            field_name = nodes[0].name.value
            if field_name == "__typename":
                fields.append((name, _TYPENAME, None, None, None, None, None))
                continue
            if is_root and field_name in ("__schema", "__type"):
                fields.append((name, _INTROSPECTION, None, None, None, None, None))
                continue
            fdef = otype.fields.get(field_name)
            if fdef is None:
                continue
            sub = tuple(s for n in nodes if n.selection_set for s in n.selection_set.selections)
            leaf = _nullable(fdef.type)
            fast = _FAST.get(leaf.name) if isinstance(leaf, GraphQLScalarType) else None
            fields.append((name, fdef.type, sub, f"{otype.name}.{field_name}", fast, *_shortcut(fdef.type)))
        self._fields[(id(selections), otype)] = (fields, selections)
        return fields

    def _object(self, data: dict, otype: GraphQLObjectType, selections, path, is_root: bool = False):
        out: dict[str, Any] = {}
        cached = self._fields.get((id(selections), otype))
        plan = cached[0] if cached is not None else self._plan(selections, otype, is_root)
        for name, gtype, sub, coordinate, fast, otype_of, items_of in plan:
            value = data.get(name)
            if fast is not None:
                if type(value) is fast and (fast is not int or _INT_MIN <= value <= _INT_MAX):
                    out[name] = value
                    continue
            elif otype_of is not None and type(value) is dict:
                # An object type answers as itself whatever its __typename says (see _runtime): no dispatch.
                value = self._object(value, otype_of, sub, (path, name))
                if value is _BUBBLE:
                    if isinstance(gtype, GraphQLNonNull):
                        return _BUBBLE
                    value = None
                out[name] = value
                continue
            elif items_of is not None and type(value) is list:
                value = self._objects(value, items_of, sub, (path, name), coordinate)
                if value is _BUBBLE:
                    if isinstance(gtype, GraphQLNonNull):
                        return _BUBBLE
                    value = None
                out[name] = value
                continue
            if gtype is _TYPENAME:
                out[name] = otype.name
            elif gtype is _INTROSPECTION:
                out[name] = self.introspection.get(name)
            else:
                value = self._value(value, gtype, sub, (path, name), coordinate)
                if value is _BUBBLE:
                    return _BUBBLE
                out[name] = value
        return out

    def _objects(self, values: list, items_of: tuple, selections, path, coordinate: str):
        """A list of an object type (`_inner` for lists, with the object case of `_value` inlined)."""
        item_type, otype = items_of
        nullable = otype is item_type
        items = []
        for i, item in enumerate(values):
            if type(item) is dict:
                r = self._object(item, otype, selections, (path, i))
                if r is _BUBBLE and nullable:
                    r = None
            else:
                r = self._value(item, item_type, selections, (path, i), coordinate)
            if r is _BUBBLE:
                return _BUBBLE
            items.append(r)
        return items

    def _value(self, value, gtype, selections, path, coordinate: str):
        if isinstance(gtype, GraphQLNonNull):
            if value is None:
                self._error(f"Cannot return null for non-nullable field {coordinate}.", path)
                return _BUBBLE
            result = self._inner(value, gtype.of_type, selections, path, coordinate)
            # A None or a bubble from below already has its error: one error per origin, not one per level.
            return _BUBBLE if result is None or result is _BUBBLE else result
        if value is None:
            return None
        result = self._inner(value, gtype, selections, path, coordinate)
        return None if result is _BUBBLE else result

    def _inner(self, value, gtype, selections, path, coordinate: str):
        kind = _KIND.get(type(gtype)) or _kind(gtype)
        if kind is _SCALAR:
            return self._scalar(value, gtype, path, coordinate)
        if kind is _LIST:
            if type(value) is not list:
                self._error(f"Expected a list for {coordinate}.", path)
                return None
            items = []
            of_type = gtype.of_type
            for i, item in enumerate(value):
                r = self._value(item, of_type, selections, (path, i), coordinate)
                if r is _BUBBLE:
                    return _BUBBLE
                items.append(r)
            return items
        if kind is _ENUM:
            if isinstance(value, str) and value in gtype.values:
                return value
            self._error(f"Invalid value for enum {gtype.name} at {coordinate}.", path)
            return None
        if type(value) is not dict:
            self._error(f"Expected an object for {coordinate}.", path)
            return None
        runtime = gtype
        # Without __typename (an interface object answered and nothing needed the concrete type), shape with
        # the abstract type itself: only its own fields were planned.
        if "__typename" in value:
            typename = value["__typename"]
            key = (gtype.name, typename) if isinstance(typename, str) else None
            runtime = self._runtimes.get(key, _BUBBLE) if key is not None else _BUBBLE
            if runtime is _BUBBLE:
                runtime = self._runtime(gtype, typename)
                if key is not None:
                    self._runtimes[key] = runtime
            if runtime is None:
                # Never name the unknown type: it may be @inaccessible.
                self._error(f"Abstract type {gtype.name} must resolve to an object type at runtime.", path)
                return None
        return self._object(value, runtime, selections, path)

    def _runtime(self, gtype, typename):
        """The object type to shape a value of field type `gtype` answered as `typename` with (None: invalid)."""
        candidate = self.schema.get_type(typename) if isinstance(typename, str) else None
        if isinstance(candidate, GraphQLObjectType) and (
            candidate is gtype or (is_abstract_type(gtype) and self.schema.is_sub_type(gtype, candidate))
        ):
            return candidate
        return gtype if isinstance(gtype, GraphQLObjectType) else None

    def _scalar(self, value, gtype: GraphQLScalarType, path, coordinate: str):
        name = gtype.name
        ok = True
        if name == "Int":
            ok = isinstance(value, int) and not isinstance(value, bool) and _INT_MIN <= value <= _INT_MAX
        elif name == "Float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif name == "String":
            ok = isinstance(value, str)
        elif name == "Boolean":
            ok = isinstance(value, bool)
        elif name == "ID":
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
            ok = isinstance(value, str)
        if not ok:
            self._error(f"Invalid value for {name} at {coordinate}.", path)
            return None
        return value
