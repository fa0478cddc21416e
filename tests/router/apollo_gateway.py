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


class ApolloGatewayProcess:
    """`node gateway.mjs <supergraph> <port>` on loopback; stopped with terminate()."""

    def __init__(self, supergraph: Path) -> None:
        self.port = free_port()
        node = shutil.which("node") or "node"
        self.proc = subprocess.Popen(
            [node, str(APOLLO / "gateway.mjs"), str(supergraph), str(self.port)],
            cwd=APOLLO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NODE_ENV": "production"},
        )
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("ready"):
                return
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"Apollo Gateway did not start for {supergraph}")

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
