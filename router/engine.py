"""The request pipeline: parse and validate (cached), plan (cached), execute, shape, answer introspection."""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLSyntaxError, execute, parse, validate
from graphql.execution.values import get_variable_values
from graphql.language import DocumentNode, FieldNode, FragmentDefinitionNode, OperationDefinitionNode

from router.authorization import Authorizer, Caller, Filtered
from router.client import SubgraphClient
from router.edge import redact, validation_errors, validation_rules
from router.executor import ExecutionState, Executor, FetchObserver
from router.limits import LimitExceeded, Limits, check_cost, check_document, check_page_sizes
from router.plan import QueryPlan
from router.planner import PlanningError, build_query_plan, select_operation
from router.shaping import Shaper
from router.supergraph import Supergraph

_PERCENT = re.compile(r"percent\((\d+(?:\.\d+)?)\)")


class LRU:
    """A small least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        try:
            value = self._items[key]
        except KeyError:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


@dataclass
class Result:
    """A GraphQL response body with the HTTP status the router answers with."""

    status: int
    body: dict[str, Any]
    operation_name: str | None = None
    plan: QueryPlan | None = None


def _error(message: str, code: str) -> dict:
    return {"message": message, "extensions": {"code": code}}


@dataclass
class Operation:
    """A validated, planned operation with its coerced variables, ready to execute."""

    definition: OperationDefinitionNode
    name: str | None
    fragments: dict[str, FragmentDefinitionNode]
    raw_variables: dict[str, Any]
    variables: dict[str, Any]
    plan: QueryPlan
    errors: list[dict] = field(default_factory=list)  # fields removed by authorization, answered null
    shaping: dict | None = None  # shaping plans shared by the document's requests (see Engine.shaping)


@dataclass
class _Prepared:
    document: DocumentNode | None
    errors: list[dict]
    status: int


class Engine:
    """Holds the supergraph, the caches and the executor; one instance per running router."""

    def __init__(
        self,
        supergraph: Supergraph,
        client: SubgraphClient,
        *,
        cache_size: int = 512,
        max_depth: int = 64,
        limits: Limits | None = None,
        observer: FetchObserver | None = None,
        include_subgraph_errors: bool = True,
        override_labels: frozenset[str] = frozenset(),
        introspection: bool = True,
        field_suggestions: bool = True,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.supergraph = supergraph
        self.client = client
        self.executor = Executor(supergraph, client, observer)
        self.documents = LRU(cache_size)
        self.plans = LRU(cache_size)
        self.limits = limits if limits is not None else Limits(max_depth=max_depth)
        self.include_subgraph_errors = include_subgraph_errors
        self.static_labels = override_labels
        self.authorizer = authorizer or Authorizer(supergraph.authorization, supergraph.api_schema)
        self.filtered = LRU(cache_size)  # (query, operation name, auth context) -> Filtered
        self.limit_checks = LRU(cache_size)  # (query, operation name, int variables) -> () or (LimitExceeded,)
        self.shapings = LRU(cache_size)  # (query, operation name) -> the Shaper's plans for that operation
        self.rules = validation_rules(introspection)
        self.hide_suggestions = not field_suggestions
        self._percent_labels = {
            label: float(m.group(1))
            for label in supergraph.override_labels()
            if (m := _PERCENT.fullmatch(label)) is not None
        }

    def active_labels(self) -> frozenset[str]:
        """Override labels active for one request: configured ones, and each percent(x) with probability x%."""
        rolled = {label for label, pct in self._percent_labels.items() if random.random() * 100 < pct}
        return self.static_labels | rolled

    def prepare(self, query: str) -> _Prepared:
        """Parse and validate once per query text (validation depends on neither variables nor name)."""
        cached = self.documents.get(query)
        if cached is not None:
            return cached
        try:
            doc = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLSyntaxError as exc:
            code = "MAX_TOKENS_EXCEEDED" if "tokens. Parsing aborted" in exc.message else "GRAPHQL_PARSE_FAILED"
            prepared = _Prepared(None, [_error(exc.message, code)], 400)
        else:
            try:
                check_document(doc, self.limits)
            except LimitExceeded as exc:
                prepared = _Prepared(None, [_error(exc.message, exc.code)], 400)
            else:
                errors = validate(self.supergraph.api_schema, doc, self.rules, hide_suggestions=self.hide_suggestions)
                prepared = _Prepared(None, validation_errors(errors), 400) if errors else _Prepared(doc, [], 200)
        self.documents.put(query, prepared)
        return prepared

    def plan(
        self,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        labels: frozenset[str] = frozenset(),
        removed: tuple = (),
    ) -> QueryPlan:
        # Labels change which subgraph resolves a field, and authorization which fields remain: both are
        # part of the plan's identity (callers whose contexts remove the same paths share one plan).
        key = (query, operation_name, tuple(sorted(labels)), removed)
        plan = self.plans.get(key)
        if plan is None:
            plan = build_query_plan(self.supergraph, document, operation_name, labels)
            self.plans.put(key, plan)
        return plan

    def operation(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        *,
        allow_mutations: bool = True,
        allow_subscriptions: bool = False,
        caller: Caller | None = None,
    ) -> Operation | Result:
        """Parse, validate, coerce variables and plan; a Result means the request failed before execution."""
        prepared = self.prepare(query)
        if prepared.document is None:
            return Result(prepared.status, {"errors": prepared.errors})
        doc = prepared.document
        try:
            op = select_operation(doc, operation_name)
        except PlanningError as exc:
            return Result(400, {"errors": [_error(str(exc), "GRAPHQL_VALIDATION_FAILED")]})
        name = op.name.value if op.name else None
        kind = op.operation.value
        if kind == "mutation" and not allow_mutations:
            return Result(405, {"errors": [_error("Mutations can only be sent over HTTP POST.", "BAD_REQUEST")]}, name)
        if kind == "subscription" and not allow_subscriptions:
            return Result(
                400, {"errors": [_error("Subscriptions need a graphql-transport-ws WebSocket.", "BAD_REQUEST")]}, name
            )
        raw_vars = variables or {}
        coerced = get_variable_values(
            self.supergraph.api_schema, op.variable_definitions or (), raw_vars, hide_suggestions=self.hide_suggestions
        )
        if isinstance(coerced, list):
            return Result(400, {"errors": [_error(e.message, "BAD_USER_INPUT") for e in coerced]}, name)
        fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
        refused = self.check_limits(query, op, operation_name, fragments, coerced)
        if refused is not None:
            return Result(400, {"errors": [_error(refused.message, refused.code)]}, name)
        filtered = self.authorize(query, doc, op, operation_name, fragments, caller)
        if filtered.paths and (filtered.empty or self.authorizer.reject_unauthorized):
            # Strict mode, or nothing left to ask for: answer now, no subgraph is called.
            if self.authorizer.reject_unauthorized:
                return Result(403, {"errors": filtered.errors()}, name)
            return Operation(op, name, fragments, raw_vars, coerced, QueryPlan(None), filtered.errors())
        try:
            plan = self.plan(query, filtered.document or doc, operation_name, self.active_labels(), filtered.key)
        except PlanningError as exc:
            return Result(500, {"errors": [_error(str(exc), "QUERY_PLANNING_FAILED")]}, name)
        return Operation(
            op, name, fragments, raw_vars, coerced, plan, filtered.errors(), self.shaping(query, operation_name)
        )

    def shaping(self, query: str, operation_name: str | None) -> dict | None:
        """The shaping plans of an operation, shared by all its requests (None: each request plans its own).

        Which fields an object answers depends on the document alone, except where @skip or @include read a
        variable: a document that may use either (its text mentions one, even in a comment or with a space
        after the @) keeps planning per request.
        """
        if "skip" in query or "include" in query:
            return None
        key = (query, operation_name)
        plans = self.shapings.get(key)
        if plans is None:
            plans = {}
            self.shapings.put(key, plans)
        return plans

    def check_limits(
        self,
        query: str,
        op: OperationDefinitionNode,
        operation_name: str | None,
        fragments: dict[str, FragmentDefinitionNode],
        coerced: Any,
    ) -> LimitExceeded | None:
        """The page-size and cost verdict, computed once per document, operation and integer variables.

        Both checks read nothing but the document and the variables whose values are integers (page sizes
        and slicing arguments), so those values are the rest of the cache key.
        """
        values = getattr(coerced, "coerced", coerced) or {}
        key = (query, operation_name, tuple(sorted((k, v) for k, v in values.items() if isinstance(v, int))))
        verdict = self.limit_checks.get(key)
        if verdict is None:
            try:
                check_page_sizes(op, fragments, coerced, self.limits)
                check_cost(self.supergraph.api_schema, op, fragments, coerced, self.limits, self.supergraph.cost)
                verdict = ()
            except LimitExceeded as exc:
                verdict = (exc,)
            self.limit_checks.put(key, verdict)
        return verdict[0] if verdict else None

    def authorize(
        self,
        query: str,
        doc: DocumentNode,
        op: OperationDefinitionNode,
        operation_name: str | None,
        fragments: dict[str, FragmentDefinitionNode],
        caller: Caller | None,
    ) -> Filtered:
        """Remove what the caller may not see (cached per document, operation and authorization context)."""
        if not self.authorizer.active:
            return Filtered([], None)
        ctx = self.authorizer.context(caller)
        key = (query, operation_name, ctx)
        filtered = self.filtered.get(key)
        if filtered is None:
            filtered = self.authorizer.filter(doc, op, fragments, ctx)
            self.filtered.put(key, filtered)
        return filtered

    async def run(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        headers: dict[str, str],
        *,
        allow_mutations: bool = True,
        caller: Caller | None = None,
    ) -> Result:
        operation = self.operation(query, variables, operation_name, allow_mutations=allow_mutations, caller=caller)
        if isinstance(operation, Result):
            return operation
        state = ExecutionState(variables=operation.raw_variables, headers=headers)
        return await self.complete(operation, state)

    async def complete(self, operation: Operation, state: ExecutionState) -> Result:
        """Run the plan's node on `state` (a fresh request, or one subscription event) and shape the answer."""
        op, fragments = operation.definition, operation.fragments
        plan = operation.plan
        introspection = self._introspect(op, fragments, operation.raw_variables) if plan.introspection_fields else {}
        await self.executor.execute(plan, state)
        api = self.supergraph.api_schema
        root = api.get_root_type(op.operation)
        shaper = Shaper(api, fragments, operation.variables, introspection, plans=operation.shaping)
        data = shaper.shape(state.data, root, op.selection_set.selections)
        body: dict[str, Any] = {}
        errors = state.sorted_errors()
        if errors and not self.include_subgraph_errors:
            errors = [redact(e) for e in errors]
        errors = operation.errors + errors  # fields removed by authorization come first
        if errors:
            body["errors"] = errors
        body["data"] = data
        if shaper.errors and not errors:
            body["extensions"] = {"valueCompletion": shaper.errors}
        return Result(200, body, operation.name, plan)

    def _introspect(self, op: OperationDefinitionNode, fragments, variables) -> dict:
        selections = tuple(
            s
            for s in op.selection_set.selections
            if isinstance(s, FieldNode) and s.name.value in ("__schema", "__type")
        )
        only = OperationDefinitionNode(
            operation=op.operation,
            name=op.name,
            variable_definitions=op.variable_definitions,
            directives=(),
            selection_set=op.selection_set.__class__(selections=selections),
        )
        result = execute(
            self.supergraph.api_schema,
            DocumentNode(definitions=(only, *fragments.values())),
            variable_values=variables,
        )
        return result.data or {}
