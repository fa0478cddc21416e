"""The party demo seed runs through the public API and is safe to run twice."""

from __future__ import annotations

import httpx

from shared.seed import SeedContext
from subgraphs.party import seed
from tests.helpers import GraphQLClient


async def test_seed_builds_groups_roles_and_consents(http: httpx.AsyncClient, party_url: str, ops_token: str,
                                                     gql: GraphQLClient) -> None:
    ctx = SeedContext(http=http, urls={"party": party_url}, token=ops_token, count=24)
    await seed.seed(ctx)
    organisations = ctx.state["party.organisations"]
    assert len(organisations) == 16
    assert len(ctx.state["party.persons"]) == 8
    head = await gql.data("""query($id: ID!) { party(id: $id) { status relationshipManagerId
        group { children { ownershipPct party { id } children { party { id } } } }
        contactRoles { role } consents { purpose channel decision } } }""", {"id": organisations[0]})
    party = head["party"]
    assert party["status"] == "ACTIVE"
    assert party["relationshipManagerId"] == "rm-01"
    children = {c["party"]["id"]: c for c in party["group"]["children"]}
    assert set(children) == {organisations[1], organisations[2]}
    assert [g["party"]["id"] for g in children[organisations[2]]["children"]] == [organisations[3]]
    assert sorted(r["role"] for r in party["contactRoles"]) == ["AUTHORISED_SIGNATORY", "DIRECTOR"]
    assert party["consents"] == [{"purpose": "MARKETING", "channel": "EMAIL", "decision": "REFUSED"}]

    # Every mutation carries a deterministic idempotency key, so a second run changes nothing.
    again = SeedContext(http=http, urls={"party": party_url}, token=ops_token, count=24)
    await seed.seed(again)
    assert again.state["party.organisations"] == organisations
