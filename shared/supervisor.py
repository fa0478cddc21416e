"""The process supervisor behind `finpace up`: one child per service, readiness polling, clean shutdown."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shared.config import Settings
from shared.processes import parent_death_signal, tail
from shared.registry import Service, auth_service, service_port

REPO_ROOT = Path(__file__).resolve().parent.parent


class StartupError(RuntimeError):
    """A service did not come up; the message carries the tail of its log."""


@dataclass
class Child:
    """One running service process and where its output goes."""

    service: Service
    host: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def base_url(self) -> str:
        """Return the service's base URL."""
        return f"http://{connect_host(self.host)}:{self.port}"

    @property
    def graphql_url(self) -> str:
        """Return the service's GraphQL endpoint."""
        return f"{self.base_url}/graphql"

    def exited(self) -> int | None:
        """Return the exit code when the process has ended, else None."""
        return self.proc.poll()


def connect_host(bind_host: str) -> str:
    """Return the address to reach a server bound on `bind_host` (loopback for the wildcard addresses)."""
    return "127.0.0.1" if bind_host in {"", "0.0.0.0", "::"} else bind_host  # noqa: S104 - compared, not bound


def child_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Return the environment for service children: base plus extra, with this code importable."""
    env = dict(base)
    env.update(extra)
    path = env.get("PYTHONPATH", "")
    if str(REPO_ROOT) not in path.split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), path) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def dev_auth(settings: Settings) -> tuple[list[Service], dict[str, str]]:
    """Return the dev authorization server to start and the variables that point the services at its JWKS.

    Only in the dev profile, and only when no issuer's keys are configured: an explicit
    FINPACE_AUTH_JWKS_URL or FINPACE_AUTH_JWKS_FILE names another issuer, which wins.
    """
    if not settings.is_dev or settings.auth_jwks_url or settings.auth_jwks_file:
        return [], {}
    service = auth_service()
    base = f"http://{connect_host(settings.host)}:{service_port(service)}"
    return [service], {"FINPACE_AUTH_JWKS_URL": f"{base}/jwks.json"}


def spawn(service: Service, host: str, port: int, env: Mapping[str, str], log_dir: Path) -> Child:
    """Start `finpace serve NAME` in its own process group, dying with its parent."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{service.name}.log"
    command = [sys.executable, "-m", "shared.cli", "serve", service.name, "--host", host, "--port", str(port)]
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {service.name} on {port}\n".encode())
        log.flush()
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )
    return Child(service=service, host=host, port=port, log_path=log_path, proc=proc)


def probe(client: httpx.Client, child: Child) -> bool:
    """Return whether the child answers 200 on /ready (or on /health when it has no /ready)."""
    try:
        response = client.get(f"{child.base_url}/ready")
        if response.status_code == 404:
            response = client.get(f"{child.base_url}/health")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def wait_ready(children: list[Child], console: Console, timeout: float = 60.0) -> None:
    """Poll every child until ready, with a progress display; raise StartupError on death or timeout."""
    pending = list(children)
    deadline = time.monotonic() + timeout
    with (
        httpx.Client(timeout=2.0) as client,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        tasks = {c.service.name: progress.add_task(f"starting {c.service.name} on :{c.port}", total=1) for c in pending}
        while pending:
            for child in list(pending):
                code = child.exited()
                if code is not None:
                    raise StartupError(
                        f"{child.service.name} exited with code {code} while starting; "
                        f"log {child.log_path}:\n{tail(child.log_path)}"
                    )
                if probe(client, child):
                    pending.remove(child)
                    progress.update(tasks[child.service.name], completed=1)
                    elapsed = time.monotonic() - child.started_at
                    console.print(f"[green]✓[/] {child.service.name} ready on {child.base_url} ({elapsed:.1f} s)")
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.service.name for c in pending)
                logs = "\n".join(f"--- {c.log_path}:\n{tail(c.log_path)}" for c in pending)
                raise StartupError(f"Not ready within {timeout:.0f} s: {names}.\n{logs}")
            if pending:
                time.sleep(0.2)


def stop_children(children: list[Child], grace: float = 10.0) -> None:
    """Send SIGTERM to every child's process group, SIGKILL what is left after the grace period, reap."""
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        remaining = max(0.0, deadline - time.monotonic())
        try:
            child.proc.wait(remaining)
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(5)
        # Grandchildren, if a service forked any, share the group: make sure none outlives it.
        _signal_group(child, signal.SIGKILL)


def _signal_group(child: Child, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.proc.pid, sig)


def first_exited(children: list[Child]) -> Child | None:
    """Return a child that has exited, if any."""
    for child in children:
        if child.exited() is not None:
            return child
    return None
