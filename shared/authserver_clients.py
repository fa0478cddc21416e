"""The dev authorization server's clients and users, read from a YAML file (dev profile only)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from authlib.oauth2.rfc6749 import ClientMixin
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import ROLES

DEFAULT_DEV_FILE = Path(__file__).resolve().parent / "authserver_dev.yaml"
GRANT_TYPES = frozenset({"client_credentials", "password"})


class AuthServerSettings(BaseSettings):
    """Settings of the dev authorization server (FINPACE_AUTHSERVER_*)."""

    model_config = SettingsConfigDict(env_prefix="FINPACE_AUTHSERVER_", env_file=None, extra="ignore")

    dev_file: Path = DEFAULT_DEV_FILE
    # RFC 9068 / FAPI 2.0: access tokens live at most 10 minutes.
    token_ttl_seconds: int = Field(default=600, ge=60, le=600)


class DevFileError(ValueError):
    """The dev clients/users file is missing or malformed; the message names the entry."""


def _secret_matches(expected: str | None, given: str | None) -> bool:
    if expected is None or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


@dataclass(frozen=True)
class DevClient(ClientMixin):
    """A registered client: confidential (with a secret) or public (none), its grants and scopes."""

    client_id: str
    client_secret: str | None = None
    grant_types: frozenset[str] = frozenset()
    role: str = "partner"
    scopes: tuple[str, ...] = ()

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # no authorization endpoint: no redirects

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""  # the grant has already checked the request against the allowance

    def check_client_secret(self, client_secret: str) -> bool:
        return _secret_matches(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client_secret is None:
            return method == "none"
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass(frozen=True)
class DevUser:
    """A dev user of the password grant: its subject, role, parties and scopes."""

    username: str
    password: str
    role: str
    sub: str
    party_ids: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    def get_user_id(self) -> str:
        return self.sub


@dataclass(frozen=True)
class Directory:
    """Every dev client and user, by id."""

    clients: dict[str, DevClient] = field(default_factory=dict)
    users: dict[str, DevUser] = field(default_factory=dict)

    def authenticate(self, username: str, password: str) -> DevUser | None:
        """Returns the user when the password matches, else None."""
        user = self.users.get(username)
        return user if user is not None and _secret_matches(user.password, password) else None

    @property
    def scopes(self) -> list[str]:
        """Every scope a client or user may be granted."""
        holders: list[DevClient | DevUser] = [*self.clients.values(), *self.users.values()]
        return sorted({scope for holder in holders for scope in holder.scopes})


def load_directory(path: Path) -> Directory:
    """Reads the clients and users file, refusing unknown roles, grants and duplicate ids."""
    try:
        document: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DevFileError(f"Dev auth file {path} cannot be read: {exc}") from exc
    if not isinstance(document, dict):
        raise DevFileError(f"Dev auth file {path} must be a mapping with 'clients' and 'users'.")
    clients = _unique((_client(path, e) for e in document.get("clients") or []), "client_id", path)
    users = _unique((_user(path, e) for e in document.get("users") or []), "username", path)
    return Directory(clients=clients, users=users)


def _unique(items: Iterable[Any], key: str, path: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items:
        name = getattr(item, key)
        if name in found:
            raise DevFileError(f"Dev auth file {path}: {key} '{name}' appears twice.")
        found[name] = item
    return found


def _strings(path: Path, entry: dict[str, Any], key: str) -> tuple[str, ...]:
    values = entry.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) and v and " " not in v for v in values):
        name = entry.get("client_id") or entry.get("username")
        raise DevFileError(f"Dev auth file {path}: {key} of {name!r} must be a list of words.")
    return tuple(values)


def _role(path: Path, entry: dict[str, Any], default: str | None = None) -> str:
    role = entry.get("role", default)
    if role not in ROLES:
        raise DevFileError(f"Dev auth file {path}: role {role!r} is not one of {sorted(ROLES)}.")
    return str(role)


def _client(path: Path, entry: Any) -> DevClient:
    if not isinstance(entry, dict) or not isinstance(entry.get("client_id"), str):
        raise DevFileError(f"Dev auth file {path}: every client needs a client_id.")
    grants = frozenset(_strings(path, entry, "grant_types"))
    if not grants or not grants <= GRANT_TYPES:
        raise DevFileError(
            f"Dev auth file {path}: grant_types of {entry['client_id']!r} must be among {sorted(GRANT_TYPES)}."
        )
    secret = entry.get("client_secret")
    if "client_credentials" in grants and not secret:
        raise DevFileError(
            f"Dev auth file {path}: {entry['client_id']!r} uses client credentials, so it needs a client_secret."
        )
    return DevClient(
        client_id=entry["client_id"],
        client_secret=str(secret) if secret else None,
        grant_types=grants,
        role=_role(path, entry, "partner"),
        scopes=_strings(path, entry, "scopes"),
    )


def _user(path: Path, entry: Any) -> DevUser:
    if not isinstance(entry, dict) or not entry.get("username") or not entry.get("password"):
        # The entry is not echoed: it may hold a password.
        raise DevFileError(f"Dev auth file {path}: every user needs a username and a password.")
    username = str(entry["username"])
    return DevUser(
        username=username,
        password=str(entry["password"]),
        role=_role(path, entry),
        sub=str(entry.get("sub") or username),
        party_ids=_strings(path, entry, "party_ids"),
        scopes=_strings(path, entry, "scopes"),
    )
