"""Mandate amounts that are not finite numbers are refused as BAD_USER_INPUT, nothing written (found by fuzzing)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import GraphQLClient
from tests.subgraphs.account.conftest import OpenFn, counts
from tests.subgraphs.account.test_mandates import MANDATE

RULE = {"min": "0", "requires": [{"groups": ["A"], "count": 1}]}


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "-sNaN", "Infinity", "1E+400"])
@pytest.mark.parametrize("where", ["limit", "min", "max"])
async def test_a_mandate_amount_that_is_not_a_finite_number_is_refused(
    gql: GraphQLClient, open_active: OpenFn, sessions: async_sessionmaker[AsyncSession], bad: str, where: str
) -> None:
    account = await open_active()
    signatory = {"partyId": str(uuid.uuid4()), "group": "A", **({"limit": bad} if where == "limit" else {})}
    rule = {**RULE, **({where: bad} if where != "limit" else {})}
    before = await counts(sessions)
    body = await gql(
        MANDATE, {"input": {"accountId": account, "signatories": [signatory], "rules": [rule]}, "k": uuid.uuid4().hex}
    )
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"].startswith(f"{where} ")
    assert await counts(sessions) == before
