"""Port and process helpers: free ports, port probes, log tails, terminate-then-kill."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from shared.processes import free_port, port_accepts, port_is_free, tail, terminate


def test_port_probes_follow_a_listening_socket() -> None:
    port = free_port()
    assert port_is_free(port)
    assert not port_accepts(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not port_is_free(port)
        assert port_accepts(port)


def test_tail_returns_the_last_lines_or_nothing(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""


def test_terminate_escalates_to_sigkill() -> None:
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    terminate(polite, grace=5)
    assert polite.returncode == -signal.SIGTERM

    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ok', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None
    stubborn.stdout.readline()
    terminate(stubborn, grace=0.5)
    assert stubborn.returncode == -signal.SIGKILL
    stubborn.stdout.close()
