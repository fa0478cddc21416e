"""The dev authorization server: RFC 9068 tokens for users and partners, RFC 6749 refusals, JWKS, dev-only."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from click.testing import CliRunner

from shared.auth import DEV_KEY_FILE, TokenValidator, dev_key
from shared.authserver import METADATA_PATH, DevOnlyError, create_app
from shared.authserver_clients import AuthServerSettings, DevFileError, load_directory
from shared.cli import main
from shared.config import DEV_ISSUER, Profile, Settings
from shared.errors import AuthError
from shared.registry import AUTH_PORT
from shared.supervisor import dev_auth
from tests.helpers import serve

PARTNER, SECRET = "partner-test", "test-secret"
CUSTOMER_PARTY = str(uuid.uuid4())


def write_dev_file(path: Path, *, partner: str = PARTNER, partner_scopes: list[str] | None = None) -> Path:
    """A dev clients/users file: the public user client, one partner, one user per role."""
    users = [{"username": r, "password": f"{r}-pw", "role": r} for r in ("admin", "ops", "rm", "auditor")]
    users.append(
        {
            "username": "cust",
            "password": "cust-pw",
            "role": "customer",
            "sub": "customer-7",
            "party_ids": [CUSTOMER_PARTY],
            "scopes": ["profile:read"],
        }
    )
    path.write_text(
        yaml.safe_dump(
            {
                "clients": [
                    {"client_id": "finpace-dev", "grant_types": ["password"]},
                    {
                        "client_id": partner,
                        "client_secret": SECRET,
                        "grant_types": ["client_credentials"],
                        "role": "partner",
                        "scopes": partner_scopes or ["events:party.*", "events:account.*"],
                    },
                ],
                "users": users,
            }
        )
    )
    return path


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JOSE header and claims of a compact JWT, unverified."""
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in token.split(".")[:2])
    return header, claims


