"""Test harness: serves Strawberry subgraphs over real HTTP on loopback ports and composes supergraphs."""

from __future__ import annotations

import importlib
import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import uvicorn
from strawberry.asgi import GraphQL

SCENARIOS = Path(__file__).parent / "scenarios"
APOLLO = Path(__file__).parent / "apollo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Runs one ASGI app under uvicorn in a daemon thread."""

    def __init__(self, app, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"


def scenario_names() -> list[str]:
    return sorted(p.name for p in SCENARIOS.iterdir() if (p / "subgraphs.py").exists())


def load_subgraphs(scenario: str) -> dict:
    """The scenario's {subgraph name: strawberry federation schema}."""
    module = importlib.import_module(f"tests.router.scenarios.{scenario}.subgraphs")
    return module.SUBGRAPHS


def load_cases(scenario: str) -> list[dict]:
    return json.loads((SCENARIOS / scenario / "cases.json").read_text())


def serve_subgraphs(scenario: str) -> dict[str, ServerThread]:
    return {name: ServerThread(GraphQL(schema)).start() for name, schema in load_subgraphs(scenario).items()}


def compose_with_apollo(sdls: dict[str, tuple[str, str]], workdir: Path) -> dict:
    """Compose {name: (url, sdl)} with @apollo/composition; returns supergraphSdl and apiSchema."""
    args = []
    for name, (url, sdl) in sdls.items():
        path = workdir / f"{name}.graphql"
        path.write_text(sdl)
        args.append(f"{name}={url}={path}")
    out = subprocess.run(
        ["node", str(APOLLO / "compose.mjs"), *args], capture_output=True, text=True, check=False, cwd=APOLLO
    )
    return json.loads(out.stdout)
