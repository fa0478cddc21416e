"""A partner token's `events:` scopes narrow its registration; webhooks (no token) follow the registration alone."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from shared.auth import issue_dev_token
from shared.config import Settings
from subgraphs.partner.entitlements import effective_types, scope_covers
from tests.helpers import GraphQLClient
from tests.subgraphs.partner.conftest import Receiver, publish, register, ws_connect

REGISTERED, OPENED = "finpace.party.party.registered", "finpace.account.account.opened"
EVENTS = (
    """subscription E($types: [String!]!, $from: Long) { events(types: $types, fromSequence: $from) { type id } }"""
)


@pytest.mark.parametrize(
    ("scope", "event_type", "covered"),
    [
        ("events:party.*", REGISTERED, True),
        ("events:party.*", OPENED, False),
        ("events:party.party.*", REGISTERED, True),
        ("events:party.consent.*", REGISTERED, False),
        ("events:party.party.registered", REGISTERED, True),
        ("events:party.party.registered", "finpace.party.party.registered_again", False),
        ("events:party", REGISTERED, False),  # a domain alone is not a pattern: `events:party.*` is
        ("events:part.*", REGISTERED, False),  # tokens match whole, not as prefixes
        ("events:*", OPENED, True),
        ("party.*", REGISTERED, False),  # not an events: scope
    ],
)
def test_scope_matching(scope: str, event_type: str, covered: bool) -> None:
    assert scope_covers(scope, event_type) is covered


def test_the_effective_types_are_the_intersection_when_the_token_carries_events_scopes() -> None:
    registered = [REGISTERED, OPENED]
    assert effective_types(registered, ["events:account.*"]) == [OPENED]
    assert effective_types(registered, ["events:account.*", "events:party.*", "openid"]) == registered
    assert effective_types(registered, ["events:product.*"]) == []  # scopes never add to the registration
    assert effective_types([REGISTERED], ["events:*"]) == [REGISTERED]
    assert effective_types(registered, ["openid"]) == registered  # no events: scope: the registration decides


async def _first(partner_base: str, token: str, types: list[str], start: int) -> dict[str, Any]:
    cm, client = await ws_connect(partner_base, token)
    try:
        await client.subscribe(EVENTS, {"types": types, "from": start})
        message = await client.receive()
        if message["type"] == "error":
            return {"errors": message["payload"]}
        return dict(message["payload"])
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_token_not_scoped_to_a_registered_type_is_refused_it(
    admin: GraphQLClient, settings: Settings, partner_base: str, receiver: tuple[Receiver, str]
) -> None:
    state, base = receiver
    hook = uuid.uuid4().hex
    partner = await register(admin, [REGISTERED, OPENED], webhook=f"{base}/hook/{hook}", secret="s3cret-" + hook)
    registered, reg_seq = await publish(settings, REGISTERED)
    opened, open_seq = await publish(settings, OPENED, account_id=str(uuid.uuid4()))
    account_only = issue_dev_token(settings, role="partner", sub=partner["clientId"], scopes=["events:account.*"])
    both = issue_dev_token(settings, role="partner", sub=partner["clientId"], scopes=["events:party.*", "openid"])

    refused = await _first(partner_base, account_only, [REGISTERED], reg_seq)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    got = await _first(partner_base, account_only, [OPENED], open_seq)
    assert got["data"]["events"] == {"type": OPENED, "id": str(opened.id)}
    got = await _first(partner_base, both, [REGISTERED], reg_seq)
    assert got["data"]["events"] == {"type": REGISTERED, "id": str(registered.id)}

    mine = admin.with_token(account_only)
    assert (await mine.data("{ myPartner { allowedEventTypes } }"))["myPartner"]["allowedEventTypes"] == [OPENED]
    unscoped = admin.with_token(issue_dev_token(settings, role="partner", sub=partner["clientId"]))
    listed = (await unscoped.data("{ myPartner { allowedEventTypes } }"))["myPartner"]["allowedEventTypes"]
    assert sorted(listed) == sorted([REGISTERED, OPENED])

    # The webhook has no token: it follows the registration, both types included.
    wanted = {str(registered.id), str(opened.id)}
    deadline = asyncio.get_running_loop().time() + 20
    while not wanted <= {json.loads(b)["id"] for _, b in state.received(hook)}:
        assert asyncio.get_running_loop().time() < deadline, "webhook deliveries did not arrive"
        await asyncio.sleep(0.1)
