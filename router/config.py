"""Router settings: environment (FINPACE_ROUTER_*), an optional YAML file, and subgraph URL overrides."""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ImportString
from pydantic_settings import BaseSettings, SettingsConfigDict

from router.headers import HeaderRule
from router.limits import Limits

SUBGRAPH_URL_ENV_PREFIX = "FINPACE_SUBGRAPH_URL_"
# Where `npm ci --prefix router/graphiql_assets` installs GraphiQL and React at set-up.
DEFAULT_GRAPHIQL_ASSETS = Path(__file__).parent / "graphiql_assets" / "node_modules"
# The persisted operations (customer 360, RM workbench, ...) shipped with the router.
DEFAULT_OPERATIONS = Path(__file__).parent / "operations"
# Developer conveniences the production profile switches off.
DEV_CONVENIENCES = ("graphiql", "expose_query_plan", "include_subgraph_errors", "introspection", "field_suggestions")


class AuthMode(StrEnum):
    """What the router demands of the Authorization header before planning."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    OFF = "off"


class RouterSettings(BaseSettings):
    """Everything the router process needs; safe defaults for production (no GraphiQL, no plan exposure)."""

    model_config = SettingsConfigDict(env_prefix="FINPACE_ROUTER_", extra="ignore")

    supergraph: Path = Path("schema/supergraph.graphql")
    host: str = "127.0.0.1"
    port: int = 4000
    auth_mode: AuthMode = AuthMode.OPTIONAL
    subgraph_timeout: float = Field(default=30.0, gt=0)
    request_timeout: float = Field(default=60.0, gt=0)
    max_connections_per_subgraph: int = Field(default=100, gt=0)
    # Operation limits, checked before any subgraph call (docs/router.md, "Operation limits").
    max_body_bytes: int = Field(default=65_536, gt=0)  # the HTTP request body (or a GET's query string)
    max_query_bytes: int = Field(default=65_536, gt=0)  # the document text, persisted operations included
    max_depth: int = Field(default=7, gt=0)
    max_aliases: int = Field(default=15, ge=0)
    max_root_fields: int = Field(default=10, gt=0)
    max_directives: int = Field(default=50, ge=0)
    max_tokens: int = Field(default=2_000, gt=0)
    min_page_size: int = Field(default=1, ge=0)  # any `first` or `last` argument
    max_page_size: int = Field(default=100, gt=0)
    max_cost: int = Field(default=5_000, gt=0)  # static cost of an operation (docs/router.md, "Operation cost")
    default_list_size: int = Field(default=10, gt=0)  # a list's assumed length without first/last or @listSize
    plan_cache_size: int = Field(default=512, gt=0)
    max_subscriptions_per_connection: int = Field(default=32, gt=0)
    propagate_headers: list[str] = Field(default_factory=lambda: ["authorization"])
    header_rules: list[HeaderRule] = Field(default_factory=list)  # applied after propagate_headers, in order
    subgraph_urls: dict[str, str] = Field(default_factory=dict)
    graphiql: bool = False
    expose_query_plan: bool = False
    coalesce_requests: bool = True
    subgraph_transport: Literal["httpx", "native"] = "native"
    include_subgraph_errors: bool = True  # False in production: messages and extensions are redacted
    introspection: bool = True  # False in production: `__schema` / `__type` answer INTROSPECTION_DISABLED
    field_suggestions: bool = True  # False in production: no "Did you mean ...?" in validation errors
    csrf_prevention: bool = True
    # Per-client token buckets (client_id, else sub, else client IP); on in production (docs/configuration.md).
    rate_limit: bool = False
    rate_limit_per_second: float = Field(default=10.0, gt=0)  # sustained requests per second per client
    rate_limit_burst: int = Field(default=50, gt=0)  # requests a full bucket lets through at once
    rate_limit_clients: int = Field(default=100_000, gt=0)  # buckets kept; the least recently seen go first
    override_labels: list[str] = Field(default_factory=list)  # progressive @override labels always on
    graphiql_assets: Path | None = DEFAULT_GRAPHIQL_ASSETS
    operations_dir: Path | None = DEFAULT_OPERATIONS  # persisted operations (`*.graphql`), callable by id
    persisted_only: bool = False  # trusted-documents mode: free-form queries are refused
    # Field authorization (@authenticated / @requiresScopes / @policy; docs/router.md, "Field authorization").
    reject_unauthorized: bool = False  # strict: refuse the whole request rather than remove unauthorized fields
    # @policy name -> "package.module.callable" taking the Caller, returning True to grant; adds to role:<name>.
    authorization_policies: dict[str, ImportString[Callable[..., bool]]] = Field(default_factory=dict)

    @staticmethod
    def profile_defaults(*, dev: bool) -> dict[str, bool]:
        """What the platform profile decides unless FINPACE_ROUTER_* says otherwise (developer conveniences)."""
        return {**dict.fromkeys(DEV_CONVENIENCES, dev), "csrf_prevention": True, "rate_limit": not dev}

    @classmethod
    def production(cls, **overrides: Any) -> RouterSettings:
        """Settings of the production profile: no GraphiQL, introspection, suggestions or plans; rate limits on."""
        return cls(**{**cls.profile_defaults(dev=False), **overrides})

    @staticmethod
    def read_yaml(path: str | Path) -> dict[str, Any]:
        """The settings a YAML file holds (ValueError when it is not a mapping or not YAML; OSError unreadable)."""
        import yaml  # only with a settings file: importing it takes about 0.1 s of the router's start-up

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"Router settings file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"Router settings file {path} must hold a mapping, not {type(data).__name__}.")
        return data

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> RouterSettings:
        """Load settings from a YAML mapping; environment variables still fill what the file leaves out."""
        return cls(**{**cls.read_yaml(path), **overrides})

    def limits(self) -> Limits:
        """The operation limits the engine enforces."""
        return Limits(
            max_depth=self.max_depth,
            max_aliases=self.max_aliases,
            max_root_fields=self.max_root_fields,
            max_directives=self.max_directives,
            max_tokens=self.max_tokens,
            min_page_size=self.min_page_size,
            max_page_size=self.max_page_size,
            max_cost=self.max_cost,
            default_list_size=self.default_list_size,
        )

    def url_overrides(self) -> dict[str, str]:
        """Subgraph URLs from FINPACE_SUBGRAPH_URL_<NAME> variables, then from `subgraph_urls`."""
        urls = {
            key[len(SUBGRAPH_URL_ENV_PREFIX) :].lower(): value
            for key, value in os.environ.items()
            if key.startswith(SUBGRAPH_URL_ENV_PREFIX) and value
        }
        urls.update(self.subgraph_urls)
        return urls
