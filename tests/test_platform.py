"""The platform end to end: party, product and account subgraphs behind the router, seeded through the API."""

from __future__ import annotations

import asyncio
import random
import uuid
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
from tests.subgraphs.support import eventually, provision

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
    sub, parties = next(iter(platform["state"]["party.customers"].items()))
    mine = parties[-1]  # an organisation the customer holds a role on
    other = next(p for p in platform["state"]["party.organisations"] if p not in parties)
    # The token's party_ids claim grants nothing; the seeded entitlement (through the read model) does.
    gql = client(platform, settings, role="customer", sub=sub, party_ids=[other])
    await eventually(lambda: _visible(gql, mine))
    assert (await gql.data(CUSTOMER_360, {"id": mine}))["party"]["accounts"] is not None
    assert (await gql.data(CUSTOMER_360, {"id": other}))["party"] is None


async def _visible(gql: GraphQLClient, party_id: str) -> bool:
    body = await gql.data("query($id: ID!) { party(id: $id) { id accounts { id } } }", {"id": party_id})
    return body["party"] is not None


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


PROBE = "query Probe($id: ID!) { party(id: $id) { id legalName accounts { id } } }"
ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Party { id %s } } }"""


async def _sees_all(gql: GraphQLClient, parties: list[str]) -> bool:
    for party_id in parties:
        if (await gql.data(PROBE, {"id": party_id}))["party"] is None:
            return False
    return True


async def test_no_cross_customer_or_cross_portfolio_reads(platform: dict[str, Any], settings: Settings) -> None:
    state, http, urls = platform["state"], platform["http"], platform["urls"]
    everyone = state["party.organisations"] + state["party.persons"]
    sub, own = next(iter(state["party.customers"].items()))
    rm_id = state["party.rms"][0]
    portfolio = state["party.portfolios"][rm_id]
    viewers = [(client(platform, settings, role="customer", sub=sub, party_ids=everyone), own),
               (client(platform, settings, role="rm", sub=rm_id, party_ids=everyone), portfolio)]
    ops = client(platform, settings)
    holders = {a: (await ops.data("query($id: ID!) { account(id: $id) { holder { id } } }", {"id": a}))[
        "account"]["holder"]["id"] for a in state["account.accounts"]}
    rng, gate = random.Random(20261122), asyncio.Semaphore(8)
    for gql, allowed in viewers:
        await eventually(lambda g=gql, a=allowed: _sees_all(g, a))  # the read models have caught up
        foreign = [p for p in everyone if p not in allowed]
        assert foreign, "the demo bank must have parties outside this scope"
        listed = (await gql.data("{ parties(first: 100) { totalCount edges { node { id } } } }"))["parties"]
        assert sorted(e["node"]["id"] for e in listed["edges"]) == sorted(allowed) and \
            listed["totalCount"] == len(allowed)
        # Through the subgraphs: 2,000 random ids and every foreign id in one _entities batch each.
        ids = foreign + [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(2000)]
        reps = [{"__typename": "Party", "id": i} for i in ids + allowed]
        party_sub = GraphQLClient(http, urls["party"], gql.token)
        found = (await party_sub.data(ENTITIES % "legalName", {"r": reps}))["_entities"]
        assert [e["id"] if e else None for e in found] == [None] * len(ids) + allowed
        account_sub = GraphQLClient(http, urls["account"], gql.token)
        found = (await account_sub.data(ENTITIES % "accounts { id }", {"r": reps}))["_entities"]
        assert all(e["accounts"] == [] for e in found[:len(ids)])
        for account_id, holder in holders.items():
            got = (await account_sub.data("query($id: ID!) { account(id: $id) { id } }", {"id": account_id}))
            assert (got["account"] is not None) == (holder in allowed)
        # Through the router: another's party and a random id answer byte for byte alike.
        async def probe(party_id: str, g: GraphQLClient = gql) -> str:
            async with gate:
                return (await g.raw(PROBE, {"id": party_id})).text

        sample = foreign + ids[len(foreign):len(foreign) + 1000]
        answers = await asyncio.gather(*[probe(p) for p in sample])
        assert set(answers) == {'{"data":{"party":null}}'}, set(answers)
