"""The ledger over HTTP and real PostgreSQL: lifecycle, balances, concurrency, invariants, idempotency, bad input."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from sqlalchemy import func, select

from shared.db import outbox_table
from subgraphs.account.models import Account, AccountKind, Posting
from tests.helpers import GraphQLClient
from tests.subgraphs.account.conftest import (
    ACCOUNT,
    ACTIVATE,
    FUTURE,
    OPEN,
    OVERDRAFT,
    PAY,
    PRODUCTS,
    RECEIVE,
    TERM_LOAN,
    WITHDRAWN,
    OpenFn,
    counts,
    open_input,
)


async def _invariants(sessions) -> None:
    async with sessions() as session:
        totals = (await session.execute(select(Posting.currency, func.sum(Posting.amount))
                                        .group_by(Posting.currency))).all()
        assert all(total == 0 for _, total in totals), totals
        rows = (await session.execute(
            select(Account.id, Account.booked_balance, func.coalesce(func.sum(Posting.amount), 0))
            .outerjoin(Posting, Posting.account_id == Account.id)
            .where(Account.kind == AccountKind.CUSTOMER.value).group_by(Account.id))).all()
        assert all(booked == summed for _, booked, summed in rows)


async def test_open_activate_and_events(gql: GraphQLClient, sessions) -> None:
    before = await counts(sessions)
    body = open_input()
    opened = (await gql.data(OPEN, {"input": body, "key": uuid.uuid4().hex}))["openAccount"]
    assert opened["status"] == "PENDING_OPEN" and opened["bookedBalance"] == {"amount": "0.00", "currency": "EUR"}
    after = await counts(sessions)
    assert after[0] == before[0] + 1 and after[6] == before[6] + 1
    async with sessions() as session:
        envelope = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == opened["id"]))).scalar_one()
    assert envelope["type"] == "AccountOpened" and envelope["data"]["party_id"] == body["partyId"]
    # Postings need ACTIVE.
    refused = await gql.data(RECEIVE, {"id": opened["id"], "amount": {"amount": "1.00", "currency": "EUR"},
                                       "key": uuid.uuid4().hex})
    assert refused["receivePayment"]["code"] == "INVALID_TRANSITION"
    assert (await gql.data(ACTIVATE, {"id": opened["id"]}))["activateAccount"]["status"] == "ACTIVE"
    again = await gql.data(ACTIVATE, {"id": opened["id"]})
    assert again["activateAccount"]["code"] == "INVALID_TRANSITION"


async def test_product_must_be_a_current_account_on_sale(gql: GraphQLClient, sessions) -> None:
    before = await counts(sessions)
    for product, code in ((TERM_LOAN, "INVALID_TRANSITION"), (WITHDRAWN, "INVALID_TRANSITION"),
                          (FUTURE, "INVALID_TRANSITION"), (uuid.uuid4(), "NOT_FOUND")):
        result = await gql.data(OPEN, {"input": open_input(productId=str(product)), "key": uuid.uuid4().hex})
        assert result["openAccount"]["code"] == code, (product, result)
    body = await gql(OPEN, {"input": open_input(productId=str(PRODUCTS["USD"])), "key": uuid.uuid4().hex})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"  # a USD product for a EUR account
    assert await counts(sessions) == before


async def test_account_stays_pinned_when_a_new_version_supersedes(gql: GraphQLClient, settings, sessions) -> None:
    import datetime as dt

    from subgraphs.product import events as product_events
    from tests.subgraphs.account.conftest import publish_product_event, wait_for_products

    v1, v2 = uuid.uuid4(), uuid.uuid4()
    today = dt.date.today()
    await publish_product_event(settings, product_events.ProductVersionPublished(
        product_id=str(v1), code="BCA-PIN", version=1, family="CURRENT_ACCOUNT", currency="EUR",
        effective_from=(today - dt.timedelta(days=10)).isoformat(), supersedes_version=None,
        superseded_product_id=None))
    await wait_for_products(sessions, [v1])
    opened = (await gql.data(OPEN, {"input": open_input(productId=str(v1)), "key": uuid.uuid4().hex}))["openAccount"]
    await publish_product_event(settings, product_events.ProductVersionPublished(
        product_id=str(v2), code="BCA-PIN", version=2, family="CURRENT_ACCOUNT", currency="EUR",
        effective_from=today.isoformat(), supersedes_version=1, superseded_product_id=str(v1)))
    await wait_for_products(sessions, [v1, v2], lambda r: r.id != v1 or r.sale_until is not None)
    refused = (await gql.data(OPEN, {"input": open_input(productId=str(v1)), "key": uuid.uuid4().hex}))
    assert refused["openAccount"]["code"] == "INVALID_TRANSITION"  # v1 is no longer on sale
    data = await gql.data("query($id: ID!) { account(id: $id) { product { id } } }", {"id": opened["id"]})
    assert data["account"]["product"]["id"] == str(v1)  # existing accounts stay on their version


async def test_balances_holds_and_available(gql: GraphQLClient, open_active: OpenFn, sessions) -> None:
    account_id = await open_active(funded="1000.00", overdraft="500.00")
    hold = await gql.data("""mutation($id: ID!, $k: String!) { placeHold(accountId: $id,
        amount: {amount: "300.00", currency: "EUR"}, reason: "card auth", idempotencyKey: $k) {
        __typename ... on Hold { id status } ... on DomainError { code } } }""",
        {"id": account_id, "k": "h1" + account_id})
    assert hold["placeHold"]["status"] == "ACTIVE"
    acc = (await gql.data(ACCOUNT, {"id": account_id}))["account"]
    assert acc["bookedBalance"]["amount"] == "1000.00" and acc["heldAmount"]["amount"] == "300.00"
    assert acc["availableBalance"]["amount"] == "1200.00"
    pay = await gql.data(PAY, {"input": {"accountId": account_id, "amount": {"amount": "1200.01", "currency": "EUR"},
                                         "beneficiary": "Supplier Ltd"}, "key": uuid.uuid4().hex})
    assert pay["makePayment"]["__typename"] == "InsufficientFunds"
    close = await gql.data("""mutation($id: ID!) { closeAccount(accountId: $id, reason: "x") {
        __typename ... on DomainError { code message } } }""", {"id": account_id})
    assert close["closeAccount"]["code"] == "INVALID_TRANSITION"
    released = await gql.data("""mutation($id: ID!) { releaseHold(holdId: $id, reason: "settled") {
        __typename ... on Hold { status } } }""", {"id": hold["placeHold"]["id"]})
    assert released["releaseHold"]["status"] == "RELEASED"
    pay = await gql.data(PAY, {"input": {"accountId": account_id, "amount": {"amount": "1500.00", "currency": "EUR"},
                                         "beneficiary": "Supplier Ltd"}, "key": uuid.uuid4().hex})
    assert pay["makePayment"]["status"] == "EXECUTED"
    acc = (await gql.data(ACCOUNT, {"id": account_id}))["account"]
    assert acc["bookedBalance"]["amount"] == "-500.00" and acc["availableBalance"]["amount"] == "0.00"
    await _invariants(sessions)


async def test_expired_hold_stops_reducing_availability(open_active: OpenFn, uow, sessions) -> None:
    import datetime as dt

    from shared.money import Money
    from subgraphs.account import service
    from subgraphs.account.ledger import lock_account

    account_id = uuid.UUID(await open_active(funded="100.00"))
    hold = await service.place_hold(uow(), account_id=account_id, amount=Money.of("60.00", "EUR"), reason="r",
                                    expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
                                    idempotency_key=uuid.uuid4().hex)
    await asyncio.sleep(1.2)
    unit = uow()
    async with unit:
        account = await lock_account(unit, account_id)
        assert account.held_amount == 0 and account.available(dt.date.today()) == Decimal("100.00")
        await unit.commit()
    async with sessions() as session:
        envelope = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == str(hold.id)).order_by(outbox_table.c.id.desc()))).scalars().first()
    assert envelope["type"] == "HoldReleased" and envelope["data"]["status"] == "EXPIRED"


async def test_hundred_concurrent_debits_never_breach_the_overdraft(gql: GraphQLClient, open_active: OpenFn,
                                                                    sessions) -> None:
    account_id = await open_active(funded="1000.00", overdraft="500.00")
    payee = await open_active()

    async def debit(i: int) -> str:
        body = await gql.data(PAY, {"input": {"accountId": account_id, "toAccountId": payee,
                                              "amount": {"amount": "37.00", "currency": "EUR"}},
                                    "key": f"c-{account_id}-{i}"})
        return str(body["makePayment"]["__typename"] + ":" + body["makePayment"].get("status", ""))

    outcomes = await asyncio.gather(*[debit(i) for i in range(100)])
    executed = sum(1 for o in outcomes if o == "Payment:EXECUTED")
    refused = sum(1 for o in outcomes if o.startswith("InsufficientFunds"))
    assert executed == 40 and refused == 60  # floor(1500 / 37) = 40
    acc = (await gql.data(ACCOUNT, {"id": account_id}))["account"]
    assert Decimal(acc["bookedBalance"]["amount"]) == Decimal("1000.00") - 40 * Decimal("37.00")
    assert Decimal(acc["bookedBalance"]["amount"]) >= Decimal("-500.00")
    async with sessions() as session:
        running = (await session.execute(select(Posting.running_balance).where(
            Posting.account_id == uuid.UUID(account_id)).order_by(Posting.seq))).scalars().all()
    assert min(running) >= Decimal("-500.00") and len(running) == 41
    await _invariants(sessions)


async def test_replaying_mutations_changes_nothing(gql: GraphQLClient, open_active: OpenFn, sessions) -> None:
    account_id = await open_active(funded="100.00")
    other = await open_active()
    calls = [
        (OPEN, {"input": open_input(), "key": uuid.uuid4().hex}),
        (RECEIVE, {"id": account_id, "amount": {"amount": "10.00", "currency": "EUR"}, "key": uuid.uuid4().hex}),
        (PAY, {"input": {"accountId": account_id, "toAccountId": other,
                         "amount": {"amount": "5.00", "currency": "EUR"}},
               "key": uuid.uuid4().hex}),
        (PAY, {"input": {"accountId": account_id, "beneficiary": "HMRC",
                         "amount": {"amount": "5.00", "currency": "EUR"}},
               "key": uuid.uuid4().hex}),
    ]
    hold = """mutation($id: ID!, $k: String!) { placeHold(accountId: $id, amount: {amount: "1.00", currency: "EUR"},
        reason: "card authorisation", idempotencyKey: $k) { __typename ... on Hold { id amount { amount } } } }"""
    mandate = """mutation($id: ID!, $p: ID!, $k: String!) { createMandate(input: {accountId: $id,
        signatories: [{partyId: $p, group: "A"}], rules: [{min: "0", requires: [{groups: ["A"], count: 1}]}]},
        reason: "board resolution", idempotencyKey: $k) { __typename ... on Mandate { id } } }"""
    calls += [(hold, {"id": account_id, "k": uuid.uuid4().hex}),
              (mandate, {"id": other, "p": str(uuid.uuid4()), "k": uuid.uuid4().hex})]
    for query, variables in calls:
        first = await gql.data(query, variables)
        snapshot = await counts(sessions)
        second = await gql.data(query, variables)
        assert first == second
        assert await counts(sessions) == snapshot
    # The same key with a different request is refused.
    reused = await gql.data(RECEIVE, {**calls[1][1], "amount": {"amount": "11.00", "currency": "EUR"}})
    assert reused["receivePayment"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    acc = (await gql.data(ACCOUNT, {"id": account_id}))["account"]
    assert acc["bookedBalance"]["amount"] == "100.00" and acc["heldAmount"]["amount"] == "1.00"


async def test_reversal_negates_and_cannot_repeat(gql: GraphQLClient, open_active: OpenFn, sessions) -> None:
    account_id = await open_active()
    entry = (await gql.data(RECEIVE, {"id": account_id, "amount": {"amount": "80.00", "currency": "EUR"},
                                      "key": uuid.uuid4().hex}))["receivePayment"]["id"]
    reverse = """mutation($id: ID!, $k: String!) { reverseJournalEntry(journalEntryId: $id, reason: "duplicate",
        idempotencyKey: $k) { __typename ... on JournalEntry { id reversalOf } ... on DomainError { code } } }"""
    first = (await gql.data(reverse, {"id": entry, "k": uuid.uuid4().hex}))["reverseJournalEntry"]
    assert first["reversalOf"] == entry
    second = (await gql.data(reverse, {"id": entry, "k": uuid.uuid4().hex}))["reverseJournalEntry"]
    assert second["code"] == "INVALID_TRANSITION"
    acc = (await gql.data(ACCOUNT, {"id": account_id}))["account"]
    assert acc["bookedBalance"]["amount"] == "0.00"
    async with sessions() as session:
        types = (await session.execute(select(outbox_table.c.envelope["type"].astext).where(
            outbox_table.c.envelope["data"]["account_id"].astext == account_id))).scalars().all()
    assert "PostingReversed" in types
    await _invariants(sessions)


async def test_bad_input_is_typed_and_writes_nothing(gql: GraphQLClient, open_active: OpenFn, sessions) -> None:
    account_id = await open_active(funded="100.00")
    frozen = await open_active(funded="100.00")
    await gql.data("""mutation($id: ID!) { setAccountRestriction(accountId: $id, restriction: FROZEN, applied: true,
        reason: "fraud check") { __typename } }""", {"id": frozen})
    closed = await open_active()
    await gql.data("""mutation($id: ID!) { closeAccount(accountId: $id, reason: "customer request") {
        __typename } }""", {"id": closed})
    usd = await open_active(currency="USD")
    before = await counts(sessions)

    def pay(amount: str, currency: str = "EUR", source: str = account_id, **extra: str) -> dict:
        return {"input": {"accountId": source, "amount": {"amount": amount, "currency": currency},
                          **(extra or {"beneficiary": "X"})}, "key": uuid.uuid4().hex}

    bad_user_input = [pay("-5.00"), pay("0"), pay("1.001"), pay("5.00", "XXX"), pay("5", source="not-a-uuid"),
                      pay("5.00", "USD")]
    for variables in bad_user_input:
        body = await gql(PAY, variables)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (variables, body)
    typed = [
        (pay("5.00", source=str(uuid.uuid4())), "NOT_FOUND"),
        (pay("5.00", toAccountId=str(uuid.uuid4())), "NOT_FOUND"),
        (pay("5.00", toAccountId=usd), "BAD_USER_INPUT"),
        (pay("5.00", source=frozen), "ACCOUNT_RESTRICTED"),
        (pay("5.00", toAccountId=frozen), "ACCOUNT_RESTRICTED"),
        (pay("5.00", source=closed), "INVALID_TRANSITION"),
        (pay("5.00", toAccountId=closed), "INVALID_TRANSITION"),
        (pay("100.01"), "INSUFFICIENT_FUNDS"),
    ]
    for variables, code in typed:
        body = await gql(PAY, variables)
        got = body["errors"][0]["extensions"]["code"] if body.get("errors") else body["data"]["makePayment"]["code"]
        assert got == code, (variables, body)
    for variables in ({"id": closed, "amount": {"amount": "1.00", "currency": "EUR"}, "key": uuid.uuid4().hex},
                      {"id": frozen, "amount": {"amount": "1.00", "currency": "EUR"}, "key": uuid.uuid4().hex}):
        assert (await gql.data(RECEIVE, variables))["receivePayment"]["__typename"] in {"InvalidTransition",
                                                                                       "AccountRestricted"}
    odd = await gql(OVERDRAFT, {"id": account_id, "limit": {"amount": "10.005", "currency": "EUR"}})
    assert odd["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await counts(sessions) == before


async def test_opposite_concurrent_transfers_neither_deadlock_nor_lose_money(gql: GraphQLClient,
                                                                            open_active: OpenFn, sessions) -> None:
    a = await open_active(funded="500.00")
    b = await open_active(funded="500.00")

    async def move(src: str, dst: str, i: int) -> str:
        body = await gql.data(PAY, {"input": {"accountId": src, "toAccountId": dst,
                                              "amount": {"amount": "7.00", "currency": "EUR"}},
                                    "key": f"x-{src}-{i}"})
        return str(body["makePayment"]["__typename"])

    outcomes = await asyncio.gather(*[move(a, b, i) for i in range(40)], *[move(b, a, i) for i in range(40)])
    assert set(outcomes) == {"Payment"}
    balances = [(await gql.data(ACCOUNT, {"id": x}))["account"]["bookedBalance"]["amount"] for x in (a, b)]
    assert balances == ["500.00", "500.00"]
    await _invariants(sessions)
