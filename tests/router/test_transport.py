"""The native HTTP/1.1 transport: the scenarios through it, keep-alive, chunked bodies, failures."""

from __future__ import annotations

import asyncio

import pytest

from router.client import SubgraphClient, SubgraphTimeout
from router.engine import Engine
from router.transport import NativePool, TransportError
from tests.router.harness import ServerThread, free_port, load_cases
from tests.router.test_client import SlowCounter


@pytest.mark.parametrize("scenario", ["entities", "errors", "keys", "abstract_types"])
async def test_scenario_cases_through_the_native_transport(scenarios, scenario: str) -> None:
    engine = Engine(scenarios.supergraph(scenario), SubgraphClient(transport="native"))
    for case in load_cases(scenario):
        result = await engine.run(case["query"], case.get("variables"), case.get("operationName"), {})
        assert result.status == case.get("status", 200), case["name"]
        if "expected" in case:
            assert result.body.get("data") == case["expected"]["data"], case["name"]
    await engine.client.aclose()


async def test_keep_alive_and_concurrency() -> None:
    app = SlowCounter(0.01)
    server = ServerThread(app).start()
    pool = NativePool(max_connections=4)
    try:
        results = await asyncio.gather(*(pool.post(server.url, b"{}", {}) for _ in range(20)))
        assert {r[:2] for r in results} == {(200, "application/json")}
        assert results[0][2] == b'{"data": {"ok": true}}'
        assert app.requests == 20
        assert len(app.clients) <= 4  # bounded pool, connections reused
    finally:
        await pool.aclose()
        server.stop()


async def test_chunked_and_connection_close_responses() -> None:
    async def chunked(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        close = scope["path"] == "/close"
        headers = [(b"content-type", b"application/graphql-response+json; charset=utf-8")]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"data":', "more_body": True})
        await send({"type": "http.response.body", "body": b'{"a":1}}', "more_body": False})

    server = ServerThread(chunked).start()
    pool = NativePool()
    base = f"http://127.0.0.1:{server.port}"
    try:
        for path in ("/graphql", "/graphql", "/close", "/graphql"):
            status, media, body = await pool.post(base + path, b"{}", {})
            assert (status, media, body) == (200, "application/graphql-response+json", b'{"data":{"a":1}}')
    finally:
        await pool.aclose()
        server.stop()


async def test_connection_refused() -> None:
    pool = NativePool()
    with pytest.raises(TransportError, match="cannot connect"):
        await pool.post(f"http://127.0.0.1:{free_port()}/graphql", b"{}", {})


async def test_timeout_through_the_client() -> None:
    app = SlowCounter(0.5)
    server = ServerThread(app).start()
    client = SubgraphClient(timeout=0.05, transport="native")
    try:
        with pytest.raises(SubgraphTimeout):
            await client.post("s", server.url, {"query": "{ok}"}, {}, is_query=True)
    finally:
        await client.aclose()
        server.stop()


def test_unknown_transport() -> None:
    with pytest.raises(ValueError, match="not one of"):
        SubgraphClient(transport="carrier-pigeon")
