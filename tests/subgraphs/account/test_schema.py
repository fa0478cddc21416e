"""The account subgraph's SDL snapshot and federation surface."""

from __future__ import annotations

import uuid
from pathlib import Path

from subgraphs.account.schema import build_schema
from tests.helpers import GraphQLClient
from tests.subgraphs.account.conftest import OpenFn
from tests.subgraphs.support import apply_access, granted

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema" / "account.graphql"


async def test_sdl_snapshot_is_current() -> None:
    # `finpace schema export` writes this file; a stale snapshot means the graph changed unannounced.
    assert SNAPSHOT.read_text() == build_schema().as_str() + "\n"


async def test_entities_resolve_party_accounts_and_account_refs(gql: GraphQLClient, open_active: OpenFn) -> None:
    party = str(uuid.uuid4())
    first = await open_active(partyId=party, funded="250.00")
    second = await open_active(partyId=party, overdraft="100.00")
    data = await gql.data("""query($reps: [_Any!]!) { _entities(representations: $reps) {
        ... on Party { id accounts { id bookedBalance { amount currency } availableBalance { amount }
                                    holder { id } product { id } } }
        ... on Account { id status } } }""",
                          {"reps": [{"__typename": "Party", "id": party}, {"__typename": "Account", "id": first}]})
    party_view, account_view = data["_entities"]
    assert [a["id"] for a in party_view["accounts"]] == [first, second]
    assert party_view["accounts"][0]["bookedBalance"] == {"amount": "250.00", "currency": "EUR"}
    assert party_view["accounts"][1]["availableBalance"]["amount"] == "100.00"
    assert party_view["accounts"][0]["holder"]["id"] == party
    assert account_view == {"id": first, "status": "ACTIVE"}


async def test_customers_see_only_their_own_accounts(gql: GraphQLClient, open_active: OpenFn, settings,
                                                     sessions) -> None:
    from shared.auth import issue_dev_token

    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    my_account = await open_active(partyId=mine)
    their_account = await open_active(partyId=theirs)
    await apply_access(sessions, granted(mine, "cust-1"))  # the read model, not the token, says whose parties
    token = issue_dev_token(settings, role="customer", sub="cust-1", party_ids=[mine, theirs])
    customer = gql.with_token(token)
    query = "query($id: ID!) { account(id: $id) { id } }"
    assert (await customer.data(query, {"id": my_account}))["account"] == {"id": my_account}
    assert (await customer.data(query, {"id": their_account}))["account"] is None
    body = await customer("""mutation($id: ID!) { receivePayment(accountId: $id, amount: {amount: "1.00",
        currency: "EUR"}, idempotencyKey: "x") { __typename } }""", {"id": my_account})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_annotated_fields_are_refused_by_the_subgraph_itself(gql: GraphQLClient, open_active: OpenFn,
                                                                    settings) -> None:
    # account is @authenticated, payment @policy(ops | rm | admin | auditor), activateAccount @policy(ops | admin).
    from shared.auth import issue_dev_token

    account = await open_active()
    anonymous = await gql.with_token(None)("query($id: ID!) { account(id: $id) { id } }", {"id": account})
    assert anonymous["data"] == {"account": None}
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    customer = gql.with_token(issue_dev_token(settings, role="customer", sub="cust-2"))
    body = await customer("query($id: ID!) { payment(id: $id) { id } }", {"id": str(uuid.uuid4())})
    assert body["data"] == {"payment": None} and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    rm = gql.with_token(issue_dev_token(settings, role="rm", sub="rm-2"))
    body = await rm("""mutation($id: ID!) { closeAccount(accountId: $id, reason: "r") { __typename } }""",
                    {"id": account})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    auditor = gql.with_token(issue_dev_token(settings, role="auditor", sub="aud-2"))
    assert (await auditor.data("query($id: ID!) { payment(id: $id) { id } }", {"id": str(uuid.uuid4())})) == {
        "payment": None
    }
