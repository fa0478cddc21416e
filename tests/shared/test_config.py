"""Settings: FINPACE_* environment, per-domain URLs, and a production profile that refuses dev defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.config import DEV_ISSUER, Profile, Settings

PROD_OK = {
    "profile": "prod",
    "auth_issuer": "https://login.bank.example",
    "auth_jwks_url": "https://login.bank.example/jwks.json",
    "database_url": "postgresql://finpace:secret@db.internal:5432/postgres",
    "nats_url": "nats://nats.internal:4222",
}


@pytest.fixture(autouse=True)
def _no_finpace_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("FINPACE_"):
            monkeypatch.delenv(name)


def test_dev_defaults() -> None:
    settings = Settings()
    assert settings.profile is Profile.DEV and settings.is_dev
    assert settings.auth_issuer == DEV_ISSUER
    assert settings.graphiql_enabled
    assert settings.auth_leeway_seconds == 30
    assert {settings.embedded_pg_port, settings.embedded_nats_port}.isdisjoint({5432, 4222})
    assert settings.host == "127.0.0.1"


def test_settings_come_from_finpace_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINPACE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FINPACE_OUTBOX_BATCH_SIZE", "50")
    monkeypatch.setenv("FINPACE_DATABASE_URL", "postgresql://u:p@127.0.0.1:6000/postgres")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.outbox_batch_size == 50
    assert settings.database_url == "postgresql://u:p@127.0.0.1:6000/postgres"


def test_production_profile_with_its_own_issuer_and_servers_is_accepted() -> None:
    settings = Settings(**PROD_OK)
    assert not settings.is_dev
    assert not settings.graphiql_enabled


@pytest.mark.parametrize(("override", "problem"), [
    ({"auth_issuer": DEV_ISSUER}, "dev issuer"),
    ({"auth_jwks_url": None}, "JWKS"),
    ({"database_url": None}, "DATABASE_URL"),
    ({"nats_url": None}, "NATS_URL"),
    ({"graphiql": True}, "GRAPHIQL"),
])
def test_production_profile_refuses_dev_defaults(override: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(**{**PROD_OK, **override})


def test_production_profile_from_bare_environment_lists_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINPACE_PROFILE", "prod")
    with pytest.raises(ValidationError) as info:
        Settings()
    text = str(info.value)
    for problem in ["dev issuer", "JWKS", "DATABASE_URL", "NATS_URL"]:
        assert problem in text


@pytest.mark.parametrize(("name", "value"), [
    ("auth_leeway_seconds", 31), ("auth_leeway_seconds", -1), ("db_pool_size", 0), ("outbox_batch_size", 0),
    ("embedded_pg_port", 80), ("outbox_poll_seconds", 0), ("profile", "staging"),
])
def test_out_of_range_settings_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: value})


def test_each_domain_has_its_own_database_on_the_server() -> None:
    settings = Settings(database_url="postgresql://u:p%40ss@127.0.0.1:6000/postgres?sslmode=disable")
    assert settings.domain_database_url("party") == (
        "postgresql+asyncpg://u:p%40ss@127.0.0.1:6000/finpace_party?sslmode=disable"
    )
    assert settings.server_database_url().endswith("@127.0.0.1:6000/postgres?sslmode=disable")


def test_database_urls_need_a_server() -> None:
    with pytest.raises(RuntimeError, match="FINPACE_DATABASE_URL"):
        Settings().domain_database_url("party")
