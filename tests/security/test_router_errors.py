"""Forced errors at the production router: a subgraph down, a subgraph's own error, a router bug."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.config import RouterSettings
from shared.embedded import free_port
from tests.router.harness import SCENARIOS, serve_subgraphs
from tests.security.conftest import RouterClient

INTERNALS = ("127.0.0.1", "localhost", "http://", "Traceback", 'File "', ".py", "Errno", "Connect")


def assert_no_internals(text: str, *extra: str) -> None:
    found = [leak for leak in (*INTERNALS, *extra) if leak in text]
    assert not found, f"{found} in {text}"


async def test_subgraph_down_names_the_subgraph_but_not_its_url(production_router) -> None:
    port = free_port()  # nothing listens: the ledger subgraph is down
    async with production_router(overrides={"ledger": f"http://127.0.0.1:{port}/graphql"}) as router:
        resp = await router.post("/graphql", json={"query": '{ entries account(id: "acc1") { balance } }'})
    assert resp.status_code == 200
    # `account` is non-null, so its failure nulls `data`; the error says which subgraph, not where it lives.
    assert resp.json() == {
        "errors": [
            {
                "message": "HTTP fetch failed from 'ledger'.",
                "extensions": {"code": "SUBREQUEST_HTTP_ERROR", "service": "ledger"},
            }
        ],
        "data": None,
    }
    assert_no_internals(resp.text, str(port))


@pytest.fixture(scope="module")
def errors_supergraph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The router tests' errors scenario (a subgraph raising "cards exploded") with live URLs."""
    servers = serve_subgraphs("errors")
    sdl = (SCENARIOS / "errors" / "supergraph.graphql").read_text()
    for name, server in servers.items():
        sdl = sdl.replace(f"http://{name}.invalid/graphql", server.url)
    path = tmp_path_factory.mktemp("errors") / "supergraph.graphql"
    path.write_text(sdl)
    yield path
    for server in servers.values():
        server.stop()


async def test_subgraph_error_messages_are_redacted(errors_supergraph: Path) -> None:
    query = {"query": "{ broken }"}
    async with RouterClient(RouterSettings.production(supergraph=errors_supergraph)) as router:
        redacted = await router.post("/graphql", json=query)
    async with RouterClient(RouterSettings(supergraph=errors_supergraph)) as router:
        dev = await router.post("/graphql", json=query)
    assert "cards exploded" in dev.text  # the dev profile shows the subgraph's message
    assert redacted.json() == {"errors": [{"message": "Subgraph errors redacted", "path": ["broken"]}], "data": None}


async def test_a_router_bug_is_masked_with_an_error_id(production_router, monkeypatch, caplog) -> None:
    async with production_router() as router:
        await router.post("/graphql", json={"query": "{ entries }"})  # loads the engine
        engine = router.app.state.router._engine

        async def broken(*_args, **_kwargs):
            raise RuntimeError("planner blew up at /srv/finpace/router/planner.py for postgresql://x:y@db/z")

        monkeypatch.setattr(engine, "run", broken)
        with caplog.at_level(logging.ERROR, logger="router.http"):
            resp = await router.post("/graphql", json={"query": "{ entries }"})
    [error] = resp.json()["errors"]
    assert resp.status_code == 500
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert_no_internals(resp.text, "planner", "postgresql", "RuntimeError")
    # The trace is in the log, under the id the caller was given.
    assert any(error["extensions"]["errorId"] in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("flag", ["include_subgraph_errors", "introspection", "field_suggestions", "graphiql"])
async def test_production_profile_turns_dev_conveniences_off(production_router, flag: str) -> None:
    async with production_router() as router:
        settings = router.app.state.router.settings
    assert getattr(settings, flag) is False
    assert settings.expose_query_plan is False and settings.csrf_prevention is True and settings.rate_limit is True
