"""GraphQL over HTTP for the router: request parsing, CSRF prevention, content negotiation, headers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket

from router.authorization import Caller
from router.config import AuthMode
from router.headers import HeaderRule, apply_rules
from router.jsonio import ORJSONResponse
from router.persisted import PersistedOperationError
from router.ratelimit import RATE_LIMITED, client_key, retry_after

if TYPE_CHECKING:
    from router.app import RouterState

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
_SIMPLE_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
_PREFLIGHT_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight")
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MIME = re.compile(rf"({_TCHARS}/{_TCHARS})(?:[ \t]*;[ \t]*{_TCHARS}=(?:{_TCHARS}|\"[^\"]*\"))*[ \t]*")
CSRF_MESSAGE = (
    "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). Please either specify a "
    f"'content-type' header (with a mime-type that is not one of {', '.join(_SIMPLE_TYPES)}) or provide one of "
    f"the following headers: {', '.join(_PREFLIGHT_HEADERS)}"
)
PLAN_HEADERS = ("apollo-expose-query-plan", "apollo-query-plan-experimental")

# Validates the caller's token; raises PermissionError to refuse, and may return the token's claims
# (`client_id`, `sub`) for rate limiting. Provided by the platform's auth module.
TokenValidator = Callable[[str | None], Awaitable[Mapping[str, Any] | None]]


def _error_response(status: int, message: str, code: str, media: str = "application/json", **headers: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return ORJSONResponse(body, status_code=status, media_type=media, headers=headers or None)


MISPLACED_BEARER_MESSAGE = "Tokens are accepted only in the Authorization header ('Authorization: Bearer <token>')."
_BEARER_PARAM = "access_token"


async def token_outside_header(request: Request, max_body_bytes: int) -> bool:
    """True when the request carries an RFC 6750 query-string or form/body `access_token`: we refuse those.

    A token in a URL ends up in access logs, browser history and Referer headers; such a request is refused
    rather than served anonymously.
    """
    if _BEARER_PARAM in request.query_params:
        return True
    if request.method == "GET" or _body_too_large(request, max_body_bytes):
        return False
    raw = await request.body()
    if not raw or len(raw) > max_body_bytes or _BEARER_PARAM.encode() not in raw:
        return False
    media = _media_type(request)
    if media == "application/x-www-form-urlencoded":
        return _BEARER_PARAM in parse_qs(raw.decode("latin-1"), keep_blank_values=True)
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    return isinstance(body, dict) and _BEARER_PARAM in body


WS_MISPLACED_BEARER_MESSAGE = (
    "Tokens in the URL are refused; on a WebSocket, send 'Authorization: Bearer <token>' in the connection_init "
    "payload."
)


async def refuse_token_in_ws_url(websocket: WebSocket) -> bool:
    """Refuses a WebSocket upgrade whose URL carries `access_token` (True when refused).

    The answer is HTTP 401 with a GraphQL error body where the server supports the WebSocket denial
    response extension, else the handshake is closed with 4401; either way the socket is never opened.
    """
    if _BEARER_PARAM not in websocket.query_params:
        return False
    body = {"errors": [{"message": WS_MISPLACED_BEARER_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}]}
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(ORJSONResponse(body, status_code=401))
    else:
        await websocket.close(code=4401, reason="Unauthorized")
    return True


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def preflighted(request: Request) -> bool:
    """Apollo Router's CSRF test: a non-simple Content-Type, or a non-empty preflight header.

    Like Apollo, several Content-Type headers are joined with ", " and a value that does not parse
    as a media type counts as simple: a browser may have sent it without a preflight.
    """
    if any(request.headers.get(h) for h in _PREFLIGHT_HEADERS):
        return True
    values = [v.strip().replace("\t", " ") for v in request.headers.getlist("content-type")]
    match = _MIME.fullmatch(", ".join(values)) if values else None
    return match is not None and match.group(1).lower() not in _SIMPLE_TYPES


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when nothing acceptable is offered."""
    if not accept:
        return "application/json"
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in types:
        return GRAPHQL_RESPONSE
    if any(t in ("application/json", "application/*", "*/*") for t in types):
        return "application/json"
    return None


