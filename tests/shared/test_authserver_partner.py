"""A partner end to end: client credentials at the dev authorization server, the partner subgraph and the router."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client

from router.app import create_app as create_router
from router.config import RouterSettings
from shared.authserver import create_app as create_auth
from shared.authserver_clients import AuthServerSettings
from shared.cli import router_token_validator
from shared.config import Settings
from shared.messaging import connect as nats_connect
from shared.messaging import provision_from
from shared.migrations import upgrade
from subgraphs.partner.app import create_app as create_partner
from tests.helpers import GraphQLClient, serve
from tests.shared.test_authserver import SECRET, write_dev_file
from tests.subgraphs.partner.conftest import REGISTER, REPO_NATS, publish, register, ws_connect

SUPERGRAPH = Path(__file__).resolve().parents[2] / "schema" / "supergraph.graphql"
REGISTERED, CONSENT = "finpace.party.party.registered", "finpace.party.consent.recorded"
MY_PARTNER = "{ myPartner { clientId allowedEventTypes } }"
EVENTS = """subscription E($types: [String!]!, $from: Long) {
  events(types: $types, fromSequence: $from) { sequence type id } }"""


@pytest.fixture(scope="module")
async def platform(
    private_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Any]]:
    """The dev authorization server, the partner subgraph and the router, all validating through its JWKS URL."""
    partner_id = f"partner-{uuid.uuid4().hex[:8]}"
    dev_file = write_dev_file(tmp_path_factory.mktemp("authserver") / "dev.yaml", partner=partner_id)
    nc = await nats_connect(private_settings.nats_url or "", name="test-provision")
    try:
        await provision_from(nc, REPO_NATS)
    finally:
        await nc.close()
    await upgrade(private_settings, "partner")
    async with serve(create_auth(private_settings, AuthServerSettings(dev_file=dev_file))) as auth:
        # What `finpace up` does in the dev profile: every service reads the issuer's keys from the server.
        settings = private_settings.model_copy(update={"auth_jwks_url": f"{auth}/jwks.json"})
        async with serve(create_partner(settings)) as partner:
            urls = {"partner": f"{partner}/graphql"}
            router_settings = RouterSettings(supergraph=SUPERGRAPH, subgraph_urls=urls, subgraph_timeout=10)
            async with (
                serve(create_router(router_settings, token_validator=router_token_validator(settings))) as router,
                httpx.AsyncClient(timeout=30) as http,
            ):
                yield {"auth": auth, "partner": partner, "router": router, "http": http, "partner_id": partner_id}


async def user_token(platform: dict[str, Any], username: str) -> str:
    form = {"grant_type": "password", "client_id": "finpace-dev", "username": username, "password": f"{username}-pw"}
    response = await platform["http"].post(f"{platform['auth']}/token", data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_a_partner_receives_only_its_registered_event_types(
    platform: dict[str, Any], private_settings: Settings
) -> None:
    # An admin (a dev user's token) registers the partner under the client id the server knows it by.
    admin = GraphQLClient(platform["http"], f"{platform['partner']}/graphql", await user_token(platform, "admin"))
    data = await admin.data(
        REGISTER,
        {
            "key": uuid.uuid4().hex,
            "input": {"clientId": platform["partner_id"], "name": "Acme", "allowedEventTypes": [REGISTERED]},
        },
    )
    assert data["registerPartner"]["allowedEventTypes"] == [REGISTERED]
    await register(admin, [CONSENT])  # another partner, entitled to other events

    # The partner fetches its own token with client credentials and calls the subgraph and the router.
    async with AsyncOAuth2Client(
        platform["partner_id"],
        SECRET,
        token_endpoint=f"{platform['auth']}/token",
        grant_type="client_credentials",
        timeout=30,
    ) as client:
        await client.fetch_token()
        token = client.token["access_token"]
        for base in (platform["partner"], platform["router"]):
            response = await client.post(f"{base}/graphql", json={"query": MY_PARTNER})
            assert response.status_code == 200, response.text
            assert response.json()["data"]["myPartner"] == {
                "clientId": platform["partner_id"],
                "allowedEventTypes": [REGISTERED],
            }

    # Its events at the partner subgraph: the entitled type flows, another type is FORBIDDEN. (Through the
    # router the subgraph does not see the connection_init token yet, so the subscription goes direct.)
    env, seq = await publish(private_settings, REGISTERED, n=1)
    await publish(private_settings, CONSENT, n=1)
    cm, ws = await ws_connect(platform["partner"], token)
    try:
        await ws.subscribe(EVENTS, {"types": [REGISTERED], "from": seq})
        message = await ws.receive()
        assert message["type"] == "next", message
        assert message["payload"]["data"]["events"] == {"sequence": str(seq), "type": REGISTERED, "id": str(env.id)}
        await ws.subscribe(EVENTS, {"types": [CONSENT], "from": seq}, op_id="2")
        refused = await ws.receive()
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN", refused
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_token_signed_by_another_key_is_refused_everywhere(
    platform: dict[str, Any], private_settings: Settings
) -> None:
    from joserfc import jwt
    from joserfc.jwk import ECKey

    from shared.auth import dev_key

    forged_key = ECKey.generate_key("P-256", private=True)
    import time
    import uuid

    now = int(time.time())
    claims = {  # every claim valid (RFC 9068), so only the signature is wrong
        "iss": private_settings.auth_issuer,
        "aud": private_settings.auth_audience,
        "sub": "x",
        "client_id": "x",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "roles": ["admin"],
    }
    # Same kid as the real key, so only the signature can tell them apart.
    forged = jwt.encode({"alg": "ES256", "kid": dev_key(private_settings).kid, "typ": "at+jwt"}, claims, forged_key)
    for base in (platform["partner"], platform["router"]):
        response = await platform["http"].post(
            f"{base}/graphql", json={"query": MY_PARTNER}, headers={"authorization": f"Bearer {forged}"}
        )
        assert response.status_code == 401, (base, response.text)
