"""Pooled keep-alive HTTP clients for subgraphs, with optional coalescing of identical in-flight queries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from router.jsonio import dumps, loads
from router.transport import NativePool

if TYPE_CHECKING:
    import httpx

_ACCEPT = "application/graphql-response+json, application/json"


@dataclass(frozen=True)
class SubgraphResponse:
    """A subgraph's raw answer: HTTP status, media type and body."""

    status: int
    content_type: str
    body: bytes

    def json(self):
        return loads(self.body)


class SubgraphTimeout(Exception):
    """The subgraph did not answer within its timeout."""


class SubgraphClient:
    """Long-lived pooled connections per subgraph (the lean native transport, or httpx); never one per request."""

    def __init__(
        self, timeout: float = 30.0, max_connections: int = 100, coalesce: bool = True, transport: str = "native"
    ) -> None:
        if transport not in ("httpx", "native"):
            raise ValueError(f"Subgraph transport {transport!r} is not one of 'httpx', 'native'.")
        self.timeout = timeout
        self.coalesce = coalesce
        self._native = NativePool(max_connections) if transport == "native" else None
        self._max_connections = max_connections
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._inflight: dict[tuple, asyncio.Future] = {}

    def _client(self, name: str) -> httpx.AsyncClient:
        client = self._clients.get(name)
        if client is None:
            import httpx  # only for the httpx transport: importing it costs a third of the router's start-up

            size = self._max_connections
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            client = self._clients[name] = httpx.AsyncClient(
                limits=limits, timeout=httpx.Timeout(self.timeout), http2=False
            )
        return client

    async def post(
        self, name: str, url: str, body: dict | bytes, headers: dict[str, str], *, is_query: bool
    ) -> SubgraphResponse:
        """POST one GraphQL request (a body or its JSON bytes); identical concurrent *query* requests share a call."""
        payload = body if isinstance(body, bytes) else dumps(body)
        if not (self.coalesce and is_query):
            return await self._send(name, url, payload, headers, idempotent=is_query)
        key = (name, url, payload, tuple(sorted(headers.items())))
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._send(name, url, payload, headers, idempotent=True)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved when nobody else waits on it
            raise
        else:
            future.set_result(result)
            return result
        finally:
            # Coalescing is not caching: the entry lives only while the call is in flight.
            self._inflight.pop(key, None)

    async def _send(
        self, name: str, url: str, payload: bytes, headers: dict[str, str], *, idempotent: bool
    ) -> SubgraphResponse:
        all_headers = {**headers, "content-type": "application/json", "accept": _ACCEPT}
        if self._native is not None:
            try:
                async with asyncio.timeout(self.timeout):
                    status, media, body = await self._native.post(url, payload, all_headers, idempotent=idempotent)
            except TimeoutError as exc:
                raise SubgraphTimeout(name) from exc
            return SubgraphResponse(status, media, body)
        client = self._client(name)
        import httpx

        try:
            resp = await client.post(url, content=payload, headers=all_headers)
        except httpx.TimeoutException as exc:
            raise SubgraphTimeout(name) from exc
        content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        return SubgraphResponse(resp.status_code, content_type, resp.content)

    async def aclose(self) -> None:
        if self._native is not None:
            await self._native.aclose()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
