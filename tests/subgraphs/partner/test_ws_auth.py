"""graphql-transport-ws authentication at a subgraph: the token may come in the connection_init payload."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shared.auth import issue_dev_token
from shared.config import Settings
from tests.helpers import GraphQLClient
from tests.subgraphs.partner.conftest import WsClient, publish, register

REGISTERED = "finpace.party.party.registered"
EVENTS = """subscription E($types: [String!]!, $from: Long) {
  events(types: $types, fromSequence: $from) { sequence type id } }"""


async def _init(partner_base: str, payload: dict[str, Any], subprotocol: str = "graphql-transport-ws") -> Any:
    ws = await connect(partner_base.replace("http://", "ws://") + "/graphql", subprotocols=[subprotocol])
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def test_a_token_in_connection_init_authenticates_the_subscription(
        admin: GraphQLClient, settings: Settings, partner_base: str) -> None:
    partner = await register(admin, [REGISTERED])
    env, seq = await publish(settings, REGISTERED, n=1)
    token = issue_dev_token(settings, role="partner", sub=partner["clientId"])
    ws = await _init(partner_base, {"authorization": f"Bearer {token}"})
    try:
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        client = WsClient(ws)
        await client.subscribe(EVENTS, {"types": [REGISTERED], "from": seq})
        message = await client.receive()
        assert message["type"] == "next", message
        assert message["payload"]["data"]["events"]["id"] == str(env.id)
    finally:
        await ws.close()


@pytest.mark.parametrize("authorization", ["Bearer not-a-jwt", "Basic abc", 42])
async def test_a_bad_token_in_connection_init_closes_with_4403(partner_base: str, authorization: Any) -> None:
    ws = await _init(partner_base, {"authorization": authorization})
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def _refusal(partner_base: str, payload: dict[str, Any]) -> str:
    """The error code of a subscription to EVENTS on a connection initialised with `payload`."""
    ws = await _init(partner_base, payload)
    try:
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        client = WsClient(ws)
        await client.subscribe(EVENTS, {"types": [REGISTERED], "from": 1})
        refused = await client.receive()
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        return errors[0]["extensions"]["code"]
    finally:
        await ws.close()


async def test_no_token_is_anonymous_and_the_subscription_is_refused(partner_base: str) -> None:
    assert await _refusal(partner_base, {}) == "UNAUTHENTICATED"


async def test_events_and_my_partner_need_the_partner_role(admin: GraphQLClient, settings: Settings,
                                                          partner_base: str) -> None:
    # events and myPartner are @policy(role:partner): a customer's or an ops token is refused by the subgraph.
    token = issue_dev_token(settings, role="customer", sub="cust-ws")
    assert await _refusal(partner_base, {"authorization": f"Bearer {token}"}) == "FORBIDDEN"
    ops = admin.with_token(issue_dev_token(settings, role="ops", sub="ops-ws"))
    body = await ops("{ myPartner { clientId } }")
    assert body["data"] == {"myPartner": None} and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_legacy_graphql_ws_protocol_is_not_served(partner_base: str) -> None:
    url = partner_base.replace("http://", "ws://") + "/graphql"
    try:
        ws = await connect(url, subprotocols=["graphql-ws"])
    except InvalidStatus:
        return  # refused at the upgrade
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406
