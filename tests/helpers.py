"""Test helpers: serve an ASGI app over real HTTP on a free loopback port, stop background tasks, a GraphQL client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from shared.embedded import free_port
from shared.tasks import stop_tasks


async def stop(*tasks: asyncio.Task[Any], within: float = 10) -> None:
    """Cancels a test's background tasks and waits for them to end; fails after `within` seconds instead of hanging.

    They are stopped the way the services stop theirs (`stop_tasks`): on Python 3.11 a cancellation that arrives
    as nats-py's `asyncio.wait_for` gets its reply is swallowed and the consumer's loop carries on, so one
    `cancel()` and an unbounded `await task` can wait forever (a whole test run once hung on it).
    """
    left = await stop_tasks(tasks, within=within)
    assert not left, f"{left} still running {within} s after being cancelled"
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Runs the app (with its lifespan) under uvicorn on 127.0.0.1 and yields its base URL.

    Idle keep-alive connections stay open for a minute: with uvicorn's 5 s, equal to httpx's pool expiry, a
    client reusing a connection just as the server closes it gets a ReadError on a loaded machine.
    """
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           timeout_keep_alive=60))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        task.cancel()
        raise RuntimeError("test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class GraphQLClient:
    """Posts GraphQL operations to one endpoint, optionally with a bearer token."""

    def __init__(self, http: httpx.AsyncClient, url: str, token: str | None = None) -> None:
        self.http, self.url, self.token = http, url, token

    def with_token(self, token: str | None) -> GraphQLClient:
        return GraphQLClient(self.http, self.url, token)

    async def raw(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        if self.token:
            headers.setdefault("authorization", f"Bearer {self.token}")
        return await self.http.post(self.url, json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.raw(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self(query, variables)
        assert not body.get("errors"), body["errors"]
        result: dict[str, Any] = body["data"]
        return result
