"""RM writes are limited to the RM's portfolio: another portfolio's account or party answers like a missing one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import issue_dev_token
from shared.config import Settings
from tests.helpers import GraphQLClient
from tests.subgraphs.account.conftest import OpenFn, counts, open_input
from tests.subgraphs.support import apply_access, rm_assigned

RESULT = "{ __typename ... on DomainError { code message } }"
EUR = {"amount": "10.00", "currency": "EUR"}


@dataclass
class World:
    ops: GraphQLClient
    open_active: OpenFn
    own_account: str  # an account of another party of the RM's portfolio (a transfer's beneficiary)


def _key() -> str:
    return uuid.uuid4().hex


Prepare = Callable[[World, str], Awaitable[str]]  # (world, party) -> the id the mutation addresses


async def _party(w: World, party: str) -> str:
    return party


async def _account(w: World, party: str) -> str:
    return await w.open_active(funded="500.00", partyId=party)


async def _hold(w: World, party: str) -> str:
    account = await _account(w, party)
    placed = await w.ops.data(
        """mutation($id: ID!, $amount: MoneyInput!, $k: String!) { placeHold(accountId: $id, amount: $amount,
        reason: "card authorisation", idempotencyKey: $k) { __typename ... on Hold { id } } }""",
        {"id": account, "amount": EUR, "k": _key()},
    )
    return str(placed["placeHold"]["id"])


CASES: list[tuple[str, Prepare, Callable[[World, str], dict[str, Any]], str]] = [
    (
        """mutation($input: OpenAccountInput!, $k: String!) { openAccount(input: $input, idempotencyKey: $k) R }""",
        _party,
        lambda w, i: {"input": open_input(partyId=i), "k": _key()},
        "Account",
    ),
    (
        """mutation($id: ID!, $amount: MoneyInput!, $k: String!) { placeHold(accountId: $id, amount: $amount,
        reason: "card authorisation", idempotencyKey: $k) R }""",
        _account,
        lambda w, i: {"id": i, "amount": EUR, "k": _key()},
        "Hold",
    ),
    (
        """mutation($id: ID!) { releaseHold(holdId: $id, reason: "authorisation lapsed") R }""",
        _hold,
        lambda w, i: {"id": i},
        "Hold",
    ),
    (
        """mutation($input: MakePaymentInput!, $k: String!) { makePayment(input: $input, idempotencyKey: $k) R }""",
        _account,
        lambda w, i: {"input": {"accountId": i, "amount": EUR, "beneficiary": "Acme Supplies"}, "k": _key()},
        "Payment",
    ),
    (  # a transfer into the RM's own portfolio does not make the source account writable
        """mutation($input: MakePaymentInput!, $k: String!) { makePayment(input: $input, idempotencyKey: $k) R }""",
        _account,
        lambda w, i: {"input": {"accountId": i, "amount": EUR, "toAccountId": w.own_account}, "k": _key()},
        "Payment",
    ),
    (
        """mutation($id: ID!, $k: String!) { generateStatement(accountId: $id, fromDate: "2024-01-01",
        toDate: "2024-01-31", idempotencyKey: $k) R }""",
        _account,
        lambda w, i: {"id": i, "k": _key()},
        "Statement",
    ),
]


@pytest.mark.parametrize(
    "case", CASES, ids=["openAccount", "placeHold", "releaseHold", "payOut", "transfer", "generateStatement"]
)
async def test_an_rm_writes_only_its_portfolio(
    case: tuple[str, Prepare, Callable[[World, str], dict[str, Any]], str],
    gql: GraphQLClient,
    open_active: OpenFn,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mutation, prepare, variables, success = case
    mutation = mutation.replace(" R }", f" {RESULT} }}")
    rm_a, rm_b = f"rm-a-{uuid.uuid4().hex[:6]}", f"rm-b-{uuid.uuid4().hex[:6]}"
    own, own2, other, other2 = (str(uuid.uuid4()) for _ in range(4))
    await apply_access(
        sessions,
        *(rm_assigned(p, rm_a, version=1) for p in (own, own2)),
        *(rm_assigned(p, rm_b, version=1) for p in (other, other2)),
    )
    w = World(ops=gql, open_active=open_active, own_account=await open_active(partyId=own2))
    rm = gql.with_token(issue_dev_token(settings, role="rm", sub=rm_a))

    answers = {}
    for label, target in (("other", await prepare(w, other)), ("missing", str(uuid.uuid4()))):
        before = await counts(sessions)  # business rows, outbox rows and idempotency keys
        body = await rm(mutation, variables(w, target))
        assert await counts(sessions) == before, f"{label}: something was written"
        assert "errors" not in body, body
        answers[label] = json.dumps(body).replace(target, "<id>")
    assert answers["other"] == answers["missing"]  # another portfolio's record is indistinguishable from none
    assert json.loads(answers["missing"])["data"].popitem()[1]["code"] == "NOT_FOUND"

    body = await rm(mutation, variables(w, await prepare(w, own)))
    assert body["data"].popitem()[1]["__typename"] == success, body
    # ops is not limited to a portfolio
    assert (await gql(mutation, variables(w, await prepare(w, other2))))["data"].popitem()[1]["__typename"] == success
