"""The committed supergraph's field authorization: who may select which root field, at the router.

The subgraphs declare `@authenticated` / `@policy(role:...)` on their root fields (shared.graphql helpers);
the router removes what a caller may not select before planning, so a customer asking for a staff-only
field gets null + UNAUTHORIZED_FIELD_OR_TYPE and the owning subgraph is never called, over HTTP and over
graphql-transport-ws alike. Subgraph URLs point at a closed port: any call the router does make shows up
as a counted fetch that fails.
"""

from __future__ import annotations

import json

import pytest
import websockets
from graphql import parse

from router.app import create_app
from router.authorization import Authorizer, Caller
from router.config import RouterSettings
from router.planner import select_operation
from router.supergraph import Supergraph
from tests.root_fields import ROLES, SUPERGRAPH_FILE, RootField, root_fields
from tests.router.harness import ServerThread
from tests.router.test_authorization import UNAUTHORIZED, Router, claims_validator

SUPERGRAPH = Supergraph.from_file(SUPERGRAPH_FILE)
CLOSED = dict.fromkeys(SUPERGRAPH.graph_order(), "http://127.0.0.1:1/graphql")
PARTY_ID = "00000000-0000-0000-0000-000000000001"

# (root field selection, roles that may select it; None: anyone, even without a token; (): any token)
ROOT_FIELDS = [
    ('{ quote(id: "x") { id } }', None),
    ('{ party(id: "x") { id } }', ()),
    ('{ product(id: "x") { id } }', ()),
    ('{ loan(id: "x") { id } }', ()),
    ('{ payment(id: "x") { id } }', ("ops", "rm", "admin", "auditor")),
    ('{ notificationTemplates(eventType: "x") { id } }', ("ops", "admin", "auditor")),
    ("{ auditTrail { totalCount } }", ("auditor", "admin", "ops")),
    ("{ verifyAuditChain { ok } }", ("auditor", "admin")),
    ("{ partners { id } }", ("admin", "ops")),
    ("{ myPartner { id } }", ("partner",)),
    (
        'mutation { requestQuote(input: {productCode: "P", amount: {amount: "1", currency: "EUR"}, termMonths: 12}, '
        'idempotencyKey: "k") { __typename } }',
        None,
    ),
    ('mutation { closeAccount(accountId: "x", reason: "r") { __typename } }', ("ops", "admin")),
    (
        'mutation { grantEntitlement(input: {partyId: "x", userSub: "u", permissions: ["VIEW"], '
        'validFrom: "2025-01-01"}, idempotencyKey: "k") { __typename } }',
        ("ops", "admin"),
    ),
    (
        'mutation { submitLoanApplication(input: {quoteId: "q", partyId: "p", settlementAccountId: "a", '
        'monthlyIncome: {amount: "1", currency: "EUR"}, monthlyExpenses: {amount: "1", currency: "EUR"}, '
        'monthlyDebtPayments: {amount: "1", currency: "EUR"}, existingExposure: {amount: "1", currency: "EUR"}, '
        'creditScore: 700, employmentStatus: "EMPLOYED"}, idempotencyKey: "k") { __typename } }',
        ("customer", "rm", "ops", "admin"),
    ),
    (
        'mutation { publishDecisionPolicy(input: {version: "v", referAffordabilityRatio: "0.3", '
        'maxAffordabilityRatio: "0.4", defaultExposureCap: "1", exposureCaps: [], scoreBands: []}, reason: "r") '
        "{ __typename } }",
        ("admin",),
    ),
    ('subscription { events(types: ["finpace.party.party.registered"]) { id } }', ("partner",)),
]


@pytest.mark.parametrize(("query", "allowed"), ROOT_FIELDS)
def test_each_role_may_select_exactly_its_root_fields(query: str, allowed: tuple[str, ...] | None) -> None:
    authorizer = Authorizer(SUPERGRAPH.authorization, SUPERGRAPH.api_schema)
    doc = parse(query)
    op = select_operation(doc, None)

    def removed(caller: Caller | None) -> bool:
        return bool(authorizer.filter(doc, op, {}, authorizer.context(caller)).paths)

    assert removed(None) is (allowed is not None)
    for role in ROLES:
        may = allowed is None or not allowed or role in allowed
        assert removed(Caller({"sub": "u", "roles": [role]})) is not may, role


@pytest.mark.parametrize("field", root_fields(), ids=lambda f: f.id)
def test_every_root_field_for_every_role_as_its_subgraph_declares(field: RootField) -> None:
    """The whole matrix: each subgraph's SDL says who may call each root field; the composed router agrees."""
    authorizer = Authorizer(SUPERGRAPH.authorization, SUPERGRAPH.api_schema)
    doc = parse(field.call(SUPERGRAPH.api_schema)[0])
    op = select_operation(doc, None)
    for role in (None, *ROLES):
        caller = Caller({"sub": "u", "roles": [role]}) if role else None
        removed = authorizer.filter(doc, op, {}, authorizer.context(caller)).paths
        assert bool(removed) is not field.may(role), (field.id, role, removed)


