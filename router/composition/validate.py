"""Composition checks that report errors with Apollo's codes and the subgraphs involved."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import GraphQLSyntaxError, parse
from graphql.language import FieldNode, InlineFragmentNode

from router.composition.subgraph import SType, Subgraph, key_coordinates


@dataclass(frozen=True)
class CompositionError:
    """One composition error: an Apollo error code, a message and the subgraphs involved."""

    code: str
    message: str
    subgraphs: tuple[str, ...]


def _named(type_text: str) -> str:
    return type_text.replace("[", "").replace("]", "").replace("!", "")


def _quoted(names: list[str]) -> str:
    quoted = [f'"{n}"' for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def check(subgraphs: list[Subgraph]) -> list[CompositionError]:
    """Every error found; composition succeeds only when this is empty."""
    errors: list[CompositionError] = []
    names = sorted({n for s in subgraphs for n in s.types})
    in_keys = {s.name: key_coordinates(s) for s in subgraphs}
    for type_name in names:
        holders = [(s, s.types[type_name]) for s in subgraphs if type_name in s.types]
        kinds = {t.kind for _, t in holders}
        if len(kinds) > 1 and kinds != {"interface", "object"}:
            errors.append(
                CompositionError(
                    "TYPE_KIND_MISMATCH",
                    f'Type "{type_name}" has mismatched kind: it is defined as '
                    + ", ".join(f'{t.kind} in subgraph "{s.name}"' for s, t in holders),
                    tuple(s.name for s, _ in holders),
                )
            )
            continue
        for s, t in holders:
            errors.extend(_check_field_sets(s, t))
            errors.extend(_check_access_on_interface(s, t))
        if kinds == {"object"}:
            errors.extend(_check_sharing(type_name, holders, in_keys))
        errors.extend(_check_external(type_name, holders))
        errors.extend(_check_reachability(type_name, holders, subgraphs))
    return errors


def _check_access_on_interface(s: Subgraph, t: SType) -> list[CompositionError]:
    """Access control belongs on object types and their fields; composition derives the interfaces' own."""
    out = []
    elements = []
    if t.kind == "interface" or t.interface_object:
        elements.append(("interface object" if t.interface_object else "interface", t.name, t.auth))
    if t.kind == "interface":
        elements += [("field", f"{t.name}.{f.name}", f.auth) for f in t.fields.values()]
    for kind, coordinate, applied in elements:
        for name, _ in applied:
            out.append(
                CompositionError(
                    "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
                    f'[{s.name}] Invalid use of @{name} on {kind} "{coordinate}": @{name} cannot be applied on '
                    "interfaces, interface fields and interface objects",
                    (s.name,),
                )
            )
    return out


def _check_field_sets(s: Subgraph, t: SType) -> list[CompositionError]:
    out = []
    checks = [("KEY_INVALID_FIELDS", "@key", t, k) for k, _ in t.keys]
    for f in t.fields.values():
        if f.requires:
            checks.append(("REQUIRES_INVALID_FIELDS", f"@requires on {t.name}.{f.name}", t, f.requires))
        if f.provides:
            target = s.types.get(_named(f.type))
            if target is not None:
                checks.append(("PROVIDES_INVALID_FIELDS", f"@provides on {t.name}.{f.name}", target, f.provides))
    for code, where, owner, text in checks:
        problem = _field_set_problem(s, owner, text)
        if problem:
            out.append(
                CompositionError(
                    code, f'[{s.name}] On type "{t.name}", for {where}(fields: "{text}"): {problem}', (s.name,)
                )
            )
    return out


def _field_set_problem(s: Subgraph, owner: SType, text: str) -> str | None:
    try:
        doc = parse("{" + text + "}")
    except GraphQLSyntaxError as exc:
        return f"invalid selection: {exc.message}"

    def walk(t: SType, selections) -> str | None:
        for sel in selections:
            if isinstance(sel, InlineFragmentNode):
                inner = s.types.get(sel.type_condition.name.value) if sel.type_condition else t
                if inner is None:
                    return f'Unknown type "{sel.type_condition.name.value}"'
                problem = walk(inner, sel.selection_set.selections)
            elif isinstance(sel, FieldNode):
                if sel.name.value == "__typename":
                    continue
                f = t.fields.get(sel.name.value)
                if f is None:
                    return f'Cannot query field "{sel.name.value}" on type "{t.name}"'
                child = s.types.get(_named(f.type))
                problem = walk(child, sel.selection_set.selections) if sel.selection_set and child else None
            else:
                problem = None
            if problem:
                return problem
        return None

    return walk(owner, doc.definitions[0].selection_set.selections)


