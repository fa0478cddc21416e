"""Router settings: environment (FINPACE_ROUTER_*), an optional YAML file, and subgraph URL overrides."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from router.headers import HeaderRule
from router.limits import Limits

SUBGRAPH_URL_ENV_PREFIX = "FINPACE_SUBGRAPH_URL_"
# Where `npm ci --prefix router/graphiql_assets` installs GraphiQL and React at set-up.
DEFAULT_GRAPHIQL_ASSETS = Path(__file__).parent / "graphiql_assets" / "node_modules"
# The persisted operations (customer 360, RM workbench, ...) shipped with the router.
DEFAULT_OPERATIONS = Path(__file__).parent / "operations"


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
    plan_cache_size: int = Field(default=512, gt=0)
    max_subscriptions_per_connection: int = Field(default=32, gt=0)
    propagate_headers: list[str] = Field(default_factory=lambda: ["authorization"])
    header_rules: list[HeaderRule] = Field(default_factory=list)  # applied after propagate_headers, in order
    subgraph_urls: dict[str, str] = Field(default_factory=dict)
    graphiql: bool = False
    expose_query_plan: bool = False
    coalesce_requests: bool = True
    subgraph_transport: Literal["httpx", "native"] = "httpx"
    include_subgraph_errors: bool = True  # False in production: messages and extensions are redacted
    csrf_prevention: bool = True
    override_labels: list[str] = Field(default_factory=list)  # progressive @override labels always on
    graphiql_assets: Path | None = DEFAULT_GRAPHIQL_ASSETS
    operations_dir: Path | None = DEFAULT_OPERATIONS  # persisted operations (`*.graphql`), callable by id
    persisted_only: bool = False  # trusted-documents mode: free-form queries are refused

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> RouterSettings:
        """Load settings from a YAML mapping; environment variables still fill what the file leaves out."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"Router settings file {path} must hold a mapping, not {type(data).__name__}.")
        return cls(**{**data, **overrides})

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
