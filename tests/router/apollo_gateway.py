"""Starts Apollo Gateway (npm, pinned in tests/router/apollo) as the reference router for differential tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.router.harness import APOLLO, free_port


def ensure_node_modules() -> None:
    """Install the pinned npm packages from package-lock.json when they are missing."""
    if (APOLLO / "node_modules" / "@apollo" / "gateway").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is required for the differential tests (Node 20+).")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=APOLLO, check=True, capture_output=True)


class NodeProcess:
    """`node <script> <args...> <port>` on loopback, ready once it prints `ready`; stopped with stop()."""

    def __init__(self, script: Path, *args: str, what: str) -> None:
        self.port = free_port()
        node = shutil.which("node") or "node"
        self.proc = subprocess.Popen(
            [node, str(script), *args, str(self.port)],
            cwd=APOLLO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NODE_ENV": "production"},
        )
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        said: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("ready"):
                return
            if not line and self.proc.poll() is not None:
                break
            said.append(line)
        self.stop()
        output = "".join(said[-20:]).strip() or "(nothing)"
        raise RuntimeError(f"{what} did not start (exit {self.proc.returncode}); it printed:\n{output}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class ApolloGatewayProcess(NodeProcess):
    """`node gateway.mjs <supergraph> <port>`: Apollo Gateway serving one supergraph file."""

    def __init__(self, supergraph: Path) -> None:
        super().__init__(APOLLO / "gateway.mjs", str(supergraph), what=f"Apollo Gateway for {supergraph}")