def _check_sharing(type_name: str, holders, in_keys: dict[str, set]) -> list[CompositionError]:
    out = []
    fields = {f for _, t in holders for f in t.fields}
    for fname in sorted(fields):
        defs = [(s, t, t.fields[fname]) for s, t in holders if fname in t.fields]
        overridden = {f.override for _, _, f in defs if f.override}
        resolving = [(s, t, f) for s, t, f in defs if not f.external and s.name not in overridden]
        if len(resolving) < 2:
            continue
        strict = [
            s.name for s, t, f in resolving if not (f.shareable or t.shareable or (type_name, fname) in in_keys[s.name])
        ]
        if strict:
            out.append(
                CompositionError(
                    "INVALID_FIELD_SHARING",
                    f'Non-shareable field "{type_name}.{fname}" is resolved from multiple subgraphs: it is resolved '
                    f"from subgraphs {_quoted([s.name for s, _, _ in resolving])} and defined as non-shareable in "
                    f"{'subgraph' if len(strict) == 1 else 'subgraphs'} {_quoted(strict)}",
                    tuple(s.name for s, _, _ in resolving),
                )
            )
    return out


def _check_external(type_name: str, holders) -> list[CompositionError]:
    out = []
    fields = {f for _, t in holders for f in t.fields}
    for fname in sorted(fields):
        defs = [(s, t.fields[fname]) for s, t in holders if fname in t.fields]
        external = [(s, f) for s, f in defs if f.external]
        base = [(s, f) for s, f in defs if not f.external]
        if external and not base:
            out.append(
                CompositionError(
                    "EXTERNAL_MISSING_ON_BASE",
                    f'Field "{type_name}.{fname}" is marked @external on all the subgraphs in which it is listed '
                    f"({'subgraph' if len(external) == 1 else 'subgraphs'} {_quoted([s.name for s, _ in external])}).",
                    tuple(s.name for s, _ in external),
                )
            )
            continue
        for s, f in external:
            if base and _named(f.type) != _named(base[0][1].type):
                b_sub, b_field = base[0]
                out.append(
                    CompositionError(
                        "EXTERNAL_TYPE_MISMATCH",
                        f'Type of field "{type_name}.{fname}" is incompatible across subgraphs '
                        f'(where marked @external): it has type "{b_field.type}" in subgraph "{b_sub.name}" '
                        f'but type "{f.type}" in subgraph "{s.name}"',
                        (b_sub.name, s.name),
                    )
                )
        named = {_named(f.type) for _, f in base}
        if len(named) > 1:
            out.append(
                CompositionError(
                    "FIELD_TYPE_MISMATCH",
                    f'Type of field "{type_name}.{fname}" is incompatible across subgraphs: '
                    + ", ".join(f'"{f.type}" in subgraph "{s.name}"' for s, f in base),
                    tuple(s.name for s, _ in base),
                )
            )
    return out


def _check_reachability(type_name: str, holders, subgraphs: list[Subgraph]) -> list[CompositionError]:
    """A subgraph holding fields nobody else resolves must be reachable: it needs a resolvable @key."""
    if len(holders) < 2 or any(type_name in s.roots.values() for s, _ in holders):
        return []
    out = []
    for s, t in holders:
        if t.kind != "object" or any(r for _, r in t.keys) or t.shareable:
            continue
        own = [
            f
            for f in t.fields.values()
            if not f.external and not f.shareable and all(f.name not in o.fields for o_s, o in holders if o_s is not s)
        ]
        referenced_elsewhere = any(
            _named(f.type) == type_name
            for o in subgraphs
            if o is not s
            for ot in o.types.values()
            for f in ot.fields.values()
        )
        if own and referenced_elsewhere:
            out.append(
                CompositionError(
                    "SATISFIABILITY_ERROR",
                    f'Field "{type_name}.{own[0].name}" of subgraph "{s.name}" cannot be reached from other subgraphs: '
                    f'type "{type_name}" has no resolvable @key in subgraph "{s.name}".',
                    tuple(o.name for o, _ in holders),
                )
            )
    return out
