"""Mutable selection trees that the planner fills per fetch group and prints as subgraph operations."""

from __future__ import annotations

from graphql import parse, print_ast
from graphql.language import (
    ArgumentNode,
    DirectiveNode,
    FieldNode,
    InlineFragmentNode,
    VariableNode,
    Visitor,
    visit,
)


class _VarCollector(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def enter_variable(self, node: VariableNode, *_args) -> None:
        if node.name.value not in self.names:
            self.names.append(node.name.value)


def variables_in(nodes) -> list[str]:
    """Variable names used by the given AST nodes, in first-use order."""
    collector = _VarCollector()
    for n in nodes:
        visit(n, collector)
    return collector.names


def _args_text(args: tuple[ArgumentNode, ...] | None) -> str:
    if not args:
        return ""
    return "(" + " ".join(f"{a.name.value}:{print_ast(a.value)}" for a in args) + ")"


def _dirs_text(dirs: tuple[DirectiveNode, ...] | None) -> str:
    return "".join(" " + print_ast(d) for d in dirs or ())


class FieldItem:
    """A field in a fetch selection: alias, name, arguments and directives as printed text."""

    __slots__ = ("alias", "args", "dirs", "name", "sub", "variables")

    def __init__(self, name: str, alias: str | None, args: str, dirs: str, variables: list[str]) -> None:
        self.name = name
        self.alias = alias
        self.args = args
        self.dirs = dirs
        self.variables = variables
        self.sub: Sel | None = None

    @property
    def response_name(self) -> str:
        return self.alias or self.name


class FragItem:
    """An inline fragment in a fetch selection, with an optional type condition and directives."""

    __slots__ = ("dirs", "sub", "type_condition", "variables")

    def __init__(self, type_condition: str | None, dirs: str, variables: list[str]) -> None:
        self.type_condition = type_condition
        self.dirs = dirs
        self.variables = variables
        self.sub = Sel()


class Sel:
    """An ordered, de-duplicated selection set."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: dict[tuple, FieldItem | FragItem] = {}

    def field(self, node: FieldNode | None = None, *, name: str | None = None, composite: bool = False) -> FieldItem:
        """Get or add a field; `node` carries the client's alias, arguments and directives."""
        if node is None:
            key: tuple = ("f", name, None, "", "")
            item = self.items.get(key)
            if item is None:
                item = self.items[key] = FieldItem(name or "", None, "", "", [])
        else:
            alias = node.alias.value if node.alias else None
            args, dirs = _args_text(node.arguments), _dirs_text(node.directives)
            key = ("f", node.name.value, alias, args, dirs)
            item = self.items.get(key)
            if item is None:
                variables = variables_in(list(node.arguments or ()) + list(node.directives or ()))
                item = self.items[key] = FieldItem(node.name.value, alias, args, dirs, variables)
        assert isinstance(item, FieldItem)
        if composite and item.sub is None:
            item.sub = Sel()
        return item

    def typename(self) -> None:
        self.field(name="__typename")

    def fragment(self, type_condition: str | None, directives: tuple[DirectiveNode, ...] = ()) -> Sel:
        dirs = _dirs_text(directives)
        key = ("i", type_condition, dirs)
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = FragItem(type_condition, dirs, variables_in(directives))
        assert isinstance(item, FragItem)
        return item.sub

    def __bool__(self) -> bool:
        return bool(self.items)

    def print(self) -> str:
        parts = []
        for item in self.items.values():
            if isinstance(item, FieldItem):
                head = f"{item.alias}:{item.name}" if item.alias else item.name
                text = head + item.args + item.dirs
                if item.sub is not None:
                    text += item.sub.print()
            else:
                cond = f" on {item.type_condition}" if item.type_condition else ""
                text = "..." + cond + item.dirs + item.sub.print()
            parts.append(text)
        return "{" + " ".join(parts) + "}"

    def variables(self) -> list[str]:
        out: list[str] = []
        for item in self.items.values():
            for v in item.variables:
                if v not in out:
                    out.append(v)
            if item.sub is not None:
                for v in item.sub.variables():
                    if v not in out:
                        out.append(v)
        return out

    def to_qp(self) -> list[dict]:
        """Apollo's QPSelection JSON (used for `requires`)."""
        out: list[dict] = []
        for item in self.items.values():
            if isinstance(item, FieldItem):
                entry: dict = {"kind": "Field", "name": item.name}
                if item.alias:
                    entry["alias"] = item.alias
                if item.sub is not None:
                    entry["selections"] = item.sub.to_qp()
            else:
                entry = {"kind": "InlineFragment", "selections": item.sub.to_qp()}
                if item.type_condition:
                    entry["typeCondition"] = item.type_condition
            out.append(entry)
        return out


def add_text_selection(sel: Sel, text: str) -> None:
    doc = parse("{" + text + "}", no_location=True)
    add_nodes(sel, doc.definitions[0].selection_set.selections)


def add_nodes(sel: Sel, nodes) -> None:
    for n in nodes:
        if isinstance(n, FieldNode):
            item = sel.field(n, composite=n.selection_set is not None)
            if n.selection_set is not None:
                add_nodes(item.sub, n.selection_set.selections)
        elif isinstance(n, InlineFragmentNode):
            cond = n.type_condition.name.value if n.type_condition else None
            add_nodes(sel.fragment(cond), n.selection_set.selections)


def provided_tree(text: str, base: dict | None) -> dict:
    """The field tree of a `@provides` selection text, merged over `base`."""
    tree: dict = dict(base or {})
    doc = parse("{" + text + "}", no_location=True)

    def fill(target: dict, nodes) -> None:
        for n in nodes:
            if isinstance(n, FieldNode):
                sub = target.setdefault(n.name.value, {})
                if n.selection_set:
                    fill(sub, n.selection_set.selections)
            elif isinstance(n, InlineFragmentNode):
                fill(target, n.selection_set.selections)

    fill(tree, doc.definitions[0].selection_set.selections)
    return tree
