"""Field authorization before planning: `@authenticated`, `@requiresScopes` and `@policy`, as Apollo Router does.

The supergraph's directives become `Rules` (a requirement per type and per field). For each request the
caller's `AuthContext` (authenticated or not, the token's `scope` claim, the policies its claims satisfy)
decides which fields of the operation it may select. Fields it may not are removed before planning, so
no subgraph is ever asked for them: the client gets null there and one `UNAUTHORIZED_FIELD_OR_TYPE`
error per removed path; in strict mode (`reject_unauthorized`) the whole request is refused instead.

A field is unauthorized when its own requirement, or that of the type it returns (object, interface,
union, scalar or enum), is not met; for a field of an interface, also when an implementation's field
requires more; for a field returning an abstract type with plain fields selected, also when a possible
type requires more. A fragment (inline or named) on a type the caller may not see is removed. A
requirement on a root type removes the whole operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    get_named_type,
    is_abstract_type,
    value_from_ast_untyped,
)
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeDefinitionNode,
    TypeExtensionNode,
)

AUTHENTICATED = "https://specs.apollo.dev/authenticated"
REQUIRES_SCOPES = "https://specs.apollo.dev/requiresScopes"
POLICY = "https://specs.apollo.dev/policy"
FEATURES = frozenset({(AUTHENTICATED, "v0.1"), (REQUIRES_SCOPES, "v0.1"), (POLICY, "v0.1")})
CODE = "UNAUTHORIZED_FIELD_OR_TYPE"
MESSAGE = "Unauthorized field or type"
ROLES = ("customer", "rm", "ops", "auditor", "partner", "admin")

Dnf = tuple[frozenset[str], ...]  # OR of AND-sets


@dataclass(frozen=True)
class Caller:
    """The authenticated caller as the router sees it: the validated token's claims."""

    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def scopes(self) -> frozenset[str]:
        scope = self.claims.get("scope")
        if isinstance(scope, str):
            return frozenset(scope.split())
        return frozenset(s for s in scope or () if isinstance(s, str))

    @property
    def roles(self) -> frozenset[str]:
        roles = self.claims.get("roles")
        return frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()


def caller_from(validated: Any) -> Caller | None:
    """What a token validator returned (claims, or an object with `.claims`) as a Caller; None if nothing."""
    if validated is None:
        return None
    claims = getattr(validated, "claims", validated)
    return Caller(claims) if isinstance(claims, Mapping) else Caller({})


Policy = Callable[[Caller], bool]


def default_policies() -> dict[str, Policy]:
    """`role:<name>` for each platform role: the caller's `roles` claim holds it."""
    return {f"role:{role}": (lambda caller, r=role: r in caller.roles) for role in ROLES}


@dataclass(frozen=True)
class Requirement:
    """What the caller needs: authentication, and every listed OR-of-AND of scopes and of policies."""

    authenticated: bool = False
    scopes: tuple[Dnf, ...] = ()
    policies: tuple[Dnf, ...] = ()

    def __bool__(self) -> bool:
        return self.authenticated or bool(self.scopes) or bool(self.policies)

    def __and__(self, other: Requirement) -> Requirement:
        if not other:
            return self
        if not self:
            return other
        return Requirement(
            self.authenticated or other.authenticated, self.scopes + other.scopes, self.policies + other.policies
        )

    def met_by(self, ctx: AuthContext) -> bool:
        if self.authenticated and not ctx.authenticated:
            return False
        if any(not any(clause <= ctx.scopes for clause in dnf) for dnf in self.scopes):
            return False
        return all(any(clause <= ctx.policies for clause in dnf) for dnf in self.policies)


NONE = Requirement()


@dataclass(frozen=True)
class AuthContext:
    """Everything authorization depends on; hashable, so filtered documents and plans are cached by it."""

    authenticated: bool = False
    scopes: frozenset[str] = frozenset()
    policies: frozenset[str] = frozenset()  # the supergraph's policies this caller satisfies


def _dnf(value: Any) -> Dnf:
    return tuple(frozenset(str(s) for s in clause or ()) for clause in value or ())


