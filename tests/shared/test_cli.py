"""The `finpace` command line: help everywhere, dev tokens, clear errors, migrate on embedded PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import psutil
import pytest
from click.testing import CliRunner

from shared.cli import main
from shared.embedded import free_port

REPO = Path(__file__).resolve().parents[2]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINPACE_")}
    env.update({"FINPACE_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


@pytest.mark.parametrize("command", _commands(main), ids=lambda c: " ".join(c) or "finpace")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "--help" in result.output


def test_expected_commands_exist() -> None:
    names = {" ".join(c) for c in _commands(main)}
    assert {"up", "serve", "migrate", "token", "seed", "compose", "schema export"} <= names


def test_module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--help"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "up" in result.stdout


def test_token_prints_a_dev_jwt_for_the_subject(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["token", "--role", "ops", "--sub", "ops-1", "--scope", "party:read"], env=_env(tmp_path)
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    _header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "ops-1"
    assert signature


def test_token_with_unknown_role_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["token", "--role", "overlord", "--sub", "x"], env=_env(tmp_path))
    assert result.exit_code == 1
    assert "overlord" in result.output


def test_serve_unknown_service_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "nowhere"], env=_env(tmp_path))
    assert result.exit_code == 1
    assert "'nowhere' is not in the registry" in result.output


def test_up_refuses_unknown_service(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["up", "nowhere"], env=_env(tmp_path))
    assert result.exit_code == 1
    assert "nowhere" in result.output


def test_migrate_starts_and_stops_embedded_postgres(runtime_dir: Path) -> None:
    tmp_path = runtime_dir
    env = _env(tmp_path, FINPACE_EMBEDDED_PG_PORT=str(free_port()))
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "migrate"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "migrations applied" in result.stderr
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    leftovers = [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


def test_up_refuses_a_data_directory_held_by_another_up(tmp_path: Path) -> None:
    import fcntl

    data = tmp_path / "data"
    data.mkdir()
    with (data / "up.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        result = CliRunner().invoke(main, ["up", "--no-router"], env=_env(tmp_path))
    assert result.exit_code == 1
    assert "Another `finpace up` (pid 4242)" in result.output


def test_up_fails_fast_when_a_service_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["up", "party"], env=_env(tmp_path, FINPACE_PORT_PARTY=str(port)))
    assert result.exit_code == 1
    assert f"Port {port} for party is taken" in result.output
    assert not (tmp_path / "data" / "postgres").exists()
