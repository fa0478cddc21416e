"""Forced errors in the production profile: nothing internal in any response, at a subgraph or at the router.

A subgraph (partner) on a throw-away PostgreSQL has its table renamed or its database unreachable; the
router loses a subgraph or hits a bug. Every answer must be free of stack traces, SQL, file paths,
driver names and internal URLs, and unexpected errors carry an errorId that is in the log.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import websockets
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.config import Profile, Settings
from shared.embedded import free_port
from shared.migrations import upgrade
from subgraphs.partner.app import create_app as create_subgraph
from tests.helpers import serve

ISSUER = "https://issuer.bank.test"
DOMAIN, TABLE, LIST = "partner", "partners", "{ partners { id name } }"
LEAKS = (
    "Traceback",
    'File "',
    ".py",
    "SELECT",
    "INSERT",
    "asyncpg",
    "sqlalchemy",
    "psycopg",
    "postgresql",
    "127.0.0.1",
    "localhost",
    "UndefinedTable",
    "relation",
    "Connect call failed",
    "Errno",
    "Did you mean",
)


def assert_no_leak(resp: httpx.Response, *extra: str) -> None:
    found = [leak for leak in (*LEAKS, *extra) if leak in resp.text]
    assert not found, f"{found} in {resp.text}"


@pytest.fixture(scope="module")
def issuer_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[ECKey, Path]:
    """A production-like issuer: its signing key, and the JWKS file the services read."""
    key = ECKey.generate_key("P-256", auto_kid=True, private=True)
    jwks = tmp_path_factory.mktemp("issuer") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return key, jwks


def ops_token(key: ECKey) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "finpace",
        "sub": "ops-1",
        "client_id": "backoffice",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "roles": ["ops"],
        "scope": "",
        "party_ids": [],
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, claims, key)


@pytest.fixture(scope="module")
def production_settings(private_settings: Settings, issuer_key: tuple[ECKey, Path]) -> Callable[..., Settings]:
    """Factory: production-profile settings on the module's private PostgreSQL and NATS."""

    def make(**overrides: object) -> Settings:
        values = {
            "profile": Profile.PROD,
            "database_url": private_settings.database_url,
            "nats_url": private_settings.nats_url,
            "data_dir": private_settings.data_dir,
            "auth_issuer": ISSUER,
            "auth_jwks_file": issuer_key[1],
            "log_json": True,
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture(scope="module")
async def subgraph_url(production_settings: Callable[..., Settings]) -> AsyncIterator[str]:
    settings = production_settings()
    await upgrade(settings, DOMAIN)
    async with serve(create_subgraph(settings)) as base:
        yield f"{base}/graphql"


async def _post(url: str, query: str, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, json={"query": query}, headers=headers)


async def test_renamed_table_is_masked(subgraph_url: str, production_settings, issuer_key) -> None:
    settings = production_settings()
    engine = create_async_engine(settings.domain_database_url(DOMAIN))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_gone"))
        resp = await _post(subgraph_url, LIST, ops_token(issuer_key[0]))
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"ALTER TABLE {TABLE}_gone RENAME TO {TABLE}"))
        await engine.dispose()
    [error] = resp.json()["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and len(error["extensions"]["errorId"]) == 32
    assert_no_leak(resp, f"{TABLE}_gone")


async def test_unreachable_database_is_masked(production_settings, issuer_key) -> None:
    port = free_port()  # nothing listens here: the database is "stopped"
    settings = production_settings(database_url=f"postgresql://finpace:pw-secret@127.0.0.1:{port}/postgres")
    async with serve(create_subgraph(settings)) as base:
        resp = await _post(f"{base}/graphql", LIST, ops_token(issuer_key[0]))
        async with httpx.AsyncClient() as client:
            ready = await client.get(f"{base}/ready")
    assert resp.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert_no_leak(resp, str(port), "pw-secret")
    assert ready.status_code == 503
    assert_no_leak(ready, str(port), "pw-secret")


async def test_validation_and_input_errors_name_no_internals(subgraph_url: str, issuer_key) -> None:
    token = ops_token(issuer_key[0])
    typo = await _post(subgraph_url, "{ partner { id } }", token)
    bad_id = await _post(
        subgraph_url, 'mutation { redeliverWebhook(deliveryId: "not-a-uuid", reason: "x") { __typename } }', token
    )
    unknown_arg = await _post(subgraph_url, "{ partners(firstt: 5) { id } }", token)
    assert typo.json()["errors"][0] == {
        "message": "Cannot query field 'partner' on type 'Query'.",
        "locations": [{"line": 1, "column": 3}],
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
    }
    assert bad_id.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert unknown_arg.json()["errors"][0]["message"] == "Unknown argument 'firstt' on field 'Query.partners'."
    for resp in (typo, bad_id, unknown_arg):
        assert_no_leak(resp)


async def test_subgraph_production_profile(subgraph_url: str) -> None:
    introspection = await _post(subgraph_url, "{ __schema { types { name } } }")
    service = await _post(subgraph_url, "{ _service { sdl } __typename }")
    async with httpx.AsyncClient() as client:
        get = await client.get(subgraph_url, params={"query": "{ __typename }"})
        ide = await client.get(subgraph_url, headers={"accept": "text/html"})
    codes = {e["extensions"]["code"] for e in introspection.json()["errors"]}
    assert codes == {"INTROSPECTION_DISABLED"}
    assert "data" not in introspection.json() or introspection.json()["data"] is None
    # The router and composition still get what they need from a subgraph.
    assert "type Partner" in service.json()["data"]["_service"]["sdl"]
    assert service.json()["data"]["__typename"] == "Query"
    assert get.status_code >= 400 and "__typename" not in get.text.replace('"{ __typename }"', "")
    assert "graphiql" not in ide.text.lower()


@pytest.mark.parametrize("where", ["query string GET", "query string POST", "JSON body", "form body", "multipart"])
async def test_subgraph_refuses_a_token_outside_the_authorization_header(
    subgraph_url: str, issuer_key: tuple[ECKey, Path], where: str
) -> None:
    """Tokens only in the Authorization header: a valid token elsewhere is 401 UNAUTHENTICATED, never anonymous."""
    token = ops_token(issuer_key[0])
    query = "{ __typename }"
    async with httpx.AsyncClient(timeout=30) as client:
        if where == "query string GET":
            resp = await client.get(subgraph_url, params={"query": query, "access_token": token})
        elif where == "query string POST":
            resp = await client.post(subgraph_url, params={"access_token": token}, json={"query": query})
        elif where == "JSON body":
            resp = await client.post(subgraph_url, json={"query": query, "access_token": token})
        elif where == "form body":
            resp = await client.post(subgraph_url, data={"query": query, "access_token": token})
        else:
            resp = await client.post(subgraph_url, data={"operations": json.dumps({"query": query}), "map": "{}"},
                                     files={"access_token": ("t.txt", token.encode())})
        header = await client.post(subgraph_url, json={"query": query}, headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 401, resp.text
    error = resp.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "Authorization header" in error["message"]
    assert header.status_code == 200 and header.json()["data"]["__typename"] == "Query"  # the body is replayed


async def test_subgraph_refuses_a_token_in_the_websocket_upgrade_url(subgraph_url: str,
                                                                     issuer_key: tuple[ECKey, Path]) -> None:
    """The same rule on subscriptions: `?access_token=` on the upgrade is 401, the token belongs in connection_init."""
    token = ops_token(issuer_key[0])
    ws_url = "ws://" + subgraph_url.removeprefix("http://")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{ws_url}?access_token={token}", subprotocols=["graphql-transport-ws"]):
            pass
    assert refused.value.response.status_code == 401
    error = json.loads(refused.value.response.body)["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "connection_init" in error["message"]
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # the token where it belongs
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
