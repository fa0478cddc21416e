"""The two "done when" journeys under a real `finpace up`, one platform per profile, every call through the router.

Dev (#5): a party registered and moved on leaves hash-chained evidence that `finpace audit verify` accepts; a
consented marketing e-mail reaches the dev mail sink and an unconsented one does not; a partner's event
subscription resumes after a disconnect with no gap or duplicate.
Production (#7): an RM sees exactly its portfolio through the persisted Customer360 operation, a customer only
its own parties, a partner only its event types; introspection and GraphiQL are off.
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shared.processes import port_is_free
from subgraphs.account import seed as account_seed
from subgraphs.product import seed as product_seed
from tests.up_harness import (
    AUDIENCE,
    ISSUER,
    Issuer,
    Platform,
    Router,
    eventually,
    read_events,
    running_platform,
    runtime_root,
)

REGISTERED, CHANGED = "finpace.party.party.registered", "finpace.party.party.status_changed"
REGISTER = """mutation R($input: RegisterPartyInput!, $key: String!) {
  registerParty(input: $input, idempotencyKey: $key) {
  __typename ... on Party { id status } ... on DomainError { code message } } }"""
SUBMIT = """mutation S($id: ID!) { submitPartyForVerification(partyId: $id, reason: "KYC pack received") {
  __typename ... on Party { id status } ... on DomainError { code message } } }"""
CONSENT = """mutation C($input: RecordConsentInput!, $key: String!) {
  recordConsent(input: $input, idempotencyKey: $key) {
  __typename ... on DomainError { code message } } }"""
PREFERENCE = """mutation P($id: ID!, $input: SetPreferenceInput!) {
  setNotificationPreference(partyId: $id, input: $input) { __typename ... on DomainError { code message } } }"""
TEMPLATE = """mutation T($input: PublishTemplateInput!, $key: String!) {
  publishNotificationTemplate(input: $input, idempotencyKey: $key) {
    __typename ... on DomainError { code message } } }"""
PARTNER = """mutation P($input: RegisterPartnerInput!, $key: String!) {
  registerPartner(input: $input, idempotencyKey: $key) {
  __typename ... on PartnerRegistration { clientId allowedEventTypes } } }"""
TRAIL = """query T($s: String, $first: Int!) { auditTrail(subject: $s, first: $first) { totalCount edges { node {
  sequence type source subject reason before after actor { sub } prevHash hash } } } }"""


def register(router: Router, token: str, name: str, rm: str | None = None) -> str:
    """Registers an organisation (optionally in an RM's portfolio) through the router; returns its id."""
    party_input = {"partyType": "ORGANISATION", "legalName": name, "relationshipManagerId": rm}
    return str(router.ok(token, REGISTER, {"input": party_input, "key": uuid.uuid4().hex}, "Party")["id"])


# -- dev profile (#5) ----------------------------------------------------------------------------------------------
def dev_token(platform: Platform, user: str) -> str:
    """A user token from the dev authorization server `up` runs (password grant, public dev client)."""
    form = {"grant_type": "password", "username": user, "password": user, "client_id": "finpace-dev"}
    response = httpx.post(f"{platform.auth}/token", data=form, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="class")
def dev() -> Iterator[Platform]:
    root = runtime_root("up-dev")
    try:
        with running_platform(root, {"FINPACE_AUDIT_CHECKPOINT_EVERY_ENTRIES": "5"}) as platform:
            yield platform
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="class")
def journey(dev: Platform) -> dict[str, Any]:
    """Two parties, a marketing template, preferences and consents, then both submitted for verification."""
    router, admin, ops = Router(dev.router), dev_token(dev, "admin"), dev_token(dev, "ops")
    suffix = uuid.uuid4().hex[:6]
    consented, refused = (register(router, ops, f"{who} {suffix} Ltd") for who in ("Consented", "Refused"))
    template = {
        "eventType": "PartyStatusChanged",
        "channel": "EMAIL",
        "locale": "en",
        "category": "MARKETING",
        "subject": "Welcome aboard",
        "body": "Your application is now {{ to_status }}.",
    }
    router.ok(admin, TEMPLATE, {"input": template, "key": uuid.uuid4().hex})
    addresses = {consented: f"consented-{suffix}@example.com", refused: f"refused-{suffix}@example.com"}
    for party, decision in ((consented, "GRANTED"), (refused, "REFUSED")):
        consent = {
            "partyId": party,
            "purpose": "MARKETING",
            "channel": "EMAIL",
            "decision": decision,
            "noticeVersion": "2026-01",
        }
        router.ok(ops, CONSENT, {"input": consent, "key": uuid.uuid4().hex})
        preference = {"channel": "EMAIL", "enabled": True, "address": addresses[party], "locale": "en"}

        def set_preference(party: str = party, preference: dict[str, Any] = preference) -> bool:
            # The notification subgraph admits the party once its access read model has the registration.
            [result] = router.data(ops, PREFERENCE, {"id": party, "input": preference}).values()
            return result["__typename"] == "NotificationPreference"

        eventually(set_preference, within=60, what="the party in the notification read model")
    for party in (consented, refused):
        assert router.ok(ops, SUBMIT, {"id": party}, "Party")["status"] == "PENDING_VERIFICATION"
    return {
        "router": router,
        "ops": ops,
        "admin": admin,
        "consented": consented,
        "refused": refused,
        "addresses": addresses,
    }


