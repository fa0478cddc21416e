"""The demo seed: skips without products, and builds funded accounts on the product seed's current accounts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.migrations import upgrade
from shared.seed import SeedContext
from subgraphs.account.seed import seed
from tests.helpers import serve
from tests.subgraphs.account.conftest import counts


@pytest.fixture(scope="module")
async def product_url(settings: Settings, provisioned: None) -> AsyncIterator[str]:
    from subgraphs.product.app import create_app  # the product subgraph is a peer service here, not a dependency

    await upgrade(settings, "product")
    async with serve(create_app(settings)) as base:
        yield f"{base}/graphql"


async def test_seed_skips_without_products(account_url: str, settings: Settings, sessions) -> None:
    messages: list[str] = []
    before = await counts(sessions)
    async with httpx.AsyncClient() as http:
        ctx = SeedContext(http=http, urls={"account": account_url}, token="unused", count=3,
                          progress=messages.append, state={"party.organisations": [str(uuid.uuid4())]})
        await seed(ctx)
    assert "skipping" in messages[0] and await counts(sessions) == before


async def test_seed_opens_funded_accounts_and_is_rerunnable(account_url: str, product_url: str, settings: Settings,
                                                             sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    from subgraphs.product.seed import seed as product_seed

    monkeypatch.setenv("FINPACE_DATA_DIR", str(settings.data_dir))
    token = issue_dev_token(settings, role="admin", sub="seed-admin")
    orgs, persons = [str(uuid.uuid4()) for _ in range(4)], [str(uuid.uuid4()) for _ in range(6)]
    async with httpx.AsyncClient(timeout=60) as http:
        urls = {"product": product_url, "account": account_url}
        ctx = SeedContext(http=http, urls=urls, token=token, count=6,
                          state={"party.organisations": orgs, "party.persons": persons})
        await product_seed(ctx)
        await seed(ctx)
        accounts = ctx.state["account.accounts"]
        assert len(accounts) == 2
        after = await counts(sessions)
        again = SeedContext(http=http, urls=urls, token=token, count=6, state=dict(ctx.state))
        await seed(again)
        assert await counts(sessions) == after
        query = """query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Party {
            accounts { status bookedBalance { amount } product { id } mandate { id } postings(first: 5) {
            items { id } } } } } }"""
        body = (await http.post(account_url, json={"query": query, "variables": {
            "reps": [{"__typename": "Party", "id": p} for p in orgs[:2]]}},
            headers={"authorization": f"Bearer {token}"})).json()
    views = [e["accounts"][0] for e in body["data"]["_entities"]]
    assert all(v["status"] == "ACTIVE" and len(v["postings"]["items"]) == 5 for v in views)
    assert views[0]["product"]["id"] in ctx.state["product.current_accounts"] and views[0]["mandate"]
