"""An ASGI wrapper that records the GraphQL requests a subgraph receives (for batching and header tests)."""

from __future__ import annotations

import json


class Recorder:
    """Wraps an ASGI app; `requests` holds (headers, body) of every POST."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests: list[tuple[dict[str, str], dict]] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, json.loads(body)))
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
