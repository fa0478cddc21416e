"""Settings for every Finpace process, read from FINPACE_* environment variables."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ISSUER = "https://dev.finpace.local"
DEFAULT_AUDIENCE = "finpace"


class Profile(StrEnum):
    DEV = "dev"
    PROD = "prod"


class Settings(BaseSettings):
    """Every setting a Finpace process reads; one instance per process, built in its composition root."""

    model_config = SettingsConfigDict(env_prefix="FINPACE_", env_file=None, extra="ignore")

    profile: Profile = Profile.DEV
    data_dir: Path = Path(".finpace")
    host: str = "127.0.0.1"

    # Server-level URLs: each domain uses its own database `finpace_<domain>` on this server.
    database_url: str | None = None
    nats_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)

    # Ports used by `finpace up` for the embedded servers: never the system's 5432 / 4222.
    embedded_pg_port: int = Field(default=55432, ge=1024, le=65535)
    embedded_nats_port: int = Field(default=54222, ge=1024, le=65535)

    # Identity: a local issuer in dev, any OIDC provider in production.
    auth_issuer: str = DEV_ISSUER
    auth_audience: str = DEFAULT_AUDIENCE
    auth_jwks_url: str | None = None
    auth_jwks_file: Path | None = None
    auth_leeway_seconds: int = Field(default=30, ge=0, le=30)
    # RFC 9068 hardening: a token whose exp - iat exceeds this is refused, whoever signed it.
    auth_max_token_lifetime_seconds: int = Field(default=3600, ge=60, le=86_400)

    # Operation limits each subgraph applies to every request, before execution. Above the router's own
    # limits (depth 7, aliases 15, tokens 2,000), so that the fetches it plans never meet them; they bound
    # a caller that reaches a subgraph directly.
    subgraph_max_depth: int = Field(default=12, ge=1, le=100)
    subgraph_max_aliases: int = Field(default=50, ge=0, le=1_000)
    subgraph_max_tokens: int = Field(default=20_000, ge=100, le=1_000_000)

    # Outbox relay.
    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    # Observability.
    log_level: str = "INFO"
    log_json: bool = True

    graphiql: bool | None = None  # None: on in dev, off in prod

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_production(self) -> Self:
        if self.profile is Profile.PROD:
            problems = []
            if self.auth_issuer == DEV_ISSUER:
                problems.append("FINPACE_AUTH_ISSUER is the dev issuer")
            if not (self.auth_jwks_url or self.auth_jwks_file):
                problems.append("FINPACE_AUTH_JWKS_URL or FINPACE_AUTH_JWKS_FILE must name the issuer's keys")
            if not self.database_url:
                problems.append("FINPACE_DATABASE_URL is unset (embedded servers are for dev only)")
            if not self.nats_url:
                problems.append("FINPACE_NATS_URL is unset (embedded servers are for dev only)")
            if self.graphiql:
                problems.append("FINPACE_GRAPHIQL is on")
            if problems:
                raise ValueError("Production profile refuses dev defaults: " + "; ".join(problems) + ".")
        return self

    @property
    def is_dev(self) -> bool:
        return self.profile is Profile.DEV

    @property
    def graphiql_enabled(self) -> bool:
        return self.is_dev if self.graphiql is None else self.graphiql

    def domain_database_url(self, domain: str) -> str:
        """Returns the asyncpg URL of the domain's own database on the configured server."""
        if not self.database_url:
            raise RuntimeError("FINPACE_DATABASE_URL is not set and no embedded server was started.")
        from sqlalchemy.engine import make_url  # here: the router imports these settings and needs no SQLAlchemy

        url = make_url(self.database_url).set(drivername="postgresql+asyncpg", database=f"finpace_{domain}")
        return url.render_as_string(hide_password=False)

    def server_database_url(self, database: str = "postgres") -> str:
        """Returns the asyncpg URL of a maintenance database on the configured server."""
        if not self.database_url:
            raise RuntimeError("FINPACE_DATABASE_URL is not set and no embedded server was started.")
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url).set(drivername="postgresql+asyncpg", database=database)
        return url.render_as_string(hide_password=False)