def forwarded_headers(
    request: Request, propagate: list[str], rules: list[HeaderRule] | None = None
) -> tuple[dict[str, str], str]:
    """Headers sent to every subgraph: the allow-listed ones, the rules, a correlation id and a traceparent."""
    out = {name.lower(): request.headers[name] for name in propagate if name in request.headers}
    if rules:
        out = apply_rules(request.headers, rules, out)
    correlation = request.headers.get("x-correlation-id") or str(uuid.uuid4())
    out["x-correlation-id"] = correlation
    parent = request.headers.get("traceparent")
    parts = parent.split("-") if parent else []
    if len(parts) == 4 and len(parts[1]) == 32:
        # A new child span per router request, same trace.
        out["traceparent"] = f"{parts[0]}-{parts[1]}-{secrets.token_hex(8)}-{parts[3]}"
    else:
        out["traceparent"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    return out, correlation


async def _read_request(request: Request) -> dict[str, Any] | Response:
    if request.method == "GET":
        params = request.query_params
        body: dict[str, Any] = {"query": params.get("query") or None}
        body["operationName"] = params.get("operationName") or None
        for key in ("documentId", "id"):
            if params.get(key):
                body[key] = params[key]
        for key in ("variables", "extensions"):
            raw = params.get(key)
            if raw:
                try:
                    body[key] = json.loads(raw)
                except ValueError:
                    return _error_response(400, f"The {key} parameter is not valid JSON.", "BAD_REQUEST")
        return body
    media = _media_type(request)
    if not media:
        return _error_response(415, "POST requests need a Content-Type of application/json.", "BAD_REQUEST")
    if media != "application/json":
        return _error_response(415, f"Content-Type {media!r} is not supported; use application/json.", "BAD_REQUEST")
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _error_response(400, "The request body is not valid JSON.", "BAD_REQUEST")
    if isinstance(body, list):
        return _error_response(
            400, "Batched requests are not enabled; send one operation per request.", "BATCHING_NOT_ENABLED"
        )
    if not isinstance(body, dict):
        return _error_response(400, "The request body must be a JSON object.", "BAD_REQUEST")
    return body


async def graphql_endpoint(request: Request) -> Response:
    """POST and GET /graphql (and the GraphiQL page for browsers in the dev profile)."""
    state: RouterState = request.app.state.router
    settings = state.settings
    wants_html = request.method == "GET" and "text/html" in request.headers.get("accept", "")
    if wants_html and not request.query_params and state.graphiql_html is not None:
        return HTMLResponse(state.graphiql_html)
    media = negotiate(request.headers.get("accept"))
    if await token_outside_header(request, settings.max_body_bytes):
        # Before anything else that could answer: never proceed anonymously with a misplaced token.
        return _error_response(401, MISPLACED_BEARER_MESSAGE, "UNAUTHENTICATED", media or "application/json")
    if media is None:
        return _error_response(406, "Accept application/json or application/graphql-response+json.", "BAD_REQUEST")
    if settings.csrf_prevention and not preflighted(request):
        return _error_response(400, CSRF_MESSAGE, "CSRF_ERROR")
    if _body_too_large(request, settings.max_body_bytes) or (
        request.method != "GET" and len(await request.body()) > settings.max_body_bytes
    ):
        return _error_response(413, f"The request exceeds {settings.max_body_bytes} bytes.", "BODY_TOO_LARGE", media)
    body = await _read_request(request)
    if isinstance(body, Response):
        return body
    try:
        query, operation_name = state.persisted.resolve(body, persisted_only=settings.persisted_only)
    except PersistedOperationError as exc:
        return _error_response(400, exc.message, exc.code, media)
    if not isinstance(query, str) or not query:
        return _error_response(400, "The request has no 'query' string.", "BAD_REQUEST")
    if len(query.encode()) > settings.max_query_bytes:
        return _error_response(413, f"The query exceeds {settings.max_query_bytes} bytes.", "BODY_TOO_LARGE", media)
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return _error_response(400, "'variables' must be a JSON object.", "BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        return _error_response(400, "'operationName' must be a string.", "BAD_REQUEST")
    authorization = request.headers.get("authorization")
    client_ip = request.client.host if request.client else None
    if settings.auth_mode == AuthMode.REQUIRED and not authorization:
        return _rate_limited(state, client_key(None, client_ip), media) or _error_response(
            401, "Authentication required.", "UNAUTHENTICATED", media
        )
    claims: Mapping[str, Any] | None = None
    if settings.auth_mode != AuthMode.OFF and authorization and state.token_validator is not None:
        try:
            claims = await state.token_validator(authorization)
        except PermissionError as exc:
            # Refused tokens count against the caller's IP, so guessing tokens is rate limited too.
            return _rate_limited(state, client_key(None, client_ip), media) or _error_response(
                401, str(exc) or "Invalid token.", "UNAUTHENTICATED", media
            )
    # Field authorization: a token that passed validation makes the caller authenticated, with its claims.
    validated = settings.auth_mode != AuthMode.OFF and bool(authorization) and state.token_validator is not None
    caller = Caller(claims or {}) if validated else None
    limited = _rate_limited(state, client_key(claims, client_ip), media)
    if limited is not None:
        return limited
    engine = await state.engine()
    headers, correlation = forwarded_headers(request, settings.propagate_headers, settings.header_rules)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(settings.request_timeout):
            result = await engine.run(
                query, variables, operation_name, headers, allow_mutations=request.method == "POST", caller=caller
            )
    except TimeoutError:
        state.metrics.observe_request(operation_name, 504, time.perf_counter() - started)
        return _error_response(504, "Your request has been timed out", "GATEWAY_TIMEOUT", media)
    except Exception:
        # A bug, not the caller's fault: the trace goes to the log under an id the caller can quote.
        error_id = uuid.uuid4().hex
        log.exception("router_unexpected_error error_id=%s correlation_id=%s", error_id, correlation)
        state.metrics.observe_request(operation_name, 500, time.perf_counter() - started)
        body = {
            "errors": [
                {
                    "message": "Internal server error.",
                    "extensions": {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
                }
            ]
        }
        return ORJSONResponse(body, status_code=500, media_type=media, headers={"x-correlation-id": correlation})
    state.metrics.observe_request(result.operation_name, result.status, time.perf_counter() - started)
    response_body = result.body
    if settings.expose_query_plan and result.plan is not None and _wants_plan(request):
        plan = result.plan.to_json()
        extensions = response_body.setdefault("extensions", {})
        extensions["apolloQueryPlan"] = {"object": plan, "text": json.dumps(plan, indent=2)}
    extra = {"x-correlation-id": correlation}
    if result.status == 405:
        extra["allow"] = "POST"
    return ORJSONResponse(response_body, status_code=result.status, media_type=media, headers=extra)


def _rate_limited(state: RouterState, client: str, media: str) -> Response | None:
    """429 with Retry-After when `client` has no token left; None when the request may go on."""
    if state.limiter is None:
        return None
    wait = state.limiter.acquire(client)
    if wait is None:
        return None
    seconds = retry_after(wait)
    state.metrics.observe_request(None, 429, 0.0)
    body = {
        "errors": [
            {
                "message": f"Too many requests; retry after {seconds} s.",
                "extensions": {"code": RATE_LIMITED, "retryAfter": seconds},
            }
        ]
    }
    return ORJSONResponse(body, status_code=429, media_type=media, headers={"retry-after": str(seconds)})


def _body_too_large(request: Request, limit: int) -> bool:
    """A declared Content-Length (or a GET's query string) over the limit, refused before the body is read."""
    if request.method == "GET":
        return len(request.url.query.encode()) > limit
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


def _wants_plan(request: Request) -> bool:
    return any(request.headers.get(h, "").lower() in ("1", "true") for h in PLAN_HEADERS)


async def health(_request: Request) -> Response:
    return ORJSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    state: RouterState = request.app.state.router
    if state.loaded:
        return ORJSONResponse({"status": "ready", "subgraphs": state.subgraph_names()})
    return ORJSONResponse({"status": "not ready", "reason": state.load_error or "loading"}, status_code=503)


async def metrics(request: Request) -> Response:
    state: RouterState = request.app.state.router
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
