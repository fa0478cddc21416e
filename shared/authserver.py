"""The dev authorization server (Authlib): RFC 9068 access tokens for dev users and partner clients.

Dev profile only. Tokens are signed with the dev issuer key that `finpace token` uses, so the
JWKS served here is exactly the key set the router and subgraphs fall back to without a JWKS URL.
Grants: client credentials (partners) and password (the dev user-token endpoint). No
authorization endpoint, no refresh tokens: tokens are stateless JWTs that live at most 10 minutes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import structlog
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.auth import dev_key, issue_dev_token
from shared.authserver_clients import AuthServerSettings, DevClient, DevUser, Directory, load_directory
from shared.config import Settings

log = structlog.get_logger(__name__)

MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 16
METADATA_PATH = "/.well-known/oauth-authorization-server"


def _printable(values: list[str]) -> str:
    """Renders caller input for an error description: RFC 6749 allows only some printable ASCII there."""
    text = ", ".join(values)[:200]
    return "".join(c for c in text if " " <= c <= "~" and c not in {'"', "\\"})


class DevOnlyError(RuntimeError):
    """The dev authorization server was asked to run outside the dev profile."""


class _FormRequest(OAuth2Request):
    """A token request whose url-encoded form has already been read and checked."""

    def __init__(self, uri: str, headers: Any, form: dict[str, str]) -> None:
        super().__init__(method="POST", uri=uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _ScopeCheck:
    """Grants refuse scopes beyond the allowance (invalid_scope); no scope asked means the whole allowance."""

    request: OAuth2Request

    def allowance(self) -> tuple[str, ...]:
        raise NotImplementedError

    def validate_requested_scope(self) -> None:
        requested = (self.request.payload.scope or "").split()
        beyond = sorted(set(requested) - set(self.allowance()))
        if beyond:
            raise InvalidScopeError(f"Scope beyond what may be granted here: {_printable(beyond)}.")
        self.request.scope = " ".join(requested or self.allowance())


class ClientCredentialsGrant(_ScopeCheck, grants.ClientCredentialsGrant):
    """Partners: the token's subject is the client itself."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def allowance(self) -> tuple[str, ...]:
        client: DevClient = self.request.client
        return client.scopes

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class PasswordGrant(_ScopeCheck, grants.ResourceOwnerPasswordCredentialsGrant):
    """The dev user-token endpoint: a user of the dev file, through a client allowed the password grant."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def allowance(self) -> tuple[str, ...]:
        user: DevUser = self.request.user
        return user.scopes

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"Client '{client.client_id}' may not use grant_type={self.GRANT_TYPE}.")
        username, password = self.request.form.get("username"), self.request.form.get("password")
        if not username or not password:
            raise InvalidRequestError("username and password are required.")
        user = self.server.directory.authenticate(username, password)
        if user is None:
            raise InvalidGrantError("The username or password is wrong.")  # RFC 6749 5.2: invalid credentials
        self.request.client, self.request.user = client, user
        self.validate_requested_scope()

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(user=self.request.user, scope=self.request.scope, include_refresh_token=False)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class DevAuthorizationServer(AuthorizationServer):
    """Authlib's token endpoint over the dev directory, answering with Starlette responses."""

    def __init__(self, settings: Settings, auth_settings: AuthServerSettings, directory: Directory) -> None:
        super().__init__(scopes_supported=directory.scopes)
        self.settings, self.ttl, self.directory = settings, auth_settings.token_ttl_seconds, directory
        self.register_token_generator("default", BearerTokenGenerator(self._access_token, expires_generator=self.ttl))
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(PasswordGrant)

    def query_client(self, client_id: str) -> DevClient | None:
        return self.directory.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to store: the tokens are self-contained JWTs."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        return JSONResponse(body, status_code=status, headers=dict(headers))

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> Any:
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as exc:
            # Unknown client or wrong secret is 401 whichever way the client authenticated (RFC 6749 5.2 allows it).
            exc.status_code = 401
            raise

    def _access_token(self, client: DevClient, grant_type: str, user: DevUser | None, scope: str) -> str:
        role, sub, parties = (user.role, user.sub, user.party_ids) if user else (client.role, client.client_id, ())
        log.info("token_issued", client_id=client.client_id, grant_type=grant_type, sub=sub, role=role, scope=scope)
        return issue_dev_token(
            self.settings,
            role=role,
            sub=sub,
            party_ids=list(parties),
            scopes=scope.split(),
            ttl_seconds=self.ttl,
            client_id=client.client_id,
        )

    def refuse(self, error: OAuth2Error) -> Response:
        """Answers with the RFC 6749 error body for a request refused before Authlib saw it."""
        return self.handle_error_response(None, error)


async def _read_form(request: Request) -> dict[str, str]:
    """Reads the url-encoded token request; refuses other bodies, oversized ones and repeated parameters."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequestError("The token request must be application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequestError(f"The token request is larger than {MAX_FORM_BYTES} bytes.")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("The token request body is not a valid form.") from None
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidRequestError(f"Parameters repeated (RFC 6749 3.2): {_printable(repeated)}.")
    form = dict(pairs)
    if "client_secret" in form and extract_basic_authorization(request.headers)[0]:
        raise InvalidRequestError("Use one client authentication method, not both Basic and client_secret.")
    if not form.get("grant_type"):
        raise InvalidRequestError("grant_type is required.")
    return form


def create_app(settings: Settings, auth_settings: AuthServerSettings | None = None) -> Starlette:
    """Builds the dev authorization server; refuses the production profile."""
    if not settings.is_dev:
        raise DevOnlyError("The dev authorization server refuses to run outside the dev profile.")
    auth_settings = auth_settings or AuthServerSettings()
    server = DevAuthorizationServer(settings, auth_settings, load_directory(auth_settings.dev_file))
    dev_key(settings)  # create the issuer key now, so the first token request does not race other processes

    async def token(request: Request) -> Response:
        try:
            form = await _read_form(request)
            oauth_request = _FormRequest(str(request.url), request.headers, form)
        except OAuth2Error as error:
            return server.refuse(error)
        response: Response = server.create_token_response(oauth_request)
        if response.status_code != 200:
            log.info(
                "token_refused",
                status=response.status_code,
                client_id=form.get("client_id"),
                grant_type=form.get("grant_type"),
            )
        return response

    async def jwks(_: Request) -> Response:
        public = {**dev_key(settings).as_dict(private=False), "use": "sig", "alg": "ES256"}
        return JSONResponse({"keys": [public]}, headers={"Cache-Control": "public, max-age=300"})

    async def metadata(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": settings.auth_issuer,
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks.json",
                "grant_types_supported": ["client_credentials", "password"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "response_types_supported": [],
                "scopes_supported": server.directory.scopes,
            }
        )

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/jwks.json", jwks, methods=["GET"]),
            Route(METADATA_PATH, metadata, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", health, methods=["GET"]),
        ]
    )
