"""The platform end to end: party, product and account subgraphs behind the router, seeded through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.app import create_app as create_router
from router.config import RouterSettings
from shared.auth import issue_dev_token
from shared.cli import router_token_validator
from shared.config import Settings
from shared.migrations import upgrade
from shared.seed import SeedContext
from subgraphs.account.app import create_app as create_account
from subgraphs.account.seed import seed as seed_accounts
from subgraphs.party.app import create_app as create_party
from subgraphs.party.seed import seed as seed_parties
from subgraphs.product.app import create_app as create_product
from subgraphs.product.seed import seed as seed_products
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.support import provision

SUPERGRAPH = Path(__file__).resolve().parents[1] / "schema" / "supergraph.graphql"
CUSTOMER_360 = """query Customer360($id: ID!) {
  party(id: $id) {
    legalName status relationshipManagerId
    group { party { id } children { ownershipPct party { id legalName } } }
    contactRoles { role person { legalName } }
    consents { purpose channel decision }
    accounts {
      id status
      bookedBalance { amount currency } availableBalance { amount currency }
      product { code version family currency }
    }
  }
}"""


@pytest.fixture(scope="module")
def settings(private_settings: Settings) -> Settings:
    # Private servers: this module seeds the demo bank, whose fixed keys the domain suites also use.
    return private_settings


@pytest.fixture(scope="module")
async def platform(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    patch = pytest.MonkeyPatch()
    patch.setenv("FINPACE_DATA_DIR", str(settings.data_dir))  # the product seed signs its checker's token here
    await provision(settings.nats_url or "")
    urls: dict[str, str] = {}
    async with serve(create_party(settings)) as party, serve(create_product(settings)) as product, \
            serve(create_account(settings)) as account:
        for name, base in (("party", party), ("product", product), ("account", account)):
            await upgrade(settings, name)
            urls[name] = f"{base}/graphql"
        router_settings = RouterSettings(supergraph=SUPERGRAPH, subgraph_urls=urls, expose_query_plan=True,
                                         subgraph_timeout=10)
        async with serve(create_router(router_settings, token_validator=router_token_validator(settings))) as r, \
                httpx.AsyncClient(timeout=60) as http:
            token = issue_dev_token(settings, role="admin", sub="seed-admin")
            ctx = SeedContext(http=http, urls=urls, token=token, count=12)
            for seed in (seed_parties, seed_products, seed_accounts):
                await seed(ctx)
            yield {"router": f"{r}/graphql", "http": http, "state": ctx.state, "urls": urls}
    patch.undo()


def client(platform: dict[str, Any], settings: Settings, **claims: Any) -> GraphQLClient:
    token = issue_dev_token(settings, **{"role": "ops", "sub": "ops-1", **claims})
    return GraphQLClient(platform["http"], platform["router"], token)


async def test_customer_360_spans_party_account_and_product(platform: dict[str, Any], settings: Settings) -> None:
    accounts = platform["state"]["account.accounts"]
    assert accounts, "the account seed opened no account"
    gql = client(platform, settings)
    head = platform["state"]["party.organisations"][0]
    party = (await gql.data(CUSTOMER_360, {"id": head}))["party"]
    assert party["status"] == "ACTIVE"
    assert {c["party"]["id"] for c in party["group"]["children"]} == set(platform["state"]["party.organisations"][1:3])
    assert sorted(r["role"] for r in party["contactRoles"]) == ["AUTHORISED_SIGNATORY", "DIRECTOR"]
    assert party["accounts"], "the group head has an account in the demo bank"
    for account in party["accounts"]:
        booked, available = account["bookedBalance"], account["availableBalance"]
        assert booked["currency"] == available["currency"] == account["product"]["currency"]
        assert Decimal(available["amount"]) >= Decimal(booked["amount"])  # overdraft headroom, no holds
        assert account["product"]["family"] == "CURRENT_ACCOUNT"
        assert len(booked["amount"].split(".")[1]) == 2  # exactly the currency's minor digits


async def test_router_matches_the_subgraphs(platform: dict[str, Any], settings: Settings) -> None:
    # The same account read through the router and straight from the account subgraph agree to the cent.
    gql = client(platform, settings)
    head = platform["state"]["party.organisations"][0]
    via_router = (await gql.data(CUSTOMER_360, {"id": head}))["party"]["accounts"]
    direct = GraphQLClient(platform["http"], platform["urls"]["account"], gql.token)
    reps = [{"__typename": "Party", "id": head}]
    entities = await direct.data("""query($r: [_Any!]!) { _entities(representations: $r) { ... on Party {
        accounts { id bookedBalance { amount currency } availableBalance { amount currency } } } } }""", {"r": reps})
    assert [{k: a[k] for k in ("id", "bookedBalance", "availableBalance")} for a in via_router] == \
        entities["_entities"][0]["accounts"]


async def test_a_customer_sees_only_its_own_party(platform: dict[str, Any], settings: Settings) -> None:
    mine, other = platform["state"]["party.organisations"][:2]
    gql = client(platform, settings, role="customer", sub="cust-1", party_ids=[mine])
    assert (await gql.data(CUSTOMER_360, {"id": mine}))["party"]["legalName"]
    assert (await gql.data(CUSTOMER_360, {"id": other}))["party"] is None


async def test_a_missing_subgraph_gives_partial_data_and_names_it(platform: dict[str, Any],
                                                                   settings: Settings) -> None:
    # Lending is not running here. `loans` is non-null, so its failure nulls the `withLoans` party (GraphQL null
    # propagation) while the other root field keeps its data; the error names the missing subgraph.
    head = platform["state"]["party.organisations"][0]
    body = await client(platform, settings)(
        "query($id: ID!) { plain: party(id: $id) { legalName } withLoans: party(id: $id) { legalName loans { id } } }",
        {"id": head})
    assert body["data"]["plain"]["legalName"]
    assert body["data"]["withLoans"] is None
    assert any(e.get("extensions", {}).get("service") == "consumer_lending" for e in body["errors"])


async def test_the_router_refuses_a_bad_token_with_401(platform: dict[str, Any]) -> None:
    bad = GraphQLClient(platform["http"], platform["router"], "not.a.token")
    response = await bad.raw("{ parties { totalCount } }")
    assert response.status_code == 401
