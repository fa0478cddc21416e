"""docker-compose.yml and the Dockerfile describe the production-like topology."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_has_postgres_18_and_nats_with_jetstream_and_the_conf() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:18")
    nats = services["nats"]
    image, _, tag = nats["image"].partition(":")
    assert image == "nats"
    major, minor = (int(x) for x in tag.split("-")[0].split(".")[:2])
    assert (major, minor) >= (2, 12)
    command = nats["command"]
    assert "-js" in command
    assert command[command.index("-c") + 1] == "/etc/nats/nats-server.conf"
    mounts = [v.split(":") for v in nats["volumes"]]
    assert ["./nats/nats-server.conf", "/etc/nats/nats-server.conf", "ro"] in mounts
    assert (REPO / "nats" / "nats-server.conf").is_file()


def test_party_and_router_are_built_from_the_repository_dockerfile() -> None:
    services = _compose()["services"]
    for name, port in (("party", "4001"), ("router", "4000")):
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}
        assert service["command"][:2] == ["serve", name]
        assert service["command"][service["command"].index("--port") + 1] == port
        assert service["environment"]["FINPACE_DATABASE_URL"].startswith("postgresql://")
        assert service["environment"]["FINPACE_NATS_URL"] == "nats://nats:4222"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["party"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_installs_from_the_lock_and_runs_finpace() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    assert "--require-hashes" in dockerfile
    assert 'ENTRYPOINT ["finpace"]' in dockerfile
    assert (REPO / "requirements.lock").is_file()


def test_every_subgraph_has_a_service_and_a_router_url() -> None:
    from shared.registry import load_subgraphs

    compose = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text())
    router_env = compose["services"]["router"]["environment"]
    for service in load_subgraphs():
        block = compose["services"][service.name]
        assert block["command"][:2] == ["serve", service.name]
        assert f"127.0.0.1:{service.port}:{service.port}" in block["ports"]
        assert router_env[f"FINPACE_SUBGRAPH_URL_{service.name.upper()}"] == \
            f"http://{service.name}:{service.port}/graphql"
        assert service.name in compose["services"]["router"]["depends_on"]
