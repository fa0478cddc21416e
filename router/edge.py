"""Edge rules of the production profile: introspection refused, validation errors collapsed, errors redacted."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, get_named_type, is_introspection_type, specified_rules
from graphql.language import FieldNode
from graphql.language.visitor import SKIP, VisitorAction
from graphql.validation import ValidationRule

INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
# Errors the router itself makes for a failed fetch: their text may carry a host, a port or a transport
# message, so in production only the code and the subgraph's name survive.
_FETCH_ERRORS = {
    "SUBREQUEST_HTTP_ERROR": "HTTP fetch failed from '{service}'.",
    "SUBREQUEST_MALFORMED_RESPONSE": "Subgraph '{service}' sent a malformed response.",
    "GATEWAY_TIMEOUT": "Your request has been timed out",
}


class IntrospectionDisabled(ValidationRule):
    """Refuses `__schema` and `__type` (graphql-core's NoSchemaIntrospectionCustomRule) with a stable code.

    `__typename` stays: it returns a String, not an introspection type, and clients rely on it.
    """

    def enter_field(self, node: FieldNode, *_args: Any) -> VisitorAction:
        type_ = get_named_type(self.context.get_type())
        if type_ is not None and is_introspection_type(type_):
            self.report_error(
                GraphQLError("Introspection has been disabled.", node, extensions={"code": INTROSPECTION_DISABLED})
            )
            return SKIP  # one error for the whole `__schema { ... }` selection, not one per nested field
        return None


def validation_rules(introspection: bool) -> tuple[type[ValidationRule], ...] | None:
    """The rules the router validates with: the specified ones, plus IntrospectionDisabled when it is off."""
    return None if introspection else (*specified_rules, IntrospectionDisabled)


def validation_errors(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    """One error per distinct message, so ten duplicated directives answer one error, not ten."""
    out: dict[str, dict[str, Any]] = {}
    for error in errors:
        code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
        out.setdefault(error.message, {"message": error.message, "extensions": {"code": code}})
    return list(out.values())


def redact(error: dict[str, Any]) -> dict[str, Any]:
    """Apollo Router's redaction: a subgraph error keeps its path and loses its message and extensions.

    A fetch failure the router made keeps its code and names the subgraph, never its URL or transport error.
    """
    extensions = error.get("extensions") or {}
    code, service = extensions.get("code"), extensions.get("service")
    if code in _FETCH_ERRORS and isinstance(service, str):
        out: dict[str, Any] = {"message": _FETCH_ERRORS[code].format(service=service)}
        extra = {"extensions": {"code": code, "service": service}}
    else:
        out, extra = {"message": "Subgraph errors redacted"}, {}
    if "path" in error:
        out["path"] = error["path"]
    return {**out, **extra}
