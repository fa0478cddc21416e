"""A lean pooled HTTP/1.1 keep-alive client on asyncio streams: the default transport for subgraph POSTs."""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

_MAX_HEADER_LINES = 200
_FORBIDDEN_IN_NAME = frozenset(" \t\r\n:\0")


class TransportError(Exception):
    """The connection failed or the response was not valid HTTP/1.1."""


def _request_bytes(path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    for k, v in headers.items():
        if any(c in k for c in _FORBIDDEN_IN_NAME) or "\r" in v or "\n" in v or "\0" in v:
            # Never let a header smuggle a second request onto a shared connection.
            raise TransportError(f"invalid header {k[:40]!r}")
        head.append(f"{k}: {v}")
    try:
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    except UnicodeEncodeError as exc:
        raise TransportError("header values must be latin-1") from exc


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()

    def usable(self) -> bool:
        """False once the server closed its side (or sent something unasked) while the connection sat idle."""
        return not (self.writer.is_closing() or self.reader.at_eof() or self.reader._buffer)


class _Origin:
    """Idle connections and the connection limit for one scheme://host:port."""

    def __init__(self, scheme: str, host: str, port: int, limit: int) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.idle: list[_Connection] = []
        self.slots = asyncio.Semaphore(limit)
        self.host_header = host if port in (80, 443) else f"{host}:{port}"

    async def connect(self) -> _Connection:
        context = ssl.create_default_context() if self.scheme == "https" else None
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=context, limit=2**20)
        return _Connection(reader, writer)


class NativePool:
    """POSTs over pooled keep-alive connections; cost per request does not grow with concurrency."""

    def __init__(self, max_connections: int = 100) -> None:
        self.max_connections = max_connections
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._paths: dict[str, tuple[_Origin, str]] = {}

    def _target(self, url: str) -> tuple[_Origin, str]:
        found = self._paths.get(url)
        if found is None:
            parts = urlsplit(url)
            scheme = parts.scheme or "http"
            port = parts.port or (443 if scheme == "https" else 80)
            key = (scheme, parts.hostname or "localhost", port)
            origin = self._origins.get(key)
            if origin is None:
                origin = self._origins[key] = _Origin(scheme, key[1], port, self.max_connections)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            found = self._paths[url] = (origin, path)
        return found

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, idempotent: bool = True
    ) -> tuple[int, str, bytes]:
        """Send one POST; returns (status, lower-cased media type, body).

        A request on a reused connection that fails before any response byte is retried once on a fresh
        connection when `idempotent` (queries); a mutation is never sent twice.
        """
        origin, path = self._target(url)
        request = _request_bytes(path, origin.host_header, headers, body)
        async with origin.slots:
            conn = None
            while origin.idle:
                candidate = origin.idle.pop()
                if candidate.usable():
                    conn = candidate
                    break
                candidate.close()
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin)
            try:
                result, keep = await self._exchange(conn, request)
            except (ConnectionError, asyncio.IncompleteReadError, TransportError) as exc:
                conn.close()
                if not (reused and idempotent):
                    raise TransportError(str(exc) or type(exc).__name__) from exc
                # The server may close an idle keep-alive connection at any time: retry once on a fresh one.
                conn = await self._connect(origin)
                try:
                    result, keep = await self._exchange(conn, request)
                except (ConnectionError, asyncio.IncompleteReadError, TransportError) as again:
                    conn.close()
                    raise TransportError(str(again) or type(again).__name__) from again
            except BaseException:
                conn.close()  # cancelled or timed out mid-exchange: the connection state is unknown
                raise
            if keep:
                origin.idle.append(conn)
            else:
                conn.close()
            return result

    async def _connect(self, origin: _Origin) -> _Connection:
        try:
            return await origin.connect()
        except OSError as exc:
            raise TransportError(f"cannot connect to {origin.host}:{origin.port}: {exc}") from exc

    async def _exchange(self, conn: _Connection, request: bytes) -> tuple[tuple[int, str, bytes], bool]:
        conn.writer.write(request)
        await conn.writer.drain()
        reader = conn.reader
        status_line = await reader.readline()
        if not status_line:
            raise TransportError("connection closed before a response")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise TransportError(f"invalid status line {status_line[:80]!r}")
        status = int(parts[1])
        headers: dict[bytes, bytes] = {}
        for _ in range(_MAX_HEADER_LINES):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await self._chunked(reader)
        elif b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        else:
            body = await reader.read()
            headers[b"connection"] = b"close"
        keep = headers.get(b"connection", b"").lower() != b"close" and parts[0] != b"HTTP/1.0"
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        return (status, media, body), keep

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        chunks = []
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def aclose(self) -> None:
        for origin in self._origins.values():
            for conn in origin.idle:
                conn.close()
            origin.idle.clear()
