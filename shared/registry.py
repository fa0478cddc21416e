"""The services `finpace` runs: subgraphs listed in schema/supergraph.yaml, plus the router."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROUTER_NAME = "router"
ROUTER_PORT = 4000
ROUTER_FACTORY = "router.app:create_app"
ROUTER_SETTINGS = "router.config:RouterSettings"
SUPERGRAPH_CONFIG = "supergraph.yaml"
# The dev authorization server: no subgraph, started by `finpace up` in the dev profile only.
AUTH_NAME = "auth"
AUTH_PORT = 4012
AUTH_FACTORY = "shared.authserver:create_app"


class RegistryError(LookupError):
    """A service is unknown, misconfigured or not importable."""


@dataclass(frozen=True)
class Service:
    """One runnable service: its name, default port and the import string of its app factory."""

    name: str
    port: int
    factory: str
    kind: str  # "subgraph", "router" or "auth"
    schema_file: Path | None = None

    @property
    def module(self) -> str:
        """Return the module holding the app factory."""
        return self.factory.partition(":")[0]

    @property
    def is_router(self) -> bool:
        """Return whether this is the router."""
        return self.kind == ROUTER_NAME

    def is_importable(self) -> bool:
        """Return whether the factory's module can be found without importing it."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False


def schema_dir() -> Path:
    """Return the schema/ directory: FINPACE_SCHEMA_DIR, else ./schema, else the one beside the code."""
    override = os.environ.get("FINPACE_SCHEMA_DIR")
    if override:
        return Path(override)
    cwd_schema = Path.cwd() / "schema"
    if (cwd_schema / SUPERGRAPH_CONFIG).is_file():
        return cwd_schema
    return Path(__file__).resolve().parent.parent / "schema"


def load_subgraphs(config: Path | None = None) -> list[Service]:
    """Read the subgraphs from a Rover supergraph config, in file order."""
    path = config if config is not None else schema_dir() / SUPERGRAPH_CONFIG
    try:
        document: Any = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise RegistryError(f"Supergraph config {path} does not exist.") from exc
    subgraphs = (document or {}).get("subgraphs") or {}
    if not isinstance(subgraphs, dict):
        raise RegistryError(f"Supergraph config {path}: 'subgraphs' must be a mapping, got {subgraphs!r}.")
    services = []
    for name, entry in subgraphs.items():
        url = (entry or {}).get("routing_url")
        if not url:
            raise RegistryError(f"Supergraph config {path}: subgraph {name!r} has no routing_url.")
        port = urlsplit(url).port
        if port is None:
            raise RegistryError(f"Supergraph config {path}: routing_url {url!r} of {name!r} has no port.")
        schema_file = ((entry.get("schema") or {}).get("file")) if isinstance(entry.get("schema"), dict) else None
        services.append(
            Service(
                name=name,
                port=port,
                factory=f"subgraphs.{name}.app:create_app",
                kind="subgraph",
                schema_file=(path.parent / schema_file) if schema_file else None,
            )
        )
    return services


def router_service() -> Service:
    """Return the router's service entry."""
    return Service(name=ROUTER_NAME, port=ROUTER_PORT, factory=ROUTER_FACTORY, kind=ROUTER_NAME)


def auth_service() -> Service:
    """Return the dev authorization server's service entry."""
    return Service(name=AUTH_NAME, port=AUTH_PORT, factory=AUTH_FACTORY, kind=AUTH_NAME)


def load_services(config: Path | None = None) -> list[Service]:
    """Return every service: the subgraphs in config order, then the router."""
    return [*load_subgraphs(config), router_service()]


def get_service(name: str, config: Path | None = None) -> Service:
    """Return the service called `name` (a subgraph, the router or the dev authorization server)."""
    services = [*load_services(config), auth_service()]
    for service in services:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in services)
    raise RegistryError(f"Service {name!r} is not in the registry (known: {known}).")


def service_port(service: Service, env: Mapping[str, str] | None = None) -> int:
    """Return the port to serve on: FINPACE_PORT_<NAME>, else the default plus FINPACE_PORT_OFFSET."""
    env = os.environ if env is None else env
    explicit = env.get(f"FINPACE_PORT_{service.name.upper()}")
    if explicit:
        return _as_port(explicit, f"FINPACE_PORT_{service.name.upper()}")
    offset = env.get("FINPACE_PORT_OFFSET")
    return service.port + (int(offset) if offset else 0)


def _as_port(value: str, variable: str) -> int:
    try:
        port = int(value)
    except ValueError as exc:
        raise RegistryError(f"{variable} has value {value!r}. Not a valid port.") from exc
    if not 1 <= port <= 65535:
        raise RegistryError(f"{variable} has value {value!r}. Not a valid port.")
    return port


def load_factory(service: Service) -> Callable[..., Any]:
    """Import and return the service's app factory from its import string."""
    module_name, _, attribute = service.factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise RegistryError(f"Service {service.name!r}: module {module_name!r} is not importable.") from exc
        raise
    factory = getattr(module, attribute or "create_app", None)
    if not callable(factory):
        raise RegistryError(f"Service {service.name!r}: {service.factory!r} is not a callable app factory.")
    return factory


def load_object(import_string: str) -> Any:
    """Import `module:attribute` and return the attribute (ModuleNotFoundError when the module is absent)."""
    module_name, _, attribute = import_string.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