class TestDevProfile:
    def test_the_journey_leaves_hash_chained_evidence_that_audit_verify_accepts(
        self, dev: Platform, journey: dict[str, Any]
    ) -> None:
        router, auditor, party = journey["router"], dev_token(dev, "auditor"), journey["consented"]

        def trail() -> list[dict[str, Any]] | None:
            edges = router.data(auditor, TRAIL, {"s": party, "first": 50})["auditTrail"]["edges"]
            nodes = [e["node"] for e in edges]
            return nodes if {"PartyRegistered", "PartyStatusChanged"} <= {n["type"] for n in nodes} else None

        entries = eventually(trail, within=60, what="evidence of the registration and the status change")
        changed = next(e for e in entries if e["type"] == "PartyStatusChanged")
        assert changed["source"] == "party" and changed["subject"] == party and changed["actor"]["sub"] == "ops"
        assert changed["reason"] == "KYC pack received"
        assert changed["before"]["status"] == "PROSPECT" and changed["after"]["status"] == "PENDING_VERIFICATION"
        # The global chain as the API shows it: consecutive sequences, each entry linked to the one before.
        chain = [e["node"] for e in router.data(auditor, TRAIL, {"s": None, "first": 100})["auditTrail"]["edges"]]
        assert [int(e["sequence"]) for e in chain] == list(range(1, len(chain) + 1))
        assert all(b["prevHash"] == a["hash"] for a, b in itertools.pairwise(chain))
        # A signed checkpoint is written outside the database (every 5 entries here); the CLI checks it too.
        checkpoints = dev.data_dir / "audit-checkpoints"
        eventually(lambda: any(checkpoints.glob("*")), within=60, what="a signed checkpoint")
        verdict = dev.cli("audit", "verify", timeout=120)
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr
        assert verdict.stdout.startswith("OK: ") and " 0 signed checkpoints" not in verdict.stdout, verdict.stdout
        assert router.data(auditor, "{ verifyAuditChain { ok problem } }")["verifyAuditChain"] == {
            "ok": True,
            "problem": None,
        }

    def test_a_consented_email_reaches_the_mail_sink_and_an_unconsented_marketing_one_does_not(
        self, dev: Platform, journey: dict[str, Any]
    ) -> None:
        router, ops, addresses = journey["router"], journey["ops"], journey["addresses"]
        mail = dev.data_dir / "mail"

        def received(address: str) -> list[str]:
            texts = [p.read_text(errors="replace") for p in sorted(mail.glob("*.eml"))] if mail.exists() else []
            return [t for t in texts if f"X-Finpace-Rcpt-To: {address}" in t]

        [email] = eventually(lambda: received(addresses[journey["consented"]]), within=60, what="the e-mail")
        assert "Subject: Welcome aboard" in email and "Your application is now PENDING_VERIFICATION." in email
        statuses = "query N($id: ID!) { party(id: $id) { notifications { category recipient status } } }"

        def settled(party: str) -> list[dict[str, Any]] | None:
            found = router.data(ops, statuses, {"id": party})["party"]["notifications"]
            return found if found and found[0]["status"] not in ("QUEUED",) else None

        [suppressed] = eventually(lambda: settled(journey["refused"]), within=60, what="the refused party's message")
        assert suppressed == {
            "category": "MARKETING",
            "recipient": addresses[journey["refused"]],
            "status": "SUPPRESSED",
        }
        [sent] = eventually(lambda: settled(journey["consented"]), within=30, what="the consented party's message")
        assert sent["status"] in ("SENT", "DELIVERED")
        assert received(addresses[journey["refused"]]) == []  # suppressed is final: it is never sent

    def test_a_partner_stream_through_the_router_resumes_without_gap_or_duplicate(
        self, dev: Platform, journey: dict[str, Any]
    ) -> None:
        router, parties = journey["router"], {journey["consented"], journey["refused"]}
        types = [REGISTERED, CHANGED]
        partner = {"clientId": "partner-acme", "name": "Acme Payroll", "allowedEventTypes": types}
        router.ok(journey["admin"], PARTNER, {"input": partner, "key": uuid.uuid4().hex}, "PartnerRegistration")
        response = httpx.post(
            f"{dev.auth}/token",
            data={"grant_type": "client_credentials"},
            auth=("partner-acme", "acme-dev-secret"),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]

        # Every event of the two types from the start of the stream, in one go: the reference.
        whole, refused = read_events(dev.router_ws, token, types, 1, 4)
        assert refused is None and {(e["type"], e["subject"]) for e in whole} == {
            (t, p) for t in types for p in parties
        }
        # Two, a disconnect, then resumed from the last sequence + 1.
        first, _ = read_events(dev.router_ws, token, types, 1, 2)
        rest, _ = read_events(dev.router_ws, token, types, int(first[-1]["sequence"]) + 1, 2)
        assert first + rest == whole  # no gap, no duplicate, same order
        sequences = [int(e["sequence"]) for e in whole]
        assert sequences == sorted(set(sequences)) and {e["stream"] for e in whole} == {"FINPACE_PARTY"}


