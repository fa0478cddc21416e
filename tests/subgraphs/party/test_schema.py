"""The party subgraph over HTTP: registration, idempotency, auth, federation and bad input."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

import nats
from shared.config import Settings
from subgraphs.party.schema import build_schema
from tests.helpers import GraphQLClient
from tests.subgraphs.party.conftest import REGISTER, counts, org_input
from tests.subgraphs.support import eventually

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema" / "party.graphql"


async def test_sdl_snapshot_is_current() -> None:
    # `finpace schema export` writes this file; a stale snapshot means the graph changed unannounced.
    assert SNAPSHOT.read_text() == build_schema().as_str() + "\n"


async def test_register_party_publishes_envelope(gql: GraphQLClient, settings: Settings) -> None:
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    sub = await js.subscribe("finpace.party.party.registered", ordered_consumer=True,
                             deliver_policy=nats.js.api.DeliverPolicy.NEW)
    try:
        data = await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex})
        party = data["registerParty"]
        assert party["__typename"] == "Party" and party["status"] == "PROSPECT" and party["version"] == 1
        while True:
            msg = await sub.next_msg(timeout=10)
            envelope = json.loads(msg.data)
            if envelope["subject"] == party["id"]:
                break
    finally:
        await nc.close()
    assert msg.headers["Nats-Msg-Id"] == envelope["id"]
    assert envelope["type"] == "PartyRegistered" and envelope["source"] == "party"
    assert envelope["aggregate_version"] == 1 and envelope["schema_version"] == 1
    assert envelope["actor"]["sub"] == "ops-1" and envelope["actor"]["roles"] == ["ops"]
    assert envelope["occurred_at"].endswith("Z") and envelope["correlation_id"]
    assert envelope["data"]["legal_name"] == party["legalName"]
    assert envelope["data"]["after"]["status"] == "PROSPECT"
    assert set(envelope) == {"id", "type", "source", "subject", "aggregate_version", "occurred_at", "actor",
                             "reason", "correlation_id", "causation_id", "schema_version", "data"}


async def test_same_idempotency_key_yields_one_party_and_one_event(gql: GraphQLClient, sessions) -> None:
    body, key = org_input(), uuid.uuid4().hex
    before = await counts(sessions)
    first, second = [await gql.data(REGISTER, {"input": body, "key": key}) for _ in range(2)]
    assert first["registerParty"]["id"] == second["registerParty"]["id"]
    assert await counts(sessions) == (before[0] + 1, before[1] + 1)


async def test_concurrent_requests_with_one_key_create_one_party(gql: GraphQLClient, sessions) -> None:
    body, key = org_input(), uuid.uuid4().hex
    before = await counts(sessions)
    results = await asyncio.gather(*[gql.data(REGISTER, {"input": body, "key": key}) for _ in range(8)])
    assert len({r["registerParty"]["id"] for r in results}) == 1
    assert await counts(sessions) == (before[0] + 1, before[1] + 1)


async def test_key_reused_with_other_input_is_refused(gql: GraphQLClient, sessions) -> None:
    key = uuid.uuid4().hex
    await gql.data(REGISTER, {"input": org_input(), "key": key})
    before = await counts(sessions)
    data = await gql.data(REGISTER, {"input": org_input(), "key": key})
    assert data["registerParty"]["__typename"] == "IdempotencyKeyReused"
    assert data["registerParty"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await counts(sessions) == before


async def test_duplicate_external_id_is_a_typed_conflict(gql: GraphQLClient, sessions) -> None:
    body = org_input()
    await gql.data(REGISTER, {"input": body, "key": uuid.uuid4().hex})
    before = await counts(sessions)
    data = await gql.data(REGISTER, {"input": {**body, "legalName": "Other"}, "key": uuid.uuid4().hex})
    assert data["registerParty"]["__typename"] == "Conflict"
    assert body["externalId"] in data["registerParty"]["message"]
    assert await counts(sessions) == before


async def test_missing_token_is_an_authentication_error(gql: GraphQLClient, sessions) -> None:
    before = await counts(sessions)
    body = await gql.with_token(None)(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await counts(sessions) == before


async def test_invalid_token_is_401(gql: GraphQLClient) -> None:
    response = await gql.with_token("not-a-jwt").raw("{ __typename }")
    assert response.status_code == 401


async def test_customer_cannot_register(gql: GraphQLClient, settings: Settings, sessions) -> None:
    from shared.auth import issue_dev_token

    token = issue_dev_token(settings, role="customer", sub="cust-1")
    before = await counts(sessions)
    body = await gql.with_token(token)(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await counts(sessions) == before


GRANT = """mutation G($input: GrantEntitlementInput!, $key: String!) {
  grantEntitlement(input: $input, idempotencyKey: $key) { __typename }
}"""


async def test_annotated_fields_are_refused_by_the_subgraph_itself(
    gql: GraphQLClient, settings: Settings, sessions
) -> None:
    # parties is @authenticated; grantEntitlement is @policy(role:ops | role:admin): an RM may not grant access.
    from shared.auth import issue_dev_token

    anonymous = await gql.with_token(None)("{ parties(first: 1) { totalCount } }")
    assert anonymous["data"] is None and anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    party = (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]
    grant = {"partyId": party["id"], "userSub": "cust-9", "permissions": ["VIEW"], "validFrom": "2025-01-01"}
    before = await counts(sessions)
    rm = gql.with_token(issue_dev_token(settings, role="rm", sub="rm-9"))
    body = await rm(GRANT, {"input": grant, "key": uuid.uuid4().hex})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await counts(sessions) == before
    assert (await gql.data(GRANT, {"input": grant, "key": uuid.uuid4().hex}))["grantEntitlement"]["__typename"] == (
        "Entitlement"
    )


BAD_INPUTS = [
    ("empty name", {"legalName": "  "}, "legalName"),
    ("10 KB name", {"legalName": "x" * 10_240}, "legalName"),
    ("invalid tax residence", {"taxResidences": ["XX"]}, "taxResidences"),
    ("lower-case country", {"taxResidences": ["gb"]}, "taxResidences"),
    ("invalid address country", {"addresses": [{"addressType": "REGISTERED", "lines": ["1 A St"], "city": "X",
                                                "country": "ZZ"}]}, "country"),
    ("bad e-mail", {"contactPoints": [{"contactType": "EMAIL", "value": "nope"}]}, "value"),
    ("future incorporation", {"incorporationDate": "2999-01-01"}, "incorporationDate"),
    ("person with registration number", {"partyType": "PERSON"}, "partyType"),
]


@pytest.mark.parametrize(("case", "overrides", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
async def test_bad_input_is_refused_and_writes_nothing(gql: GraphQLClient, sessions, case, overrides, field) -> None:
    before = await counts(sessions)
    body = await gql(REGISTER, {"input": org_input(**overrides), "key": uuid.uuid4().hex})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"].get("field") == field
    assert "Internal" not in error["message"]
    assert await counts(sessions) == before


async def test_unknown_enum_value_is_a_validation_error(gql: GraphQLClient, sessions) -> None:
    before = await counts(sessions)
    body = await gql(REGISTER, {"input": org_input(partyType="ROBOT"), "key": uuid.uuid4().hex})
    assert body["data"] is None and "ROBOT" in body["errors"][0]["message"]
    assert await counts(sessions) == before


async def test_malformed_id_is_bad_user_input(gql: GraphQLClient) -> None:
    body = await gql('{ party(id: "not-a-uuid") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    missing = await gql.data("query($id: ID!) { party(id: $id) { id } }", {"id": str(uuid.uuid4())})
    assert missing["party"] is None


async def test_page_size_bounds(gql: GraphQLClient) -> None:
    for first in (0, 101):
        body = await gql(f"{{ parties(first: {first}) {{ totalCount }} }}")
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_parties_pagination_walks_every_row_once(gql: GraphQLClient) -> None:
    prefix = f"Paging {uuid.uuid4().hex[:6]}"
    for i in range(7):
        await gql.data(REGISTER, {"input": org_input(legalName=f"{prefix} {i}"), "key": uuid.uuid4().hex})
    seen, after = [], None
    query = """query($f: PartyFilterInput, $after: String) { parties(filter: $f, first: 3, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { legalName } } } }"""
    while True:
        page = (await gql.data(query, {"f": {"namePrefix": prefix}, "after": after}))["parties"]
        assert page["totalCount"] == 7
        seen += [e["node"]["legalName"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(f"{prefix} {i}" for i in range(7))


async def test_entities_resolve_in_one_batch(gql: GraphQLClient) -> None:
    ids = [(await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
           for _ in range(3)]
    reps = [{"__typename": "Party", "id": i} for i in ids] + [{"__typename": "Party", "id": str(uuid.uuid4())}]
    data = await gql.data("query($r: [_Any!]!) { _entities(representations: $r) { ... on Party { id legalName } } }",
                          {"r": reps})
    assert [e["id"] if e else None for e in data["_entities"]] == [*ids, None]


async def test_service_sdl_is_federation_2(gql: GraphQLClient) -> None:
    sdl = (await gql.with_token(None).data("{ _service { sdl } }"))["_service"]["sdl"]
    assert 'type Party @key(fields: "id")' in sdl
    assert "https://specs.apollo.dev/federation/v2.9" in sdl


GRANT = """mutation($input: GrantEntitlementInput!, $key: String!) {
  grantEntitlement(input: $input, idempotencyKey: $key) { __typename ... on Entitlement { id } } }"""


async def _sees(client: GraphQLClient, party_id: str) -> bool:
    return (await client.data("query($id: ID!) { party(id: $id) { id } }", {"id": party_id}))["party"] is not None


async def test_customer_sees_only_own_parties(gql: GraphQLClient, settings: Settings) -> None:
    from shared.auth import issue_dev_token

    mine = (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
    other = (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
    sub = f"c-{uuid.uuid4().hex[:8]}"
    # The token's party_ids claim grants nothing: only an entitlement (through the read model) does.
    customer = gql.with_token(issue_dev_token(settings, role="customer", sub=sub, party_ids=[mine, other]))
    query = "query($id: ID!) { party(id: $id) { id } }"
    assert (await customer.data(query, {"id": mine}))["party"] is None
    granted = await gql.data(GRANT, {"input": {"partyId": mine, "userSub": sub, "permissions": ["VIEW"],
                                               "validFrom": "2020-01-01"}, "key": uuid.uuid4().hex})
    assert granted["grantEntitlement"]["__typename"] == "Entitlement"
    await eventually(lambda: _sees(customer, mine))
    assert (await customer.data(query, {"id": mine}))["party"]["id"] == mine
    assert (await customer.data(query, {"id": other}))["party"] is None
    listed = await customer.data("{ parties(first: 100) { totalCount edges { node { id } } } }")
    assert [e["node"]["id"] for e in listed["parties"]["edges"]] == [mine]


async def test_lifecycle_over_graphql(gql: GraphQLClient) -> None:
    party_id = (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
    step = """mutation($id: ID!) { %s(partyId: $id, reason: "checked") {
        __typename ... on Party { status version } ... on DomainError { code } } }"""
    expected = [("submitPartyForVerification", "PENDING_VERIFICATION"), ("activateParty", "ACTIVE"),
                ("restrictParty", "RESTRICTED"), ("liftPartyRestriction", "ACTIVE"), ("closeParty", "CLOSED"),
                ("reopenParty", "ACTIVE")]
    for version, (mutation, status) in enumerate(expected, start=2):
        result = (await gql.data(step % mutation, {"id": party_id}))[mutation]
        assert result == {"__typename": "Party", "status": status, "version": version}
    refused = (await gql.data(step % "rejectParty", {"id": party_id}))["rejectParty"]
    assert refused == {"__typename": "InvalidTransition", "code": "INVALID_TRANSITION"}
