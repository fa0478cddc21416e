"""Mandates over HTTP: bands and combinations, pending authorisation, double approval, limits, expiry."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, update

from shared.db import outbox_table
from subgraphs.account.models import Payment
from tests.helpers import GraphQLClient
from tests.subgraphs.account.conftest import ACCOUNT, APPROVE, PAY, OpenFn, counts
from tests.subgraphs.support import apply_access, granted

MANDATE = """mutation($input: CreateMandateInput!, $k: String!) {
  createMandate(input: $input, reason: "board resolution", idempotencyKey: $k) {
    __typename ... on Mandate { id status } ... on DomainError { code message } } }"""

# Fixed ids (not uuid4) so that every pytest-xdist worker collects the same test ids.
A1, A2, B1, B2 = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"finpace:test-mandates:{n}")) for n in ("A1", "A2", "B1", "B2"))


async def _mandated(gql: GraphQLClient, open_active: OpenFn) -> tuple[str, str]:
    account = await open_active(funded="500000.00")
    payee = await open_active()
    body = {"accountId": account, "signatories": [
        {"partyId": A1, "group": "A"}, {"partyId": A2, "group": "A", "limit": "5000"},
        {"partyId": B1, "group": "B"}, {"partyId": B2, "group": "B"}],
        "rules": [
            {"min": "0", "max": "10000", "requires": [{"groups": ["A"], "count": 1}]},
            {"min": "10000", "max": "100000",
             "requires": [{"groups": ["A"], "count": 1}, {"groups": ["B"], "count": 1}]},
            {"min": "100000", "requires": [{"groups": ["A", "B"], "count": 3}]},
        ]}
    result = (await gql.data(MANDATE, {"input": body, "k": uuid.uuid4().hex}))["createMandate"]
    assert result["status"] == "ACTIVE", result
    return account, payee


def _pay(account: str, payee: str, amount: str, initiator: str | None) -> dict:
    return {"input": {"accountId": account, "toAccountId": payee, "amount": {"amount": amount, "currency": "EUR"},
                      "initiatedByPartyId": initiator}, "key": uuid.uuid4().hex}


@pytest.mark.parametrize(("amount", "initiator", "approvers", "final"), [
    ("9999.99", A1, [], "EXECUTED"),                  # any 1 of A up to 10,000: the initiator alone suffices
    ("4000.00", A2, [], "EXECUTED"),                  # within A2's individual limit
    ("9999.99", B1, [B2], "PENDING_AUTHORISATION"),   # B signatures never satisfy the A-only band
    ("9999.99", B1, [A1], "EXECUTED"),
    ("6000.00", A2, None, "MandateNotSatisfied"),     # A2 may not initiate above their individual limit
    ("6000.00", None, [A2, A1], "EXECUTED"),          # ... nor count as the approver; A1 does
    ("10000.00", A1, [B1], "EXECUTED"),               # 1 of A and 1 of B above 10,000
    ("10000.00", None, [A1, B2], "EXECUTED"),
    ("50000.00", A1, [A2], "PENDING_AUTHORISATION"),  # A2's limit excludes them; still no B
    ("150000.00", A1, [B1, B2], "EXECUTED"),          # any 3 of A or B
    ("150000.00", B1, [B2], "PENDING_AUTHORISATION"),
])
async def test_bands_and_combinations(gql: GraphQLClient, open_active: OpenFn, amount: str, initiator: str | None,
                                      approvers: list[str] | None, final: str) -> None:
    account, payee = await _mandated(gql, open_active)
    result = (await gql.data(PAY, _pay(account, payee, amount, initiator)))["makePayment"]
    if approvers is None:
        assert result["__typename"] == final
        return
    for party in approvers:
        if result["status"] == "EXECUTED":
            break
        approved = (await gql.data(APPROVE, {"id": result["id"], "party": party}))["approvePayment"]
        if approved["__typename"] == "Payment":
            result = approved
        else:
            assert approved["__typename"] == "MandateNotSatisfied"  # e.g. above the signatory's own limit
    assert result["status"] == final, result
    booked = (await gql.data(ACCOUNT, {"id": account}))["account"]["bookedBalance"]["amount"]
    expected = 500000 - float(amount) if final == "EXECUTED" else 500000
    assert float(booked) == expected


async def test_double_approval_and_outsiders_refused(gql: GraphQLClient, open_active: OpenFn, sessions) -> None:
    account, payee = await _mandated(gql, open_active)
    pending = (await gql.data(PAY, _pay(account, payee, "20000.00", A1)))["makePayment"]
    assert pending["status"] == "PENDING_AUTHORISATION" and pending["approvals"] == [A1]
    before = await counts(sessions)
    again = (await gql.data(APPROVE, {"id": pending["id"], "party": A1}))["approvePayment"]
    assert again["code"] == "CONFLICT"
    outsider = (await gql.data(APPROVE, {"id": pending["id"], "party": str(uuid.uuid4())}))["approvePayment"]
    assert outsider["code"] == "MANDATE_NOT_SATISFIED"
    assert await counts(sessions) == before
    done = (await gql.data(APPROVE, {"id": pending["id"], "party": B2}))["approvePayment"]
    assert done["status"] == "EXECUTED" and done["approvals"] == [A1, B2]
    after = (await gql.data(APPROVE, {"id": pending["id"], "party": B1}))["approvePayment"]
    assert after["code"] == "INVALID_TRANSITION"
    async with sessions() as session:
        kinds = (await session.execute(select(outbox_table.c.envelope["type"].astext).where(
            outbox_table.c.aggregate_id == pending["id"]).order_by(outbox_table.c.id))).scalars().all()
    assert kinds == ["PaymentAuthorisationRecorded", "PaymentAuthorisationRecorded", "PaymentExecuted"]


async def test_signatory_approves_for_themself_only(gql: GraphQLClient, open_active: OpenFn, settings,
                                                    sessions) -> None:
    from shared.auth import issue_dev_token

    account, payee = await _mandated(gql, open_active)
    pending = (await gql.data(PAY, _pay(account, payee, "20000.00", A1)))["makePayment"]
    await apply_access(sessions, granted(B1, "b1"))
    as_b1 = gql.with_token(issue_dev_token(settings, role="customer", sub="b1"))
    body = await as_b1(APPROVE, {"id": pending["id"], "party": B2})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    done = (await as_b1.data(APPROVE, {"id": pending["id"], "party": B1}))["approvePayment"]
    assert done["status"] == "EXECUTED"


async def test_pending_payments_expire(gql: GraphQLClient, open_active: OpenFn, sessions) -> None:
    account, payee = await _mandated(gql, open_active)
    first = (await gql.data(PAY, _pay(account, payee, "20000.00", A1)))["makePayment"]
    second = (await gql.data(PAY, _pay(account, payee, "30000.00", A1)))["makePayment"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    async with sessions() as session, session.begin():
        await session.execute(update(Payment).where(Payment.id.in_([uuid.UUID(first["id"]), uuid.UUID(second["id"])]))
                              .values(expires_at=past))
    late = (await gql.data(APPROVE, {"id": first["id"], "party": B1}))["approvePayment"]
    assert late["code"] == "INVALID_TRANSITION" and "expired" in late["message"]
    swept = (await gql.data("mutation { expirePayments }"))["expirePayments"]
    assert swept >= 1
    async with sessions() as session:
        statuses = (await session.execute(select(Payment.status).where(
            Payment.id.in_([uuid.UUID(first["id"]), uuid.UUID(second["id"])])))).scalars().all()
    assert statuses == ["EXPIRED", "EXPIRED"]
    assert (await gql.data(ACCOUNT, {"id": account}))["account"]["bookedBalance"]["amount"] == "500000.00"


async def test_new_mandate_voids_pending_approvals(gql: GraphQLClient, open_active: OpenFn) -> None:
    account, payee = await _mandated(gql, open_active)
    pending = (await gql.data(PAY, _pay(account, payee, "20000.00", A1)))["makePayment"]
    body = {"accountId": account, "signatories": [{"partyId": A1, "group": "A"}],
            "rules": [{"min": "0", "requires": [{"groups": ["A"], "count": 1}]}]}
    assert (await gql.data(MANDATE, {"input": body, "k": uuid.uuid4().hex}))["createMandate"]["status"] == "ACTIVE"
    voided = (await gql.data(APPROVE, {"id": pending["id"], "party": B1}))["approvePayment"]
    assert voided["code"] == "INVALID_TRANSITION"


@pytest.mark.parametrize("rules", [
    [],
    [{"min": "0", "requires": [{"groups": ["Z"], "count": 1}]}],
    [{"min": "0", "requires": [{"groups": ["A"], "count": 3}]}],
    [{"min": "0", "max": "100", "requires": [{"groups": ["A"], "count": 1}]},
     {"min": "50", "requires": [{"groups": ["A"], "count": 1}]}],
])
async def test_bad_mandates_are_refused(gql: GraphQLClient, open_active: OpenFn, sessions, rules: list) -> None:
    account = await open_active()
    before = await counts(sessions)
    body = {"accountId": account, "signatories": [{"partyId": A1, "group": "A"}, {"partyId": A2, "group": "A"}],
            "rules": rules}
    result = await gql(MANDATE, {"input": body, "k": uuid.uuid4().hex})
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await counts(sessions) == before


async def test_account_lists_payments_waiting_for_authorisation(gql: GraphQLClient, open_active: OpenFn) -> None:
    account, payee = await _mandated(gql, open_active)
    waiting = (await gql.data(PAY, _pay(account, payee, "20000.00", A1)))["makePayment"]
    executed = (await gql.data(PAY, _pay(account, payee, "500.00", A1)))["makePayment"]
    assert executed["status"] == "EXECUTED"
    query = "query($id: ID!) { account(id: $id) { pendingPayments { id status amount { amount currency } } } }"
    pending = (await gql.data(query, {"id": account}))["account"]["pendingPayments"]
    assert pending == [{"id": waiting["id"], "status": "PENDING_AUTHORISATION",
                        "amount": {"amount": "20000.00", "currency": "EUR"}}]
    await gql.data(APPROVE, {"id": waiting["id"], "party": B2})
    assert (await gql.data(query, {"id": account}))["account"]["pendingPayments"] == []
