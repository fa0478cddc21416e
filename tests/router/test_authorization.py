"""Field authorization: the filter (@authenticated, @requiresScopes, @policy) and the router around it.

The `authorization` scenario's subgraphs carry the directives; the router removes what the caller may
not see before planning (null + UNAUTHORIZED_FIELD_OR_TYPE, no subgraph call), or refuses the whole
request in strict mode.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from graphql import parse, print_ast

from router.app import create_app
from router.authorization import AuthContext, Authorizer, Caller
from router.config import RouterSettings
from router.planner import select_operation
from router.supergraph import Supergraph
from tests.router.harness import SCENARIOS

SUPERGRAPH = Supergraph.from_file(SCENARIOS / "authorization" / "supergraph.graphql")
ANONYMOUS = AuthContext()


def mfa(caller: Caller) -> bool:
    """A custom @policy hook (configured by import path): the token says a second factor was used."""
    return "mfa" in (caller.claims.get("amr") or [])


def ctx(*scopes: str, roles: tuple[str, ...] = (), amr: tuple[str, ...] = ()) -> AuthContext:
    authorizer = Authorizer(SUPERGRAPH.authorization, SUPERGRAPH.api_schema, policies={"mfa": mfa})
    claims = {"scope": " ".join(scopes), "roles": list(roles), "amr": list(amr)}
    return authorizer.context(Caller(claims))


def run(query: str, context: AuthContext) -> tuple[str | None, list[list[str]]]:
    """The filtered operation (printed; None when unchanged, "" when nothing is left) and the removed paths."""
    doc = parse(query)
    fragments = {d.name.value: d for d in doc.definitions if d.kind == "fragment_definition"}
    authorizer = Authorizer(SUPERGRAPH.authorization, SUPERGRAPH.api_schema)
    result = authorizer.filter(doc, select_operation(doc, None), fragments, context)
    if result.empty:
        return "", result.paths
    text = None if result.document is None else " ".join(print_ast(result.document).split())
    return text, result.paths


# -- the filter ----------------------------------------------------------------------------------


def test_authenticated_field_is_removed_for_an_anonymous_caller_only() -> None:
    assert run("{ publicInfo me { id } }", ANONYMOUS) == ("{ publicInfo }", [["me"]])
    assert run("{ publicInfo me { id } }", ctx()) == (None, [])


def test_everything_removed_leaves_nothing_to_plan() -> None:
    assert run("{ me { id } auditLog }", ANONYMOUS) == ("", [["me"], ["auditLog"]])


def test_aliases_name_the_path() -> None:
    assert run("{ mine: me { id } open: publicInfo }", ANONYMOUS) == ("{ open: publicInfo }", [["mine"]])


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [((), False), (("x",), False), (("pii:read",), True), (("admin",), True), (("admin", "x"), True)],
)
def test_requires_scopes_is_an_or_of_and_lists(scopes: tuple[str, ...], allowed: bool) -> None:
    # Customer.email: [["pii:read"], ["admin"]]; Query.customers needs customer:read.
    text, paths = run("{ customers { id email } }", ctx("customer:read", *scopes))
    assert paths == ([] if allowed else [["customers", "@", "email"]])
    assert text == (None if allowed else "{ customers { id } }")


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [(("accounts:read",), False), (("pii:read",), False), (("accounts:read", "pii:read"), True)],
)
def test_every_scope_of_an_and_list_is_needed(scopes: tuple[str, ...], allowed: bool) -> None:
    # Account.balance: [["accounts:read", "pii:read"]].
    _, paths = run("{ me { accounts { number balance } } }", ctx(*scopes))
    assert paths == ([] if allowed else [["me", "accounts", "@", "balance"]])


@pytest.mark.parametrize(
    ("roles", "amr", "allowed"),
    [
        ((), (), False),
        (("rm",), (), False),
        (("rm",), ("mfa",), True),
        (("auditor",), (), True),
        (("ops",), ("mfa",), False),
    ],
)
def test_policy_hooks_decide(roles: tuple[str, ...], amr: tuple[str, ...], allowed: bool) -> None:
    # Customer.notes: [["role:rm", "mfa"], ["role:auditor"]]; role:<name> is a default policy, mfa a custom one.
    _, paths = run("{ me { notes } }", ctx(roles=roles, amr=amr))
    assert paths == ([] if allowed else [["me", "notes"]])


def test_unknown_policy_is_denied_and_anonymous_callers_satisfy_none() -> None:
    authorizer = Authorizer(SUPERGRAPH.authorization, SUPERGRAPH.api_schema)  # no "mfa" hook configured
    context = authorizer.context(Caller({"roles": ["rm"]}))
    assert context.policies == frozenset({"role:rm"})  # "mfa" has no hook: never granted
    assert authorizer.context(None) == ANONYMOUS


def test_requirements_on_types_scalars_and_enums() -> None:
    # Account (object) and Tier (enum) are @authenticated; RiskGrade (scalar) needs risk:read.
    assert run("{ me { tier grade } }", ctx()) == ("{ me { tier } }", [["me", "grade"]])
    assert run("{ me { tier grade } }", ctx("risk:read")) == (None, [])


def test_interfaces_carry_their_implementations_requirements() -> None:
    # Node is @authenticated (composed from Secret); Node.label needs (a AND d) OR (b AND c AND d).
    assert run("{ publicInfo nodes { id } }", ANONYMOUS) == ("{ publicInfo }", [["nodes"]])
    assert run("{ nodes { id label } }", ctx("a")) == ("{ nodes { id } }", [["nodes", "@", "label"]])
    assert run("{ nodes { id label } }", ctx("a", "d")) == (None, [])
    assert run("{ nodes { ... on Customer { label } } }", ctx("a"))[1] == []  # Customer.label: a OR (b AND c)


def test_fragments_on_unauthorized_types_are_removed_inline_and_named() -> None:
    inline = "{ search { ... on Customer { name } ... on Secret { code } } }"
    assert run(inline, ANONYMOUS) == ("{ search { ... on Customer { name } } }", [["search", "@"]])
    named = "query Q { search { ...C ...S } } fragment C on Customer { name } fragment S on Secret { code }"
    text, paths = run(named, ANONYMOUS)
    assert paths == [["search", "@"]]
    assert text == "query Q { search { ...C } } fragment C on Customer { name }"
    assert run(named, ctx()) == (None, [])


def test_a_fragment_spread_twice_reports_each_place() -> None:
    query = "{ me { ...F } customers { ...F } } fragment F on Customer { id email }"
    text, paths = run(query, ctx("customer:read"))
    assert paths == [["me", "email"], ["customers", "@", "email"]]
    assert text == "{ me { ...F } customers { ...F } } fragment F on Customer { id }"


def test_a_selection_left_empty_removes_its_field() -> None:
    # Only the balance was asked for: `accounts` has nothing left, so it goes too (null in the answer).
    text, paths = run("{ publicInfo me { accounts { balance } } }", ctx())
    assert paths == [["me", "accounts", "@", "balance"]]
    assert text == "{ publicInfo }"


# -- the router ----------------------------------------------------------------------------------

_FETCHES = re.compile(r'^finpace_router_subgraph_fetches_total\{[^}]*subgraph="(\w+)"[^}]*\} (\S+)$', re.M)


async def claims_validator(authorization: str | None) -> dict | None:
    """Test hook: the bearer "token" is the claims as JSON (real tokens are checked by shared.auth)."""
    if authorization == "Bearer bad":
        raise PermissionError("Access token is invalid.")
    return json.loads(authorization.removeprefix("Bearer ")) if authorization else None


class Router:
    def __init__(self, supergraph: Path, **settings) -> None:
        app = create_app(RouterSettings(supergraph=supergraph, **settings), token_validator=claims_validator)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router")

    async def fetches(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, value in _FETCHES.findall((await self.client.get("/metrics")).text):
            out[name] = out.get(name, 0) + float(value)
        return out

    async def ask(self, query: str, claims: dict | None = None, **body) -> tuple[int, dict, dict[str, float]]:
        before = await self.fetches()
        headers = {"authorization": f"Bearer {json.dumps(claims)}"} if claims is not None else {}
        resp = await self.client.post("/graphql", json={"query": query, **body}, headers=headers)
        after = await self.fetches()
        return resp.status_code, resp.json(), {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k)}


@pytest.fixture
def supergraph_file(scenarios, tmp_path) -> Path:
    path = tmp_path / "supergraph.graphql"
    sdl = (SCENARIOS / "authorization" / "supergraph.graphql").read_text()
    for name, url in scenarios.urls("authorization").items():
        sdl = sdl.replace(f"http://{name}.invalid/graphql", url)
    path.write_text(sdl)
    return path


UNAUTHORIZED = {"message": "Unauthorized field or type", "extensions": {"code": "UNAUTHORIZED_FIELD_OR_TYPE"}}


async def test_removed_field_is_null_with_an_error_and_its_subgraph_is_not_called(supergraph_file) -> None:
    router = Router(supergraph_file)
    status, body, fetches = await router.ask("{ bankName me { id name } }")
    assert status == 200
    assert body == {"errors": [{**UNAUTHORIZED, "path": ["me"]}], "data": {"bankName": "Finpace", "me": None}}
    assert fetches == {"accounts": 1}  # customers (which owns `me`) is never asked
    status, body, fetches = await router.ask("{ bankName me { id name } }", {"sub": "u1"})
    assert body == {"data": {"bankName": "Finpace", "me": {"id": "1", "name": "Customer 1"}}}
    assert fetches == {"accounts": 1, "customers": 1}


async def test_nothing_authorized_means_no_subgraph_call(supergraph_file) -> None:
    router = Router(supergraph_file)
    status, body, fetches = await router.ask("{ me { id } auditLog }")
    assert status == 200 and fetches == {}
    assert body["data"] is None  # auditLog is non-null: its null propagates to the root
    assert [e["path"] for e in body["errors"]] == [["me"], ["auditLog"]]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHORIZED_FIELD_OR_TYPE"}


async def test_nested_removal_in_a_list_and_an_entity_fetch(supergraph_file) -> None:
    router = Router(supergraph_file)
    query = "{ customers { id email accounts { number } } }"
    _, body, fetches = await router.ask(query, {"sub": "u1", "scope": "customer:read"})
    assert body["data"]["customers"][0] == {"id": "1", "email": None, "accounts": [{"number": "1-1"}]}
    assert [e["path"] for e in body["errors"]] == [["customers", "@", "email"]]
    assert fetches == {"customers": 1, "accounts": 1}
    # Account.balance is non-null: its removal nulls the nearest nullable parent, as any null would.
    _, body, _ = await router.ask("{ me { id accounts { number balance } } }", {"sub": "u1", "scope": "pii:read"})
    assert body["data"] == {"me": None}
    assert [e["path"] for e in body["errors"]] == [["me", "accounts", "@", "balance"]]
    claims = {"sub": "u1", "scope": "customer:read pii:read accounts:read"}
    _, body, _ = await router.ask("{ customers { email accounts { balance } } }", claims)
    assert body == {
        "data": {"customers": [{"email": f"c{i}@example.com", "accounts": [{"balance": 100}]} for i in (1, 2)]}
    }


async def test_strict_mode_rejects_the_request_without_calling_a_subgraph(supergraph_file) -> None:
    router = Router(supergraph_file, reject_unauthorized=True)
    status, body, fetches = await router.ask("{ bankName me { id } }")
    assert (status, fetches) == (403, {})
    assert body == {"errors": [{**UNAUTHORIZED, "path": ["me"]}]}
    status, body, _ = await router.ask("{ bankName me { id } }", {"sub": "u1"})
    assert status == 200 and body["data"]["me"] == {"id": "1"}


async def test_policies_configured_by_import_path(supergraph_file) -> None:
    router = Router(supergraph_file, authorization_policies={"mfa": "tests.router.test_authorization.mfa"})
    rm = {"sub": "rm-1", "roles": ["rm"]}
    _, body, _ = await router.ask("{ me { id notes } }", rm)
    assert body["data"] == {"me": {"id": "1", "notes": None}}
    _, body, _ = await router.ask("{ me { id notes } }", {**rm, "amr": ["mfa"]})
    assert body == {"data": {"me": {"id": "1", "notes": "notes 1"}}}
    _, body, _ = await router.ask("{ auditLog }", {"sub": "a-1", "roles": ["auditor"]})
    assert body == {"data": {"auditLog": ["e1", "e2"]}}


async def test_plans_are_cached_per_authorization_outcome(supergraph_file) -> None:
    router = Router(supergraph_file)
    engine = await router.client._transport.app.state.router.engine()  # type: ignore[attr-defined]
    query = "{ bankName me { id } }"
    for claims in (None, {"sub": "a"}, {"sub": "b", "scope": "x"}, None):
        await router.ask(query, claims)
    # Two outcomes (me removed, me kept) -> two plans, although three different contexts asked.
    assert len([k for k in engine.plans._items if k[0] == query]) == 2
    assert len([k for k in engine.filtered._items if k[0] == query]) == 3


async def test_an_invalid_token_is_still_401(supergraph_file) -> None:
    router = Router(supergraph_file)
    resp = await router.client.post("/graphql", json={"query": "{ bankName }"}, headers={"authorization": "Bearer bad"})
    assert resp.status_code == 401
