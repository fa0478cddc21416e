"""Run `finpace up` as a real process in a test: free ports, a runtime data dir, readiness, clean stop; and talk
to it as clients do: GraphQL over HTTP and graphql-transport-ws through the router, tokens of a test issuer."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from joserfc import jwt
from joserfc.jwk import ECKey
from websockets.sync.client import connect

from shared.mailsink import SINK_PORT
from shared.processes import free_port, port_is_free

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 150.0
STOP_TIMEOUT = 90.0


def up_env(tmp_path: Path, ports: dict[str, int], extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of `finpace up`: no FINPACE_* from the caller, a data dir under tmp_path, moved ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINPACE_")}
    env.update(
        {
            "FINPACE_DATA_DIR": str(tmp_path / "data"),
            "FINPACE_EMBEDDED_PG_PORT": str(ports["pg"]),
            "FINPACE_EMBEDDED_NATS_PORT": str(ports["nats"]),
            # Every service moves by the same offset, however many subgraphs the registry lists.
            "FINPACE_PORT_OFFSET": str(ports["offset"]),
        }
    )
    env.update(extra_env or {})
    return env


def free_ports() -> dict[str, int]:
    """Free ports for the embedded servers, and an offset that moves every service (4000-4049) and the mail sink."""
    for _ in range(100):
        # Below the kernel's ephemeral range (32768+): outgoing connections cannot take a port between the check
        # and the bind.
        offset = random.randrange(6_000, 28_000)
        if all(port_is_free(4000 + offset + i) for i in range(50)) and port_is_free(SINK_PORT + offset):
            return {
                "pg": free_port(),
                "nats": free_port(),
                "offset": offset,
                "router": 4000 + offset,
                "party": 4001 + offset,
                "auth": 4012 + offset,
            }
    raise AssertionError("no free range of 50 ports for the services")


def sdl(port: int) -> str | None:
    """The SDL a subgraph on `port` answers to `_service`, else None."""
    try:
        response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ _service { sdl } }"}, timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return ((response.json().get("data") or {}).get("_service") or {}).get("sdl")


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    found = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def servers_on(path: Path) -> list[psutil.Process]:
    """PostgreSQL and NATS servers whose command line names `path` (embedded ones under a data dir)."""
    return [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] in {"postgres", "nats-server"} and str(path) in " ".join(p.info["cmdline"] or [])
    ]


def start_up(
    tmp_path: Path, ports: dict[str, int], log_path: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `finpace up` and wait until it reports up and party answers `_service`; return it and the SDL."""
    with log_path.open("wb") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up"],
            cwd=REPO,
            env=up_env(tmp_path, ports, extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    found = None
    while found is None or "Finpace is up" not in log_path.read_text():
        if supervisor.poll() is not None or time.monotonic() > deadline:
            kill(supervisor)
            raise AssertionError(f"finpace up did not come up:\n{log_path.read_text()}")
        found = found or sdl(ports["party"])
        time.sleep(0.3)
    return supervisor, found


def kill(supervisor: subprocess.Popen[bytes]) -> None:
    if supervisor.poll() is None:
        os.killpg(supervisor.pid, signal.SIGKILL)
        supervisor.wait(10)


def stop(supervisor: subprocess.Popen[bytes], log_path: Path) -> list[psutil.Process]:
    """SIGTERM `up`: it must exit 0; returns what is still alive of its descendants after a bounded wait."""
    descendants = psutil.Process(supervisor.pid).children(recursive=True)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(STOP_TIMEOUT) == 0, log_path.read_text()
    deadline = time.monotonic() + 10
    while alive(descendants) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(descendants)


@dataclass(frozen=True)
class Platform:
    """A running `finpace up`: where its router, dev authorization server and data are."""

    root: Path
    ports: dict[str, int]
    env: dict[str, str]
    log_path: Path

    @property
    def router(self) -> str:
        return f"http://127.0.0.1:{self.ports['router']}/graphql"

    @property
    def router_ws(self) -> str:
        return f"ws://127.0.0.1:{self.ports['router']}/graphql"

    @property
    def auth(self) -> str:
        return f"http://127.0.0.1:{self.ports['auth']}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Runs `finpace ARGS` with the platform's environment (its data dir and, when set, server URLs)."""
        return subprocess.run(
            [sys.executable, "-m", "shared.cli", *args],
            cwd=REPO,
            env=up_env(self.root, self.ports, self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextlib.contextmanager
def running_platform(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Platform]:
    """`finpace up` on free ports with its data under root; stopped with SIGTERM (nothing left) afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    ports = free_ports()
    log_path = root / "up.log"
    supervisor, _ = start_up(root, ports, log_path, extra_env)
    try:
        yield Platform(root, ports, dict(extra_env or {}), log_path)
        assert stop(supervisor, log_path) == [], log_path.read_text()
    finally:
        kill(supervisor)


def eventually(probe: Callable[[], T | None], *, within: float = 60.0, every: float = 0.3, what: str = "") -> T:
    """Polls `probe` until it returns something truthy (returned) or `within` seconds pass (AssertionError)."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"not within {within:.0f} s: {what or probe} (last {last!r})")


EVENTS = """subscription E($types: [String!]!, $from: Long) {
  events(types: $types, fromSequence: $from) { stream sequence type id subject } }"""


def runtime_root(label: str) -> Path:
    # Not under pytest's basetemp (mode 0700): the embedded PostgreSQL runs as another OS user.
    return Path(tempfile.mkdtemp(prefix=f"finpace-{label}-"))


class Router:
    """Synchronous GraphQL over HTTP to the platform's router, one bearer token per call."""

    def __init__(self, url: str) -> None:
        self.url, self.http = url, httpx.Client(timeout=60)

    def post(self, token: str | None, body: dict[str, Any]) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return self.http.post(self.url, json=body, headers=headers)

    def body(self, token: str | None, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.post(token, {"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def data(self, token: str | None, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.body(token, query, variables)
        assert not body.get("errors"), body["errors"]
        return dict(body["data"])

    def ok(self, token: str, query: str, variables: dict[str, Any], typename: str | None = None) -> dict[str, Any]:
        """Runs a mutation whose result union must not be a DomainError; returns the result object."""
        [result] = self.data(token, query, variables).values()
        assert result["__typename"] == typename if typename else "message" not in result, result
        return dict(result)


def read_events(url: str, token: str, types: list[str], start: int, count: int) -> tuple[list[dict[str, Any]], Any]:
    """Subscribes through the router (token in connection_init); returns up to `count` events, then hangs up.

    The second value is the refusal (an `error` payload or `next` errors), if the subscription was refused.
    """
    got: list[dict[str, Any]] = []
    with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(ws.recv(15))["type"] == "connection_ack"
        variables = {"types": types, "from": str(start)}
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS, "variables": variables}}))
        while len(got) < count:
            message = json.loads(ws.recv(30))
            if message["type"] == "ping":
                ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] == "error" or message["payload"].get("errors"):
                return got, message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            assert message["type"] == "next", message
            got.append(message["payload"]["data"]["events"])
    return got, None


ISSUER, AUDIENCE = "https://login.bank.test", "finpace-api"


class Issuer:
    """The bank's identity provider as the test plays it: an EC key, its JWKS file, RFC 9068 access tokens."""

    def __init__(self, directory: Path) -> None:
        self.key = ECKey.generate_key("P-256", auto_kid=True, private=True)
        self.jwks = directory / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [{**self.key.as_dict(private=False), "use": "sig", "alg": "ES256"}]}))

    def token(self, role: str, sub: str, scope: str = "") -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "client_id": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
            "roles": [role],
            "scope": scope,
        }
        return jwt.encode({"alg": "ES256", "kid": self.key.kid, "typ": "at+jwt"}, claims, self.key)
