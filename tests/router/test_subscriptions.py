"""Subscriptions over graphql-transport-ws: proxied to the owning subgraph, entity fields resolved per event."""

from __future__ import annotations

import json

import pytest
import websockets

from router.app import create_app
from router.config import RouterSettings
from tests.router.harness import SCENARIOS, ServerThread

PROTOCOL = "graphql-transport-ws"


@pytest.fixture
def router_ws(scenarios, tmp_path):
    path = tmp_path / "supergraph.graphql"
    path.write_text((SCENARIOS / "subscriptions" / "supergraph.graphql").read_text())
    settings = RouterSettings(
        supergraph=path, subgraph_urls=scenarios.urls("subscriptions"), max_subscriptions_per_connection=2
    )
    app = create_app(settings)
    server = ServerThread(app)
    server.server.config.lifespan = "on"
    server.start()
    yield f"ws://127.0.0.1:{server.port}/graphql"
    server.stop()


async def _init(ws) -> None:
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}


async def _drain(ws) -> None:
    while True:
        await ws.recv()


async def _collect(ws, op_id: str) -> list[dict]:
    messages = []
    while True:
        message = json.loads(await ws.recv())
        assert message["id"] == op_id
        messages.append(message)
        if message["type"] in ("complete", "error"):
            return messages


async def test_subscription_events_get_entity_fields_from_other_subgraphs(router_ws) -> None:
    async with websockets.connect(router_ws, subprotocols=[PROTOCOL]) as ws:
        await _init(ws)
        query = "subscription S($to: Int!) { ticks(to: $to) { n label } }"
        await ws.send(json.dumps({"type": "subscribe", "id": "a", "payload": {"query": query, "variables": {"to": 3}}}))
        messages = await _collect(ws, "a")
    assert [m["type"] for m in messages] == ["next", "next", "next", "complete"]
    assert [m["payload"] for m in messages[:3]] == [
        {"data": {"ticks": {"n": 1, "label": "one"}}},
        {"data": {"ticks": {"n": 2, "label": "two"}}},
        {"data": {"ticks": {"n": 3, "label": "three"}}},
    ]


async def test_queries_over_the_socket_get_one_next(router_ws) -> None:
    async with websockets.connect(router_ws, subprotocols=[PROTOCOL]) as ws:
        await _init(ws)
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
        await ws.send(json.dumps({"type": "subscribe", "id": "q", "payload": {"query": "{ last { label } }"}}))
        messages = await _collect(ws, "q")
    assert messages == [
        {"type": "next", "id": "q", "payload": {"data": {"last": {"label": "three"}}}},
        {"type": "complete", "id": "q"},
    ]


async def test_invalid_operation_gets_error_without_complete(router_ws) -> None:
    async with websockets.connect(router_ws, subprotocols=[PROTOCOL]) as ws:
        await _init(ws)
        await ws.send(json.dumps({"type": "subscribe", "id": "x", "payload": {"query": "subscription { nope }"}}))
        [message] = await _collect(ws, "x")
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "subscribe", "id": "1", "payload": {"query": "{ language }"}}], 4401),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        (["not json"], 4400),
    ],
)
async def test_protocol_close_codes(router_ws, messages: list, code: int) -> None:
    async with websockets.connect(router_ws, subprotocols=[PROTOCOL]) as ws:
        for m in messages:
            await ws.send(m if isinstance(m, str) else json.dumps(m))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _drain(ws)
    assert closed.value.rcvd.code == code


async def test_duplicate_subscription_id_closes_4409(router_ws) -> None:
    async with websockets.connect(router_ws, subprotocols=[PROTOCOL]) as ws:
        await _init(ws)
        sub = {"type": "subscribe", "id": "d", "payload": {"query": "subscription { ticks(to: 50) { n } }"}}
        await ws.send(json.dumps(sub))
        await ws.send(json.dumps(sub))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _drain(ws)
    assert closed.value.rcvd.code == 4409


async def test_plan_shape() -> None:
    from graphql import parse

    from router.planner import build_query_plan
    from router.supergraph import Supergraph

    sg = Supergraph.from_file(SCENARIOS / "subscriptions" / "supergraph.graphql")
    plan = build_query_plan(sg, parse("subscription { ticks { label } }")).to_json()
    assert plan["node"]["kind"] == "Subscription"
    assert plan["node"]["primary"]["operation"] == "subscription{ticks{__typename id}}"
    assert plan["node"]["rest"]["path"] == ["ticks"]


async def test_operations_per_connection_are_limited(router_ws) -> None:
    async with websockets.connect(router_ws, subprotocols=[PROTOCOL]) as ws:
        await _init(ws)
        for op_id in ("1", "2", "3"):
            sub = {"type": "subscribe", "id": op_id, "payload": {"query": "subscription { ticks(to: 30) { n } }"}}
            await ws.send(json.dumps(sub))
        while True:
            message = json.loads(await ws.recv())
            if message["id"] == "3":
                break
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"


async def test_a_token_in_the_upgrade_url_is_refused_with_401(router_ws) -> None:
    """Tokens only in headers: `?access_token=` on the upgrade is refused before the socket opens."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{router_ws}?access_token=t", subprotocols=[PROTOCOL]):
            pass
    response = refused.value.response
    assert response.status_code == 401
    error = json.loads(response.body)["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "connection_init" in error["message"]
    async with websockets.connect(f"{router_ws}?other=1", subprotocols=[PROTOCOL]) as ws:  # other parameters pass
        await _init(ws)
