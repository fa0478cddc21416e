"""The customer-360 and RM workbench views: persisted operations called by id through the router, seeded platform."""

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
from router.config import DEFAULT_OPERATIONS, RouterSettings
from router.persisted import sha256_hex
from shared.auth import issue_dev_token
from shared.cli import router_token_validator
from shared.config import Settings
from shared.migrations import upgrade
from shared.seed import SeedContext
from subgraphs.account.app import create_app as create_account
from subgraphs.account.seed import seed as seed_accounts
from subgraphs.consumer_lending.app import create_app as create_consumer_lending
from subgraphs.consumer_lending.seed import seed as seed_consumer_lending
from subgraphs.corporate_lending.app import create_app as create_corporate_lending
from subgraphs.corporate_lending.seed import seed as seed_corporate_lending
from subgraphs.party.app import create_app as create_party
from subgraphs.party.seed import seed as seed_parties
from subgraphs.product.app import create_app as create_product
from subgraphs.product.seed import seed as seed_products
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.support import provision

SUPERGRAPH = Path(__file__).resolve().parents[1] / "schema" / "supergraph.graphql"
ACCOUNTS_OF = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Party {
  accounts { id bookedBalance { amount currency } availableBalance { amount currency } } } } }"""


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
            serve(create_account(settings)) as account, serve(create_consumer_lending(settings)) as consumer, \
            serve(create_corporate_lending(settings)) as corporate:
        served = (("party", party), ("product", product), ("account", account),
                  ("consumer_lending", consumer), ("corporate_lending", corporate))
        for name, base in served:
            await upgrade(settings, name)
            urls[name] = f"{base}/graphql"
        router_settings = RouterSettings(supergraph=SUPERGRAPH, subgraph_urls=urls, subgraph_timeout=10,
                                         operations_dir=DEFAULT_OPERATIONS)
        async with serve(create_router(router_settings, token_validator=router_token_validator(settings))) as r, \
                httpx.AsyncClient(timeout=60) as http:
            token = issue_dev_token(settings, role="admin", sub="seed-admin")
            ctx = SeedContext(http=http, urls=urls, token=token, count=12)
            for seed in (seed_parties, seed_products, seed_accounts, seed_corporate_lending, seed_consumer_lending):
                await seed(ctx)
            yield {"router": f"{r}/graphql", "http": http, "state": ctx.state, "urls": urls}
    patch.undo()


def ops_token(settings: Settings) -> str:
    return issue_dev_token(settings, role="ops", sub="ops-1")


async def call(platform: dict[str, Any], settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    """POSTs a persisted-operation request (no query text) to the router; asserts complete data."""
    response = await platform["http"].post(
        platform["router"], json=body, headers={"authorization": f"Bearer {ops_token(settings)}"})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert "errors" not in result, result["errors"]
    return result


def apq(name: str) -> dict[str, Any]:
    sha = sha256_hex((DEFAULT_OPERATIONS / f"{name}.graphql").read_text(encoding="utf-8"))
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


async def direct_accounts(platform: dict[str, Any], settings: Settings, party_id: str) -> list[dict[str, Any]]:
    """A party's accounts read straight from the account subgraph (not through the router)."""
    direct = GraphQLClient(platform["http"], platform["urls"]["account"], ops_token(settings))
    data = await direct.data(ACCOUNTS_OF, {"r": [{"__typename": "Party", "id": party_id}]})
    accounts: list[dict[str, Any]] = data["_entities"][0]["accounts"]
    return accounts


