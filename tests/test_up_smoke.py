"""Smoke test of `finpace up`: free ports, party answers `_service`, SIGTERM leaves nothing, data kept."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil

from shared.processes import free_port, port_is_free

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 150.0
STOP_TIMEOUT = 90.0


def _up_env(tmp_path: Path, ports: dict[str, int], extra_env: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINPACE_")}
    env.update(
        {
            "FINPACE_DATA_DIR": str(tmp_path / "data"),
            "FINPACE_EMBEDDED_PG_PORT": str(ports["pg"]),
            "FINPACE_EMBEDDED_NATS_PORT": str(ports["nats"]),
            # Every service moves by the same offset, however many subgraphs the registry lists.
            "FINPACE_PORT_OFFSET": str(ports["offset"]),
        }
    )
    env.update(extra_env or {})
    return env


def _ports() -> dict[str, int]:
    """Free ports for the embedded servers, and an offset that moves every service (4000-4049) to free ports."""
    for _ in range(100):
        offset = random.randrange(10_000, 40_000)
        if all(port_is_free(4000 + offset + i) for i in range(50)):
            return {"pg": free_port(), "nats": free_port(), "offset": offset, "party": 4001 + offset}
    raise AssertionError("no free range of 50 ports for the services")


def _sdl(port: int) -> str | None:
    try:
        response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ _service { sdl } }"}, timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return ((response.json().get("data") or {}).get("_service") or {}).get("sdl")


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    return alive


def _servers_on(path: Path) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] in {"postgres", "nats-server"} and str(path) in " ".join(p.info["cmdline"] or [])
    ]


def _start_up(
    tmp_path: Path, ports: dict[str, int], log_path: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `finpace up` and wait until it reports up and party answers `_service`; return it and the SDL."""
    with log_path.open("wb") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up"],
            cwd=REPO,
            env=_up_env(tmp_path, ports, extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    sdl = None
    while sdl is None or "Finpace is up" not in log_path.read_text():
        if supervisor.poll() is not None or time.monotonic() > deadline:
            _kill(supervisor)
            raise AssertionError(f"finpace up did not come up:\n{log_path.read_text()}")
        sdl = sdl or _sdl(ports["party"])
        time.sleep(0.3)
    return supervisor, sdl


def _kill(supervisor: subprocess.Popen[bytes]) -> None:
    if supervisor.poll() is None:
        os.killpg(supervisor.pid, signal.SIGKILL)
        supervisor.wait(10)


@contextlib.contextmanager
def _running_up(
    tmp_path: Path, ports: dict[str, int], run: str, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run `finpace up` until party answers `_service`; yield its SDL; then SIGTERM and check nothing is left."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / f"up-{run}.log"
    supervisor, sdl = _start_up(tmp_path, ports, log_path, extra_env)
    try:
        descendants = psutil.Process(supervisor.pid).children(recursive=True)
        names = {p.name() for p in _alive(descendants)}
        embedded = {"postgres", "nats-server"}
        assert embedded & names == (set() if extra_env else embedded), names

        yield sdl

        # Stopped: SIGTERM ends the supervisor cleanly, and nothing it started is left.
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(STOP_TIMEOUT) == 0, log_path.read_text()
        deadline = time.monotonic() + 10
        while _alive(descendants) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(descendants) == [], log_path.read_text()
        assert _servers_on(tmp_path) == []
    finally:
        _kill(supervisor)


async def _sql(url: str, statement: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


def test_up_serves_party_stops_without_leftovers_and_keeps_data(runtime_dir: Path) -> None:
    tmp_path = runtime_dir
    ports = _ports()
    pg_url = f"postgresql://postgres@127.0.0.1:{ports['pg']}/postgres"

    with _running_up(tmp_path, ports, "first") as sdl:
        assert "type Party" in sdl
        asyncio.run(_sql(pg_url, "CREATE TABLE smoke_marker AS SELECT 7 AS kept"))

    # Restarted on the same data directory: the data written before is still there.
    with _running_up(tmp_path, ports, "second") as sdl:
        assert "type Party" in sdl
        assert asyncio.run(_sql(pg_url, "SELECT kept FROM smoke_marker")) == 7


def test_a_killed_up_leaves_no_orphan(runtime_dir: Path) -> None:
    ports = _ports()
    supervisor, _ = _start_up(runtime_dir, ports, runtime_dir / "up.log")
    descendants = psutil.Process(supervisor.pid).children(recursive=True)
    assert descendants

    # SIGKILL runs no cleanup code: the services and both servers must still go (parent-death signal).
    supervisor.kill()
    supervisor.wait(10)
    deadline = time.monotonic() + 30
    while _alive(descendants) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(descendants) == []
    assert _servers_on(runtime_dir) == []


def test_up_uses_external_servers_when_the_urls_are_set(runtime_dir: Path) -> None:
    from shared.embedded import EmbeddedNats, EmbeddedPostgres

    external = runtime_dir / "external"
    with EmbeddedPostgres(external, port=free_port()) as pg, EmbeddedNats(external, port=free_port()) as nats:
        ports = _ports()
        data_dir = runtime_dir / "local"
        env = {"FINPACE_DATABASE_URL": pg.url, "FINPACE_NATS_URL": nats.url}
        with _running_up(data_dir, ports, "external", extra_env=env) as sdl:
            assert "type Party" in sdl
            # No embedded server of its own: nothing runs on the local data directory.
            assert _servers_on(data_dir) == []
            assert not (data_dir / "data" / "postgres").exists()
        # The external servers are left running for their owner.
        assert pg.is_ready()
        assert nats.is_ready()