def test_the_matrix_covers_every_root_field_of_the_api() -> None:
    covered = {(f.operation, f.name) for f in root_fields()}
    schema = SUPERGRAPH.api_schema
    api = {(kind, name) for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type),
                                           ("subscription", schema.subscription_type)) if root
           for name in root.fields}
    assert api == covered
    assert any(f.clauses for f in root_fields()) and any(f.clauses is None for f in root_fields())


def _customer() -> dict:
    return {"sub": "cust-1", "roles": ["customer"], "party_ids": [PARTY_ID]}


async def test_a_customer_asking_for_a_staff_field_gets_null_and_no_subgraph_is_called() -> None:
    router = Router(SUPERGRAPH_FILE, subgraph_urls=CLOSED)
    query = '{ notificationTemplates(eventType: "finpace.party.party.registered") { id } }'
    status, body, fetches = await router.ask(query, _customer())
    assert status == 200 and fetches == {}
    assert body == {"errors": [{**UNAUTHORIZED, "path": ["notificationTemplates"]}], "data": None}
    # Beside a field it may select, only that field's subgraph is asked (and fails: its URL is closed).
    query = f'{{ party(id: "{PARTY_ID}") {{ id }} templates: notificationTemplates(eventType: "x") {{ id }} }}'
    _, body, fetches = await router.ask(query, _customer())
    assert fetches == {"party": 1}
    assert {"path": ["templates"], **UNAUTHORIZED} in body["errors"]
    # Staff with the role: the router does call the notification subgraph.
    _, body, fetches = await router.ask(query, {"sub": "ops-1", "roles": ["ops"]})
    assert fetches == {"party": 1, "notification": 1}
    assert all(e["extensions"]["code"] != "UNAUTHORIZED_FIELD_OR_TYPE" for e in body["errors"])


async def test_anonymous_quotes_are_planned_and_anonymous_party_reads_are_not() -> None:
    router = Router(SUPERGRAPH_FILE, subgraph_urls=CLOSED)
    _, body, fetches = await router.ask('{ quote(id: "x") { id } party(id: "x") { id } }')
    assert fetches == {"consumer_lending": 1}
    assert {"path": ["party"], **UNAUTHORIZED} in body["errors"] and body["data"]["party"] is None


@pytest.fixture
def router_ws():
    app = create_app(RouterSettings(supergraph=SUPERGRAPH_FILE, subgraph_urls=CLOSED), token_validator=claims_validator)
    server = ServerThread(app)
    server.server.config.lifespan = "on"
    server.start()
    yield f"ws://127.0.0.1:{server.port}/graphql"
    server.stop()


async def test_a_customer_cannot_subscribe_to_partner_events_over_the_socket(router_ws) -> None:
    query = 'subscription { events(types: ["finpace.party.party.registered"]) { id type } }'
    async with websockets.connect(router_ws, subprotocols=["graphql-transport-ws"]) as ws:
        claims = json.dumps(_customer())
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {claims}"}}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        await ws.send(json.dumps({"type": "subscribe", "id": "s", "payload": {"query": query}}))
        first = json.loads(await ws.recv())
        second = json.loads(await ws.recv())
    assert first["id"] == "s" and first["type"] == "next"
    assert first["payload"] == {"errors": [{**UNAUTHORIZED, "path": ["events"]}], "data": None}
    assert second == {"type": "complete", "id": "s"}


# -- docs/api.md's "who may call what", generated from the subgraphs' SDL --------------------------------
def who_may_call_what() -> str:
    """One row per subgraph and requirement, listing its root fields (`python -m` this module prints it)."""
    rows = ["| subgraph | who | root fields |", "|---|---|---|"]
    groups: dict[tuple[str, str], list[str]] = {}
    for field in root_fields():
        groups.setdefault((field.subgraph, field.who), []).append(f"`{field.name}`")
    order = ["anyone, no token", "any valid token", "roles"]
    for (subgraph, who), fields in sorted(groups.items(), key=lambda g: (g[0][0], order.index(g[0][1].split(":")[0]))):
        rows.append(f"| {subgraph} | {who} | {', '.join(fields)} |")
    return "\n".join(rows) + "\n"


def test_docs_api_md_lists_who_may_call_what() -> None:
    text = (SUPERGRAPH_FILE.parents[1] / "docs" / "api.md").read_text()
    assert who_may_call_what() in text, "regenerate: python -m tests.router.test_platform_authorization"


if __name__ == "__main__":
    print(who_may_call_what(), end="")