async def test_customer_360_by_document_id(platform: dict[str, Any], settings: Settings) -> None:
    orgs, persons = platform["state"]["party.organisations"], platform["state"]["party.persons"]
    head = orgs[0]
    party = (await call(platform, settings, {"documentId": "Customer360", "variables": {"partyId": head}}))["data"][
        "party"]
    assert party["id"] == head and party["status"] == "ACTIVE" and party["partyType"] == "ORGANISATION"
    assert party["legalName"].endswith(" Ltd") and party["relationshipManagerId"] == "rm-01"
    assert party["addresses"][0]["addressType"] == "REGISTERED"
    # Group tree: the head owns orgs 1 (100 %) and 2 (75 %); org 2 owns org 3 (51 %).
    group = party["group"]
    assert group["party"]["id"] == head
    children = {c["party"]["id"]: c for c in group["children"]}
    assert set(children) == {orgs[1], orgs[2]}
    assert Decimal(children[orgs[1]]["ownershipPct"]) == 100 and Decimal(children[orgs[2]]["ownershipPct"]) == 75
    grandchildren = children[orgs[2]]["children"]
    assert [(g["party"]["id"], Decimal(g["ownershipPct"])) for g in grandchildren] == [(orgs[3], 51)]
    assert all(c["party"]["legalName"] for c in group["children"])
    # Contact roles, with the person resolved.
    assert sorted(r["role"] for r in party["contactRoles"]) == ["AUTHORISED_SIGNATORY", "DIRECTOR"]
    assert {r["person"]["id"] for r in party["contactRoles"]} == {persons[0]}
    assert all(r["active"] and r["person"]["legalName"] for r in party["contactRoles"])
    # Consents in force: the seed refused marketing e-mail for every third organisation, the head included.
    assert [(c["purpose"], c["channel"], c["decision"]) for c in party["consents"]] == \
        [("MARKETING", "EMAIL", "REFUSED")]
    # Accounts: balances as the account subgraph has them, the overdraft the seed granted, and the product.
    assert party["accounts"], "the group head has an account in the demo bank"
    direct = await direct_accounts(platform, settings, head)
    assert [{k: a[k] for k in ("id", "bookedBalance", "availableBalance")} for a in party["accounts"]] == direct
    for account in party["accounts"]:
        assert account["id"] in platform["state"]["account.accounts"]
        assert account["status"] == "ACTIVE"
        overdraft = account["overdraft"]
        assert overdraft["limit"] == {"amount": "5000.00", "currency": account["currency"]}  # i % 3 == 0
        assert overdraft["headroom"] == overdraft["limit"]
        booked, available = Decimal(account["bookedBalance"]["amount"]), Decimal(account["availableBalance"]["amount"])
        assert available == booked - Decimal(account["heldAmount"]["amount"]) + Decimal(overdraft["headroom"]["amount"])
        product = account["product"]
        assert product["code"] and product["name"] and isinstance(product["version"], int)
        assert product["family"] == "CURRENT_ACCOUNT" and product["currency"] == account["currency"]
    # Lending: the head is the first corporate borrower; its facility failed its leverage covenant.
    assert party["loans"] == []
    [facility] = party["facilities"]
    assert facility["id"] == platform["state"]["corporate_lending.facilities"][0]
    assert facility["status"] == "SUSPENDED" and facility["covenants"][0]["status"] == "BREACHED"
    assert facility["limit"]["currency"] == party["accounts"][0]["currency"]
    [drawdown] = facility["drawdowns"]
    assert drawdown["status"] == "ACTIVE" and drawdown["overdueInstallments"] == 1
    assert drawdown["principalOutstanding"]["amount"] == "120000.00"
    assert Decimal(facility["drawn"]["amount"]) == 120000
    # The facility's product version, resolved by the router from the product subgraph.
    ccy = facility["limit"]["currency"]
    assert facility["product"] == {"id": platform["state"]["product.by_code"][f"RCF-{ccy}"], "code": f"RCF-{ccy}",
                                   "version": 1, "name": "Revolving Credit Facility", "family": "REVOLVING_FACILITY",
                                   "currency": ccy}


async def test_customer_360_by_apq_hash_answers_the_same(platform: dict[str, Any], settings: Settings) -> None:
    head = platform["state"]["party.organisations"][0]
    variables = {"partyId": head}
    by_name = await call(platform, settings, {"documentId": "Customer360", "variables": variables})
    by_hash = await call(platform, settings, {"extensions": apq("Customer360"), "variables": variables})
    by_id = await call(platform, settings, {"id": "Customer360", "variables": variables})
    assert by_hash == by_name == by_id