@pytest.fixture(scope="module")
async def auth_base(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    dev_file = write_dev_file(tmp_path_factory.mktemp("authserver") / "dev.yaml")
    async with serve(create_app(settings, AuthServerSettings(dev_file=dev_file))) as base:
        yield base


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def via_jwks(settings: Settings, base: str) -> TokenValidator:
    """The validator the router and subgraphs use under `finpace up`: keys from the server's JWKS URL."""
    return TokenValidator(settings.model_copy(update={"auth_jwks_url": f"{base}/jwks.json"}))


async def password_token(http: httpx.AsyncClient, base: str, username: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "password",
        "client_id": "finpace-dev",
        "username": username,
        "password": f"{username}-pw",
        **extra,
    }
    return await http.post(f"{base}/token", data=form)


async def test_metadata_and_jwks_publish_the_dev_issuer_key(
    auth_base: str, http: httpx.AsyncClient, settings: Settings
) -> None:
    meta = (await http.get(f"{auth_base}{METADATA_PATH}")).json()
    assert meta["issuer"] == settings.auth_issuer == DEV_ISSUER
    assert meta["token_endpoint"] == f"{auth_base}/token" and meta["jwks_uri"] == f"{auth_base}/jwks.json"
    assert set(meta["grant_types_supported"]) == {"client_credentials", "password"}
    response = await http.get(meta["jwks_uri"])
    keys = response.json()["keys"]
    assert response.status_code == 200 and len(keys) == 1
    # The very key `finpace token` signs with, public half only.
    assert keys[0]["kid"] == dev_key(settings).kid and keys[0]["alg"] == "ES256"
    assert "d" not in keys[0] and (settings.data_dir / DEV_KEY_FILE).exists()


async def test_a_partner_gets_an_rfc9068_token_with_client_credentials(auth_base: str, settings: Settings) -> None:
    async with AsyncOAuth2Client(
        PARTNER, SECRET, token_endpoint=f"{auth_base}/token", grant_type="client_credentials"
    ) as client:
        token = await client.fetch_token()
        again = await client.fetch_token()
    assert token["token_type"] == "Bearer" and token["scope"] == "events:party.* events:account.*"
    assert 0 < token["expires_in"] <= 600
    header, claims = parts(token["access_token"])
    assert header == {"alg": "ES256", "kid": dev_key(settings).kid, "typ": "at+jwt"}
    assert claims["iss"] == settings.auth_issuer and claims["aud"] == settings.auth_audience
    assert claims["sub"] == claims["client_id"] == PARTNER and claims["roles"] == ["partner"]
    assert claims["scope"] == token["scope"] and claims["party_ids"] == []
    assert 0 < claims["exp"] - claims["iat"] <= 600 and abs(claims["iat"] - time.time()) < 120
    assert claims["jti"] != parts(again["access_token"])[1]["jti"]
    principal = await via_jwks(settings, auth_base).validate_async(token["access_token"])
    assert principal.sub == PARTNER and principal.client_id == PARTNER and principal.roles == {"partner"}
    assert principal.scopes == {"events:party.*", "events:account.*"}


async def test_a_partner_may_narrow_its_scope_but_not_widen_it(auth_base: str, http: httpx.AsyncClient) -> None:
    narrow = await http.post(
        f"{auth_base}/token",
        auth=(PARTNER, SECRET),
        data={"grant_type": "client_credentials", "scope": "events:party.*"},
    )
    assert narrow.status_code == 200 and narrow.json()["scope"] == "events:party.*"
    async with AsyncOAuth2Client(
        PARTNER,
        SECRET,
        token_endpoint=f"{auth_base}/token",
        scope="events:party.* admin",
        grant_type="client_credentials",
    ) as client:
        with pytest.raises(OAuthError) as refused:
            await client.fetch_token()
    assert refused.value.error == "invalid_scope"
    odd = await http.post(
        f"{auth_base}/token", auth=(PARTNER, SECRET), data={"grant_type": "client_credentials", "scope": 'x"\\\u00e9'}
    )
    assert odd.status_code == 400 and odd.json()["error"] == "invalid_scope"  # never a 500 on odd characters


@pytest.mark.parametrize(
    ("role", "username"),
    [("admin", "admin"), ("ops", "ops"), ("rm", "rm"), ("auditor", "auditor"), ("customer", "cust")],
)
async def test_dev_users_get_tokens_for_their_role(
    auth_base: str, http: httpx.AsyncClient, settings: Settings, role: str, username: str
) -> None:
    response = await password_token(http, auth_base, username)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store" and "refresh_token" not in response.json()
    principal = await via_jwks(settings, auth_base).validate_async(response.json()["access_token"])
    assert principal.roles == {role} and principal.client_id == "finpace-dev"
    if role == "customer":
        assert principal.sub == "customer-7" and principal.party_ids == {CUSTOMER_PARTY}
        assert principal.scopes == {"profile:read"}
    else:
        assert principal.sub == username and principal.party_ids == frozenset()


async def test_client_authentication_failures_are_401_invalid_client(auth_base: str, http: httpx.AsyncClient) -> None:
    url, grant = f"{auth_base}/token", {"grant_type": "client_credentials"}
    cases = {
        "unknown client, Basic": await http.post(url, auth=("nobody", SECRET), data=grant),
        "unknown client, post": await http.post(url, data={**grant, "client_id": "nobody", "client_secret": SECRET}),
        "wrong secret, Basic": await http.post(url, auth=(PARTNER, "wrong"), data=grant),
        "wrong secret, post": await http.post(url, data={**grant, "client_id": PARTNER, "client_secret": "wrong"}),
        "no secret": await http.post(url, data={**grant, "client_id": PARTNER}),
        "public client on client credentials": await http.post(url, data={**grant, "client_id": "finpace-dev"}),
    }
    for case, response in cases.items():
        assert response.status_code == 401, (case, response.text)
        assert response.json()["error"] == "invalid_client", case
        assert "access_token" not in response.json()
        assert response.headers["www-authenticate"].startswith("Basic "), case
    async with AsyncOAuth2Client("nobody", SECRET, token_endpoint=url, grant_type="client_credentials") as client:
        with pytest.raises(OAuthError) as refused:
            await client.fetch_token()
    assert refused.value.error == "invalid_client"


async def test_refusals_carry_rfc6749_error_bodies(auth_base: str, http: httpx.AsyncClient) -> None:
    url = f"{auth_base}/token"
    cases = [
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "ops", "password": "ops-pw"}, "unauthorized_client"),  # a partner
        ({}, "invalid_request"),
    ]
    for form, error in cases:
        response = await http.post(url, auth=(PARTNER, SECRET), data=form)
        assert (response.status_code, response.json()["error"]) == (400, error), (form, response.text)
    wrong_password = await http.post(
        url, data={"grant_type": "password", "client_id": "finpace-dev", "username": "ops", "password": "nope"}
    )
    unknown_user = await password_token(http, auth_base, "ghost")
    beyond = await password_token(http, auth_base, "ops", scope="events:party.*")
    both_methods = await http.post(
        url, auth=(PARTNER, SECRET), data={"grant_type": "client_credentials", "client_secret": SECRET}
    )
    repeated = await http.post(
        url,
        content=b"grant_type=client_credentials&grant_type=password",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=(PARTNER, SECRET),
    )
    as_json = await http.post(url, json={"grant_type": "client_credentials"}, auth=(PARTNER, SECRET))
    oversized = await http.post(
        url, auth=(PARTNER, SECRET), data={"grant_type": "client_credentials", "scope": "x" * 5000}
    )
    for response, error in (
        (wrong_password, "invalid_grant"),
        (unknown_user, "invalid_grant"),
        (beyond, "invalid_scope"),
        (both_methods, "invalid_request"),
        (repeated, "invalid_request"),
        (as_json, "invalid_request"),
        (oversized, "invalid_request"),
    ):
        assert (response.status_code, response.json()["error"]) == (400, error), response.text
        assert response.headers["cache-control"] == "no-store"
    assert (await http.get(url)).status_code == 405


