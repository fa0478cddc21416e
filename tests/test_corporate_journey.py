"""The corporate "done when" journey across the subgraphs, every call through the router (issue #6).

application → offer → facility → drawdown → the disbursement booked on the borrower's current account by the
account subgraph (the real event over NATS, consumed through its inbox) → a covenant breach suspends drawdowns →
a waiver approved by a second person restores them. Runs on the demo bank of tests/test_views.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from shared.access import portfolio
from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from tests.helpers import GraphQLClient
from tests.subgraphs.corporate_lending.test_journey import DRAW, ERR, READ_FAC, available_facility, eur
from tests.subgraphs.support import eventually
from tests.test_views import platform, settings  # noqa: F401 - the demo bank behind the router

HOLDER = "query($id: ID!) { account(id: $id) { holder { id } currency bookedBalance { amount currency } } }"
ASSIGN = """mutation($id: ID!, $rm: String!) { assignRelationshipManager(partyId: $id, rmId: $rm,
  reason: "Corporate journey") { __typename ... on DomainError { code message } } }"""
COMPLIANCE = f"""mutation($id: ID!) {{ submitCovenantCompliance(covenantId: $id, periodEnd: "2026-09-30",
  actualValue: "3.4", evidenceRef: "CERT-Q3") {{ __typename ... on CovenantTest {{ result }} {ERR} }} }}"""
WAIVER = f"""mutation($id: ID!, $until: Date!) {{ requestCovenantWaiver(covenantId: $id,
  reason: "One-off restructuring cost", expiresOn: $until) {{ __typename ... on Covenant {{ status }} {ERR} }} }}"""
APPROVE_WAIVER = f"""mutation($id: ID!) {{ approveCovenantWaiver(covenantId: $id) {{ __typename
  ... on Covenant {{ status approvedWaiver: waiverExpiresOn }} {ERR} }} }}"""


class RouterStaff:
    """The corporate suite's `staff` (clients by role and sub, `assign`) over the router and the real party domain."""

    def __init__(self, bank: dict[str, Any], config: Settings) -> None:
        self.platform, self.settings = bank, config

    def __call__(self, role: str, sub: str) -> GraphQLClient:
        token = issue_dev_token(self.settings, role=role, sub=sub)
        return GraphQLClient(self.platform["http"], self.platform["router"], token)

    async def assign(self, party_id: str, rm_id: str) -> None:
        """Assigns the RM in the party domain and waits for corporate lending's portfolio read model to follow."""
        result = (await self("ops", "ops-1").data(ASSIGN, {"id": party_id, "rm": rm_id}))["assignRelationshipManager"]
        assert result["__typename"] == "Party", result
        engine = create_engine(self.settings, "corporate_lending")
        try:
            sessions = create_sessionmaker(engine)

            async def followed() -> bool:
                async with sessions() as session:
                    rm = await session.scalar(select(portfolio.c.rm_id).where(
                        portfolio.c.party_id == uuid.UUID(party_id)))
                return rm == rm_id
            await eventually(followed, within=30)
        finally:
            await engine.dispose()


async def an_eur_account_without_lending(staff: RouterStaff) -> tuple[str, str]:
    """(party, account) of a seeded EUR current account whose holder has no facility yet."""
    ops, state = staff("ops", "ops-1"), staff.platform["state"]
    borrowers = set()
    for account_id in state["account.accounts"][:2]:  # the corporate seed lends to the first two holders
        borrowers.add((await ops.data(HOLDER, {"id": account_id}))["account"]["holder"]["id"])
    for account_id in state["account.accounts"][2:]:
        account = (await ops.data(HOLDER, {"id": account_id}))["account"]
        if account["currency"] == "EUR" and account["holder"]["id"] not in borrowers:
            return account["holder"]["id"], account_id
    raise AssertionError("the demo bank has no EUR current account outside the corporate seed")


async def test_a_drawdown_is_booked_on_the_current_account_and_a_breach_suspends_drawdowns_until_waived(
    platform: dict[str, Any], settings: Settings  # noqa: F811 - the fixtures imported above
) -> None:
    staff = RouterStaff(platform, settings)
    party, account = await an_eur_account_without_lending(staff)
    rm, ops, checker = staff("rm", "rm-maker"), staff("ops", "ops-1"), staff("ops", "credit-checker")

    async def booked() -> Decimal:
        return Decimal((await ops.data(HOLDER, {"id": account}))["account"]["bookedBalance"]["amount"])

    before = await booked()
    facility = await available_facility(staff, party)  # application → four-eyes decision → offer → facility

    async def draw(amount: str) -> dict[str, Any]:
        return dict((await rm.data(DRAW, {"id": facility["id"], "amount": eur(amount), "acct": account,
                                          "key": uuid.uuid4().hex}))["executeDrawdown"])

    async def settled(expected: Decimal) -> None:
        async def done() -> bool:
            fac = (await ops.data(READ_FAC, {"id": facility["id"]}))["facility"]
            return all(d["status"] == "ACTIVE" for d in fac["drawdowns"]) and await booked() == expected
        await eventually(done, within=60)

    # The drawdown's disbursement is booked on the current account by the account subgraph, to the cent.
    first = await draw("120000.37")
    assert first["status"] == "PENDING_SETTLEMENT", first
    await settled(before + Decimal("120000.37"))
    fac = (await ops.data(READ_FAC, {"id": facility["id"]}))["facility"]
    assert fac["drawn"] == {"amount": "120000.37"} and fac["available"] == {"amount": "879999.63"}

    # A covenant breach suspends drawdowns: the next one is refused with a typed error and books nothing.
    covenant = fac["covenants"][0]["id"]
    assert (await rm.data(COMPLIANCE, {"id": covenant}))["submitCovenantCompliance"]["result"] == "BREACH"
    fac = (await ops.data(READ_FAC, {"id": facility["id"]}))["facility"]
    assert fac["status"] == "SUSPENDED" and fac["covenants"][0]["status"] == "BREACHED"
    refused = await draw("1000.00")
    assert refused["__typename"] == "InvalidTransition" and refused["code"] == "INVALID_TRANSITION", refused
    assert len((await ops.data(READ_FAC, {"id": facility["id"]}))["facility"]["drawdowns"]) == 1

    # A waiver needs four eyes; once a second person approves it, drawdowns are restored and booked again.
    until = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=90)).isoformat()
    assert (await rm.data(WAIVER, {"id": covenant, "until": until}))["requestCovenantWaiver"]["status"] == "BREACHED"
    assert (await rm.data(APPROVE_WAIVER, {"id": covenant}))["approveCovenantWaiver"]["code"] == "FOUR_EYES_REQUIRED"
    assert (await checker.data(APPROVE_WAIVER, {"id": covenant}))["approveCovenantWaiver"]["status"] == "WAIVED"
    assert (await ops.data(READ_FAC, {"id": facility["id"]}))["facility"]["status"] == "AVAILABLE"
    second = await draw("5000.00")
    assert second["status"] == "PENDING_SETTLEMENT", second
    await settled(before + Decimal("125000.37"))
