"""Commands that find nothing to change (found by fuzzing): they answer with the party as it is and write nothing."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import GraphQLClient
from tests.subgraphs.party.conftest import REGISTER, counts, org_input

PARTY = "__typename ... on Party { id legalName industryCode relationshipManagerId version }"
DETAILS = f"""mutation($p: ID!) {{ updatePartyDetails(partyId: $p, input: {{ industryCode: "62.01" }},
  reason: "reclassified") {{ {PARTY} }} }}"""
ASSIGN = f"""mutation($p: ID!) {{ assignRelationshipManager(partyId: $p, rmId: "rm-07", reason: "portfolio move") {{
  {PARTY} }} }}"""


async def test_a_repeated_command_returns_the_unchanged_party(
    gql: GraphQLClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    party_id = (await gql.data(REGISTER, {"input": org_input(), "key": uuid.uuid4().hex}))["registerParty"]["id"]
    for mutation in (DETAILS, ASSIGN):
        first = next(iter((await gql.data(mutation, {"p": party_id})).values()))
        before = await counts(sessions)
        again = await gql(mutation, {"p": party_id})
        assert "errors" not in again, again["errors"]
        assert next(iter(again["data"].values())) == first
        assert first["industryCode"] == "62.01" or first["relationshipManagerId"] == "rm-07"
        assert await counts(sessions) == before
