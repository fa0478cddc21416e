"""Session fixtures for every test: real PostgreSQL and NATS JetStream (embedded unless external URLs are set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Profile, Settings
from shared.embedded import EmbeddedNats, EmbeddedPostgres, free_port


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Server-level PostgreSQL URL: FINPACE_TEST_DATABASE_URL, else an embedded server on a free port."""
    external = os.environ.get("FINPACE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with EmbeddedPostgres(tmp_path_factory.mktemp("embedded-pg"), port=free_port()) as server:
        yield server.url


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """NATS URL with JetStream: FINPACE_TEST_NATS_URL, else an embedded nats-server -js on a free port."""
    external = os.environ.get("FINPACE_TEST_NATS_URL")
    if external:
        yield external
        return
    with EmbeddedNats(tmp_path_factory.mktemp("embedded-nats"), port=free_port()) as server:
        yield server.url


@pytest.fixture(scope="session")
def settings(pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Dev-profile settings pointing at the test servers, with a throw-away data directory."""
    data_dir: Path = tmp_path_factory.mktemp("finpace-data")
    return Settings(
        profile=Profile.DEV,
        database_url=pg_url,
        nats_url=nats_url,
        data_dir=data_dir,
        log_json=False,
    )
