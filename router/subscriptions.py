"""GraphQL over WebSocket (graphql-transport-ws): subscriptions proxied to the owning subgraph."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import websockets
from starlette.websockets import WebSocket, WebSocketDisconnect

from router.authorization import Caller
from router.config import AuthMode
from router.engine import Operation, Result
from router.executor import ExecutionState, clean_error
from router.http import refuse_token_in_ws_url

if TYPE_CHECKING:
    from router.app import RouterState
    from router.engine import Engine

PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 10.0


def _ws_url(url: str) -> str:
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    return url


class _Connection:
    """One client socket: the handshake, its running operations and the close codes of the protocol."""

    def __init__(self, websocket: WebSocket, state: RouterState) -> None:
        self.ws = websocket
        self.state = state
        self.acked = False
        self.init_payload: dict[str, Any] = {}
        self.running: dict[str, asyncio.Task] = {}
        self.send_lock = asyncio.Lock()

    async def send(self, message: dict) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(message))

    async def serve(self) -> None:
        if await refuse_token_in_ws_url(self.ws):
            return
        offered = self.ws.scope.get("subprotocols") or []
        if PROTOCOL not in offered:
            await self.ws.close(code=4406)
            return
        await self.ws.accept(subprotocol=PROTOCOL)
        try:
            async with asyncio.timeout(INIT_TIMEOUT):
                first = await self._receive()
        except TimeoutError:
            await self.ws.close(code=4408, reason="Connection initialisation timeout")
            return
        if first is None:
            return
        await self._handle(first)
        while True:
            message = await self._receive()
            if message is None:
                break
            await self._handle(message)

    async def _receive(self) -> dict | None:
        try:
            text = await self.ws.receive_text()
        except WebSocketDisconnect:
            self._cancel_all()
            return None
        try:
            message = json.loads(text)
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise ValueError("not a message")
        except ValueError:
            await self.ws.close(code=4400, reason="Invalid message received")
            self._cancel_all()
            return None
        return message

    async def _handle(self, message: dict) -> None:
        kind = message["type"]
        if kind == "connection_init":
            if self.acked:
                await self.ws.close(code=4429, reason="Too many initialisation requests")
                return
            self.acked = True
            self.init_payload = message.get("payload") or {}
            await self.send({"type": "connection_ack"})
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            op_id = message.get("id")
            if not self.acked:
                await self.ws.close(code=4401, reason="Unauthorized")
            elif op_id in self.running:
                await self.ws.close(code=4409, reason=f"Subscriber for {op_id} already exists")
            elif len(self.running) >= self.state.settings.max_subscriptions_per_connection:
                limit = self.state.settings.max_subscriptions_per_connection
                error = {
                    "message": f"At most {limit} operations may run at once on one connection.",
                    "extensions": {"code": "TOO_MANY_OPERATIONS"},
                }
                await self.send({"type": "error", "id": op_id, "payload": [error]})
            else:
                task = asyncio.create_task(self._operation(op_id, message.get("payload") or {}))
                self.running[op_id] = task
                task.add_done_callback(lambda _t, i=op_id: self.running.pop(i, None))
        elif kind == "complete":
            task = self.running.pop(message.get("id"), None)
            if task is not None:
                task.cancel()
        else:
            await self.ws.close(code=4400, reason=f"Unexpected message type {kind!r}")

    def _cancel_all(self) -> None:
        for task in self.running.values():
            task.cancel()

    def _headers(self) -> dict[str, str]:
        headers = {}
        auth = self.init_payload.get("authorization") or self.init_payload.get("Authorization")
        if isinstance(auth, str):
            headers["authorization"] = auth
        return headers

    async def _caller(self) -> Caller | None:
        """The connection_init token, validated like the HTTP Authorization header (for field authorization)."""
        auth = self._headers().get("authorization")
        settings, validator = self.state.settings, self.state.token_validator
        if not auth or validator is None or settings.auth_mode == AuthMode.OFF:
            return None
        return Caller(await validator(auth) or {})

    async def _operation(self, op_id: str, payload: dict) -> None:
        engine: Engine = await self.state.engine()
        try:
            caller = await self._caller()
        except PermissionError as exc:
            error = {"message": str(exc) or "Invalid token.", "extensions": {"code": "UNAUTHENTICATED"}}
            await self.send({"type": "error", "id": op_id, "payload": [error]})
            return
        operation = engine.operation(
            payload.get("query") or "",
            payload.get("variables"),
            payload.get("operationName"),
            allow_subscriptions=True,
            caller=caller,
        )
        if isinstance(operation, Result):
            await self.send({"type": "error", "id": op_id, "payload": operation.body.get("errors", [])})
            return
        headers = self._headers()
        if operation.plan.primary is None:
            state = ExecutionState(variables=operation.raw_variables, headers=headers)
            result = await engine.complete(operation, state)
            await self.send({"type": "next", "id": op_id, "payload": result.body})
        else:
            await self._subscribe_upstream(engine, op_id, operation, headers)
        await self.send({"type": "complete", "id": op_id})

    async def _subscribe_upstream(self, engine: Engine, op_id: str, operation: Operation, headers) -> None:
        primary = operation.plan.primary
        assert primary is not None
        url = _ws_url(engine.supergraph.url_of(primary.service_name))
        variables = {v: operation.raw_variables[v] for v in primary.variable_usages if v in operation.raw_variables}
        async with websockets.connect(url, subprotocols=[PROTOCOL]) as upstream:
            await upstream.send(json.dumps({"type": "connection_init", "payload": headers}))
            ack = json.loads(await upstream.recv())
            if ack.get("type") != "connection_ack":
                raise ConnectionError(f"subgraph {primary.service_name} refused the connection")
            body = {"query": primary.operation, "variables": variables}
            if primary.operation_name:
                body["operationName"] = primary.operation_name
            await upstream.send(json.dumps({"type": "subscribe", "id": "1", "payload": body}))
            async for raw in upstream:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await upstream.send(json.dumps({"type": "pong"}))
                elif kind == "next":
                    # Events are handled one at a time, so they reach the client in order.
                    await self.send(
                        {"type": "next", "id": op_id, "payload": await self._event(engine, operation, message, headers)}
                    )
                elif kind == "error":
                    errors = [clean_error(e, primary.service_name) for e in message.get("payload") or []]
                    await self.send({"type": "next", "id": op_id, "payload": {"data": None, "errors": errors}})
                    return
                elif kind == "complete":
                    return

    async def _event(self, engine: Engine, operation: Operation, message: dict, headers) -> dict:
        payload = message.get("payload") or {}
        state = ExecutionState(variables=operation.raw_variables, headers=headers, data=dict(payload.get("data") or {}))
        primary = operation.plan.primary
        assert primary is not None
        for err in payload.get("errors") or []:
            state.add_error(primary.id, clean_error(err, primary.service_name))
        result = await engine.complete(operation, state)
        return result.body


async def graphql_ws_endpoint(websocket: WebSocket) -> None:
    """The router's WebSocket endpoint on /graphql."""
    connection = _Connection(websocket, websocket.app.state.router)
    try:
        await connection.serve()
    finally:
        connection._cancel_all()
        with contextlib.suppress(Exception):
            await asyncio.gather(*connection.running.values(), return_exceptions=True)
