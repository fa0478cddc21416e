"""An ownership percentage that is not a finite number is BAD_USER_INPUT, nothing written (found by fuzzing)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import GraphQLClient
from tests.subgraphs.party.conftest import REGISTER, counts, org_input

LINK = """mutation($input: LinkPartiesInput!, $key: String!) {
  linkParties(input: $input, reason: "group structure", idempotencyKey: $key) { __typename } }"""


@pytest.mark.parametrize("pct", ["NaN", "sNaN", "-sNaN", "Infinity", "-Infinity"])
async def test_a_non_finite_ownership_is_refused(
    gql: GraphQLClient, sessions: async_sessionmaker[AsyncSession], pct: str
) -> None:
    parent, child = [
        (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
        for _ in range(2)
    ]
    before = await counts(sessions)
    link = {"fromPartyId": parent, "toPartyId": child, "relationshipType": "PARENT_OF", "ownershipPct": pct}
    body = await gql(LINK, {"input": link, "key": uuid.uuid4().hex})
    assert body["data"] is None
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]] == [
        ("BAD_USER_INPUT", "ownershipPct")
    ]
    assert await counts(sessions) == before
