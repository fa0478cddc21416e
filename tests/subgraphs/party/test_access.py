"""The access read model from the party domain's own events: grants, revocations, RM moves and redeliveries."""

from __future__ import annotations

import uuid

from shared.auth import issue_dev_token
from shared.config import Settings
from tests.helpers import GraphQLClient
from tests.subgraphs.party.conftest import REGISTER, org_input
from tests.subgraphs.party.test_schema import GRANT
from tests.subgraphs.support import eventually, granted, party_envelope, publish_party_event, rm_assigned

READ = "query($id: ID!) { party(id: $id) { id } }"
MISSING = {"data": {"party": None}}


async def _sees(client: GraphQLClient, party_id: str) -> bool:
    return (await client.data(READ, {"id": party_id}))["party"] is not None


async def _blind(client: GraphQLClient, party_id: str) -> bool:
    return (await client(READ, {"id": party_id})) == MISSING  # exactly what a missing party answers


async def test_grant_then_revoke(gql: GraphQLClient, settings: Settings) -> None:
    party = (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
    user = f"u-{uuid.uuid4().hex[:8]}"
    customer = gql.with_token(issue_dev_token(settings, role="customer", sub=user))
    assert await _blind(customer, party)
    body = {"partyId": party, "userSub": user, "permissions": ["VIEW"], "validFrom": "2020-01-01"}
    entitlement = (await gql.data(GRANT, {"input": body, "key": uuid.uuid4().hex}))["grantEntitlement"]["id"]
    await eventually(lambda: _sees(customer, party))
    revoked = await gql.data(
        """mutation($id: ID!) { revokeEntitlement(entitlementId: $id, reason: "left the company") {
        __typename } }""",
        {"id": entitlement},
    )
    assert revoked["revokeEntitlement"]["__typename"] == "Entitlement"
    await eventually(lambda: _blind(customer, party))


async def test_an_entitlement_outside_its_window_grants_nothing(gql: GraphQLClient, settings: Settings) -> None:
    party = (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
    user = f"u-{uuid.uuid4().hex[:8]}"
    customer = gql.with_token(issue_dev_token(settings, role="customer", sub=user))
    future = {"partyId": party, "userSub": user, "permissions": ["VIEW"], "validFrom": "2999-01-01"}
    await gql.data(GRANT, {"input": future, "key": uuid.uuid4().hex})
    past = granted(party, user, valid_from="2001-01-01", valid_to="2002-01-01")
    await publish_party_event(settings, past)
    witness = granted(party, user)  # published last: once it is applied, the others have been too
    await publish_party_event(settings, witness)
    await eventually(lambda: _sees(customer, party))
    await publish_party_event(
        settings,
        party_envelope(
            "EntitlementRevoked", party, {"entitlement_id": witness.data["entitlement_id"], "user_sub": user}
        ),
    )
    await eventually(lambda: _blind(customer, party))  # neither the future nor the expired one is in force


async def test_rm_reassignment_moves_the_portfolio_and_stale_redeliveries_do_not(
    gql: GraphQLClient, settings: Settings
) -> None:
    rm_a, rm_b = f"rm-a-{uuid.uuid4().hex[:6]}", f"rm-b-{uuid.uuid4().hex[:6]}"
    body = org_input(relationshipManagerId=rm_a)
    party = (await gql.data(REGISTER, {"input": body, "key": uuid.uuid4().hex}))["registerParty"]["id"]
    a = gql.with_token(issue_dev_token(settings, role="rm", sub=rm_a))
    b = gql.with_token(issue_dev_token(settings, role="rm", sub=rm_b))
    await eventually(lambda: _sees(a, party))
    assert await _blind(b, party)
    moved = await gql.data(
        """mutation($id: ID!, $rm: String!) { assignRelationshipManager(partyId: $id, rmId: $rm,
        reason: "portfolio rebalancing") { __typename ... on Party { version } } }""",
        {"id": party, "rm": rm_b},
    )
    await eventually(lambda: _sees(b, party))
    assert await _blind(a, party)
    # An older assignment delivered late, and the same event delivered twice, leave the portfolio where it is.
    stale = rm_assigned(party, rm_a, version=moved["assignRelationshipManager"]["version"] - 1)
    await publish_party_event(settings, stale)
    await publish_party_event(settings, stale, msg_id=uuid.uuid4().hex)  # same event id again: the inbox drops it
    third = rm_assigned(party, rm_b, version=moved["assignRelationshipManager"]["version"])
    await publish_party_event(settings, third)  # a witness: consumed after the stale ones
    user = f"u-{uuid.uuid4().hex[:8]}"
    witness = granted(party, user)
    await publish_party_event(settings, witness)
    await eventually(lambda: _sees(gql.with_token(issue_dev_token(settings, role="customer", sub=user)), party))
    assert await _sees(b, party) and await _blind(a, party)


async def test_auditor_and_partner_see_no_customer_data(gql: GraphQLClient, settings: Settings) -> None:
    party = (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
    assert await _sees(gql, party)
    for role in ("auditor", "partner"):
        other = gql.with_token(issue_dev_token(settings, role=role, sub=f"{role}-1"))
        assert await _blind(other, party)
        listed = await other.data("{ parties(first: 100) { totalCount } }")
        assert listed["parties"]["totalCount"] == 0
