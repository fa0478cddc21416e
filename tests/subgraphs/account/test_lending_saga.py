"""The disbursement saga on the account side: lending requests in JetStream are booked once and answered."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.events import Actor, DomainEvent, Envelope
from shared.messaging import connect
from shared.money import Money
from subgraphs.account.app import create_app
from subgraphs.account.models import Account, Disbursement, JournalEntry, Posting
from subgraphs.consumer_lending import events as consumer_events
from subgraphs.corporate_lending import events as corporate_events
from tests.helpers import GraphQLClient, serve
from tests.subgraphs.account.conftest import ACCOUNT, OpenFn
from tests.subgraphs.support import eventually

FREEZE = """mutation($id: ID!) { setAccountRestriction(accountId: $id, restriction: FROZEN, applied: true,
  reason: "fraud review") { __typename ... on Account { restrictions } } }"""


@pytest.fixture(scope="module")
async def saga(settings: Settings, account_url: str) -> AsyncIterator[str]:
    """A second account instance that runs the lending subscribers (the session one leaves them off)."""
    async with serve(create_app(settings)) as base:
        yield base


async def publish(settings: Settings, event: DomainEvent, aggregate_id: str, *,
                  event_id: uuid.UUID | None = None) -> Envelope:
    """Publishes a lending event into JetStream as that domain's outbox relay would."""
    envelope = Envelope.wrap(event, aggregate_id=aggregate_id, aggregate_version=1,
                             actor=Actor.system("lending-test"), reason=None, correlation_id="saga-test")
    if event_id is not None:
        envelope = dataclasses.replace(envelope, id=event_id)
    nc = await connect(settings.nats_url or "", name="test-lending-events")
    try:
        # A fresh Nats-Msg-Id each time, so a redelivery of the same event id is not dropped by JetStream.
        await nc.jetstream().publish(envelope.nats_subject, json.dumps(envelope.to_dict()).encode(),
                                     headers={"Nats-Msg-Id": uuid.uuid4().hex})
    finally:
        await nc.close()
    return envelope


def loan_request(account_id: str, party_id: str, amount: str, idem: str, currency: str = "EUR") -> Any:
    """A consumer lending LoanDisbursementRequested."""
    return consumer_events.LoanDisbursementRequested(
        loan_id=str(uuid.uuid4()), party_id=party_id, application_id=str(uuid.uuid4()),
        settlement_account_id=account_id, amount=Money.of(amount, currency), idempotency_id=idem)


def drawdown_request(account_id: str, party_id: str, amount: str, idem: str) -> Any:
    """A corporate lending DrawdownDisbursementRequested."""
    return corporate_events.DrawdownDisbursementRequested(
        drawdown_id=str(uuid.uuid4()), facility_id=str(uuid.uuid4()), borrower_party_id=party_id,
        settlement_account_id=account_id, amount=Money.of(amount, "EUR"), idempotency_id=idem)


async def replies(settings: Settings, idem: str) -> list[tuple[str, dict[str, Any]]]:
    """Returns the account's payment replies in FINPACE_ACCOUNT carrying this idempotency_id, in stream order."""
    nc = await connect(settings.nats_url or "", name="test-replies")
    found: list[tuple[str, dict[str, Any]]] = []
    try:
        sub = await nc.jetstream().pull_subscribe("finpace.account.payment.>", stream="FINPACE_ACCOUNT")
        while True:
            try:
                msgs = await sub.fetch(500, timeout=0.5)
            except (TimeoutError, NatsTimeoutError):
                break
            for msg in msgs:
                body = json.loads(msg.data)
                if body["data"].get("idempotency_id") == idem:
                    found.append((msg.subject, body["data"]))
        await sub.unsubscribe()
    finally:
        await nc.close()
    return found