async def test_tokens_expire_and_foreign_issuers_are_refused(
    auth_base: str, http: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await password_token(http, auth_base, "ops")).json()["access_token"]
    validator = via_jwks(settings, auth_base)
    assert (await validator.validate_async(token)).sub == "ops"
    exp = parts(token)[1]["exp"]
    monkeypatch.setattr(time, "time", lambda: exp + settings.auth_leeway_seconds + 1)
    with pytest.raises(AuthError, match="expired"):
        validator.validate(token)
    monkeypatch.undo()
    other = settings.model_copy(update={"auth_issuer": "https://login.bank.example"})
    with pytest.raises(AuthError):
        await via_jwks(other, auth_base).validate_async(token)


def prod_settings(**extra: Any) -> Settings:
    values = {
        "profile": Profile.PROD,
        "auth_issuer": "https://login.bank.example",
        "auth_jwks_url": "https://login.bank.example/jwks.json",
        "database_url": "postgresql://db/x",
        "nats_url": "nats://nats:4222",
        **extra,
    }
    return Settings(**values)


def test_the_production_profile_refuses_the_server_and_the_dev_issuer(tmp_path: Path) -> None:
    with pytest.raises(DevOnlyError):
        create_app(prod_settings(data_dir=tmp_path))
    with pytest.raises(ValueError, match="dev issuer"):
        prod_settings(auth_issuer=DEV_ISSUER)
    env = {
        "FINPACE_PROFILE": "prod",
        "FINPACE_AUTH_ISSUER": "https://login.bank.example",
        "FINPACE_AUTH_JWKS_URL": "https://login.bank.example/jwks.json",
        "FINPACE_DATABASE_URL": "postgresql://db/x",
        "FINPACE_NATS_URL": "nats://nats:4222",
        "FINPACE_DATA_DIR": str(tmp_path),
    }
    result = CliRunner().invoke(main, ["serve", "auth"], env=env)
    assert result.exit_code == 1 and "refuses the production profile" in result.output
    assert not (tmp_path / DEV_KEY_FILE).exists()


def test_up_starts_the_server_and_points_every_service_at_its_jwks_in_dev_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = Settings(data_dir=tmp_path)
    monkeypatch.delenv("FINPACE_PORT_AUTH", raising=False)
    monkeypatch.delenv("FINPACE_PORT_OFFSET", raising=False)
    services, env = dev_auth(dev)
    assert [s.name for s in services] == ["auth"]
    assert env == {"FINPACE_AUTH_JWKS_URL": f"http://127.0.0.1:{AUTH_PORT}/jwks.json"}
    monkeypatch.setenv("FINPACE_PORT_OFFSET", "100")
    assert dev_auth(dev)[1]["FINPACE_AUTH_JWKS_URL"] == f"http://127.0.0.1:{AUTH_PORT + 100}/jwks.json"
    assert dev_auth(prod_settings(data_dir=tmp_path)) == ([], {})
    assert dev_auth(dev.model_copy(update={"auth_jwks_url": "https://idp.example/jwks"})) == ([], {})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"clients": [{"client_id": "a", "grant_types": ["client_credentials"]}]}, "needs a client_secret"),
        ({"clients": [{"client_id": "a", "grant_types": ["implicit"]}]}, "grant_types"),
        ({"clients": [{"client_id": "a", "grant_types": ["password"]}] * 2}, "appears twice"),
        ({"users": [{"username": "u", "password": "p", "role": "root"}]}, "role 'root'"),
        ({"users": [{"username": "u", "password": "hunter2", "role": "ops", "party_ids": "p1"}]}, "list of words"),
        ({"users": [{"username": "u", "role": "ops"}]}, "username and a password"),
    ],
)
def test_a_malformed_dev_file_is_refused_by_name(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(entry))
    with pytest.raises(DevFileError, match=message) as refused:
        load_directory(path)
    assert "hunter2" not in str(refused.value)


def test_the_shipped_dev_file_loads() -> None:
    directory = load_directory(AuthServerSettings().dev_file)
    assert {u.role for u in directory.users.values()} == {"admin", "ops", "rm", "auditor", "customer"}
    assert directory.clients["partner-acme"].check_grant_type("client_credentials")
    assert not directory.clients["finpace-dev"].check_grant_type("client_credentials")
