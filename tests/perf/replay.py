"""Replaying subgraphs for gateway benchmarks: each distinct request body is forwarded once to the real
subgraph and its answer served from memory afterwards, so the gateway, not the subgraphs, is what is measured.

Both gateways send the same subgraph request for the same client query every time, so after the warm-up
every request is a cache hit costing a few tens of microseconds.
"""

from __future__ import annotations

import asyncio
import os

from router.transport import NativePool


class ReplaySubgraph:
    """A keep-alive HTTP/1.1 server in front of one real subgraph, answering known bodies from a cache."""

    def __init__(self, upstream: str, headers: dict[str, str] | None = None) -> None:
        self.upstream = upstream
        self.headers = {"content-type": "application/json", **(headers or {})}
        self.cache: dict[bytes, bytes] = {}
        self.pool = NativePool()

    async def _answer(self, body: bytes) -> bytes:
        cached = self.cache.get(body)
        if cached is None:
            status, media, payload = await self.pool.post(self.upstream, body, self.headers)
            head = f"HTTP/1.1 {status} OK\r\ncontent-type: {media}\r\ncontent-length: {len(payload)}\r\n\r\n"
            cached = head.encode("latin-1") + payload
            if status == 200:
                self.cache[body] = cached
        return cached

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                writer.write(await self._answer(body))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


def serve_replays(
    upstreams: dict[int, str], cores: set[int] | None = None, headers: dict[str, str] | None = None
) -> None:
    """Process entry point: one replaying server per port, each in front of its upstream URL.

    `headers` are added to what is forwarded upstream (e.g. a token the real subgraphs require); the cache
    key is the body alone, since both gateways send the same body for the same client query.
    """
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)

    async def main() -> None:
        servers = []
        for port, upstream in upstreams.items():
            replay = ReplaySubgraph(upstream, headers)
            servers.append(await asyncio.start_server(replay.handle, "127.0.0.1", port))
        await asyncio.gather(*(s.serve_forever() for s in servers))

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