async def test_rm_workbench_lists_exactly_the_rms_parties(platform: dict[str, Any], settings: Settings) -> None:
    # The expected portfolio comes straight from the party subgraph, not through the router.
    party = GraphQLClient(platform["http"], platform["urls"]["party"], ops_token(settings))
    expected = await party.data("""{ parties(filter: {relationshipManagerId: "rm-01"}, first: 100) {
        edges { node { id } } } }""")
    expected_ids = {e["node"]["id"] for e in expected["parties"]["edges"]}
    assert expected_ids, "the party seed assigns organisations to rm-01"
    body = await call(platform, settings, {"extensions": apq("RmWorkbench"), "variables": {"rmId": "rm-01"}})
    portfolio = body["data"]["parties"]
    nodes = [e["node"] for e in portfolio["edges"]]
    assert {n["id"] for n in nodes} == expected_ids
    assert portfolio["totalCount"] == len(expected_ids) and not portfolio["pageInfo"]["hasNextPage"]
    assert all(n["relationshipManagerId"] == "rm-01" for n in nodes)
    with_accounts = 0
    for node in nodes:
        direct = await direct_accounts(platform, settings, node["id"])
        assert [a["id"] for a in node["accounts"]] == [a["id"] for a in direct]
        for account, mirror in zip(node["accounts"], direct, strict=True):
            assert account["availableBalance"] == mirror["availableBalance"]
            assert account["overdraft"]["limit"]["currency"] == account["bookedBalance"]["currency"]
            assert account["product"]["code"]
        with_accounts += bool(node["accounts"])
        assert all(c["purpose"] and c["decision"] for c in node["consents"])
    assert with_accounts, "rm-01's portfolio includes a customer with an account"


async def test_rm_workbench_by_document_id_matches_by_hash(platform: dict[str, Any], settings: Settings) -> None:
    variables = {"rmId": "rm-01"}
    by_name = await call(platform, settings, {"documentId": "RmWorkbench", "variables": variables})
    by_hash = await call(platform, settings, {"extensions": apq("RmWorkbench"), "variables": variables})
    assert by_name == by_hash
    empty = await call(platform, settings, {"documentId": "RmWorkbench", "variables": {"rmId": "rm-nobody"}})
    assert empty["data"]["parties"]["edges"] == [] and empty["data"]["parties"]["totalCount"] == 0


