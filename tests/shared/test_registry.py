"""The service registry: subgraphs from a Rover supergraph config, the router, ports and factories."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.registry import (
    RegistryError,
    Service,
    get_service,
    load_factory,
    load_services,
    load_subgraphs,
    service_port,
)

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "supergraph.yaml"
    path.write_text(text)
    return path


def test_repository_config_lists_party_on_4001_then_the_router() -> None:
    services = load_services(REPO / "schema" / "supergraph.yaml")
    party = services[0]
    assert (party.name, party.port, party.factory) == ("party", 4001, "subgraphs.party.app:create_app")
    assert party.schema_file == REPO / "schema" / "party.graphql"
    router = services[-1]
    assert (router.name, router.port, router.factory) == ("router", 4000, "router.app:create_app")
    assert router.is_router
    assert not party.is_router


def test_subgraphs_keep_file_order_and_ports(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        "federation_version: =2.9.0\nsubgraphs:\n"
        "  product:\n    routing_url: http://127.0.0.1:4002/graphql\n    schema:\n      file: product.graphql\n"
        "  account:\n    routing_url: http://127.0.0.1:4003/graphql\n    schema:\n      file: account.graphql\n",
    )
    assert [(s.name, s.port) for s in load_subgraphs(config)] == [("product", 4002), ("account", 4003)]
    assert get_service("account", config).factory == "subgraphs.account.app:create_app"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subgraphs:\n  x:\n    schema:\n      file: x.graphql\n", "has no routing_url"),
        ("subgraphs:\n  x:\n    routing_url: http://127.0.0.1/graphql\n", "has no port"),
        ("subgraphs: [1, 2]\n", "must be a mapping"),
    ],
)
def test_bad_config_is_refused_with_the_offending_value(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        load_subgraphs(_write(tmp_path, text))


def test_missing_config_and_unknown_service_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        load_subgraphs(tmp_path / "absent.yaml")
    with pytest.raises(RegistryError, match="'ghost' is not in the registry"):
        get_service("ghost", REPO / "schema" / "supergraph.yaml")


def test_service_port_overrides() -> None:
    party = Service(name="party", port=4001, factory="subgraphs.party.app:create_app", kind="subgraph")
    assert service_port(party, {}) == 4001
    assert service_port(party, {"FINPACE_PORT_OFFSET": "1000"}) == 5001
    assert service_port(party, {"FINPACE_PORT_OFFSET": "1000", "FINPACE_PORT_PARTY": "6001"}) == 6001
    with pytest.raises(RegistryError, match="FINPACE_PORT_PARTY has value 'x'"):
        service_port(party, {"FINPACE_PORT_PARTY": "x"})


def test_factories_load_by_import_string() -> None:
    real = Service(name="cfg", port=1, factory="shared.config:Settings", kind="subgraph")
    assert load_factory(real).__name__ == "Settings"
    missing = Service(name="ghost", port=1, factory="subgraphs.ghost.app:create_app", kind="subgraph")
    assert not missing.is_importable()
    with pytest.raises(RegistryError, match="not importable"):
        load_factory(missing)
