"""GraphQL building blocks every subgraph shares: Money, DomainError, pages, permissions, error masking."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from shared import errors, metrics
from shared.auth import Principal
from shared.db import RequestContext, UnitOfWork
from shared.events import Actor
from shared.money import Money as MoneyValue
from shared.money import minor_units

log = structlog.get_logger(__name__)

T = TypeVar("T")
MAX_PAGE_SIZE = 100


# -- value types -------------------------------------------------------------------------
@strawberry.federation.type(name="Money", shareable=True, description="An amount in one ISO 4217 currency.")
class MoneyType:
    amount: Decimal = strawberry.field(description="Decimal string with exactly the currency's minor digits.")
    currency: str = strawberry.field(description="ISO 4217 alphabetic code.")

    @classmethod
    def of(cls, money: MoneyValue) -> MoneyType:
        scale = minor_units(money.currency)
        return cls(amount=money.amount.quantize(Decimal(1).scaleb(-scale)), currency=money.currency)


@strawberry.input(name="MoneyInput", description="An amount (decimal string) in one ISO 4217 currency.")
class MoneyInput:
    amount: Decimal
    currency: str

    def to_money(self) -> MoneyValue:
        return MoneyValue.of(self.amount, self.currency)


@strawberry.federation.type(shareable=True)
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


def encode_cursor(values: list[Any]) -> str:
    """Encodes a page position (the sort key of the last row) as an opaque cursor."""
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """Decodes a cursor made by encode_cursor; a forged or broken one is BAD_USER_INPUT."""
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except Exception:
        raise errors.InputError(f"Cursor '{cursor[:40]}' is not valid.", field="after") from None
    if not isinstance(values, list):
        raise errors.InputError(f"Cursor '{cursor[:40]}' is not valid.", field="after")
    return values


def check_page_size(first: int) -> int:
    """Returns the page size if it is within 1..100, else raises BAD_USER_INPUT."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise errors.InputError(f"first must be between 1 and {MAX_PAGE_SIZE}, got {first}.", field="first")
    return first


def parse_uuid(value: str, *, field: str = "id") -> uuid.UUID:
    """Parses a UUID argument; a malformed id is BAD_USER_INPUT, not a server error."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise errors.InputError(f"{field} '{str(value)[:40]}' is not a UUID.", field=field) from None


# -- typed business errors -----------------------------------------------------------------
@strawberry.interface(name="DomainError", description="An expected business failure.")
class DomainErrorType:
    code: str
    message: str


_ERROR_TYPES: dict[str, type] = {}


def error_type(code: str, name: str, description: str) -> type:
    """Declares (once per process) the GraphQL type of a domain error code, shareable across subgraphs."""
    if name in _ERROR_TYPES:
        return _ERROR_TYPES[name]
    cls = type(name, (DomainErrorType,), {"__annotations__": {}, "__doc__": description})
    gql = strawberry.federation.type(cls, name=name, shareable=True, description=description)
    gql._finpace_code = code  # type: ignore[attr-defined]
    _ERROR_TYPES[name] = gql
    return gql


NotFoundError = error_type("NOT_FOUND", "NotFound", "The referenced record does not exist (or is not visible).")
InvalidTransitionError = error_type(
    "INVALID_TRANSITION", "InvalidTransition", "The record's state does not allow this action."
)
ConflictError = error_type("CONFLICT", "Conflict", "The change conflicts with existing data.")
IdempotencyKeyReusedError = error_type(
    "IDEMPOTENCY_KEY_REUSED", "IdempotencyKeyReused", "The idempotency key was used for a different request."
)
FourEyesRequiredError = error_type(
    "FOUR_EYES_REQUIRED", "FourEyesRequired", "A second, different person must approve this action."
)

_BY_CODE: dict[str, type] = {}


def register_error(exc_class: type[errors.DomainError], gql_type: type) -> None:
    """Maps a DomainError subclass to the GraphQL error type a result union returns for it."""
    _BY_CODE[exc_class.code] = gql_type


for _exc, _gql in [
    (errors.NotFound, NotFoundError),
    (errors.InvalidTransition, InvalidTransitionError),
    (errors.Conflict, ConflictError),
    (errors.IdempotencyKeyReused, IdempotencyKeyReusedError),
    (errors.FourEyesRequired, FourEyesRequiredError),
]:
    register_error(_exc, _gql)


def domain_error(exc: errors.DomainError) -> Any:
    """Returns the GraphQL error object for a DomainError (its registered type, else Conflict)."""
    gql_type = _BY_CODE.get(exc.code, ConflictError)
    return gql_type(code=exc.code, message=exc.message)


# -- context and permissions ---------------------------------------------------------------
@dataclass
class BaseContext:
    """What every resolver may use: the principal, the correlation id and the domain's resources."""

    request: Any
    response: Any
    principal: Principal | None
    correlation_id: str
    sessions: Any
    loaders: Any
    settings: Any
    access: Any = None  # shared.access.RequestAccess: the caller's scope and the staff reads it noted
    connection_params: Any = None  # graphql-transport-ws: the connection_init payload

    def require(self, *roles: str) -> Principal:
        """Returns the principal, or raises UNAUTHENTICATED / FORBIDDEN."""
        if self.principal is None:
            raise errors.AuthError("Authentication required: send 'Authorization: Bearer <token>'.")
        if roles and not self.principal.has_role(*roles):
            raise errors.Forbidden(f"Role {sorted(self.principal.roles)} may not do this; needs one of {list(roles)}.")
        return self.principal