class Rules:
    """Requirements per type and per (type, field), read from the supergraph's directive applications."""

    def __init__(self, doc: DocumentNode, features: list) -> None:
        names: dict[str, str] = {}
        for f in features:
            if (f.identity, f.version) in FEATURES:
                names[f.local(f.name)] = f.name
        self.types: dict[str, Requirement] = {}
        self.fields: dict[tuple[str, str], Requirement] = {}
        self.policy_names: set[str] = set()
        if not names:
            return
        for d in doc.definitions:
            if not isinstance(d, TypeDefinitionNode | TypeExtensionNode):
                continue
            req = self._read(d.directives, names)
            if req:
                self.types[d.name.value] = self.types.get(d.name.value, NONE) & req
            for fd in getattr(d, "fields", None) or ():
                req = self._read(fd.directives, names)
                if req:
                    self.fields[(d.name.value, fd.name.value)] = req

    def _read(self, directives, names: dict[str, str]) -> Requirement:
        req = NONE
        for app in directives or ():
            kind = names.get(app.name.value)
            if kind is None:
                continue
            args = {a.name.value: value_from_ast_untyped(a.value) for a in app.arguments or ()}
            if kind == "authenticated":
                req = req & Requirement(authenticated=True)
            elif kind == "requiresScopes":
                req = req & Requirement(scopes=(_dnf(args.get("scopes")),))
            else:
                dnf = _dnf(args.get("policies"))
                self.policy_names.update(p for clause in dnf for p in clause)
                req = req & Requirement(policies=(dnf,))
        return req

    def __bool__(self) -> bool:
        return bool(self.types or self.fields)

    def type(self, name: str) -> Requirement:
        return self.types.get(name, NONE)

    def field(self, parent: str, name: str) -> Requirement:
        return self.fields.get((parent, name), NONE)


@dataclass
class Filtered:
    """The outcome for one (document, operation, context): removed paths and the document to plan."""

    paths: list[list[str]]
    document: DocumentNode | None  # None: nothing removed, plan the original document
    empty: bool = False  # every field was removed: nothing to plan or fetch

    @property
    def key(self) -> tuple:
        """Identity of the filtered document for the plan cache: contexts that remove the same paths share it."""
        return tuple(tuple(p) for p in self.paths)

    def errors(self) -> list[dict]:
        return [{"message": MESSAGE, "path": list(p), "extensions": {"code": CODE}} for p in self.paths]


class Authorizer:
    """Rules, the policy registry and the mode of one router; builds contexts and filters operations."""

    def __init__(
        self,
        rules: Rules,
        schema: GraphQLSchema,
        *,
        policies: Mapping[str, Policy] | None = None,
        reject_unauthorized: bool = False,
    ) -> None:
        self.rules = rules
        self.schema = schema
        self.policies = {**default_policies(), **(policies or {})}
        self.reject_unauthorized = reject_unauthorized

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def context(self, caller: Caller | None) -> AuthContext:
        """Scopes from the token's `scope` claim; each policy the supergraph names evaluated once (unknown: denied)."""
        if caller is None:
            return AuthContext()
        granted = set()
        for name in sorted(self.rules.policy_names):
            hook = self.policies.get(name)
            if hook is not None and hook(caller) is True:
                granted.add(name)
        return AuthContext(True, caller.scopes, frozenset(granted))

    def filter(
        self,
        doc: DocumentNode,
        op: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        ctx: AuthContext,
    ) -> Filtered:
        return _Walk(self.rules, self.schema, fragments, ctx).run(doc, op)


