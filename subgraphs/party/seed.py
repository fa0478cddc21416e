"""Demo data for the party domain: organisations with groups and contact roles, persons, RMs and consents."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from shared.seed import SeedContext, SeedError

PREFIXES = ["Northwind", "Bluebell", "Harbour", "Granite", "Meadow", "Copper", "Summit", "Riverside", "Oakridge",
            "Lantern", "Falcon", "Juniper", "Atlas", "Beacon", "Cedar", "Driftwood", "Ember", "Foxglove"]
TRADES = [("Logistics", "49.41"), ("Bakery", "10.71"), ("Engineering", "71.12"), ("Dental Care", "86.23"),
          ("Software", "62.01"), ("Builders", "41.20"), ("Wholesale", "46.90"), ("Hospitality", "55.10")]
FORMS = ["Private limited company", "Limited liability partnership", "Sole trader", "General partnership"]
FIRST = ["Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Mia", "Arthur", "Freya", "Theo", "Zara", "Omar"]
LAST = ["Patel", "Jones", "Williams", "Brown", "Taylor", "Khan", "Evans", "Murphy", "Walker", "Nowak"]
CITIES = [("London", "GB", "EC2A 4NE"), ("Manchester", "GB", "M1 1AE"), ("Dublin", "IE", "D02 X285"),
          ("Leeds", "GB", "LS1 4DY"), ("Bristol", "GB", "BS1 5TR"), ("Cardiff", "GB", "CF10 1EP")]
RMS = [f"rm-{i:02d}" for i in range(1, 9)]

REGISTER = """mutation($input: RegisterPartyInput!, $key: String!) {
  registerParty(input: $input, idempotencyKey: $key) {
    __typename ... on Party { id } ... on DomainError { message } } }"""
TRANSITION = """mutation($id: ID!, $reason: String!) {
  %s(partyId: $id, reason: $reason) { __typename ... on DomainError { message } } }"""
LINK = """mutation($input: LinkPartiesInput!, $key: String!) {
  linkParties(input: $input, reason: "group structure", idempotencyKey: $key) { __typename } }"""
ROLE = """mutation($input: AssignContactRoleInput!, $key: String!) {
  assignContactRole(input: $input, idempotencyKey: $key) { __typename } }"""
CONSENT = """mutation($input: RecordConsentInput!, $key: String!) {
  recordConsent(input: $input, idempotencyKey: $key) { __typename } }"""
GRANT = """mutation($input: GrantEntitlementInput!, $key: String!) {
  grantEntitlement(input: $input, idempotencyKey: $key) { __typename ... on DomainError { message } } }"""


def customer_sub(i: int) -> str:
    """The demo customer user of person i (`finpace token --role customer --sub demo-customer-0001`)."""
    return f"demo-customer-{i:04d}"


def _organisation(ctx: SeedContext, i: int) -> dict[str, Any]:
    trade, nace = TRADES[i % len(TRADES)]
    city, country, postcode = CITIES[i % len(CITIES)]
    name = f"{PREFIXES[i % len(PREFIXES)]} {trade} {i:03d} Ltd"
    return {
        "partyType": "ORGANISATION", "legalName": name, "tradingName": name.removesuffix(" Ltd"),
        "externalId": f"DEMO-ORG-{i:04d}", "legalForm": FORMS[i % len(FORMS)], "registrationNumber": f"{10000000 + i}",
        "incorporationDate": (dt.date(2005, 1, 1) + dt.timedelta(days=37 * i)).isoformat(), "industryCode": nace,
        "segment": "SME" if i % 5 else "MID_MARKET", "taxResidences": [country], "relationshipManagerId": RMS[i % 8],
        "addresses": [{"addressType": "REGISTERED", "lines": [f"{i + 1} {trade} Way"], "city": city,
                       "postalCode": postcode, "country": country}],
        "contactPoints": [{"contactType": "EMAIL", "value": f"accounts@org{i:04d}.example", "isPrimary": True},
                          {"contactType": "PHONE", "value": f"+44 20 7946 {i % 10000:04d}"}],
        "submitForVerification": True,
    }


def _person(ctx: SeedContext, i: int) -> dict[str, Any]:
    city, country, postcode = CITIES[i % len(CITIES)]
    return {
        "partyType": "PERSON", "legalName": f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}",
        "externalId": f"DEMO-PER-{i:04d}", "dateOfBirth": dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28).isoformat(),
        "segment": "RETAIL", "taxResidences": [country], "submitForVerification": True,
        "addresses": [{"addressType": "RESIDENTIAL", "lines": [f"{i + 3} Park Lane"], "city": city,
                       "postalCode": postcode, "country": country}],
        "contactPoints": [{"contactType": "EMAIL", "value": f"person{i:04d}@mail.example", "isPrimary": True}],
    }


async def seed(ctx: SeedContext) -> None:
    """Registers and activates organisations and persons, builds groups, roles and consents."""
    gate = asyncio.Semaphore(8)
    organisations = max(2, ctx.count * 2 // 3)
    persons = max(2, ctx.count - organisations)

    async def register(body: dict[str, Any]) -> str:
        async with gate:
            key = f"demo-{body['externalId']}"
            result = (await ctx.gql("party", REGISTER, {"input": body, "key": key}))["registerParty"]
            party_id: str = result["id"]
            if body["externalId"].endswith("7"):
                return party_id  # leave some in PENDING_VERIFICATION for the workbench
            await ctx.gql("party", TRANSITION % "activateParty", {"id": party_id, "reason": "KYC passed"})
            return party_id

    org_ids = await asyncio.gather(*[register(_organisation(ctx, i)) for i in range(organisations)])
    ctx.progress(f"{len(org_ids)} organisations")
    person_ids = await asyncio.gather(*[register(_person(ctx, i)) for i in range(persons)])
    ctx.progress(f"{len(person_ids)} persons")

    # Groups: every sixth organisation heads a group of the next two, one of which owns a third.
    for head in range(0, organisations - 3, 6):
        links = [(head, head + 1, "100"), (head, head + 2, "75"), (head + 2, head + 3, "51")]
        for parent, child, pct in links:
            await ctx.gql("party", LINK, {"key": f"demo-link-{parent}-{child}", "input": {
                "fromPartyId": org_ids[parent], "toPartyId": org_ids[child], "relationshipType": "PARENT_OF",
                "ownershipPct": pct}})
    ctx.progress("group structures")

    async def roles_and_consents(i: int, org_id: str) -> None:
        async with gate:
            person_id = person_ids[i % len(person_ids)]
            for role in ("DIRECTOR", "AUTHORISED_SIGNATORY"):
                await ctx.gql("party", ROLE, {"key": f"demo-role-{i}-{role}", "input": {
                    "organisationPartyId": org_id, "personPartyId": person_id, "role": role,
                    "validFrom": "2024-01-01"}})
            decision = "GRANTED" if i % 3 else "REFUSED"
            await ctx.gql("party", CONSENT, {"key": f"demo-consent-{i}", "input": {
                "partyId": org_id, "purpose": "MARKETING", "channel": "EMAIL", "decision": decision,
                "noticeVersion": "2026-01", "source": "BRANCH"}})

    await asyncio.gather(*[roles_and_consents(i, org) for i, org in enumerate(org_ids)])
    ctx.progress("contact roles and consents")

    # Each person's user is entitled to the person and to the organisations it holds roles on.
    customers: dict[str, list[str]] = {customer_sub(p): [person_ids[p]] for p in range(len(person_ids))}
    for i, org_id in enumerate(org_ids):
        customers[customer_sub(i % len(person_ids))].append(org_id)

    async def grant(sub: str, party_id: str) -> None:
        async with gate:
            result = (await ctx.gql("party", GRANT, {"key": f"demo-entitlement-{sub}-{party_id}", "input": {
                "partyId": party_id, "userSub": sub, "permissions": ["VIEW", "TRANSACT", "VIEW_STATEMENTS"],
                "validFrom": "2024-01-01"}}))["grantEntitlement"]
            if result["__typename"] != "Entitlement":
                raise SeedError(f"entitlement for {sub} on {party_id}: {result.get('message')}")

    await asyncio.gather(*[grant(sub, party) for sub, parties in customers.items() for party in parties])
    ctx.progress(f"entitlements for {len(customers)} customer users")
    ctx.state["party.organisations"] = list(org_ids)
    ctx.state["party.persons"] = list(person_ids)
    ctx.state["party.rms"] = RMS
    ctx.state["party.customers"] = customers
    ctx.state["party.portfolios"] = {rm: [org_ids[i] for i in range(organisations) if RMS[i % 8] == rm] for rm in RMS}
