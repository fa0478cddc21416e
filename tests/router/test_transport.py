"""The subgraph transports: the scenarios through httpx (native is the default everywhere else), keep-alive,
chunked bodies, stale connections, header injection and failures of the native one."""

from __future__ import annotations

import asyncio

import pytest

from router.client import SubgraphClient, SubgraphTimeout
from router.engine import Engine
from router.transport import NativePool, TransportError
from tests.router.harness import ServerThread, free_port, load_cases
from tests.router.test_client import SlowCounter


@pytest.mark.parametrize("scenario", ["entities", "errors", "keys", "abstract_types"])
async def test_scenario_cases_through_the_httpx_transport(scenarios, scenario: str) -> None:
    engine = Engine(scenarios.supergraph(scenario), SubgraphClient(transport="httpx"))
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


def test_native_is_the_default() -> None:
    assert SubgraphClient()._native is not None
    assert SubgraphClient(transport="httpx")._native is None


async def test_header_values_cannot_smuggle_a_request() -> None:
    app = SlowCounter(0)
    server = ServerThread(app).start()
    pool = NativePool()
    try:
        for headers in ({"x-a": "1\r\nPOST /evil HTTP/1.1"}, {"x-a\r\nx-b": "1"}, {"x-a": "\u20ac"}):
            with pytest.raises(TransportError, match="header"):
                await pool.post(server.url, b"{}", headers)
        assert app.requests == 0
        assert (await pool.post(server.url, b"{}", {"x-a": "ok"}))[0] == 200
    finally:
        await pool.aclose()
        server.stop()


class _ClosesAfterEachAnswer:
    """Answers, then closes the connection without saying so: every reuse finds a dead connection."""

    def __init__(self) -> None:
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.startswith(b"content-length")))
        await reader.readexactly(length)
        self.requests += 1
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"data":{}}')
        await writer.drain()
        writer.close()


async def test_a_connection_closed_while_idle_is_replaced() -> None:
    app = _ClosesAfterEachAnswer()
    server = await asyncio.start_server(app.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/graphql"
    pool = NativePool()
    try:
        for idempotent in (True, False, False):
            status, _, body = await pool.post(url, b"{}", {}, idempotent=idempotent)
            await asyncio.sleep(0.05)  # let the close arrive, as it would between two client requests
            assert (status, body) == (200, b'{"data":{}}')
        assert app.requests == 3
    finally:
        await pool.aclose()
        server.close()


async def test_a_mutation_is_not_resent_when_its_connection_dies() -> None:
    requests = 0

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        while await reader.readuntil(b"\r\n\r\n"):
            await reader.readexactly(2)
            requests += 1
            if requests == 1:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
            else:
                writer.close()  # the request arrived, no answer: it may have been executed
                return

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/graphql"
    pool = NativePool()
    try:
        assert (await pool.post(url, b"{}", {}, idempotent=False))[0] == 200
        with pytest.raises(TransportError):
            await pool.post(url, b"{}", {}, idempotent=False)
        assert requests == 2  # sent once on the reused connection, never again
    finally:
        await pool.aclose()
        server.close()
