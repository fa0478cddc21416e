"""Session fixtures for every test: real PostgreSQL and NATS JetStream (embedded unless external URLs are set)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Profile, Settings
from shared.embedded import EmbeddedNats, EmbeddedPostgres, free_port

# The lending apps' scheduled end of day (shared/eod.py) would write to their outboxes at any moment of a test;
# tests run it on demand instead.
os.environ.setdefault("FINPACE_EOD_ENABLED", "false")


def _runtime_dir(label: str) -> Path:
    # Not under pytest's basetemp: pytest keeps /tmp/pytest-of-<user> at mode 0700 (and resets it when
    # another session starts), which would lock out the unprivileged OS user PostgreSQL runs as.
    return Path(tempfile.mkdtemp(prefix=f"finpace-{label}-"))


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A fresh directory for servers' data, removed after the test."""
    path = _runtime_dir("test")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """Server-level PostgreSQL URL: FINPACE_TEST_DATABASE_URL, else an embedded server on a free port."""
    external = os.environ.get("FINPACE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    path = _runtime_dir("pg")
    with EmbeddedPostgres(path, port=free_port()) as server:
        yield server.url
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """NATS URL with JetStream: FINPACE_TEST_NATS_URL, else an embedded nats-server -js on a free port."""
    external = os.environ.get("FINPACE_TEST_NATS_URL")
    if external:
        yield external
        return
    path = _runtime_dir("nats")
    with EmbeddedNats(path, port=free_port()) as server:
        yield server.url
    shutil.rmtree(path, ignore_errors=True)


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


@pytest.fixture(scope="module")
def private_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings on a private embedded PostgreSQL and NATS for one module.

    For suites that seed the demo bank: its deterministic idempotency keys and durable consumers
    would otherwise meet the rows and consumers the domain suites leave on the shared servers.
    """
    pg_path, nats_path = _runtime_dir("pg"), _runtime_dir("nats")
    with EmbeddedPostgres(pg_path, port=free_port()) as pg, EmbeddedNats(nats_path, port=free_port()) as nats:
        yield Settings(profile=Profile.DEV, database_url=pg.url, nats_url=nats.url,
                       data_dir=tmp_path_factory.mktemp("finpace-private"), log_json=False)
    shutil.rmtree(pg_path, ignore_errors=True)
    shutil.rmtree(nats_path, ignore_errors=True)
