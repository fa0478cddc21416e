"""Bad product input: each a BAD_USER_INPUT (or a GraphQL validation error) naming the field, with nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import GraphQLClient
from tests.subgraphs.product.conftest import CREATE, UPDATE, counts, create, current_account, term_loan


def _pricing(**rate: str) -> dict[str, Any]:
    base = current_account()["pricing"]
    return {**base, "interestRate": {**base["interestRate"], **rate}}


def _charge(**overrides: Any) -> list[dict[str, Any]]:
    return [{**current_account()["charges"][0], **overrides}]


def _lending(**overrides: Any) -> dict[str, Any]:
    return {**term_loan()["lending"], **overrides}


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("default rate above max", {"pricing": _pricing(default="2")}, "interestRate"),
    ("default rate below min", {"pricing": _pricing(min="0.5", default="0.25")}, "interestRate"),
    ("negative rate", {"pricing": _pricing(min="-1")}, "interestRate.min"),
    ("rate above 100", {"pricing": _pricing(max="101")}, "interestRate.max"),
    ("rate with 7 decimals", {"pricing": _pricing(max="1.1234567")}, "interestRate.max"),
    ("negative overdraft rate", {"pricing": {**_pricing(), "overdraftRate": "-3"}}, "overdraftRate"),
    ("negative fee", {"charges": _charge(amount="-5.00")}, "charges.amount"),
    ("fee with too many decimals", {"charges": _charge(amount="6.505")}, "charges.amount"),
    ("fixed fee with a rate", {"charges": _charge(rate="1")}, "charges"),
    ("percentage fee without rate", {"charges": _charge(calculation="PERCENTAGE", amount=None)}, "charges"),
    ("min cap above max cap", {"charges": _charge(calculation="PERCENTAGE", amount=None, rate="1",
                                                  minCap="10.00", maxCap="5.00")}, "charges.minCap"),
    ("duplicate charge codes", {"charges": _charge() * 2}, "charges.code"),
    ("unknown currency", {"currency": "XXY"}, None),
    ("lower-case currency", {"currency": "gbp"}, None),
    ("bad code", {"code": "bca gbp"}, "code"),
    ("empty name", {"name": "  "}, "name"),
    ("lending on a current account", {"lending": _lending()}, "lending"),
    ("overdraft without overdraft rate", {"family": "OVERDRAFT", "pricing": {**_pricing(), "overdraftRate": None}},
     "overdraftRate"),
]
LOAN_BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("loan without lending", {"lending": None}, "lending"),
    ("principal default above max", {"lending": _lending(principalDefault="2000000.00")}, "lending.principal"),
    ("zero principal", {"lending": _lending(principalMin="0")}, "lending.principal"),
    ("term min above default", {"lending": _lending(termMinMonths=70)}, "lending.termMonths"),
    ("grace longer than the term", {"lending": _lending(graceOnPrincipalPeriods=12)}, "lending.grace"),
]


async def _refused(gql: GraphQLClient, sessions, body: dict[str, Any], field: str | None) -> None:
    before = await counts(sessions)
    response = await gql(CREATE, {"input": body, "key": uuid.uuid4().hex})
    error = response["errors"][0]
    assert response["data"] is None
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    if field is not None:
        assert error["extensions"].get("field") == field, error
    assert "Internal" not in error["message"]
    assert await counts(sessions) == before


@pytest.mark.parametrize(("case", "overrides", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
async def test_bad_product_input_writes_nothing(gql: GraphQLClient, sessions, case, overrides, field) -> None:
    await _refused(gql, sessions, current_account(**overrides), field)


@pytest.mark.parametrize(("case", "overrides", "field"), LOAN_BAD_INPUTS, ids=[c[0] for c in LOAN_BAD_INPUTS])
async def test_bad_lending_input_writes_nothing(gql: GraphQLClient, sessions, case, overrides, field) -> None:
    await _refused(gql, sessions, term_loan(**overrides), field)


async def test_unknown_currency_reason(gql: GraphQLClient) -> None:
    error = (await gql(CREATE, {"input": current_account(currency="XXY"), "key": uuid.uuid4().hex}))["errors"][0]
    assert error["extensions"]["reason"] == "INVALID_CURRENCY" and "XXY" in error["message"]
    error = (await gql(CREATE, {"input": current_account(charges=_charge(amount="-1")),
                                "key": uuid.uuid4().hex}))["errors"][0]
    assert error["extensions"]["reason"] == "INVALID_AMOUNT"


@pytest.mark.parametrize(("path", "value"), [("family", "SAVINGS"), ("dayCount", "ACTUAL_364"),
                                             ("feeType", "MYSTERY_FEE")])
async def test_unknown_enum_value_is_a_validation_error(gql: GraphQLClient, sessions, path, value) -> None:
    body = current_account()
    if path == "family":
        body["family"] = value
    elif path == "dayCount":
        body["pricing"]["dayCount"] = value
    else:
        body["charges"][0]["feeType"] = value
    before = await counts(sessions)
    response = await gql(CREATE, {"input": body, "key": uuid.uuid4().hex})
    assert response["data"] is None and value in response["errors"][0]["message"]
    assert await counts(sessions) == before


async def test_bad_draft_update_changes_nothing(gql: GraphQLClient, sessions) -> None:
    product = await create(gql)
    before = await counts(sessions)
    body = current_account(code=product["code"], charges=_charge(amount="-1.00"))
    response = await gql(UPDATE, {"id": product["id"], "input": body})
    assert response["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    other_code = await gql(UPDATE, {"id": product["id"], "input": current_account()})
    assert other_code["errors"][0]["extensions"]["field"] == "code"
    assert await counts(sessions) == before
    query = "query($id: ID!) { product(id: $id) { revision charges { amount { amount } } } }"
    assert (await gql.data(query, {"id": product["id"]}))["product"] == {
        "revision": 1, "charges": [{"amount": {"amount": "6.50"}}]}


async def test_material_transitions_need_a_reason(gql: GraphQLClient, sessions) -> None:
    product = await create(gql)
    before = await counts(sessions)
    response = await gql('mutation($id: ID!) { submitProductForApproval(productId: $id, reason: "  ") { __typename } }',
                         {"id": product["id"]})
    extensions = response["errors"][0]["extensions"]
    assert (extensions["code"], extensions["field"]) == ("BAD_USER_INPUT", "reason")
    assert await counts(sessions) == before