def unit_of_work(info: Info, *roles: str, anonymous: bool = False) -> UnitOfWork:
    """Returns a unit of work acting as the caller (who must hold one of `roles`; anyone when anonymous)."""
    principal = info.context.principal if anonymous else info.context.require(*roles)
    actor = (Actor(sub=principal.sub, roles=tuple(sorted(principal.roles)), client_id=principal.client_id)
             if principal is not None else Actor(sub="anonymous", roles=("anonymous",)))
    from shared import access  # shared.access builds on this module

    context = RequestContext(actor=actor, correlation_id=info.context.correlation_id)
    return UnitOfWork(info.context.sessions, context, caller_scope=lambda: access.scope(info))


async def run_command(call: Awaitable[T], wrap: Callable[[T], Any]) -> Any:
    """Awaits a use case and wraps its result; an expected DomainError becomes its result-union member."""
    try:
        return wrap(await call)
    except errors.DomainError as exc:
        return domain_error(exc)


class IsAuthenticated(BasePermission):
    message = "Authentication required: send 'Authorization: Bearer <token>'."
    error_extensions: ClassVar[dict[str, Any]] = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal is not None


# -- error mapping and masking -------------------------------------------------------------
# graphql-core's suggestions: "Did you mean 'x'?", "... 'x' or 'y'?", "... the enum value 'X'?", "... to use an
# inline fragment on 'T'?". Names never hold a '?', so the sentence ends at the first one.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_INTROSPECTION_OFF = "GraphQL introspection has been disabled"
# The operation limits' messages (Strawberry's QueryDepthLimiter and MaxAliasesLimiter, graphql-core's parser),
# given the router's stable codes.
_LIMITS = ((re.compile(r"exceeds maximum operation depth of \d+"), "MAX_DEPTH_EXCEEDED"),
           (re.compile(r"^\d+ aliases found\. Allowed: \d+"), "MAX_ALIASES_EXCEEDED"),
           (re.compile(r"more than \d+ tokens\. Parsing aborted"), "MAX_TOKENS_EXCEEDED"))


def hide_suggestions(message: str) -> str:
    """Removes graphql-core's "Did you mean ...?" sentences, which reveal field, type and enum names."""
    return _SUGGESTION.sub("", message)