async def test_an_unknown_view_is_400(platform: dict[str, Any], settings: Settings) -> None:
    response = await platform["http"].post(platform["router"], json={"documentId": "Customer361"},
                                           headers={"authorization": f"Bearer {ops_token(settings)}"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_rm_workbench_carries_the_alert_signals(platform: dict[str, Any], settings: Settings) -> None:
    # docs/router.md maps alerts to fields; here two of them come from the seed, one is set for the test.
    orgs = platform["state"]["party.organisations"]
    pending = await call(platform, settings, {"documentId": "RmWorkbench", "variables": {"rmId": "rm-08"}})
    statuses = {e["node"]["id"]: e["node"]["status"] for e in pending["data"]["parties"]["edges"]}
    assert statuses[orgs[7]] == "PENDING_VERIFICATION"  # the seed leaves external ids ending in 7 unverified
    head = orgs[0]
    account_id = (await direct_accounts(platform, settings, head))[0]["id"]
    admin = GraphQLClient(platform["http"], platform["urls"]["account"],
                          issue_dev_token(settings, role="admin", sub="rm-test"))
    restrict = """mutation($id: ID!, $on: Boolean!) { setAccountRestriction(accountId: $id,
        restriction: DEBIT_BLOCKED, applied: $on, reason: "workbench alert test") { __typename } }"""
    assert (await admin.data(restrict, {"id": account_id, "on": True}))["setAccountRestriction"]["__typename"] == \
        "Account"
    try:
        body = await call(platform, settings, {"documentId": "RmWorkbench", "variables": {"rmId": "rm-01"}})
        node = next(e["node"] for e in body["data"]["parties"]["edges"] if e["node"]["id"] == head)
        account = next(a for a in node["accounts"] if a["id"] == account_id)
        assert account["restrictions"] == ["DEBIT_BLOCKED"]  # the blocked-account alert
        assert [c["decision"] for c in node["consents"]] == ["REFUSED"]  # the refused-consent alert
    finally:
        await admin.data(restrict, {"id": account_id, "on": False})


async def test_rm_workbench_shows_payments_waiting_for_authorisation(platform: dict[str, Any],
                                                                      settings: Settings) -> None:
    # The account seed leaves one 12,000 payment per mandated account waiting for a B signatory.
    pending = []
    for rm in platform["state"]["party.rms"]:
        body = await call(platform, settings, {"documentId": "RmWorkbench", "variables": {"rmId": rm}})
        pending += [p for e in body["data"]["parties"]["edges"] for a in e["node"]["accounts"]
                    for p in a["pendingPayments"]]
    assert pending, "the seed's mandated accounts have payments waiting"
    assert {p["amount"]["amount"] for p in pending} == {"12000.00"}
    assert all(len(p["approvals"]) == 1 for p in pending)  # the initiator's approval; a B signatory is missing


async def test_views_carry_the_lending_alerts(platform: dict[str, Any], settings: Settings) -> None:
    # The lending seeds leave a covenant breach, an overdue instalment, a hardship request and a loan in arrears.
    nodes = []
    for rm in platform["state"]["party.rms"]:
        body = await call(platform, settings, {"documentId": "RmWorkbench", "variables": {"rmId": rm}})
        nodes += [e["node"] for e in body["data"]["parties"]["edges"]]
    facilities = [f for n in nodes for f in n["facilities"]]
    loans = [loan for n in nodes for loan in n["loans"]]
    assert {f["id"] for f in facilities} == set(platform["state"]["corporate_lending.facilities"])
    assert {loan["id"] for loan in loans} == set(platform["state"]["consumer_lending.loans"])
    breached = [f for f in facilities if any(c["status"] == "BREACHED" for c in f["covenants"])]
    assert [f["status"] for f in breached] == ["SUSPENDED"]
    assert sorted(f["overdueInstallments"] for f in facilities) == [0, 1]
    assert [f["overdueInstallments"] for f in breached] == [1]
    first, second = platform["state"]["consumer_lending.loans"]
    by_id = {loan["id"]: loan for loan in loans}
    assert by_id[first]["openHardshipStatus"] == "REQUESTED"
    assert by_id[second]["daysPastDue"] > 0 and by_id[second]["delinquencyBucket"] != "CURRENT"
    assert by_id[first]["delinquencyBucket"] == "CURRENT" and by_id[second]["openHardshipStatus"] is None
    # The customer 360 of the loan's borrower shows the same loan with its schedule's money.
    holder = next(n["id"] for n in nodes if any(loan["id"] == first for loan in n["loans"]))
    party = (await call(platform, settings, {"documentId": "Customer360", "variables": {"partyId": holder}}))[
        "data"]["party"]
    [loan] = party["loans"]
    assert loan["status"] == "ACTIVE" and loan["principal"]["amount"] == "15000.00"
    assert loan["settlementAccountId"] in platform["state"]["account.accounts"]
    assert [{k: h[k] for k in ("arrangementType", "periods", "status")} for h in loan["hardshipArrangements"]] == \
        [{"arrangementType": "PAYMENT_HOLIDAY", "periods": 3, "status": "REQUESTED"}]


LENDING_PROBES = {"loan": "query($id: ID!) { loan(id: $id) { id partyId principal { amount } } }",
                  "facility": "query($id: ID!) { facility(id: $id) { id borrowerPartyId limit { amount } } }"}
LENDING_ENTITIES = {"consumer_lending": ("Loan", "id partyId"), "corporate_lending": ("Facility", "id borrowerPartyId"),
                    "corporate_lending.drawdowns": ("Drawdown", "id borrowerPartyId")}


async def test_no_cross_customer_or_cross_portfolio_lending_reads(platform: dict[str, Any], settings: Settings) -> None:
    # Loans, facilities and drawdowns of parties outside the viewer's scope answer exactly like missing ones.
    state, http, urls = platform["state"], platform["http"], platform["urls"]
    ops = GraphQLClient(http, platform["router"], ops_token(settings))
    owner = {}
    for loan_id in state["consumer_lending.loans"]:
        owner[loan_id] = (await ops.data(LENDING_PROBES["loan"], {"id": loan_id}))["loan"]["partyId"]
    for facility_id in state["corporate_lending.facilities"]:
        owner[facility_id] = (await ops.data(LENDING_PROBES["facility"], {"id": facility_id}))["facility"][
            "borrowerPartyId"]
    facility_of = dict(zip(state["corporate_lending.drawdowns"], state["corporate_lending.facilities"], strict=True))
    for drawdown_id, facility_id in facility_of.items():
        owner[drawdown_id] = owner[facility_id]
    # One customer who borrows, and the RM of a corporate borrower: each sees some lending records and not others.
    borrower = owner[state["consumer_lending.loans"][0]]
    sub, own = next((s, p) for s, p in state["party.customers"].items() if borrower in p)
    rm_of = {p: rm for rm, parties in state["party.portfolios"].items() for p in parties}
    rm_id = rm_of[owner[state["corporate_lending.facilities"][0]]]
    everyone = state["party.organisations"] + state["party.persons"]
    viewers = [("customer", sub, own), ("rm", rm_id, state["party.portfolios"][rm_id])]
    rng = random.Random(20261207)
    gate = asyncio.Semaphore(8)
    for role, viewer, allowed in viewers:
        token = issue_dev_token(settings, role=role, sub=viewer, party_ids=everyone)
        router = GraphQLClient(http, platform["router"], token)
        visible = {i for i, p in owner.items() if p in allowed}
        assert visible and visible != set(owner), f"the {role} must see some lending records and not others"
        # Through the subgraphs: 1,000 random ids and every real id in one _entities batch per entity type.
        randoms = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(1000)]
        for source, ids in (("consumer_lending", state["consumer_lending.loans"]),
                            ("corporate_lending", state["corporate_lending.facilities"]),
                            ("corporate_lending.drawdowns", state["corporate_lending.drawdowns"])):
            typename, fields = LENDING_ENTITIES[source]
            direct = GraphQLClient(http, urls[source.split(".")[0]], token)
            reps = [{"__typename": typename, "id": i} for i in randoms + ids]
            found = (await direct.data(f"query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on {typename} "
                                       f"{{ {fields} }} }} }}", {"r": reps}))["_entities"]
            assert found[:len(randoms)] == [None] * len(randoms)
            assert [e["id"] if e else None for e in found[len(randoms):]] == \
                [i if i in visible else None for i in ids]
        # Through the router: a foreign record and 250 random ids answer byte for byte alike.
        kinds = (("loan", state["consumer_lending.loans"]), ("facility", state["corporate_lending.facilities"]))
        for kind, ids in kinds:
            async def probe(record_id: str, k: str = kind, g: GraphQLClient = router) -> str:
                async with gate:
                    return (await g.raw(LENDING_PROBES[k], {"id": record_id})).text

            foreign = [i for i in ids if i not in visible]
            answers = await asyncio.gather(*[probe(i) for i in foreign + randoms[:250]])
            assert set(answers) == {f'{{"data":{{"{kind}":null}}}}'}, set(answers)
            for record_id in (i for i in ids if i in visible):
                assert (await router.data(LENDING_PROBES[kind], {"id": record_id}))[kind]["id"] == record_id
