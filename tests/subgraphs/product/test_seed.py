"""The demo catalogue: seeded through the public mutations, approved by a second user, ACTIVE and re-runnable."""

from __future__ import annotations

import httpx
import pytest

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.seed import SeedContext
from subgraphs.product.seed import seed
from tests.subgraphs.product.conftest import counts


async def test_seed_builds_an_active_catalogue(settings: Settings, product_url: str, sessions,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The seed signs its checker's token with the dev key of the configured data directory.
    monkeypatch.setenv("FINPACE_DATA_DIR", str(settings.data_dir))
    token = issue_dev_token(settings, role="admin", sub="seed-admin")
    async with httpx.AsyncClient(timeout=30) as http:
        ctx = SeedContext(http=http, urls={"product": product_url}, token=token, count=10)
        await seed(ctx)
        state = dict(ctx.state)
        after_first = await counts(sessions)
        await seed(SeedContext(http=http, urls={"product": product_url}, token=token, count=10))
        assert await counts(sessions) == after_first  # a re-run is a no-op

        query = """query($ids: [_Any!]!) { _entities(representations: $ids) { ... on Product {
            code version family currency status submittedBy approvedBy isOnSale
            charges { code amount { amount } } } } }"""
        ids = [pid for key in ("product.current_accounts", "product.overdrafts", "product.term_loans",
                               "product.revolving_facilities", "product.consumer_loans") for pid in state[key]]
        reps = [{"__typename": "Product", "id": i} for i in ids]
        response = await http.post(product_url, json={"query": query, "variables": {"ids": reps}},
                                   headers={"authorization": f"Bearer {token}"})
    products = response.json()["data"]["_entities"]
    assert [(p["code"], p["version"], p["family"]) for p in products] == [
        ("BCA-GBP", 2, "CURRENT_ACCOUNT"), ("BCA-EUR", 1, "CURRENT_ACCOUNT"), ("ODF-GBP", 1, "OVERDRAFT"),
        ("TL-GBP", 1, "TERM_LOAN"), ("RCF-GBP", 1, "REVOLVING_FACILITY"), ("CL-GBP", 1, "CONSUMER_LOAN"),
        ("CL-EUR", 1, "CONSUMER_LOAN")]
    assert all(p["status"] == "ACTIVE" and p["isOnSale"] for p in products)
    assert all(p["submittedBy"] == "seed-admin" and p["approvedBy"] == "seed-product-checker" for p in products)
    assert products[0]["charges"][0] == {"code": "MONTHLY_FEE", "amount": {"amount": "6.50"}}
    assert products[1]["currency"] == "EUR"
    assert state["product.bca_gbp_v1"] not in ids and len(state["product.bundles"]) == 1