# -- production profile (#7) ---------------------------------------------------------------------------------------


ASSIGN = """mutation A($id: ID!, $rm: String!) {
  assignRelationshipManager(partyId: $id, rmId: $rm, reason: "Portfolio move") {
  __typename ... on Party { id relationshipManagerId } ... on DomainError { code message } } }"""
GRANT = """mutation G($input: GrantEntitlementInput!, $key: String!) {
  grantEntitlement(input: $input, idempotencyKey: $key) {
  __typename ... on Entitlement { id } ... on DomainError { code message } } }"""
PARTIES = "{ parties(first: 100) { edges { node { id } } } }"


def current_account(router: Router, issuer: Issuer) -> str:
    """A current account product through the catalogue's four eyes: one ops user drafts, another approves."""
    maker, checker = issuer.token("ops", "ops-maker"), issuer.token("ops", "ops-checker")
    definition = product_seed._current_account("GBP", "8.50", "14.9", "ACTUAL_365")
    product = router.ok(maker, product_seed.CREATE, {"input": definition, "key": uuid.uuid4().hex}, "Product")
    router.ok(maker, product_seed.SUBMIT, {"id": product["id"]}, "Product")
    router.ok(checker, product_seed.APPROVE, {"id": product["id"]}, "Product")
    published = router.ok(maker, product_seed.PUBLISH, {"id": product["id"], "from": "2025-01-01"}, "Product")
    assert published["status"] == "ACTIVE", published
    return str(product["id"])


def open_account(router: Router, issuer: Issuer, product: str, party: str) -> str:
    """Opens and activates a GBP account once the account subgraph has the product and the party in its models."""
    ops = issuer.token("ops", "ops-maker")
    terms = {
        "partyId": party,
        "productId": product,
        "currency": "GBP",
        "overdraftDebitRatePct": "14.9",
        "dayCount": "ACT_365",
        "monthlyFee": "8.50",
    }
    key = uuid.uuid4().hex

    def opened() -> dict[str, Any] | None:
        [result] = router.data(ops, account_seed.OPEN, {"input": terms, "key": key}).values()
        return result if result["__typename"] == "Account" else None

    account = eventually(opened, within=60, what="the product and party in the account subgraph")
    router.ok(ops, account_seed.ACTIVATE, {"id": account["id"]})
    return str(account["id"])


