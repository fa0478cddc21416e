"""Process supervision: children stop on SIGTERM or SIGKILL, and nothing outlives a killed supervisor."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from shared.embedded import free_port
from shared.registry import Service
from shared.supervisor import Child, child_env, first_exited, stop_children

REPO = Path(__file__).resolve().parents[2]


def _child(tmp_path: Path, code: str) -> Child:
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    service = Service(name="sleeper", port=1, factory="x:y", kind="subgraph")
    return Child(service=service, host="127.0.0.1", port=1, log_path=tmp_path / "x.log", proc=proc)


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    return alive


def test_children_stop_on_sigterm(tmp_path: Path) -> None:
    children = [_child(tmp_path, "import time; time.sleep(60)") for _ in range(2)]
    started = time.monotonic()
    stop_children(children, grace=5)
    assert time.monotonic() - started < 5
    assert all(c.proc.returncode == -signal.SIGTERM for c in children)


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    stubborn = _child(tmp_path, "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)")
    time.sleep(0.5)  # let it install the handler
    stop_children([stubborn], grace=1)
    assert stubborn.proc.returncode == -signal.SIGKILL


def test_first_exited_reports_a_dead_child(tmp_path: Path) -> None:
    alive = _child(tmp_path, "import time; time.sleep(60)")
    dead = _child(tmp_path, "raise SystemExit(3)")
    dead.proc.wait(10)
    assert first_exited([alive, dead]) is dead
    stop_children([alive, dead], grace=2)


def test_child_env_makes_the_code_importable() -> None:
    env = child_env({"PYTHONPATH": "/elsewhere"}, {"FINPACE_NATS_URL": "nats://127.0.0.1:1"})
    assert env["PYTHONPATH"].split(":")[0] == str(REPO)
    assert env["FINPACE_NATS_URL"] == "nats://127.0.0.1:1"


def test_embedded_servers_die_with_a_killed_supervisor(runtime_dir: Path) -> None:
    tmp_path = runtime_dir
    # A stand-in supervisor starts both servers, then is killed with SIGKILL: no cleanup code runs,
    # so only the parent-death signal can stop the servers.
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from shared.embedded import EmbeddedNats, EmbeddedPostgres\n"
        f"pg = EmbeddedPostgres(Path({str(tmp_path)!r}), port={free_port()}).start()\n"
        f"nats = EmbeddedNats(Path({str(tmp_path)!r}), port={free_port()}).start()\n"
        "print(pg.pid, nats.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert supervisor.stdout is not None
    pids = [int(p) for p in supervisor.stdout.readline().split()]
    assert len(pids) == 2
    supervisor.kill()
    supervisor.wait(10)
    assert _wait_gone(pids, 30) == []
    leftovers = [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] in {"postgres", "nats-server"} and str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert _wait_gone([p.pid for p in leftovers], 10) == []


def test_wildcard_binds_are_reached_on_loopback() -> None:
    from shared.supervisor import connect_host

    assert connect_host("0.0.0.0") == "127.0.0.1"  # noqa: S104 - an argument, nothing is bound
    assert connect_host("::") == "127.0.0.1"
    assert connect_host("127.0.0.2") == "127.0.0.2"
