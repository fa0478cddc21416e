"""Derives the API schema document: removes @inaccessible elements and every linked feature's machinery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphql.language import (
    DirectiveDefinitionNode,
    DocumentNode,
    NamedTypeNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    TypeExtensionNode,
)

if TYPE_CHECKING:
    from router.supergraph import Feature

_KEEP_DIRECTIVES = {"deprecated", "specifiedBy", "oneOf", "skip", "include"}
_DROP_DEFINITIONS = {"defer", "stream"}


def _named(t) -> str:
    while not isinstance(t, NamedTypeNode):
        t = t.type
    return t.name.value


def build_api_document(doc: DocumentNode, features: list[Feature], inaccessible: str | None) -> DocumentNode:
    """Return the document of the API schema (graphql-core AST, ready for build_ast_schema)."""

    def owned(name: str, directive: bool) -> bool:
        return any(f.owns(name, directive) for f in features)

    def hidden(node) -> bool:
        return bool(inaccessible) and any(d.name.value == inaccessible for d in node.directives or ())

    def strip(directives):
        return tuple(d for d in directives or () if not owned(d.name.value, True))

    removed_types = {
        d.name.value
        for d in doc.definitions
        if isinstance(d, TypeDefinitionNode) and (owned(d.name.value, False) or hidden(d))
    }
    definitions = []
    for d in doc.definitions:
        if isinstance(d, SchemaDefinitionNode):
            definitions.append(d.__class__(directives=(), operation_types=d.operation_types, description=None))
            continue
        if isinstance(d, DirectiveDefinitionNode):
            name = d.name.value
            if owned(name, True) or name in _DROP_DEFINITIONS:
                continue
            if not any(loc.value in _EXECUTABLE for loc in d.locations):
                # Type-system-only custom directives are metadata for composition, not for clients.
                continue
            args = tuple(a for a in d.arguments or () if not hidden(a))
            definitions.append(_copy(d, arguments=args))
            continue
        if isinstance(d, TypeExtensionNode) or not isinstance(d, TypeDefinitionNode):
            continue
        if d.name.value in removed_types:
            continue
        changes: dict = {"directives": _keep_only(strip(d.directives))}
        fields = getattr(d, "fields", None)
        if fields is not None:
            kept = []
            for f in fields:
                if hidden(f) or _named(f.type) in removed_types:
                    continue
                extra = {}
                if getattr(f, "arguments", None) is not None:
                    extra["arguments"] = tuple(
                        _copy(a, directives=_keep_only(strip(a.directives)))
                        for a in f.arguments
                        if not hidden(a) and _named(a.type) not in removed_types
                    )
                kept.append(_copy(f, directives=_keep_only(strip(f.directives)), **extra))
            if not kept:
                continue
            changes["fields"] = tuple(kept)
        if getattr(d, "values", None) is not None:
            changes["values"] = tuple(
                _copy(v, directives=_keep_only(strip(v.directives))) for v in d.values if not hidden(v)
            )
        if getattr(d, "interfaces", None) is not None:
            changes["interfaces"] = tuple(i for i in d.interfaces if i.name.value not in removed_types)
        if getattr(d, "types", None) is not None:
            changes["types"] = tuple(t for t in d.types if t.name.value not in removed_types)
            if not changes["types"]:
                continue
        definitions.append(_copy(d, **changes))
    return DocumentNode(definitions=tuple(definitions))


_EXECUTABLE = {
    "QUERY",
    "MUTATION",
    "SUBSCRIPTION",
    "FIELD",
    "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD",
    "INLINE_FRAGMENT",
    "VARIABLE_DEFINITION",
}


def _keep_only(directives) -> tuple:
    return tuple(d for d in directives if d.name.value in _KEEP_DIRECTIVES)


def _copy(node, **changes):
    values = {k: getattr(node, k) for k in node.keys if k != "loc"}
    values.update(changes)
    return node.__class__(**values)
