"""Router settings from the environment, from YAML and subgraph URL overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config import AuthMode, RouterSettings


def test_defaults() -> None:
    settings = RouterSettings()
    assert settings.supergraph == Path("schema/supergraph.graphql")
    assert settings.port == 4000
    assert settings.auth_mode is AuthMode.OPTIONAL
    assert settings.graphiql is False
    assert settings.expose_query_plan is False
    assert settings.propagate_headers == ["authorization"]


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINPACE_ROUTER_PORT", "4100")
    monkeypatch.setenv("FINPACE_ROUTER_AUTH_MODE", "required")
    monkeypatch.setenv("FINPACE_ROUTER_PROPAGATE_HEADERS", '["authorization", "x-tenant"]')
    monkeypatch.setenv("FINPACE_ROUTER_SUPERGRAPH", "schemas/other.graphql")
    settings = RouterSettings()
    assert settings.port == 4100
    assert settings.auth_mode is AuthMode.REQUIRED
    assert settings.propagate_headers == ["authorization", "x-tenant"]
    assert settings.supergraph == Path("schemas/other.graphql")


def test_yaml(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text("port: 4200\nsubgraph_timeout: 2.5\ngraphiql: true\nsubgraph_urls:\n  party: http://p:1/graphql\n")
    settings = RouterSettings.from_yaml(path, host="10.0.0.5")
    assert (settings.port, settings.subgraph_timeout, settings.graphiql) == (4200, 2.5, True)
    assert settings.host == "10.0.0.5"
    assert settings.url_overrides()["party"] == "http://p:1/graphql"


def test_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text("- 1\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        RouterSettings.from_yaml(path)


def test_subgraph_urls_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINPACE_SUBGRAPH_URL_CORPORATE_LENDING", "http://127.0.0.1:4006/graphql")
    settings = RouterSettings(subgraph_urls={"party": "http://x/graphql"})
    urls = settings.url_overrides()
    assert urls["corporate_lending"] == "http://127.0.0.1:4006/graphql"
    assert urls["party"] == "http://x/graphql"


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match="subgraph_timeout"):
        RouterSettings(subgraph_timeout=0)
