"""Smoke test of `finpace up`: free ports, party answers `_service`, SIGTERM leaves nothing, data kept."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil

from shared.processes import free_port
from tests.up_harness import alive, free_ports, kill, servers_on, start_up, stop


@contextlib.contextmanager
def _running_up(
    tmp_path: Path, ports: dict[str, int], run: str, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run `finpace up` until party answers `_service`; yield its SDL; then SIGTERM and check nothing is left."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / f"up-{run}.log"
    supervisor, sdl = start_up(tmp_path, ports, log_path, extra_env)
    try:
        descendants = psutil.Process(supervisor.pid).children(recursive=True)
        names = set()
        for p in alive(descendants):
            with contextlib.suppress(psutil.NoSuchProcess):  # a short-lived helper may exit in between
                names.add(p.name())
        embedded = {"postgres", "nats-server"}
        assert embedded & names == (set() if extra_env else embedded), names

        yield sdl

        # Stopped: SIGTERM ends the supervisor cleanly, and nothing it started is left.
        assert stop(supervisor, log_path) == [], log_path.read_text()
        assert servers_on(tmp_path) == []
    finally:
        kill(supervisor)


async def _sql(url: str, statement: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


def test_up_serves_party_stops_without_leftovers_and_keeps_data(runtime_dir: Path) -> None:
    tmp_path = runtime_dir
    ports = free_ports()
    pg_url = f"postgresql://postgres@127.0.0.1:{ports['pg']}/postgres"

    with _running_up(tmp_path, ports, "first") as sdl:
        assert "type Party" in sdl
        asyncio.run(_sql(pg_url, "CREATE TABLE smoke_marker AS SELECT 7 AS kept"))

    # Restarted on the same data directory: the data written before is still there.
    with _running_up(tmp_path, ports, "second") as sdl:
        assert "type Party" in sdl
        assert asyncio.run(_sql(pg_url, "SELECT kept FROM smoke_marker")) == 7


def test_a_killed_up_leaves_no_orphan(runtime_dir: Path) -> None:
    ports = free_ports()
    supervisor, _ = start_up(runtime_dir, ports, runtime_dir / "up.log")
    descendants = psutil.Process(supervisor.pid).children(recursive=True)
    assert descendants

    # SIGKILL runs no cleanup code: the services and both servers must still go (parent-death signal).
    supervisor.kill()
    supervisor.wait(10)
    deadline = time.monotonic() + 30
    while alive(descendants) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive(descendants) == []
    assert servers_on(runtime_dir) == []


def test_up_uses_external_servers_when_the_urls_are_set(runtime_dir: Path) -> None:
    from shared.embedded import EmbeddedNats, EmbeddedPostgres

    external = runtime_dir / "external"
    with EmbeddedPostgres(external, port=free_port()) as pg, EmbeddedNats(external, port=free_port()) as nats:
        ports = free_ports()
        data_dir = runtime_dir / "local"
        env = {"FINPACE_DATABASE_URL": pg.url, "FINPACE_NATS_URL": nats.url}
        with _running_up(data_dir, ports, "external", extra_env=env) as sdl:
            assert "type Party" in sdl
            # No embedded server of its own: nothing runs on the local data directory.
            assert servers_on(data_dir) == []
            assert not (data_dir / "data" / "postgres").exists()
        # The external servers are left running for their owner.
        assert pg.is_ready()
        assert nats.is_ready()