@pytest.fixture(scope="class")
def prod() -> Iterator[tuple[Platform, Issuer]]:
    """`finpace up` in the production profile on external servers (started here) with a test issuer."""
    root = runtime_root("up-prod")
    servers = root / "servers"
    try:
        with EmbeddedPostgres(servers, port=free_port()) as pg, EmbeddedNats(servers, port=free_port()) as nats:
            issuer = Issuer(root)
            env = {
                "FINPACE_PROFILE": "prod",
                "FINPACE_AUTH_ISSUER": ISSUER,
                "FINPACE_AUTH_AUDIENCE": AUDIENCE,
                "FINPACE_AUTH_JWKS_FILE": str(issuer.jwks),
                "FINPACE_DATABASE_URL": pg.url,
                "FINPACE_NATS_URL": nats.url,
            }
            with running_platform(root / "up", env) as platform:
                yield platform, issuer
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="class")
def bank(prod: tuple[Platform, Issuer]) -> dict[str, Any]:
    """Parties in two RMs' portfolios (at registration and by reassignment), a customer's entitlements."""
    platform, issuer = prod
    router, admin = Router(platform.router), issuer.token("admin", "admin-1")
    suffix = uuid.uuid4().hex[:6]
    alice_own = register(router, admin, f"Alice Own {suffix} Ltd", rm="rm-alice")
    alice_moved = register(router, admin, f"Alice Moved {suffix} Ltd", rm="rm-bob")
    bob_own = register(router, admin, f"Bob Own {suffix} Ltd", rm="rm-bob")
    customer_own = register(router, admin, f"Customer Own {suffix} Ltd")
    moved = router.ok(admin, ASSIGN, {"id": alice_moved, "rm": "rm-alice"}, "Party")
    assert moved["relationshipManagerId"] == "rm-alice"
    for party in (customer_own, alice_own):
        grant = {"partyId": party, "userSub": "cust-1", "permissions": ["VIEW"], "validFrom": "2026-01-01"}
        router.ok(admin, GRANT, {"input": grant, "key": uuid.uuid4().hex}, "Entitlement")
    assert router.ok(admin, SUBMIT, {"id": alice_own}, "Party")["status"] == "PENDING_VERIFICATION"
    product = current_account(router, issuer)
    accounts = {party: open_account(router, issuer, product, party) for party in (alice_own, bob_own)}
    return {
        "router": router,
        "issuer": issuer,
        "accounts": accounts,
        "platform": platform,
        "admin": admin,
        "alice": {alice_own, alice_moved},
        "bob": {bob_own},
        "customer": {customer_own, alice_own},
        "all": {alice_own, alice_moved, bob_own, customer_own},
    }