async def wait_replies(settings: Settings, idem: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    """Waits until `count` replies for the idempotency_id are in the stream."""
    found: list[tuple[str, dict[str, Any]]] = []

    async def arrived() -> bool:
        nonlocal found
        found = await replies(settings, idem)
        return len(found) >= count

    await eventually(arrived, within=30)
    return found


async def balance(gql: GraphQLClient, account_id: str) -> Decimal:
    return Decimal((await gql.data(ACCOUNT, {"id": account_id}))["account"]["bookedBalance"]["amount"])


async def party_of(sessions: async_sessionmaker[AsyncSession], account_id: str) -> str:
    async with sessions() as session:
        return str(await session.scalar(select(Account.party_id).where(Account.id == uuid.UUID(account_id))))


async def booked_entries(sessions: async_sessionmaker[AsyncSession], idem: str) -> list[JournalEntry]:
    async with sessions() as session:
        return list((await session.execute(select(JournalEntry).join(
            Disbursement, Disbursement.journal_entry_id == JournalEntry.id).where(
            Disbursement.idempotency_id == idem))).scalars().all())


async def test_loan_disbursement_is_booked_once_and_answered(saga: str, settings: Settings, gql: GraphQLClient,
                                                             open_active: OpenFn, sessions) -> None:
    account_id = await open_active(funded="100.00")
    party = await party_of(sessions, account_id)
    idem = str(uuid.uuid4())
    first = await publish(settings, loan_request(account_id, party, "2500.00", idem), str(uuid.uuid4()))
    [(subject, data)] = await wait_replies(settings, idem, 1)
    assert subject == "finpace.account.payment.executed"
    assert data["idempotency_id"] == idem and data["value_date"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert data["amount"] == "2500.00" and data["currency"] == "EUR" and data["account_id"] == account_id
    assert await balance(gql, account_id) == Decimal("2600.00")
    [entry] = await booked_entries(sessions, idem)
    assert entry.entry_type == "DISBURSEMENT" and str(entry.id) == data["journal_entry_id"]
    async with sessions() as session:
        legs = (await session.execute(select(Posting.amount, Account.kind, Account.purpose).join(
            Account, Account.id == Posting.account_id).where(Posting.journal_entry_id == entry.id))).all()
        assert sorted((a, k, p) for a, k, p in legs) == [(Decimal("-2500.0000"), "INTERNAL", "LOAN_FUNDING"),
                                                          (Decimal("2500.0000"), "CUSTOMER", None)]
        totals = (await session.execute(select(Posting.currency, func.sum(Posting.amount))
                                        .group_by(Posting.currency))).all()
        assert all(total == 0 for _, total in totals), totals

    # The same event redelivered (inbox), then the same idempotency_id under a new event id (the unique claim).
    await publish(settings, loan_request(account_id, party, "2500.00", idem), first.subject, event_id=first.id)
    await publish(settings, loan_request(account_id, party, "2500.00", idem), first.subject)
    found = await wait_replies(settings, idem, 2)
    assert [s for s, _ in found] == ["finpace.account.payment.executed"] * 2
    assert found[1][1]["payment_id"] == data["payment_id"] and found[1][1]["value_date"] == data["value_date"]
    assert await balance(gql, account_id) == Decimal("2600.00")
    assert len(await booked_entries(sessions, idem)) == 1
    async with sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(Disbursement).where(
            Disbursement.idempotency_id == idem))
    assert rows == 1
    assert len(await replies(settings, idem)) == 2  # the redelivered event id was absorbed without a reply


async def test_drawdown_disbursement_is_booked(saga: str, settings: Settings, gql: GraphQLClient,
                                               open_active: OpenFn, sessions) -> None:
    account_id = await open_active()
    idem = str(uuid.uuid4())
    await publish(settings, drawdown_request(account_id, await party_of(sessions, account_id), "120000.00", idem),
                  str(uuid.uuid4()))
    [(subject, data)] = await wait_replies(settings, idem, 1)
    assert subject == "finpace.account.payment.executed" and data["requested_by"] == "corporate_lending"
    assert await balance(gql, account_id) == Decimal("120000.00")


@pytest.mark.parametrize("case", ["frozen", "unknown", "currency", "closed", "other_party", "zero"])
async def test_refused_booking_is_a_failed_reply(case: str, saga: str, settings: Settings, gql: GraphQLClient,
                                                 open_active: OpenFn, sessions) -> None:
    account_id = await open_active(funded="10.00")
    party, currency, amount, expected = await party_of(sessions, account_id), "EUR", "500.00", ""
    if case == "frozen":
        assert (await gql.data(FREEZE, {"id": account_id}))["setAccountRestriction"]["restrictions"] == ["FROZEN"]
        expected = "ACCOUNT_RESTRICTED"
    elif case == "unknown":
        account_id, expected = str(uuid.uuid4()), "NOT_FOUND"
    elif case == "currency":
        currency, expected = "USD", "CURRENCY_MISMATCH"
    elif case == "closed":
        account_id = await open_active()
        party = await party_of(sessions, account_id)
        closed = await gql.data("""mutation($id: ID!) { closeAccount(accountId: $id, reason: "customer left") {
            __typename ... on Account { status } } }""", {"id": account_id})
        assert closed["closeAccount"]["status"] == "CLOSED"
        expected = "INVALID_TRANSITION"
    elif case == "zero":
        amount, expected = "0.00", "INVALID_AMOUNT"
    else:
        party, expected = str(uuid.uuid4()), "NOT_BORROWERS_ACCOUNT"
    idem = str(uuid.uuid4())
    await publish(settings, loan_request(account_id, party, amount, idem, currency), str(uuid.uuid4()))
    [(subject, data)] = await wait_replies(settings, idem, 1)
    assert subject == "finpace.account.payment.failed"
    assert data["idempotency_id"] == idem and data["code"] == expected and data["reason"].startswith(expected)
    assert await booked_entries(sessions, idem) == []
    if case != "unknown":
        assert await balance(gql, account_id) == Decimal("0.00" if case == "closed" else "10.00")
    # A repeated request gets the same refusal and still books nothing.
    await publish(settings, loan_request(account_id, party, amount, idem, currency), str(uuid.uuid4()))
    found = await wait_replies(settings, idem, 2)
    assert [d["code"] for _, d in found] == [expected, expected]
    assert await booked_entries(sessions, idem) == []
