"""The JWT negative matrix through the router: every bad token is 401 before any subgraph call.

The router runs in the production profile with the platform's validator (shared.auth.TokenValidator behind
router_token_validator) against an issuer JWKS we hold the keys of; the subgraphs are real Strawberry
services on loopback, and the router's own fetch counter (/metrics) proves none of them was called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from shared.cli import router_token_validator
from shared.config import Profile, Settings
from tests.security.conftest import RouterClient

ISSUER = "https://login.bank.example"
QUERY = {"query": "{ entries }"}


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> tuple[ECKey, Settings]:
    key = ECKey.generate_key("P-256", auto_kid=True, private=True)
    jwks = tmp_path_factory.mktemp("issuer") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    settings = Settings(
        profile=Profile.PROD, data_dir=jwks.parent, auth_issuer=ISSUER, auth_audience="finpace",
        auth_jwks_file=jwks, database_url="postgresql://db.internal/postgres", nats_url="nats://nats.internal:4222",
    )
    return key, settings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": "finpace", "sub": "ops-1", "client_id": "backoffice", "iat": now, "nbf": now,
        "exp": now + 300, "jti": str(uuid.uuid4()), "roles": ["ops"], "scope": "", "party_ids": [],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(key: ECKey, claims: dict[str, Any], **header: Any) -> str:
    full = {"alg": "ES256", "kid": key.kid, "typ": "at+jwt", **header}
    return jwt.encode({k: v for k, v in full.items() if v is not None}, claims, key)


def _alg_none(key: ECKey) -> str:
    header = {"alg": "none", "kid": key.kid, "typ": "at+jwt"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}."


def _hs256_with_public_key(key: ECKey) -> str:
    header = {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    secret = json.dumps(key.as_dict(private=False)).encode()
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _foreign_jku(key: ECKey) -> str:
    # An attacker's own key, with a jku pointing at the attacker's JWKS.
    attacker = ECKey.generate_key("P-256", auto_kid=True, private=True)
    return _signed(attacker, _claims(), kid=attacker.kid, jku="https://evil.example/jwks.json")


CASES: dict[str, Callable[[ECKey], str]] = {
    "alg none": _alg_none,
    "HS256 signed with our public key": _hs256_with_public_key,
    "wrong issuer": lambda k: _signed(k, _claims(iss="https://evil.example")),
    "wrong audience": lambda k: _signed(k, _claims(aud="someone-else")),
    "expired": lambda k: _signed(k, _claims(iat=int(time.time()) - 600, exp=int(time.time()) - 60)),
    "not yet valid (nbf)": lambda k: _signed(k, _claims(nbf=int(time.time()) + 120)),
    "unknown kid": lambda k: _signed(k, _claims(), kid="not-our-key"),
    "foreign jku header": _foreign_jku,
    "jku header on our own key": lambda k: _signed(k, _claims(), jku="https://evil.example/jwks.json"),
    "oversized token": lambda k: _signed(k, _claims(padding="x" * 9216)),
    "wrong typ": lambda k: _signed(k, _claims(), typ="JWT"),
    "garbage": lambda k: "not.a.token",
    "missing jti": lambda k: _signed(k, _claims(jti=None)),
    "missing client_id": lambda k: _signed(k, _claims(client_id=None)),
    "lifetime over the maximum": lambda k: _signed(k, _claims(exp=int(time.time()) + 86_400)),
}


@pytest.fixture
def router(production_router: Callable[..., RouterClient], issuer: tuple[ECKey, Settings]) -> RouterClient:
    return production_router(token_validator=router_token_validator(issuer[1]))


async def test_a_valid_token_reaches_the_subgraphs(router: RouterClient, issuer: tuple[ECKey, Settings]) -> None:
    """The positive control: the same router and issuer, a good token, and the subgraph is called."""
    async with router:
        token = _signed(issuer[0], _claims())
        resp = await router.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.text
        assert await router.fetches() >= 1


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bad_token_is_401_with_no_subgraph_call(
    router: RouterClient, issuer: tuple[ECKey, Settings], case: str
) -> None:
    token = CASES[case](issuer[0])
    async with router:
        resp = await router.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {token}"})
        assert resp.status_code == 401, resp.text
        assert resp.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert await router.fetches() == 0


@pytest.mark.parametrize("where", ["query string GET", "query string POST", "JSON body", "form body"])
async def test_a_token_outside_the_authorization_header_is_401_with_no_subgraph_call(
    router: RouterClient, issuer: tuple[ECKey, Settings], where: str
) -> None:
    """RFC 6750 allows query and form tokens; our rule is the Authorization header only, so a valid token
    sent elsewhere is refused rather than the request served anonymously."""
    token = _signed(issuer[0], _claims())
    preflight = {"apollo-require-preflight": "true"}
    async with router:
        if where == "query string GET":
            resp = await router.get("/graphql", params={**QUERY, "access_token": token}, headers=preflight)
        elif where == "query string POST":
            resp = await router.post("/graphql", params={"access_token": token}, json=QUERY)
        elif where == "JSON body":
            resp = await router.post("/graphql", json={**QUERY, "access_token": token})
        else:
            resp = await router.post("/graphql", data={**QUERY, "access_token": token}, headers=preflight)
        assert resp.status_code == 401, resp.text
        error = resp.json()["errors"][0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "Authorization header" in error["message"]
        assert await router.fetches() == 0
