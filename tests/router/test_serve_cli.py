"""`finpace serve router --supergraph PATH --config FILE --host H --port P`: the router on its own, as a process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.router.conftest import ScenarioServers
from tests.router.harness import SCENARIOS, free_port, load_cases

REPO = Path(__file__).resolve().parents[2]
SUPERGRAPH = SCENARIOS / "entities" / "supergraph.graphql"


def router_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINPACE_ROUTER_", "FINPACE_SUBGRAPH_URL_"))}
    return {**env, "FINPACE_PROFILE": "dev", "FINPACE_DATA_DIR": str(tmp_path / "data"), "FINPACE_LOG_JSON": "false"}


def finpace(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args], cwd=tmp_path, env=router_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.fixture
def standalone(scenarios: ScenarioServers, tmp_path: Path) -> Iterator[str]:
    """The router process over the entities scenario's subgraphs, configured by a YAML file; yields its URL."""
    port = free_port()
    config = tmp_path / "router.yaml"
    config.write_text(yaml.safe_dump({
        "subgraph_urls": scenarios.urls("entities"),
        "auth_mode": "off",
        "subgraph_timeout": 5,
        "max_depth": 4,
        "graphiql": False,
        "port": 1,  # the command line's --port wins
    }))
    proc = finpace(tmp_path, "serve", "router", "--supergraph", str(SUPERGRAPH), "--config", str(config),
                   "--host", "127.0.0.1", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the router did not become ready"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_it_serves_the_supergraph_it_is_given_with_the_file_s_settings(standalone: str) -> None:
    cases = [c for c in load_cases("entities") if "expected" in c and "setup" not in c][:5]
    assert len(cases) == 5
    for case in cases:
        response = httpx.post(f"{standalone}/graphql", json={"query": case["query"],
                                                             "variables": case.get("variables")}, timeout=10)
        assert response.status_code == 200 and response.json()["data"] == case["expected"]["data"], case["name"]
    # The file's max_depth (4, not the default 7) is in force, before any subgraph call.
    deep_query = "{ me { reviews { product { reviews { author { id } } } } } }"
    deep = httpx.post(f"{standalone}/graphql", json={"query": deep_query}, timeout=10)
    assert deep.status_code == 400 and deep.json()["errors"][0]["extensions"]["code"] == "MAX_DEPTH_EXCEEDED"
    # The file's graphiql: false beats the dev profile's default.
    page = httpx.get(f"{standalone}/graphql", headers={"accept": "text/html"}, timeout=10)
    assert "graphiql" not in page.text.lower()


@pytest.mark.parametrize(("content", "message"), [
    ("- not a mapping\n", "must hold a mapping"),
    ("subgraph_timeout: -1\n", "Invalid router settings"),
    ("auth_mode: sometimes\n", "Invalid router settings"),
])
def test_a_bad_settings_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "router.yaml"
    config.write_text(content)
    proc = finpace(tmp_path, "serve", "router", "--supergraph", str(SUPERGRAPH), "--config", str(config),
                   "--port", str(free_port()))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and message in out, out


def test_config_is_for_the_router_only(tmp_path: Path) -> None:
    config = tmp_path / "router.yaml"
    config.write_text("{}\n")
    proc = finpace(tmp_path, "serve", "party", "--config", str(config))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "apply to the router only" in out, out
