"""Runs a query plan: subgraph fetches, representations, merging and re-pathing of subgraph errors."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import is_abstract_type

from router.client import SubgraphClient, SubgraphTimeout
from router.jsonio import canonical, dumps
from router.plan import Condition, Fetch, Flatten, Parallel, PlanNode, QueryPlan, Sequence
from router.supergraph import Supergraph

_MISSING = object()
_dumps = json.JSONEncoder(separators=(",", ":")).encode


@functools.lru_cache(maxsize=4096)
def _payload_head(operation: str, operation_name: str | None) -> bytes:
    """The request body up to its variables, encoded once per fetch operation (plans are cached too)."""
    name = f',"operationName":{_dumps(operation_name)}' if operation_name else ""
    return f'{{"query":{_dumps(operation)}{name},"variables":'.encode()


@dataclass
class ExecutionState:
    """Mutable state of one request: internal data tree, errors, client variables and forwarded headers."""

    variables: dict[str, Any]
    headers: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[int, int, dict]] = field(default_factory=list)

    def add_error(self, fetch_id: int, error: dict) -> None:
        self.errors.append((fetch_id, len(self.errors), error))

    def sorted_errors(self) -> list[dict]:
        return [e for _, _, e in sorted(self.errors, key=lambda t: (t[0], t[1]))]


FetchObserver = Callable[[str, float, bool], None]


class Executor:
    """Executes plans against subgraphs through one shared, pooled SubgraphClient."""

    def __init__(self, supergraph: Supergraph, client: SubgraphClient, observer: FetchObserver | None = None):
        self.sg = supergraph
        self.client = client
        self.observer = observer
        self._urls = {g.name: g.url for g in supergraph.graphs.values()}

    async def execute(self, plan: QueryPlan, state: ExecutionState) -> None:
        if plan.node is not None:
            await self._run(plan.node, state)

    async def _run(self, node: PlanNode, state: ExecutionState) -> None:
        if isinstance(node, Fetch):
            await self._fetch(node, state, [state.data], ())
        elif isinstance(node, Flatten):
            await self._fetch(node.node, state, resolve_objects(state.data, node.path), node.path)
        elif isinstance(node, Sequence):
            for child in node.nodes:
                await self._run(child, state)
        elif isinstance(node, Parallel):
            # One failing branch must not cancel its siblings: each fetch records its own errors.
            await asyncio.gather(*(self._run(child, state) for child in node.nodes))
        elif isinstance(node, Condition):
            value = state.variables.get(node.condition, node.default)
            if value is True or value is False:
                branch = node.if_clause if value else node.else_clause
            else:  # not a Boolean (validation lets none through): fetch, and let the directive decide
                branch = node.if_clause or node.else_clause
            if branch is not None:
                await self._run(branch, state)

    async def _fetch(self, fetch: Fetch, state: ExecutionState, targets: list[dict], flatten_path) -> None:
        """Send one fetch for the objects in `targets` (found at `flatten_path`) and merge its answer into them."""
        variables = {v: state.variables[v] for v in fetch.variable_usages if v in state.variables}
        objs_for: list[list[dict]] = []  # per representation sent, the objects it stands for
        if fetch.requires:
            reps: list[dict] = []
            groups: dict = {}  # representation key -> the objects it stands for
            key_type, key_fields = fetch.key_fields or (None, ())
            for obj in targets:
                if key_type is not None and obj.get("__typename") == key_type:
                    try:
                        rep = {f: obj[f] for f in key_fields}
                    except KeyError:
                        continue
                else:
                    rep = self._representation(obj, fetch)
                    if rep is None:
                        continue
                k = _rep_key(rep)
                group = groups.get(k)
                if group is None:
                    groups[k] = group = []
                    reps.append(rep)
                    objs_for.append(group)
                group.append(obj)
            if not reps:
                return
            variables = {"representations": reps, **variables}
        elif not targets:
            return
        body = _payload_head(fetch.operation, fetch.operation_name) + dumps(variables) + b"}"
        hoist = _hoisted(flatten_path)
        started = time.perf_counter()
        ok = False
        try:
            result = await self._call(fetch, body, state)
            ok = True
        except SubgraphTimeout:
            self._router_error(state, fetch, hoist, "GATEWAY_TIMEOUT", "Your request has been timed out")
            return
        except _FetchFailed as failed:
            self._router_error(state, fetch, hoist, failed.code, failed.message)
            return
        finally:
            if self.observer:
                self.observer(fetch.service_name, time.perf_counter() - started, ok)
        data = result.get("data")
        errors = result.get("errors") or []
        if fetch.requires:
            entities = data.get("_entities") if isinstance(data, dict) else None
            if data is not None and (not isinstance(entities, list) or len(entities) != len(objs_for)):
                self._router_error(
                    state,
                    fetch,
                    hoist,
                    "SUBREQUEST_MALFORMED_RESPONSE",
                    f"Subgraph '{fetch.service_name}' returned an invalid _entities list",
                )
                return
            for i, entity in enumerate(entities or ()):
                if not isinstance(entity, dict):
                    continue
                for n, obj in enumerate(objs_for[i]):
                    deep_merge(obj, entity, self.sg, copy=n > 0)
            if errors:
                # Concrete paths are only worked out when an error needs them.
                located = {id(o): p for p, o in resolve_path(state.data, flatten_path)}
                paths_for = [[(located.get(id(o), hoist), o) for o in objs] for objs in objs_for]
                for err in errors:
                    self._entity_error(state, fetch, err, paths_for, hoist)
        else:
            if isinstance(data, dict):
                for n, obj in enumerate(targets):
                    deep_merge(obj, data, self.sg, copy=n > 0)
            for err in errors:
                err = clean_error(err, fetch.service_name)
                if flatten_path and "path" in err:
                    err["path"] = list(hoist) + list(err["path"])
                state.add_error(fetch.id, err)

    async def _call(self, fetch: Fetch, body: bytes, state: ExecutionState) -> dict:
        url = self._urls.get(fetch.service_name) or ""
        try:
            resp = await self.client.post(
                fetch.service_name, url, body, state.headers, is_query=fetch.operation_kind == "query"
            )
        except SubgraphTimeout:
            raise
        except Exception as exc:
            raise _FetchFailed(
                "SUBREQUEST_HTTP_ERROR", f"HTTP fetch failed from '{fetch.service_name}': {exc}"
            ) from exc
        parsed = None
        if resp.content_type == "application/graphql-response+json" or 200 <= resp.status < 300:
            try:
                parsed = resp.json()
            except ValueError:
                parsed = None
        if not 200 <= resp.status < 300 and not (isinstance(parsed, dict) and "data" in parsed):
            raise _FetchFailed(
                "SUBREQUEST_HTTP_ERROR",
                f"HTTP fetch failed from '{fetch.service_name}': {resp.status}",
            )
        if not isinstance(parsed, dict):
            raise _FetchFailed(
                "SUBREQUEST_MALFORMED_RESPONSE",
                f"HTTP fetch failed from '{fetch.service_name}': invalid JSON body",
            )
        return parsed

    def _router_error(self, state, fetch: Fetch, path, code: str, message: str) -> None:
        err: dict[str, Any] = {"message": message}
        if path:
            err["path"] = list(path)
        err["extensions"] = {"code": code, "service": fetch.service_name}
        state.add_error(fetch.id, err)

    def _entity_error(self, state, fetch: Fetch, err: dict, paths_for, hoist) -> None:
        path = err.get("path")
        err = clean_error(err, fetch.service_name)
        if isinstance(path, list) and len(path) >= 2 and path[0] == "_entities" and isinstance(path[1], int):
            i = path[1]
            if 0 <= i < len(paths_for):
                for concrete, _ in paths_for[i]:
                    state.add_error(fetch.id, {**err, "path": [*concrete, *path[2:]]})
                return
        if hoist:
            err["path"] = list(hoist)
        else:
            err.pop("path", None)
        state.add_error(fetch.id, err)

    def _representation(self, obj: dict, fetch: Fetch) -> dict | None:
        rep = None
        for frag in fetch.requires:
            if not self._matches(obj.get("__typename"), frag.get("typeCondition")):
                continue
            part = _select(obj, frag["selections"], self)
            if part is _MISSING:
                return None
            rep = part if rep is None else {**rep, **part}
        if rep is None or "__typename" not in rep:
            return None
        for rw in fetch.input_rewrites:
            _apply_rewrite(rep, rw, self)
        return rep

    def _matches(self, typename: str | None, condition: str | None) -> bool:
        if condition is None or typename == condition:
            return True
        if typename is None:
            return False
        cond = self.sg.schema.get_type(condition)
        obj = self.sg.schema.get_type(typename)
        if cond is None or obj is None or not is_abstract_type(cond) or is_abstract_type(obj):
            return False
        return self.sg.schema.is_sub_type(cond, obj)


class _FetchFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean_error(err: dict, service: str) -> dict:
    """A subgraph error without its locations (they point into the subgraph operation), naming the subgraph."""
    out = {k: v for k, v in err.items() if k != "locations"}
    ext = dict(out.get("extensions") or {})
    ext.setdefault("service", service)
    out["extensions"] = ext
    return out


def _hoisted(path) -> tuple:
    out = []
    for step in path:
        if step == "@":
            break
        out.append(step)
    return tuple(out)


def _select(value, selections, ex: Executor):
    if isinstance(value, list):
        items = [_select(v, selections, ex) for v in value]
        return _MISSING if any(i is _MISSING for i in items) else items
    if not isinstance(value, dict):
        return value
    out: dict = {}
    for s in selections:
        if s["kind"] == "Field":
            key = s.get("alias") or s["name"]
            if key not in value:
                return _MISSING
            v = value[key]
            if "selections" in s and v is not None:
                v = _select(v, s["selections"], ex)
                if v is _MISSING:
                    return _MISSING
            out[s["name"]] = v
        elif ex._matches(value.get("__typename"), s.get("typeCondition")):
            sub = _select(value, s["selections"], ex)
            if sub is _MISSING:
                return _MISSING
            out.update(sub)
    return out


def _apply_rewrite(rep: dict, rw: dict, ex: Executor) -> None:
    path = rw.get("path") or []
    target = rep
    for step in path[:-1]:
        if step.startswith("... on "):
            if not ex._matches(target.get("__typename"), step[7:]):
                return
        else:
            target = target.get(step)
            if not isinstance(target, dict):
                return
    if rw.get("kind") == "ValueSetter" and path:
        target[path[-1]] = rw.get("setValueTo")


def _rep_key(rep: dict):
    """A hashable identity for a representation: its items when all values are strings (the usual ids)."""
    items = tuple(rep.items())
    for _, v in items:
        if type(v) is not str:
            return canonical(rep)
    return items


def _clone(value):
    """A copy of a JSON tree (dicts, lists, scalars): cheaper than copy.deepcopy."""
    if type(value) is dict:
        return {k: _clone(v) for k, v in value.items()}
    if type(value) is list:
        return [_clone(v) for v in value]
    return value


def resolve_objects(data: Any, path: tuple) -> list[dict]:
    """The objects a Flatten path reaches, in document order (resolve_path without building their paths)."""
    current: list = [data]
    for step in path:
        if step == "@":
            current = [e for v in current if type(v) is list for e in v]
            continue
        nxt = [x for v in current if type(v) is dict and (x := v.get(step)) is not None]
        if len(nxt) < len(current) and any(type(v) is list for v in current):
            # A list the path steps through without "@": its elements' fields, in place.
            nxt = []
            for v in current:
                if type(v) is dict:
                    if (x := v.get(step)) is not None:
                        nxt.append(x)
                elif type(v) is list:
                    nxt.extend(x for e in v if type(e) is dict and (x := e.get(step)) is not None)
        current = nxt
    return [v for v in current if type(v) is dict]


def resolve_path(data: Any, path: tuple) -> list[tuple[tuple, dict]]:
    """Objects reached by a Flatten path, with their concrete paths, in document order."""
    current: list[tuple[tuple, Any]] = [((), data)]
    for step in path:
        nxt: list[tuple[tuple, Any]] = []
        for p, v in current:
            if step == "@":
                if isinstance(v, list):
                    nxt.extend(((*p, i), e) for i, e in enumerate(v))
            elif isinstance(v, dict):
                if v.get(step) is not None:
                    nxt.append(((*p, step), v[step]))
            elif isinstance(v, list):
                for i, e in enumerate(v):
                    if isinstance(e, dict) and e.get(step) is not None:
                        nxt.append(((*p, i, step), e[step]))
        current = nxt
    return [(p, v) for p, v in current if isinstance(v, dict)]


def deep_merge(target: dict, source: dict, sg: Supergraph, copy: bool = False) -> None:
    """Apollo's deepMerge, except that an interface name never overwrites a concrete __typename.

    With `copy`, what is taken from `source` is copied (one answer merged into several objects), as merging
    `_clone(source)` would, without copying the parts that merge into existing objects.
    """
    for key, value in source.items():
        existing = target.get(key, _MISSING)
        if existing is _MISSING:
            target[key] = _clone(value) if copy else value
            continue
        if key == "__typename":
            t = sg.schema.get_type(value) if isinstance(value, str) else None
            if t is None or is_abstract_type(t):
                continue
        if isinstance(existing, dict) and isinstance(value, dict):
            deep_merge(existing, value, sg, copy)
        elif isinstance(existing, list) and isinstance(value, list) and len(existing) == len(value):
            for i, (a, b) in enumerate(zip(existing, value, strict=True)):
                if isinstance(a, dict) and isinstance(b, dict):
                    deep_merge(a, b, sg, copy)
                else:
                    existing[i] = _clone(b) if copy else b
        else:
            target[key] = _clone(value) if copy else value