class FinpaceErrors(MaskErrors):
    """Gives every error a stable code; masks unexpected ones behind an error id that is in the log.

    Outside the dev profile (read from the request context's settings) validation messages lose
    their suggestions and refused introspection answers INTROSPECTION_DISABLED.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def _process_errors(self, errs: list[GraphQLError]) -> list[GraphQLError]:
        settings = getattr(self.execution_context.context, "settings", None)
        production = settings is not None and not getattr(settings, "is_dev", True)
        return [self._map(e, production) for e in errs]

    def _map(self, error: GraphQLError, production: bool = False) -> GraphQLError:
        original = error.original_error
        extensions = dict(error.extensions or {})
        message = hide_suggestions(error.message) if production else error.message
        if original is None:
            off = message.startswith(_INTROSPECTION_OFF)
            fallback = "INTROSPECTION_DISABLED" if off else "GRAPHQL_VALIDATION_FAILED"
            code = next((c for pattern, c in _LIMITS if pattern.search(message)), fallback)
            extensions.setdefault("code", code if not error.path else "BAD_USER_INPUT")
            return _copy(error, message, extensions)
        if isinstance(original, errors.InputError):
            extensions.update(code="BAD_USER_INPUT", reason=original.reason)
            if original.field:
                extensions["field"] = original.field
            return _copy(error, original.message, extensions)
        if isinstance(original, errors.FinpaceError):
            extensions["code"] = original.code
            return _copy(error, original.message, extensions)
        if isinstance(original, GraphQLError | ValueError | TypeError) and not error.path:
            extensions.setdefault("code", "BAD_USER_INPUT")
            return _copy(error, message, extensions)
        if extensions.get("code") in {"UNAUTHENTICATED", "FORBIDDEN"}:
            return error
        error_id = uuid.uuid4().hex
        log.error("unexpected_error", service=self.service, error_id=error_id, path=error.path,
                  exc_info=(type(original), original, original.__traceback__))
        return _copy(error, "Internal server error.", {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id})


def _copy(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=None, extensions=extensions)


class OperationMetrics(SchemaExtension):
    """Counts and times each operation by name for /metrics."""

    service: ClassVar[str] = "subgraph"

    def on_operation(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        ctx = self.execution_context
        name = ctx.operation_name or "anonymous"
        outcome = "error" if getattr(ctx.result, "errors", None) else "ok"
        metrics.REQUESTS.labels(self.service, name, outcome).inc()
        metrics.REQUEST_SECONDS.labels(self.service, name).observe(time.perf_counter() - start)


def operation_metrics(service: str) -> type[OperationMetrics]:
    """Returns an OperationMetrics extension bound to a service name."""
    return type(f"{service.title()}OperationMetrics", (OperationMetrics,), {"service": service})


# -- field authorization: one declaration gives the SDL directive (enforced by the router) and the check here --
class _Directed(BasePermission):
    """A permission that also puts its federation directive on the field, so the router enforces it first."""

    message = "Authentication required: send 'Authorization: Bearer <token>'."
    error_extensions: ClassVar[dict[str, Any]] = {"code": "UNAUTHENTICATED"}

    def __init__(self, directive: object, alternatives: tuple[frozenset[str], ...] = ()) -> None:
        self._schema_directive = directive
        self.alternatives = alternatives

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal: Principal | None = info.context.principal
        if principal is None:
            raise errors.AuthError(self.message)
        if self.alternatives and not any(self.granted(principal, clause) for clause in self.alternatives):
            raise errors.Forbidden("Not authorized for this field.")
        return True

    def granted(self, principal: Principal, clause: frozenset[str]) -> bool:
        return clause <= principal.scopes


class _PolicyPermission(_Directed):
    def granted(self, principal: Principal, clause: frozenset[str]) -> bool:
        # The router's default policies: role:<name> holds when the token carries that role.
        return all(name.startswith("role:") and principal.has_role(name[5:]) for name in clause)


def authenticated() -> Any:
    """`@authenticated`, re-checked here: anonymous callers get UNAUTHENTICATED."""
    from strawberry.federation.schema_directives import Authenticated

    return PermissionExtension([_Directed(Authenticated())])


def requires_scopes(*alternatives: list[str]) -> Any:
    """`@requiresScopes(scopes: [...])`: any one list of scopes, all of it, from the token's `scope` claim."""
    from strawberry.federation.schema_directives import RequiresScopes

    scopes = [list(a) for a in alternatives]
    return PermissionExtension([_Directed(RequiresScopes(scopes=scopes), tuple(frozenset(a) for a in scopes))])


def policy(*alternatives: list[str]) -> Any:
    """`@policy(policies: [...])` with `role:<name>` policies: any one list, all of it, from the token's roles."""
    from strawberry.federation.schema_directives import Policy

    policies = [list(a) for a in alternatives]
    return PermissionExtension([_PolicyPermission(Policy(policies=policies), tuple(frozenset(a) for a in policies))])


def any_role(*roles: str) -> Any:
    """`@policy` held by a caller with any one of `roles` (`role:<name>` each): the directive form of require()."""
    return policy(*([f"role:{r}"] for r in roles))
