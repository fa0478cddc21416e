"""The corporate journey over HTTP: application → offer → facility → drawdown → booking → covenant breach."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import outbox_table
from subgraphs.corporate_lending.models import Drawdown, Facility, Offer
from subgraphs.corporate_lending.schema import build_schema
from tests.subgraphs.corporate_lending.conftest import counts, eventually, outbox_types, publish_reply

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema" / "corporate_lending.graphql"
ERR = "... on DomainError { code message }"
APP = f"""__typename ... on CreditApplication {{ id status decisionProposedBy decidedBy approvedBy }} {ERR}"""
FAC_BODY = "id status facilityType limit { amount currency } drawn { amount } available { amount } " \
           "conditionsOutstanding covenants { id metric status }"
FAC = f"__typename ... on Facility {{ {FAC_BODY} }} {ERR}"
DD_BODY = "id status amount { amount } principalOutstanding { amount } " \
          "schedule { number dueDate principal { amount } interest { amount } paidInterest { amount } }"
DD = f"__typename ... on Drawdown {{ {DD_BODY} }} {ERR}"
CREATE = f"""mutation($input: CreditApplicationInput!, $key: String!) {{
  createCreditApplication(input: $input, idempotencyKey: $key) {{ {APP} }} }}"""
OFFER = f"""mutation($id: ID!, $input: OfferInput!, $key: String!) {{
  issueOffer(applicationId: $id, input: $input, idempotencyKey: $key) {{ __typename
  ... on Offer {{ id status limit {{ amount }} conditionsPrecedent covenants {{ metric operator threshold }} }}
  {ERR} }} }}"""
ACCEPT = f"mutation($id: ID!, $key: String!) {{ acceptOffer(offerId: $id, idempotencyKey: $key) {{ {FAC} }} }}"
DRAW = f"""mutation($id: ID!, $amount: MoneyInput!, $acct: ID!, $key: String!) {{
  executeDrawdown(facilityId: $id, amount: $amount, settlementAccountId: $acct, idempotencyKey: $key) {{ {DD} }} }}"""
READ_FAC = f"query($id: ID!) {{ facility(id: $id) {{ {FAC_BODY} drawdowns {{ id status }} }} }}"


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def application_input(party: str, **kw: Any) -> dict[str, Any]:
    body = {"borrowerPartyId": party, "guarantorPartyIds": [str(uuid.uuid4())], "purpose": "Working capital",
            "requested": eur("1000000.00"), "facilityType": "REVOLVING", "internalRating": "BB+",
            "financials": [{"name": "revenue", "value": "12500000"}, {"name": "ebitda", "value": "2100000"}]}
    body.update(kw)
    return body


def offer_input(**kw: Any) -> dict[str, Any]:
    body = {"limit": eur("1000000.00"), "baseRatePct": "3.5", "marginPct": "2.25", "commitmentFeePct": "0.5",
            "arrangementFee": eur("5000.00"), "availabilityMonths": 24,
            "repayment": {"installments": 12, "dayCount": "THIRTY_360"},
            "conditionsPrecedent": ["Signed facility agreement", "Board resolution"],
            "covenants": [{"metric": "NET_DEBT_TO_EBITDA", "operator": "LTE", "threshold": "3.0",
                           "testFrequency": "QUARTERLY"}]}
    body.update(kw)
    return body


async def approved_application(staff, party: str, **kw: Any) -> str:
    rm, credit = staff("rm", "rm-maker"), staff("ops", "credit-checker")
    await staff.assign(party, "rm-maker")  # an RM acts only on its portfolio
    app = (await rm.data(CREATE, {"input": application_input(party, **kw), "key": uuid.uuid4().hex}))[
        "createCreditApplication"]
    assert app["status"] == "SUBMITTED"
    propose = f"""mutation($id: ID!) {{ proposeCreditDecision(applicationId: $id, approve: true,
        reason: "Strong cash conversion") {{ {APP} }} }}"""
    approve = f"mutation($id: ID!) {{ approveCreditDecision(applicationId: $id) {{ {APP} }} }}"
    assert (await rm.data(propose, {"id": app["id"]}))["proposeCreditDecision"]["decisionProposedBy"] == "rm-maker"
    assert (await rm.data(approve, {"id": app["id"]}))["approveCreditDecision"]["code"] == "FOUR_EYES_REQUIRED"
    done = (await credit.data(approve, {"id": app["id"]}))["approveCreditDecision"]
    assert done["status"] == "APPROVED" and done["approvedBy"] == "credit-checker"
    return str(app["id"])


async def available_facility(staff, party: str, **offer: Any) -> dict[str, Any]:
    rm = staff("rm", "rm-maker")
    app_id = await approved_application(staff, party)
    o = (await rm.data(OFFER, {"id": app_id, "input": offer_input(**offer), "key": uuid.uuid4().hex}))["issueOffer"]
    assert o["status"] == "ISSUED", o
    f = (await rm.data(ACCEPT, {"id": o["id"], "key": uuid.uuid4().hex}))["acceptOffer"]
    for cp in list(f["conditionsOutstanding"]):
        f = (await rm.data(f"""mutation($id: ID!, $cp: String!) {{ satisfyConditionPrecedent(facilityId: $id,
            condition: $cp, evidence: "DOC-1") {{ {FAC} }} }}""", {"id": f["id"], "cp": cp}))[
            "satisfyConditionPrecedent"]
    assert f["status"] == "AVAILABLE", f
    return f


async def test_sdl_snapshot_is_current() -> None:
    assert SNAPSHOT.read_text() == build_schema().as_str() + "\n"


async def test_corporate_journey(staff, customer_for, co_sessions, settings: Settings) -> None:
    party = str(uuid.uuid4())
    rm, ops = staff("rm", "rm-maker"), staff("ops", "credit-checker")
    app_id = await approved_application(staff, party)
    o = (await rm.data(OFFER, {"id": app_id, "input": offer_input(), "key": uuid.uuid4().hex}))["issueOffer"]
    assert o["covenants"] == [{"metric": "NET_DEBT_TO_EBITDA", "operator": "LTE", "threshold": "3.0"}]
    customer = customer_for(party)
    f = (await customer.data(ACCEPT, {"id": o["id"], "key": uuid.uuid4().hex}))["acceptOffer"]
    assert f["status"] == "PENDING_CONDITIONS" and f["limit"] == eur("1000000.00")
    acct = str(uuid.uuid4())
    early = (await customer.data(DRAW, {"id": f["id"], "amount": eur("100.00"), "acct": acct,
                                        "key": uuid.uuid4().hex}))["executeDrawdown"]
    assert early["code"] == "INVALID_TRANSITION"
    for cp in o["conditionsPrecedent"]:
        await rm.data(f"""mutation($id: ID!, $cp: String!) {{ satisfyConditionPrecedent(facilityId: $id,
            condition: $cp, evidence: "DOC") {{ {FAC} }} }}""", {"id": f["id"], "cp": cp})
    assert await outbox_types(co_sessions, f["id"]) == [
        "FacilityCreated", "FacilityConditionSatisfied", "FacilityConditionSatisfied", "FacilityStatusChanged",
        "FacilityAvailable"]

    d = (await customer.data(DRAW, {"id": f["id"], "amount": eur("120000.00"), "acct": acct,
                                    "key": uuid.uuid4().hex}))["executeDrawdown"]
    assert d["status"] == "PENDING_SETTLEMENT" and len(d["schedule"]) == 12
    assert sum(Decimal(i["principal"]["amount"]) for i in d["schedule"]) == Decimal("120000.00")
    async with co_sessions() as s:
        rows = (await s.execute(select(outbox_table.c.nats_subject, outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == d["id"]).order_by(outbox_table.c.id))).all()
    assert [r.nats_subject for r in rows] == ["finpace.corporate_lending.drawdown.executed",
                                              "finpace.corporate_lending.drawdown.disbursement_requested"]
    assert rows[0].envelope["data"]["available_after"] == eur("880000.00")
    request = rows[1].envelope["data"]
    assert request["settlement_account_id"] == acct and request["amount"] == eur("120000.00")
    await publish_reply(settings, "finpace.account.payment.executed",
                        {"idempotency_id": request["idempotency_id"], "payment_id": "pay-1"})

    async def settled() -> bool:
        fac = (await customer.data(READ_FAC, {"id": f["id"]}))["facility"]
        return fac["drawdowns"][0]["status"] == "ACTIVE"
    await eventually(settled)

    # Repayment: the first instalment's interest then principal, the excess prepays and reshapes the schedule.
    first_due = d["schedule"][0]["dueDate"]
    inst = d["schedule"][0]
    due = Decimal(inst["principal"]["amount"]) + Decimal(inst["interest"]["amount"])
    paid = (await ops.data(f"""mutation($id: ID!, $amount: MoneyInput!, $on: Date!, $key: String!) {{
        recordRepayment(drawdownId: $id, amount: $amount, receivedOn: $on, idempotencyKey: $key) {{ {DD} }} }}""",
        {"id": d["id"], "amount": eur(str(due + Decimal("10000.00"))), "on": first_due,
         "key": uuid.uuid4().hex}))["recordRepayment"]
    assert paid["schedule"][0]["paidInterest"] == inst["interest"]
    outstanding = Decimal("120000.00") - Decimal(inst["principal"]["amount"]) - Decimal("10000.00")
    assert Decimal(paid["principalOutstanding"]["amount"]) == outstanding
    assert sum(Decimal(i["principal"]["amount"]) for i in paid["schedule"][1:]) == outstanding
    fac = (await customer.data(READ_FAC, {"id": f["id"]}))["facility"]
    assert Decimal(fac["drawn"]["amount"]) == outstanding  # revolving: repaid principal is available again

    in_ten_days = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)).isoformat()
    fee = await ops.data("query($id: ID!, $on: Date!) { facility(id: $id) { commitmentFeeAccrued(asOf: $on) "
                         "{ amount } } }", {"id": f["id"], "on": in_ten_days})
    assert fee["facility"]["commitmentFeeAccrued"]["amount"] == "120.55"  # 880,000 x 0.5 % x 10/365

    overdue = (await ops.data(f"""mutation($id: ID!, $on: Date!) {{ checkOverdueInstallments(drawdownId: $id,
        asOf: $on) {{ {DD} }} }}""", {"id": d["id"], "on": paid["schedule"][2]["dueDate"]}))
    assert overdue["checkOverdueInstallments"]["status"] == "ACTIVE"
    assert (await outbox_types(co_sessions, d["id"])).count("InstallmentOverdue") == 1

    # A covenant breach suspends drawdowns until a waiver is approved by a second person.
    cov = fac["covenants"][0]["id"]
    test = (await rm.data("""mutation($id: ID!) { submitCovenantCompliance(covenantId: $id, periodEnd: "2026-09-30",
        actualValue: "3.4", evidenceRef: "CERT-Q3") { __typename ... on CovenantTest { result } } }""",
        {"id": cov}))["submitCovenantCompliance"]
    assert test["result"] == "BREACH"
    fac = (await customer.data(READ_FAC, {"id": f["id"]}))["facility"]
    assert fac["status"] == "SUSPENDED" and fac["covenants"][0]["status"] == "BREACHED"
    refused = (await customer.data(DRAW, {"id": f["id"], "amount": eur("1000.00"), "acct": acct,
                                          "key": uuid.uuid4().hex}))["executeDrawdown"]
    assert refused["code"] == "INVALID_TRANSITION"
    reinstate = (await ops.data(f"""mutation($id: ID!) {{ changeFacilityStatus(facilityId: $id, status: AVAILABLE,
        reason: "try") {{ {FAC} }} }}""", {"id": f["id"]}))["changeFacilityStatus"]
    assert reinstate["code"] == "INVALID_TRANSITION"
    waiver = f"""mutation($id: ID!) {{ requestCovenantWaiver(covenantId: $id, reason: "One-off restructuring cost",
        expiresOn: "{(dt.date.today() + dt.timedelta(days=90)).isoformat()}") {{ __typename
        ... on Covenant {{ status waiverRequestedBy }} {ERR} }} }}"""
    approve = f"""mutation($id: ID!) {{ approveCovenantWaiver(covenantId: $id) {{ __typename
        ... on Covenant {{ status waiverExpiresOn }} {ERR} }} }}"""
    assert (await rm.data(waiver, {"id": cov}))["requestCovenantWaiver"]["waiverRequestedBy"] == "rm-maker"
    assert (await rm.data(approve, {"id": cov}))["approveCovenantWaiver"]["code"] == "FOUR_EYES_REQUIRED"
    assert (await ops.data(approve, {"id": cov}))["approveCovenantWaiver"]["status"] == "WAIVED"
    fac = (await customer.data(READ_FAC, {"id": f["id"]}))["facility"]
    assert fac["status"] == "AVAILABLE"
    assert await outbox_types(co_sessions, cov) == ["CovenantTested", "CovenantBreached",
                                                    "CovenantWaiverRequested", "CovenantWaived"]
    entities = await customer.data("""query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Party { facilities { id status } } } }""", {"r": [{"__typename": "Party", "id": party}]})
    assert entities["_entities"][0]["facilities"] == [{"id": f["id"], "status": "AVAILABLE"}]
    stranger = customer_for(str(uuid.uuid4()))
    assert (await stranger.data(READ_FAC, {"id": f["id"]}))["facility"] is None


async def test_concurrent_drawdowns_never_exceed_the_limit(staff, co_sessions) -> None:
    f = await available_facility(staff, str(uuid.uuid4()), conditionsPrecedent=[])
    rm = staff("rm", "rm-maker")
    results = await asyncio.gather(*[rm.data(DRAW, {"id": f["id"], "amount": eur("150000.00"),
                                                    "acct": str(uuid.uuid4()), "key": uuid.uuid4().hex})
                                     for _ in range(10)])
    kinds = [r["executeDrawdown"]["__typename"] for r in results]
    assert kinds.count("Drawdown") == 6 and kinds.count("LimitExceeded") == 4
    fac = (await rm.data(READ_FAC, {"id": f["id"]}))["facility"]
    assert fac["drawn"]["amount"] == "900000.00" and fac["available"]["amount"] == "100000.00"


async def test_failed_booking_releases_the_limit(staff, co_sessions, settings: Settings) -> None:
    f = await available_facility(staff, str(uuid.uuid4()), conditionsPrecedent=[])
    rm = staff("rm", "rm-maker")
    d = (await rm.data(DRAW, {"id": f["id"], "amount": eur("400000.00"), "acct": str(uuid.uuid4()),
                              "key": uuid.uuid4().hex}))["executeDrawdown"]
    async with co_sessions() as s:
        idem = str((await s.get(Drawdown, uuid.UUID(d["id"]))).disbursement_id)
    event_id = await publish_reply(settings, "finpace.account.payment.failed", {"idempotency_id": idem,
                                                                               "reason": "ACCOUNT_BLOCKED"})
    await publish_reply(settings, "finpace.account.payment.failed", {"idempotency_id": idem, "reason": "x"},
                        event_id=event_id, msg_id="again")

    async def released() -> bool:
        fac = (await rm.data(READ_FAC, {"id": f["id"]}))["facility"]
        return fac["available"]["amount"] == "1000000.00" and fac["drawdowns"][0]["status"] == "FAILED"
    await eventually(released)
    assert (await outbox_types(co_sessions, d["id"]))[-1] == "DrawdownFailed"
    assert (await outbox_types(co_sessions, d["id"])).count("DrawdownFailed") == 1


async def test_expired_offer_cannot_be_accepted(staff, co_sessions) -> None:
    rm = staff("rm", "rm-maker")
    app_id = await approved_application(staff, str(uuid.uuid4()))
    o = (await rm.data(OFFER, {"id": app_id, "input": offer_input(), "key": uuid.uuid4().hex}))["issueOffer"]
    async with co_sessions() as s, s.begin():
        await s.execute(update(Offer).where(Offer.id == uuid.UUID(o["id"])).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    r = (await rm.data(ACCEPT, {"id": o["id"], "key": uuid.uuid4().hex}))["acceptOffer"]
    assert r["code"] == "INVALID_TRANSITION"
    status = await rm.data("query($id: ID!) { offer(id: $id) { status } }", {"id": o["id"]})
    assert status["offer"]["status"] == "EXPIRED"
    assert (await outbox_types(co_sessions, o["id"]))[-1] == "OfferExpired"


def settings_token(settings: Settings) -> str:
    return issue_dev_token(settings, role="customer", sub="cust-x", party_ids=[str(uuid.uuid4())])


async def test_bad_input_writes_nothing(staff, co_sessions, settings: Settings) -> None:
    f = await available_facility(staff, str(uuid.uuid4()), conditionsPrecedent=[])
    rm = staff("rm", "rm-maker")
    before = await counts(co_sessions, Drawdown)
    for amount in [eur("-5.00"), eur("1.001"), {"amount": "10.00", "currency": "USD"},
                   {"amount": "10.00", "currency": "EURO"}]:
        body = await rm(DRAW, {"id": f["id"], "amount": amount, "acct": str(uuid.uuid4()), "key": uuid.uuid4().hex})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    body = await rm(DRAW, {"id": "not-a-uuid", "amount": eur("1.00"), "acct": str(uuid.uuid4()), "key": "k"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    over = (await rm.data(DRAW, {"id": f["id"], "amount": eur("1000000.01"), "acct": str(uuid.uuid4()),
                                 "key": uuid.uuid4().hex}))["executeDrawdown"]
    assert over["__typename"] == "LimitExceeded"
    assert await counts(co_sessions, Drawdown) == before
    bad_offer = await rm(OFFER, {"id": await approved_application(staff, str(uuid.uuid4())),
                                 "input": offer_input(repayment={"installments": 0}), "key": uuid.uuid4().hex})
    assert bad_offer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    customer = rm.with_token(settings_token(settings))
    forbidden = await customer(f"""mutation($id: ID!) {{ proposeCreditDecision(applicationId: $id, approve: true,
        reason: "self-approval") {{ {APP} }} }}""", {"id": str(uuid.uuid4())})
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anon = rm.with_token(None)
    unauth = await anon(DRAW, {"id": f["id"], "amount": eur("1.00"), "acct": str(uuid.uuid4()), "key": "k2"})
    assert unauth["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_facility_lifecycle_guards(staff, co_sessions, settings: Settings) -> None:
    rm = staff("rm", "rm-maker")
    move = f"""mutation($id: ID!, $s: FacilityStatus!) {{ changeFacilityStatus(facilityId: $id, status: $s,
        reason: "Credit review") {{ {FAC} }} }}"""
    idle = await available_facility(staff, str(uuid.uuid4()), conditionsPrecedent=[])
    assert (await rm.data(move, {"id": idle["id"], "s": "CANCELLED"}))["changeFacilityStatus"]["status"] == "CANCELLED"
    assert (await rm.data(move, {"id": idle["id"], "s": "AVAILABLE"}))["changeFacilityStatus"]["code"] == \
        "INVALID_TRANSITION"
    pending = await rm(move, {"id": idle["id"], "s": "PENDING_CONDITIONS"})
    assert pending["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    term = await available_facility(staff, str(uuid.uuid4()), conditionsPrecedent=[])
    d = (await rm.data(DRAW, {"id": term["id"], "amount": eur("50000.00"), "acct": str(uuid.uuid4()),
                              "key": uuid.uuid4().hex}))["executeDrawdown"]
    closing = (await rm.data(move, {"id": term["id"], "s": "CLOSED"}))["changeFacilityStatus"]
    assert closing["code"] == "INVALID_TRANSITION"
    assert (await rm.data(move, {"id": term["id"], "s": "AMORTISING"}))["changeFacilityStatus"]["status"] == \
        "AMORTISING"
    async with co_sessions() as s:
        idem = str((await s.get(Drawdown, uuid.UUID(d["id"]))).disbursement_id)
    await publish_reply(settings, "finpace.account.payment.executed", {"idempotency_id": idem})

    async def settled() -> bool:
        async with co_sessions() as s:
            return (await s.get(Drawdown, uuid.UUID(d["id"]))).status == "ACTIVE"
    await eventually(settled)
    repaid = (await staff("ops", "ops-1").data(f"""mutation($id: ID!, $amount: MoneyInput!, $key: String!) {{
        recordRepayment(drawdownId: $id, amount: $amount, receivedOn: "{dt.date.today().isoformat()}",
        idempotencyKey: $key) {{ {DD} }} }}""", {"id": d["id"], "amount": eur("50000.00"),
                                                "key": uuid.uuid4().hex}))["recordRepayment"]
    assert repaid["status"] == "REPAID" and repaid["principalOutstanding"]["amount"] == "0.00"
    assert (await rm.data(move, {"id": term["id"], "s": "CLOSED"}))["changeFacilityStatus"]["status"] == "CLOSED"


async def test_drawdown_idempotency(staff, co_sessions) -> None:
    f = await available_facility(staff, str(uuid.uuid4()), conditionsPrecedent=[])
    rm = staff("rm", "rm-maker")
    key, acct = uuid.uuid4().hex, str(uuid.uuid4())
    before = await counts(co_sessions, Drawdown)
    first, second = [(await rm.data(DRAW, {"id": f["id"], "amount": eur("250000.00"), "acct": acct,
                                           "key": key}))["executeDrawdown"] for _ in range(2)]
    assert first["id"] == second["id"]
    assert await counts(co_sessions, Drawdown) == (before[0] + 1, before[1] + 2)
    other = (await rm.data(DRAW, {"id": f["id"], "amount": eur("1.00"), "acct": acct, "key": key}))[
        "executeDrawdown"]
    assert other["code"] == "IDEMPOTENCY_KEY_REUSED"
    fac = (await rm.data(READ_FAC, {"id": f["id"]}))["facility"]
    assert fac["drawn"]["amount"] == "250000.00"


async def test_decreasing_facility_shows_its_limit_in_force(staff) -> None:
    party = str(uuid.uuid4())
    rm = staff("rm", "rm-maker")
    app_id = await approved_application(staff, party, facilityType="DECREASING")
    o = (await rm.data(OFFER, {"id": app_id, "input": offer_input(conditionsPrecedent=[]),
                               "key": uuid.uuid4().hex}))["issueOffer"]
    f = (await rm.data(ACCEPT, {"id": o["id"], "key": uuid.uuid4().hex}))["acceptOffer"]
    assert f["status"] == "AVAILABLE" and f["facilityType"] == "DECREASING"
    d = (await rm.data(DRAW, {"id": f["id"], "amount": eur("1000000.00"), "acct": str(uuid.uuid4()),
                              "key": uuid.uuid4().hex}))["executeDrawdown"]
    assert d["status"] == "PENDING_SETTLEMENT"  # no step-down has happened on day one
    fac = await rm.data("query($id: ID!) { facility(id: $id) { currentLimit { amount } available { amount } } }",
                        {"id": f["id"]})
    assert fac["facility"] == {"currentLimit": {"amount": "1000000.00"}, "available": {"amount": "0.00"}}


async def test_annotated_fields_are_refused_by_the_subgraph_itself(staff, anon, customer_for) -> None:
    # facility is @authenticated; checkOverdueInstallments is @policy(ops | admin): neither an RM nor a customer.
    body = await anon("query($id: ID!) { facility(id: $id) { id } }", {"id": str(uuid.uuid4())})
    assert body["data"] == {"facility": None} and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    overdue = f"""mutation($id: ID!) {{ checkOverdueInstallments(drawdownId: $id, asOf: "2025-01-01") {{ {DD} }} }}"""
    for client in (staff("rm", "rm-maker"), customer_for(str(uuid.uuid4()))):
        body = await client(overdue, {"id": str(uuid.uuid4())})
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    missing = (await staff("ops", "ops-1").data(overdue, {"id": str(uuid.uuid4())}))["checkOverdueInstallments"]
    assert missing["code"] == "NOT_FOUND"


async def test_the_facility_references_the_product_version_it_is_sold_under(staff, co_products) -> None:
    """productId on the offer is carried to the facility as a Product entity reference the router resolves."""
    product = co_products["rcf"]
    f = await available_facility(staff, str(uuid.uuid4()), productId=product)
    rm = staff("rm", "rm-maker")
    read = "query($id: ID!) { facility(id: $id) { product { __typename id } } }"
    assert (await rm.data(read, {"id": f["id"]}))["facility"]["product"] == {"__typename": "Product", "id": product}
    entities = await rm.data("""query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Facility { product { id } } } }""", {"r": [{"__typename": "Facility", "id": f["id"]}]})
    assert entities["_entities"] == [{"product": {"id": product}}]
    unnamed = await available_facility(staff, str(uuid.uuid4()))
    assert (await rm.data(read, {"id": unnamed["id"]}))["facility"]["product"] is None
    legacy = await available_facility(staff, str(uuid.uuid4()), productId=co_products["legacy"])
    assert (await rm.data(read, {"id": legacy["id"]}))["facility"]["product"]["id"] == co_products["legacy"]
    term = await approved_application(staff, str(uuid.uuid4()), facilityType="TERM")
    o = (await rm.data(OFFER, {"id": term, "input": offer_input(productId=co_products["term"]),
                               "key": uuid.uuid4().hex}))["issueOffer"]
    assert o["status"] == "ISSUED", o


@pytest.mark.parametrize(("product", "offer", "code", "says"), [
    ("missing", {}, "NOT_FOUND", "is not a published product version"),
    ("term", {}, "INVALID_TRANSITION", "not an ACTIVE REVOLVING_FACILITY version"),
    ("account", {}, "INVALID_TRANSITION", "not an ACTIVE REVOLVING_FACILITY version"),
    ("future", {}, "INVALID_TRANSITION", "on sale on"),
    ("gbp", {}, "BAD_USER_INPUT", "is sold in GBP, not EUR"),
    ("rcf", {"limit": eur("100000.00")}, "BAD_USER_INPUT", "lends between 250000.00 and 5000000.00"),
    ("rcf", {"marginPct": "6"}, "BAD_USER_INPUT", "outside CORP-RCF-EUR v1's approved range 2 to 9"),
    ("not-a-uuid", {}, "BAD_USER_INPUT", "productId"),
])
async def test_an_offer_names_a_product_version_it_may_be_sold_under(staff, co_products, co_sessions, product,
                                                                      offer, code, says) -> None:
    rm = staff("rm", "rm-maker")
    app_id = await approved_application(staff, str(uuid.uuid4()))
    named = co_products.get(product, str(uuid.uuid4()) if product == "missing" else product)
    before = await counts(co_sessions, Offer, Facility)
    body = await rm(OFFER, {"id": app_id, "input": offer_input(productId=named, **offer), "key": uuid.uuid4().hex})
    result = body["data"]["issueOffer"] if body.get("data") else None
    got = (result["code"], result["message"]) if result else (body["errors"][0]["extensions"]["code"],
                                                              body["errors"][0]["message"])
    assert got[0] == code and says in got[1], body
    assert await counts(co_sessions, Offer, Facility) == before  # nothing written
    status = await rm.data("query($id: ID!) { creditApplication(id: $id) { status } }", {"id": app_id})
    assert status["creditApplication"]["status"] == "APPROVED"  # the application still awaits a valid offer
