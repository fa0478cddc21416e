"""The pooled subgraph client, with each transport: keep-alive reuse, timeouts and coalescing of in-flight queries."""

from __future__ import annotations

import asyncio

import pytest

from router.client import SubgraphClient, SubgraphTimeout
from tests.router.harness import ServerThread


class SlowCounter:
    """An ASGI app that answers after a delay and counts requests and connections."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests = 0
        self.clients: set = set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        self.clients.add(scope["client"])
        while (await receive()).get("more_body"):
            pass
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"data": {"ok": true}}'})


@pytest.fixture(params=["native", "httpx"])
def transport(request) -> str:
    return request.param


@pytest.fixture
def slow_server():
    app = SlowCounter(0.2)
    server = ServerThread(app).start()
    yield app, server.url
    server.stop()


async def test_identical_queries_in_flight_are_coalesced(slow_server, transport: str) -> None:
    app, url = slow_server
    client = SubgraphClient(coalesce=True, transport=transport)
    results = await asyncio.gather(
        *(client.post("s", url, {"query": "{ok}"}, {"x-correlation-id": "1"}, is_query=True) for _ in range(10))
    )
    await client.aclose()
    assert app.requests == 1
    assert {r.json()["data"]["ok"] for r in results} == {True}


async def test_mutations_and_different_headers_are_not_coalesced(slow_server, transport: str) -> None:
    app, url = slow_server
    client = SubgraphClient(coalesce=True, transport=transport)
    await asyncio.gather(
        client.post("s", url, {"query": "mutation{ok}"}, {}, is_query=False),
        client.post("s", url, {"query": "mutation{ok}"}, {}, is_query=False),
        client.post("s", url, {"query": "{ok}"}, {"authorization": "a"}, is_query=True),
        client.post("s", url, {"query": "{ok}"}, {"authorization": "b"}, is_query=True),
    )
    await client.aclose()
    assert app.requests == 4


async def test_coalescing_off(slow_server, transport: str) -> None:
    app, url = slow_server
    client = SubgraphClient(coalesce=False, transport=transport)
    await asyncio.gather(*(client.post("s", url, {"query": "{ok}"}, {}, is_query=True) for _ in range(3)))
    await client.aclose()
    assert app.requests == 3


async def test_connections_are_kept_alive(slow_server, transport: str) -> None:
    app, url = slow_server
    app.delay = 0
    client = SubgraphClient(transport=transport)
    for _ in range(5):
        await client.post("s", url, {"query": "{ok}"}, {}, is_query=True)
    await client.aclose()
    assert app.requests == 5
    assert len(app.clients) == 1  # one pooled connection reused


async def test_timeout(slow_server, transport: str) -> None:
    _, url = slow_server
    client = SubgraphClient(timeout=0.05, transport=transport)
    with pytest.raises(SubgraphTimeout):
        await client.post("s", url, {"query": "{ok}"}, {}, is_query=True)
    await client.aclose()
