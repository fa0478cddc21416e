"""The router app served by uvicorn over real HTTP: start-up, health, readiness, metrics, refusal."""

from __future__ import annotations

import gc

import httpx
import pytest

from router.app import GC_YOUNG_THRESHOLD, create_app, tune_gc
from router.config import RouterSettings
from router.supergraph import SupergraphError
from tests.router.harness import SCENARIOS, ServerThread


@pytest.fixture
def router_server(scenarios, tmp_path):
    sdl = (SCENARIOS / "entities" / "supergraph.graphql").read_text()
    path = tmp_path / "supergraph.graphql"
    path.write_text(sdl)
    urls = scenarios.urls("entities")
    settings = RouterSettings(supergraph=path, subgraph_urls=urls)
    server = ServerThread(create_app(settings))
    server.server.config.lifespan = "on"
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


async def test_serves_graphql_health_ready_and_metrics(router_server) -> None:
    async with httpx.AsyncClient(base_url=router_server) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["subgraphs"] == ["accounts", "products", "reviews"]
        resp = await client.post("/graphql", json={"query": "query Top { topReviews(first: 1) { author { name } } }"})
        assert resp.json() == {"data": {"topReviews": [{"author": {"name": "Ada"}}]}}
        metrics = (await client.get("/metrics")).text
    assert 'finpace_router_requests_total{operation="Top",status="200"} 1.0' in metrics
    assert 'finpace_router_subgraph_fetches_total{outcome="ok",subgraph="reviews"} 1.0' in metrics
    assert 'finpace_router_subgraph_fetch_duration_seconds_count{subgraph="accounts"} 1.0' in metrics


async def test_browser_get_without_graphiql_assets_gets_no_html(router_server) -> None:
    async with httpx.AsyncClient(base_url=router_server) as client:
        resp = await client.get("/graphql", headers={"accept": "text/html"})
    assert not resp.headers["content-type"].startswith("text/html")


async def test_not_ready_until_loaded(tmp_path) -> None:
    app = create_app(RouterSettings(supergraph=tmp_path / "missing.graphql"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
        resp = await client.get("/ready")
    assert resp.status_code == 503


def test_refuses_unsupported_supergraph_at_startup(tmp_path) -> None:
    sdl = (
        (SCENARIOS / "entities" / "supergraph.graphql")
        .read_text()
        .replace(
            '@link(url: "https://specs.apollo.dev/link/v1.0")',
            '@link(url: "https://specs.apollo.dev/link/v1.0")\n'
            '  @link(url: "https://specs.apollo.dev/sandbox/v0.1", for: SECURITY)',
        )
    )
    path = tmp_path / "supergraph.graphql"
    path.write_text(sdl)
    state = create_app(RouterSettings(supergraph=path)).state.router
    with pytest.raises(SupergraphError) as err:
        state.load()
    assert err.value.code == "UNSUPPORTED_LINKED_FEATURE"
    assert not state.loaded
    assert "sandbox" in (state.load_error or "")


@pytest.fixture(scope="session")
def graphiql_assets() -> None:
    """GraphiQL is an npm dependency installed at set-up; install it here when a fresh clone lacks it."""
    import shutil
    import subprocess

    from router.config import DEFAULT_GRAPHIQL_ASSETS

    if not (DEFAULT_GRAPHIQL_ASSETS / "graphiql" / "graphiql.min.js").is_file():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install GraphiQL (router/graphiql_assets)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DEFAULT_GRAPHIQL_ASSETS.parent, check=True)


async def test_graphiql_served_offline_in_dev(graphiql_assets, tmp_path) -> None:
    path = tmp_path / "supergraph.graphql"
    path.write_text((SCENARIOS / "entities" / "supergraph.graphql").read_text())
    app = create_app(RouterSettings(supergraph=path, graphiql=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "https://" not in page.text  # nothing from a CDN
        for asset in ("react.js", "react-dom.js", "graphiql.js", "graphiql.css"):
            resp = await client.get(f"/graphiql-assets/{asset}")
            assert resp.status_code == 200
            assert len(resp.content) > 1000
        assert (await client.get("/graphiql-assets/other.js")).status_code == 404
    prod = create_app(RouterSettings(supergraph=path, graphiql=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=prod), base_url="http://r") as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert not page.headers["content-type"].startswith("text/html")
        assert (await client.get("/graphiql-assets/react.js")).status_code == 404


def test_the_collector_is_tuned_once_per_process() -> None:
    tune_gc()
    frozen = gc.get_freeze_count()
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    tune_gc()  # a second app in the process freezes nothing more
    assert gc.get_freeze_count() == frozen
