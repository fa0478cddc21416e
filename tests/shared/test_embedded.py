"""Embedded PostgreSQL and NATS: free ports, data kept across restarts, clean stops, leftovers handled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import psutil
import pytest

import nats
from shared.embedded import (
    PG_MAX_CONNECTIONS,
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedServerError,
    free_port,
    port_accepts,
)


def _processes_on(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if proc.info.get("name") in {"postgres", "nats-server"} and str(path) in cmdline:
            found.append(proc)
    return found


async def _sql(url: str, statement: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        if statement.lstrip().upper().startswith("SELECT"):
            return await connection.fetchval(statement)
        return await connection.execute(statement)
    finally:
        await connection.close()


def test_free_port_is_bindable_and_never_reserved() -> None:
    ports = {free_port() for _ in range(20)}
    assert not ports & {5432, 4222}
    assert all(1024 <= p <= 65535 for p in ports)


@pytest.mark.parametrize("cls", [EmbeddedPostgres, EmbeddedNats])
def test_reserved_ports_are_refused(runtime_dir: Path, cls: type) -> None:
    reserved = 5432 if cls is EmbeddedPostgres else 4222
    with pytest.raises(EmbeddedServerError, match=str(reserved)):
        cls(runtime_dir, port=reserved)


def test_postgres_keeps_data_across_restart_and_stops_cleanly(runtime_dir: Path) -> None:
    port = free_port()
    with EmbeddedPostgres(runtime_dir, port=port) as server:
        assert server.url == f"postgresql://postgres@127.0.0.1:{port}/postgres"
        assert (runtime_dir / "postgres" / "PG_VERSION").exists()
        asyncio.run(_sql(server.url, "CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept VALUES (42)"))
    # Stopped: nothing listens and no process is left on this data directory.
    assert not port_accepts(port)
    assert _processes_on(runtime_dir) == []

    with EmbeddedPostgres(runtime_dir, port=port) as server:
        assert asyncio.run(_sql(server.url, "SELECT id FROM kept")) == 42
        # Room for every service's pool, relay and consumers (PostgreSQL's default is 100).
        assert asyncio.run(_sql(server.url, "SELECT current_setting('max_connections')")) == str(PG_MAX_CONNECTIONS)
    assert _processes_on(runtime_dir) == []


def test_postgres_adopts_a_server_left_running_on_the_same_cluster(runtime_dir: Path) -> None:
    port = free_port()
    first = EmbeddedPostgres(runtime_dir, port=port).start()
    try:
        # A second supervisor (after a crash of the first) finds the running server and reuses it.
        second = EmbeddedPostgres(runtime_dir, port=port).start()
        assert second.pid == first.pid
        assert asyncio.run(_sql(second.url, "SELECT 1")) == 1
        second.stop()
        assert not port_accepts(port)
    finally:
        first.stop()
    assert _processes_on(runtime_dir) == []


def test_postgres_restarts_a_leftover_on_another_port(runtime_dir: Path) -> None:
    first = EmbeddedPostgres(runtime_dir, port=free_port()).start()
    try:
        new_port = free_port()
        second = EmbeddedPostgres(runtime_dir, port=new_port).start()
        assert second.pid != first.pid
        assert not port_accepts(first.port)
        assert asyncio.run(_sql(second.url, "SELECT 1")) == 1
        second.stop()
    finally:
        first.stop()
    assert _processes_on(runtime_dir) == []


async def _make_stream(url: str) -> None:
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        await js.add_stream(name="KEPT", subjects=["kept.>"])
        await js.publish("kept.one", b"hello")
    finally:
        await client.close()


async def _stream_messages(url: str) -> int:
    client = await nats.connect(url)
    try:
        info = await client.jetstream().stream_info("KEPT")
        return info.state.messages
    finally:
        await client.close()


def test_nats_keeps_streams_across_restart_and_stops_cleanly(runtime_dir: Path) -> None:
    port = free_port()
    with EmbeddedNats(runtime_dir, port=port) as server:
        assert server.url == f"nats://127.0.0.1:{port}"
        asyncio.run(_make_stream(server.url))
    assert not port_accepts(port)
    assert _processes_on(runtime_dir) == []

    with EmbeddedNats(runtime_dir, port=port) as server:
        assert asyncio.run(_stream_messages(server.url)) == 1
    assert _processes_on(runtime_dir) == []


def test_nats_replaces_a_leftover_on_the_same_store(runtime_dir: Path) -> None:
    first = EmbeddedNats(runtime_dir, port=free_port()).start()
    try:
        second = EmbeddedNats(runtime_dir, port=free_port()).start()
        assert second.pid != first.pid
        assert first.pid is None  # the leftover was stopped and reaped
        assert second.is_ready()
        second.stop()
    finally:
        first.stop()
    assert _processes_on(runtime_dir) == []


def test_session_servers_answer(pg_url: str, nats_url: str) -> None:
    assert asyncio.run(_sql(pg_url, "SELECT 1")) == 1

    async def _jetstream() -> bool:
        client = await nats.connect(nats_url)
        try:
            await client.jetstream().account_info()
            return True
        finally:
            await client.close()

    assert asyncio.run(_jetstream())