class TestProductionProfile:
    @staticmethod
    def customer_360(router: Router, token: str, party: str) -> dict[str, Any]:
        """Calls the persisted Customer360 operation by its id (no query text) and returns the whole answer."""
        response = router.post(token, {"documentId": "Customer360", "variables": {"partyId": party}})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def test_an_rm_sees_exactly_its_portfolio_through_customer_360(self, bank: dict[str, Any]) -> None:
        router, issuer = bank["router"], bank["issuer"]
        alice, bob = issuer.token("rm", "rm-alice"), issuer.token("rm", "rm-bob")

        def listed(token: str, expected: set[str]) -> bool:
            return {e["node"]["id"] for e in router.data(token, PARTIES)["parties"]["edges"]} == expected

        # The portfolio read models follow the party events: the reassignment moves a party from bob to alice.
        eventually(lambda: listed(alice, bank["alice"]), within=60, what="alice's portfolio")
        eventually(lambda: listed(bob, bank["bob"]), within=60, what="bob's portfolio")
        for party in bank["alice"]:
            owned = [bank["accounts"][party]] if party in bank["accounts"] else []

            def complete(party: str = party, owned: list[str] = owned) -> dict[str, Any] | None:
                # Complete once every subgraph's portfolio read model has the party (accounts included).
                answer = self.customer_360(router, alice, party)
                view = answer["data"]["party"]
                return answer if view and [a["id"] for a in view["accounts"]] == owned else None

            answer = eventually(complete, within=60, what="alice's party complete in Customer360")
            assert "errors" not in answer, answer["errors"]
            view = answer["data"]["party"]
            assert view["id"] == party and view["relationshipManagerId"] == "rm-alice"
            assert view["legalName"].startswith("Alice ") and view["group"]["party"]["id"] == party
            assert view["loans"] == [] and view["facilities"] == []
            assert all(a["status"] == "ACTIVE" and a["product"]["code"] == "BCA-GBP" for a in view["accounts"])
        # Another portfolio's party answers exactly like one that does not exist.
        [other] = bank["bob"]
        theirs = eventually(
            lambda: (v := self.customer_360(router, bob, other)["data"]["party"]) and v["accounts"] and v,
            within=60,
            what="bob's party complete in Customer360",
        )
        assert [a["id"] for a in theirs["accounts"]] == [bank["accounts"][other]]
        missing = self.customer_360(router, alice, str(uuid.uuid4()))
        assert missing == {"data": {"party": None}}
        assert self.customer_360(router, alice, other) == missing

    def test_a_customer_sees_only_its_own_parties(self, bank: dict[str, Any]) -> None:
        router, customer = bank["router"], bank["issuer"].token("customer", "cust-1")
        stranger = bank["issuer"].token("customer", "cust-2")
        seen = eventually(
            lambda: (
                (ids := {e["node"]["id"] for e in router.data(customer, PARTIES)["parties"]["edges"]})
                == bank["customer"]
                and ids
            ),
            within=60,
            what="the customer's entitlements",
        )
        assert seen == bank["customer"]
        one = "query O($id: ID!) { party(id: $id) { id legalName } }"
        for party in bank["all"]:
            found = router.data(customer, one, {"id": party})["party"]
            assert (found is not None) == (party in bank["customer"]), party
        assert router.data(stranger, PARTIES)["parties"]["edges"] == []

    def test_a_partner_receives_only_its_event_types(self, bank: dict[str, Any]) -> None:
        router, issuer = bank["router"], bank["issuer"]
        partner = {"clientId": "partner-registry", "name": "Registry Feed", "allowedEventTypes": [REGISTERED]}
        router.ok(bank["admin"], PARTNER, {"input": partner, "key": uuid.uuid4().hex}, "PartnerRegistration")
        token = issuer.token("partner", "partner-registry", scope="events:party.*")
        # Registered after the reassignment, the entitlements and the status change: its event comes after them
        # in the stream, so the partner reads past every other type to reach it.
        late = register(router, bank["admin"], f"Late {uuid.uuid4().hex[:6]} Ltd")
        got, refused = read_events(bank["platform"].router_ws, token, [REGISTERED], 1, len(bank["all"]) + 1)
        assert refused is None and {e["subject"] for e in got} == bank["all"] | {late}
        assert {e["type"] for e in got} == {REGISTERED}
        # Asking for a type outside the registration is refused outright, alone or alongside an allowed one.
        for types in ([CHANGED], [REGISTERED, CHANGED]):
            events, refusal = read_events(bank["platform"].router_ws, token, types, 1, 1)
            # Production masks subgraph errors: the partner learns it was refused, not why.
            assert events == [] and refusal == [{"message": "Subgraph errors redacted"}], refusal

    def test_introspection_graphiql_and_the_dev_servers_are_off(self, bank: dict[str, Any]) -> None:
        router, platform = bank["router"], bank["platform"]
        introspection = router.post(bank["admin"], {"query": "{ __schema { types { name } } }"})
        assert introspection.status_code == 400 and "__schema" not in str(introspection.json().get("data"))
        assert introspection.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
        page = router.http.get(platform.router, headers={"accept": "text/html", "apollo-require-preflight": "1"})
        assert page.status_code != 200 and "graphiql" not in page.text.lower()
        # No dev authorization server and no dev mail sink in this profile.
        assert port_is_free(platform.ports["auth"]) and port_is_free(1025 + platform.ports["offset"])
