"""Process and port helpers shared by the embedded servers and the `finpace up` supervisor."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

# The ports of the machine's own servers: embedded servers never take them.
RESERVED_PORTS = frozenset({5432, 4222})
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on the host right now (never a reserved one)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether nothing listens on the port and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Return whether a TCP connection to the port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def parent_death_signal(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """Return a preexec_fn that makes the child receive `sig` when its parent dies (Linux only)."""

    def _set() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _set


def tail(path: Path, lines: int = 40) -> str:
    """Return the last lines of a text file, or an empty string when it does not exist."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def terminate(proc: psutil.Process | subprocess.Popen[bytes], grace: float, sig: int = signal.SIGTERM) -> None:
    """Send `sig` to the process, wait up to `grace` seconds, then SIGKILL it and reap it."""
    with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
        proc.send_signal(sig)
    try:
        proc.wait(grace)
    except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
            proc.kill()
        with contextlib.suppress(psutil.NoSuchProcess, subprocess.TimeoutExpired, psutil.TimeoutExpired):
            proc.wait(10)
    except psutil.NoSuchProcess:
        pass


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped."""


def check_port(port: int, what: str) -> None:
    if port in RESERVED_PORTS:
        raise EmbeddedServerError(f"Embedded {what} refuses port {port}: it belongs to the machine's own server.")


class ManagedServer:
    """Shared context-manager plumbing of the embedded servers."""

    url: str

    def start(self) -> Self:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
