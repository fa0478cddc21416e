"""Product version lifecycle: the transition matrix, four eyes, immutability and the version on sale at a date."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import nats
from shared.config import Settings
from tests.helpers import GraphQLClient
from tests.subgraphs.product.conftest import (
    APPROVE,
    NEW_VERSION,
    PUBLISH,
    REJECT,
    RETIRE,
    SUBMIT,
    UPDATE,
    WITHDRAW,
    counts,
    create,
    current_account,
    last_envelope,
    outbox_types,
    publish,
    step,
)

TODAY = dt.datetime.now(dt.UTC).date()
ACTIONS = {"SUBMIT": SUBMIT, "APPROVE": APPROVE, "REJECT": REJECT, "PUBLISH": PUBLISH, "WITHDRAW": WITHDRAW,
           "RETIRE": RETIRE}
ALLOWED = {"DRAFT": {"SUBMIT"}, "PENDING_APPROVAL": {"APPROVE", "REJECT"}, "APPROVED": {"PUBLISH"},
           "ACTIVE": {"WITHDRAW"}, "WITHDRAWN": {"RETIRE"}, "RETIRED": set()}
PATH = ["DRAFT", "PENDING_APPROVAL", "APPROVED", "ACTIVE", "WITHDRAWN", "RETIRED"]


async def _in_status(gql: GraphQLClient, checker: GraphQLClient, status: str) -> dict:
    product = await create(gql)
    pid = product["id"]
    steps = [(gql, SUBMIT, {}), (checker, APPROVE, {}), (gql, PUBLISH, {"from": "2025-01-01"}),
             (gql, WITHDRAW, {}), (gql, RETIRE, {})]
    for client, mutation, extra in steps[:PATH.index(status)]:
        product = await step(client, mutation, id=pid, **extra)
    assert product["status"] == status, product
    return product


async def test_full_lifecycle_writes_one_event_per_step(gql, checker, sessions) -> None:
    product = await _in_status(gql, checker, "RETIRED")
    assert product["submittedBy"] == "maker-1" and product["approvedBy"] == "checker-1"
    assert product["effectiveFrom"] == "2025-01-01" and product["effectiveTo"] == TODAY.isoformat()
    assert await outbox_types(sessions, product["id"]) == [
        "ProductDraftCreated", "ProductSubmittedForApproval", "ProductVersionApproved", "ProductVersionPublished",
        "ProductWithdrawn", "ProductRetired"]
    assert product["revision"] == 6


@pytest.mark.parametrize("status", PATH)
async def test_illegal_transitions_are_refused_and_write_nothing(gql, checker, sessions, status) -> None:
    product = await _in_status(gql, checker, status)
    before = await counts(sessions)
    for action in sorted(set(ACTIONS) - ALLOWED[status]):
        client = checker if action in {"APPROVE", "REJECT"} else gql
        result = await step(client, ACTIONS[action], id=product["id"], **({"from": "2025-01-01"}
                                                                          if action == "PUBLISH" else {}))
        assert result["__typename"] == "InvalidTransition", (status, action, result)
        assert status in result["message"] and action in result["message"]
    assert await counts(sessions) == before
    assert (await step(gql, "query($id: ID!) { product(id: $id) { status } }", id=product["id"]))["status"] == status


async def test_rejection_returns_the_version_to_draft(gql, checker, sessions) -> None:
    product = await _in_status(gql, checker, "PENDING_APPROVAL")
    rejected = await step(checker, REJECT, id=product["id"])
    assert rejected["status"] == "DRAFT" and rejected["submittedBy"] is None
    assert (await outbox_types(sessions, product["id"]))[-1] == "ProductApprovalRejected"


async def test_submitter_cannot_approve_or_reject(gql, checker, sessions) -> None:
    product = await _in_status(gql, checker, "PENDING_APPROVAL")
    before = await counts(sessions)
    for mutation in (APPROVE, REJECT):
        refused = await step(gql, mutation, id=product["id"])
        assert refused["__typename"] == "FourEyesRequired" and refused["code"] == "FOUR_EYES_REQUIRED"
        assert "maker-1" in refused["message"]
    assert await counts(sessions) == before
    assert (await step(checker, APPROVE, id=product["id"]))["approvedBy"] == "checker-1"


async def test_published_version_is_immutable(gql, checker, sessions) -> None:
    product = await _in_status(gql, checker, "ACTIVE")
    before = await counts(sessions)
    body = current_account(code=product["code"], name="Renamed")
    refused = await step(gql, UPDATE, id=product["id"], input=body)
    assert refused["__typename"] == "InvalidTransition" and "createProductVersion" in refused["message"]
    assert await counts(sessions) == before
    # The database refuses it too, whatever code would try.
    async with sessions() as session:
        with pytest.raises(DBAPIError, match="immutable"):
            await session.execute(text("UPDATE products SET terms = '{}' WHERE id = :id"), {"id": product["id"]})
        await session.rollback()
        with pytest.raises(DBAPIError, match="cannot be deleted"):
            await session.execute(text("DELETE FROM products WHERE id = :id"), {"id": product["id"]})


async def test_draft_update_records_charge_changes(gql, sessions) -> None:
    product = await create(gql)
    body = current_account(code=product["code"])
    body["charges"] = [{**body["charges"][0], "amount": "7.00"},
                       {"code": "PAYMENT", "name": "Payment", "feeType": "TRANSACTION", "calculation": "FIXED",
                        "amount": "0.30", "frequency": "PER_TRANSACTION"}]
    updated = await step(gql, UPDATE, id=product["id"], input=body)
    assert [c["amount"]["amount"] for c in updated["charges"]] == ["7.00", "0.30"]
    assert await outbox_types(sessions, product["id"]) == [
        "ProductDraftCreated", "ProductDraftUpdated", "ChargeDefinitionChanged"]
    before = await counts(sessions)
    assert (await step(gql, UPDATE, id=product["id"], input=body))["revision"] == updated["revision"]
    assert await counts(sessions) == before  # an update that changes nothing writes nothing


async def test_new_version_and_version_on_sale_at_a_date(gql, checker, sessions) -> None:
    v1 = await create(gql)
    await publish(gql, checker, v1["id"], "2025-01-01")
    code = v1["code"]
    # A change makes a new version: a DRAFT copy that supersedes v1.
    v2 = await step(gql, NEW_VERSION, id=v1["id"], key=uuid.uuid4().hex)
    assert (v2["version"], v2["status"], v2["supersedesVersion"]) == (2, "DRAFT", 1)
    assert v2["charges"] == v1["charges"] and v2["pricing"] == v1["pricing"]
    # Only one unpublished version at a time, and never from a draft.
    assert (await step(gql, NEW_VERSION, id=v1["id"], key=uuid.uuid4().hex))["__typename"] == "Conflict"
    assert (await step(gql, NEW_VERSION, id=v2["id"], key=uuid.uuid4().hex))["__typename"] == "InvalidTransition"
    body = current_account(code=code)
    body["charges"][0]["amount"] = "8.00"
    await step(gql, UPDATE, id=v2["id"], input=body)
    # v2 cannot start on or before v1's first day.
    await step(gql, SUBMIT, id=v2["id"])
    await step(checker, APPROVE, id=v2["id"])
    assert (await step(gql, PUBLISH, id=v2["id"], **{"from": "2025-01-01"}))["__typename"] == "Conflict"
    await step(gql, PUBLISH, id=v2["id"], **{"from": "2026-03-01"})
    assert (await outbox_types(sessions, v2["id"]))[-2:] == ["ProductVersionPublished", "ChargeDefinitionChanged"]

    query = "query($c: String!, $at: Date) { productOnSale(code: $c, at: $at) { version isOnSale(at: $at) } }"
    on_sale = {at: await step(gql, query, c=code, at=at)
               for at in ("2024-12-31", "2025-01-01", "2026-02-28", "2026-03-01", TODAY.isoformat())}
    assert on_sale == {"2024-12-31": None, "2025-01-01": {"version": 1, "isOnSale": True},
                       "2026-02-28": {"version": 1, "isOnSale": True}, "2026-03-01": {"version": 2, "isOnSale": True},
                       TODAY.isoformat(): {"version": 2, "isOnSale": True}}
    old = await step(gql, "query($c: String!) { productByCode(code: $c, version: 1) { status effectiveTo "
                          "charges { amount { amount } } } }", c=code)
    # v1 still serves its contracts, unchanged; it only stopped selling when v2 started.
    assert old == {"status": "ACTIVE", "effectiveTo": "2026-03-01", "charges": [{"amount": {"amount": "6.50"}}]}
    # A future version takes over on its own date.
    v3 = await step(gql, NEW_VERSION, id=v2["id"], key=uuid.uuid4().hex)
    await publish(gql, checker, v3["id"], "2030-01-01")
    assert (await step(gql, query, c=code, at=TODAY.isoformat()))["version"] == 2
    assert (await step(gql, query, c=code, at="2030-01-01"))["version"] == 3


async def test_withdrawal_stops_sales_and_retirement_waits_for_it(gql, checker, sessions) -> None:
    product = await _in_status(gql, checker, "ACTIVE")
    before = await counts(sessions)
    past = await gql(WITHDRAW, {"id": product["id"], "at": "2020-01-01"})
    assert past["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await counts(sessions) == before
    later = (TODAY + dt.timedelta(days=30)).isoformat()
    withdrawn = await step(gql, WITHDRAW, id=product["id"], at=later)
    assert withdrawn["status"] == "WITHDRAWN" and withdrawn["effectiveTo"] == later
    query = "query($c: String!, $at: Date) { productOnSale(code: $c, at: $at) { id } }"
    assert (await step(gql, query, c=product["code"], at=TODAY.isoformat()))["id"] == product["id"]
    assert await step(gql, query, c=product["code"], at=later) is None
    refused = await step(gql, RETIRE, id=product["id"])
    assert refused["__typename"] == "InvalidTransition" and later in refused["message"]


async def test_published_event_reaches_nats(gql, checker, settings: Settings) -> None:
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    sub = await js.subscribe("finpace.product.product.version_published", ordered_consumer=True,
                             deliver_policy=nats.js.api.DeliverPolicy.NEW)
    try:
        product = await _in_status(gql, checker, "ACTIVE")
        while True:
            envelope = json.loads((await sub.next_msg(timeout=10)).data)
            if envelope["subject"] == product["id"]:
                break
    finally:
        await nc.close()
    assert envelope["type"] == "ProductVersionPublished" and envelope["source"] == "product"
    assert envelope["data"]["code"] == product["code"] and envelope["data"]["effective_from"] == "2025-01-01"
    assert envelope["reason"] == "launch" and envelope["actor"]["sub"] == "maker-1"


async def test_published_event_names_the_version_it_supersedes(gql, checker, sessions) -> None:
    # v1 is withdrawn from a future date; v2 published before that date takes over from it.
    v1 = await _in_status(gql, checker, "ACTIVE")
    later = (TODAY + dt.timedelta(days=60)).isoformat()
    await step(gql, WITHDRAW, id=v1["id"], at=later)
    v2 = await step(gql, NEW_VERSION, id=v1["id"], key=uuid.uuid4().hex)
    start = (TODAY + dt.timedelta(days=10)).isoformat()
    await publish(gql, checker, v2["id"], start)
    envelope = await last_envelope(sessions, v2["id"], "ProductVersionPublished")
    data = envelope["data"]
    assert (data["code"], data["version"], data["family"], data["currency"]) == (v1["code"], 2, "CURRENT_ACCOUNT",
                                                                                  "GBP")
    assert (data["effective_from"], data["supersedes_version"], data["superseded_product_id"]) == (start, 1, v1["id"])
    assert (await step(gql, "query($id: ID!) { product(id: $id) { effectiveTo } }", id=v1["id"]))[
        "effectiveTo"] == start
    first = await last_envelope(sessions, v1["id"], "ProductVersionPublished")
    assert first["data"]["superseded_product_id"] is None and first["data"]["supersedes_version"] is None
    # The published terms travel with the event: the domains that sell the version price from them.
    async with sessions() as session:
        stored = (await session.execute(text("SELECT terms FROM products WHERE id = :id"), {"id": v2["id"]})).scalar()
    assert data["terms"] == stored and data["terms"]["pricing"]["interest_rate"]["default"]