class _Walk:
    def __init__(self, rules: Rules, schema: GraphQLSchema, fragments, ctx: AuthContext) -> None:
        self.rules = rules
        self.schema = schema
        self.fragments = fragments
        self.ctx = ctx
        self.paths: list[list[str]] = []
        self.memo: dict[str, tuple[FragmentDefinitionNode | None, list[list[str]]]] = {}
        self.active: set[str] = set()

    def run(self, doc: DocumentNode, op: OperationDefinitionNode) -> Filtered:
        root = self.schema.get_root_type(op.operation)
        assert root is not None
        if not self.rules.type(root.name).met_by(self.ctx):
            self.paths = [[_key(s)] for s in op.selection_set.selections if isinstance(s, FieldNode)] or [[]]
            return Filtered(self.paths, None, empty=True)
        selection_set = self.selection_set(op.selection_set, root, [])
        if not self.paths:
            return Filtered([], None)
        if selection_set is None:
            return Filtered(self.paths, None, empty=True)
        kept = [f for name, (f, _) in self.memo.items() if f is not None and name in self.fragments]
        new_op = _copy(op, selection_set=selection_set)
        return Filtered(self.paths, DocumentNode(definitions=(new_op, *kept)))

    def allowed_type(self, name: str) -> bool:
        return self.rules.type(name).met_by(self.ctx)

    def field_requirement(self, parent, name: str, node: FieldNode) -> Requirement:
        fdef = parent.fields[name]
        named = get_named_type(fdef.type)
        req = self.rules.field(parent.name, name) & self.rules.type(named.name)
        if isinstance(parent, GraphQLInterfaceType):
            for impl in self.schema.get_possible_types(parent):
                req = req & self.rules.field(impl.name, name)
        if (
            is_abstract_type(named)
            and node.selection_set
            and any(isinstance(s, FieldNode) and s.name.value != "__typename" for s in node.selection_set.selections)
        ):
            for impl in self.schema.get_possible_types(named):
                req = req & self.rules.type(impl.name)
        return req

    def selection_set(self, selection_set: SelectionSetNode, parent, path: list[str]) -> SelectionSetNode | None:
        out = []
        changed = False
        for s in selection_set.selections:
            kept = self.selection(s, parent, path)
            changed = changed or kept is not s
            if kept is not None:
                out.append(kept)
        if not out:
            return None
        return _copy(selection_set, selections=tuple(out)) if changed else selection_set

    def selection(self, s, parent, path: list[str]):
        if isinstance(s, FieldNode):
            return self.field(s, parent, path)
        if isinstance(s, InlineFragmentNode):
            cond = self.schema.get_type(s.type_condition.name.value) if s.type_condition else parent
            if not self.allowed_type(cond.name):
                self.paths.append(list(path))
                return None
            inner = self.selection_set(s.selection_set, cond, path)
            if inner is None:
                return None
            return s if inner is s.selection_set else _copy(s, selection_set=inner)
        if isinstance(s, FragmentSpreadNode):
            definition, relative = self.fragment(s.name.value)
            self.paths += [[*path, *p] for p in relative]
            return s if definition is not None else None
        return s  # pragma: no cover - no other selection kinds exist

    def fragment(self, name: str) -> tuple[FragmentDefinitionNode | None, list[list[str]]]:
        """A fragment filtered once, with its removed paths relative to where it is spread."""
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return definition, []
        cond = self.schema.get_type(definition.type_condition.name.value)
        outer, self.paths = self.paths, []
        self.active.add(name)
        try:
            if not self.allowed_type(cond.name):
                result: tuple = (None, [[]])
            else:
                inner = self.selection_set(definition.selection_set, cond, [])
                kept = (
                    None
                    if inner is None
                    else (definition if inner is definition.selection_set else _copy(definition, selection_set=inner))
                )
                result = (kept, self.paths)
        finally:
            self.active.discard(name)
            self.paths = outer
        self.memo[name] = result
        return result

    def field(self, node: FieldNode, parent, path: list[str]):
        name = node.name.value
        if name.startswith("__"):
            return node
        here = [*path, _key(node)]
        if not self.field_requirement(parent, name, node).met_by(self.ctx):
            self.paths.append(here)
            return None
        if node.selection_set is None:
            return node
        ftype = parent.fields[name].type
        inner_path = here + ["@"] * _list_depth(ftype)
        inner = self.selection_set(node.selection_set, get_named_type(ftype), inner_path)
        if inner is None:
            return None
        return node if inner is node.selection_set else _copy(node, selection_set=inner)


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _list_depth(gtype) -> int:
    depth = 0
    while isinstance(gtype, GraphQLNonNull | GraphQLList):
        depth += isinstance(gtype, GraphQLList)
        gtype = gtype.of_type
    return depth


def _copy(node, **changes):
    values = {k: getattr(node, k) for k in node.keys if k != "loc"}
    values.update(changes)
    return node.__class__(**values)


__all__ = [
    "CODE",
    "FEATURES",
    "AuthContext",
    "Authorizer",
    "Caller",
    "Filtered",
    "Requirement",
    "Rules",
    "caller_from",
    "default_policies",
]
