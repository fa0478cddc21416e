"""Bundles: products sold together, with BundleChanged on every change and typed refusals."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers import GraphQLClient
from tests.subgraphs.product.conftest import counts, create, outbox_types, term_loan, unique_code

BUNDLE = "__typename ... on Bundle { id code status revision monthlyFee { amount currency } eligibleSegments " \
         "components { productCode required product { code version } } } ... on DomainError { code message }"
CREATE_BUNDLE = f"""mutation($code: String!, $input: BundleInput!, $key: String!) {{
  createBundle(code: $code, input: $input, idempotencyKey: $key) {{ {BUNDLE} }} }}"""
UPDATE_BUNDLE = f"""mutation($id: ID!, $input: BundleInput!) {{
  updateBundle(bundleId: $id, input: $input, reason: "repricing") {{ {BUNDLE} }} }}"""
RETIRE_BUNDLE = f"""mutation($id: ID!) {{ retireBundle(bundleId: $id, reason: "replaced") {{ {BUNDLE} }} }}"""


def bundle_input(codes: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "SME Starter", "currency": "GBP", "monthlyFee": "9.00", "eligibleSegments": ["SME"],
                            "components": [{"productCode": codes[0]},
                                           *({"productCode": c, "required": False} for c in codes[1:])]}
    body.update(overrides)
    return body


async def test_bundle_lifecycle_emits_bundle_changed(gql: GraphQLClient, checker, sessions) -> None:
    from tests.subgraphs.product.conftest import publish

    account, loan = await create(gql), await create(gql, term_loan())
    await publish(gql, checker, account["id"], "2025-01-01")
    code, key = unique_code("B"), uuid.uuid4().hex
    variables = {"code": code, "key": key, "input": bundle_input([account["code"], loan["code"]])}
    created = (await gql.data(CREATE_BUNDLE, variables))["createBundle"]
    assert created["monthlyFee"] == {"amount": "9.00", "currency": "GBP"} and created["status"] == "ACTIVE"
    assert created["components"] == [
        {"productCode": account["code"], "required": True, "product": {"code": account["code"], "version": 1}},
        {"productCode": loan["code"], "required": False, "product": None}]
    # Replaying the key changes nothing.
    before = await counts(sessions)
    assert (await gql.data(CREATE_BUNDLE, variables))["createBundle"]["id"] == created["id"]
    assert await counts(sessions) == before

    updated = (await gql.data(UPDATE_BUNDLE, {"id": created["id"], "input": bundle_input(
        [account["code"], loan["code"]], monthlyFee="11.00")}))["updateBundle"]
    assert updated["monthlyFee"]["amount"] == "11.00" and updated["revision"] == 2
    retired = (await gql.data(RETIRE_BUNDLE, {"id": created["id"]}))["retireBundle"]
    assert retired["status"] == "RETIRED"
    assert (await gql.data(RETIRE_BUNDLE, {"id": created["id"]}))["retireBundle"]["__typename"] == "InvalidTransition"
    assert await outbox_types(sessions, created["id"]) == ["BundleChanged"] * 3
    found = await gql.data("query($c: String!) { bundle(code: $c) { id } bundles(status: RETIRED, first: 100) { "
                           "edges { node { code } } } }", {"c": code})
    assert found["bundle"]["id"] == created["id"]
    assert code in [e["node"]["code"] for e in found["bundles"]["edges"]]


async def test_bundle_refusals_write_nothing(gql: GraphQLClient, sessions) -> None:
    account = await create(gql)
    before = await counts(sessions)
    unknown = (await gql.data(CREATE_BUNDLE, {"code": unique_code("B"), "key": uuid.uuid4().hex,
                                              "input": bundle_input([account["code"], "NO-SUCH-PRODUCT"])}))
    assert unknown["createBundle"]["__typename"] == "NotFound"
    assert "NO-SUCH-PRODUCT" in unknown["createBundle"]["message"]
    for bad, field in [(bundle_input([account["code"]]), "components"),
                       (bundle_input([account["code"], account["code"]]), "components"),
                       (bundle_input([account["code"], "X-1"], monthlyFee="-1.00"), "monthlyFee"),
                       (bundle_input([account["code"], "X-1"], currency="ABC"), None)]:
        body = await gql(CREATE_BUNDLE, {"code": unique_code("B"), "key": uuid.uuid4().hex, "input": bad})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert field is None or body["errors"][0]["extensions"]["field"] == field
    assert await counts(sessions) == before
