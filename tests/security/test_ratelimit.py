"""Per-client rate limits: the burst passes, the next is 429 with Retry-After, buckets refill, clients are apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from router.config import RouterSettings
from router.ratelimit import RateLimiter, client_key, retry_after
from shared.auth import issue_dev_token
from shared.cli import router_token_validator
from shared.config import Profile, Settings
from tests.security.conftest import RouterClient

QUERY = {"query": '{ account(id: "acc1") { id balance } }'}


class Clock:
    """A hand-moved monotonic clock, so refills are tested without sleeping or timing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [None, None, None]
    assert limiter.acquire("a") == pytest.approx(0.5)  # one token comes back after 1 / rate seconds
    clock.now += 0.25
    assert limiter.acquire("a") == pytest.approx(0.25)
    clock.now += 0.25
    assert limiter.acquire("a") is None
    clock.now += 60  # refill is capped at the burst
    assert [limiter.acquire("a") for _ in range(4)][-1] is not None


def test_clients_do_not_share_a_bucket_and_old_ones_are_forgotten() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_clients=2, clock=Clock())
    assert limiter.acquire("a") is None
    assert limiter.acquire("b") is None
    assert limiter.acquire("a") is not None
    assert limiter.acquire("c") is None  # a third client evicts the least recently seen (b)
    assert limiter.acquire("b") is None


def test_client_key_prefers_client_id_then_sub_then_ip() -> None:
    assert client_key({"client_id": "partner-7", "sub": "u1"}, "10.0.0.1") == "client_id:partner-7"
    assert client_key({"sub": "u1"}, "10.0.0.1") == "sub:u1"
    assert client_key({"client_id": "", "sub": ""}, "10.0.0.1") == "ip:10.0.0.1"
    assert client_key(None, None) == "ip:unknown"
    assert (retry_after(0.01), retry_after(1.0), retry_after(1.2)) == (1, 1, 2)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_rate_and_burst_must_be_positive(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=rate, burst=burst)


async def _claims(authorization: str | None) -> Mapping[str, Any] | None:
    """A token hook as the platform's: 'Bearer <client>' is valid for client_id <client>, 'Bearer bad' is not."""
    token = (authorization or "").removeprefix("Bearer ")
    if token == "bad":
        raise PermissionError("Access token signature is invalid.")
    return {"client_id": token, "sub": f"user-of-{token}"} if token else None


async def test_router_burst_then_429_with_retry_after_and_no_subgraph_call(production_router) -> None:
    async with production_router(token_validator=_claims, rate_limit_per_second=0.5, rate_limit_burst=3) as router:
        router.app.state.router.limiter.clock = clock = Clock()
        auth = {"authorization": "Bearer partner-a"}
        passed = [await router.post("/graphql", json=QUERY, headers=auth) for _ in range(3)]
        before = await router.fetches()
        refused = await router.post("/graphql", json=QUERY, headers=auth)
        assert await router.fetches() == before  # counted before any subgraph call
        clock.now += 2.0  # one token back at 0.5 per second
        refilled = await router.post("/graphql", json=QUERY, headers=auth)
    assert [r.status_code for r in passed] == [200, 200, 200]
    assert passed[0].json() == {"data": {"account": {"id": "acc1", "balance": 100}}}
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"
    assert refused.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 2}
    assert refilled.status_code == 200


async def test_router_keeps_clients_apart(production_router) -> None:
    async with production_router(token_validator=_claims, rate_limit_burst=2) as router:
        router.app.state.router.limiter.clock = Clock()
        a = [await router.post("/graphql", json=QUERY, headers={"authorization": "Bearer a"}) for _ in range(3)]
        b = [await router.post("/graphql", json=QUERY, headers={"authorization": "Bearer b"}) for _ in range(2)]
        anonymous = [await router.post("/graphql", json=QUERY) for _ in range(3)]
    assert [r.status_code for r in a] == [200, 200, 429]
    assert [r.status_code for r in b] == [200, 200]
    assert [r.status_code for r in anonymous] == [200, 200, 429]  # counted against the client IP


async def test_refused_tokens_count_against_the_ip(production_router) -> None:
    async with production_router(token_validator=_claims, rate_limit_burst=2) as router:
        router.app.state.router.limiter.clock = Clock()
        guesses = [await router.post("/graphql", json=QUERY, headers={"authorization": "Bearer bad"}) for _ in range(3)]
        other_ip = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=router.app, client=("10.9.9.9", 1234)), base_url="http://router"
        )
        async with other_ip:
            elsewhere = await other_ip.post("/graphql", json=QUERY)
    assert [r.status_code for r in guesses] == [401, 401, 429]
    assert elsewhere.status_code == 200


async def test_rate_limits_are_off_unless_configured(supergraph_for) -> None:
    async with RouterClient(RouterSettings(supergraph=supergraph_for(), rate_limit_burst=1)) as router:
        statuses = [(await router.post("/graphql", json=QUERY)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert RouterSettings.production(supergraph=supergraph_for()).rate_limit is True


async def test_the_platform_token_hook_keys_on_client_id_then_sub(production_router, tmp_path) -> None:
    # The hook `finpace serve router` installs: a valid token's client is what the limiter counts.
    settings = Settings(profile=Profile.DEV, data_dir=tmp_path)
    hook = router_token_validator(settings)
    partner = issue_dev_token(settings, role="partner", sub="p-1", client_id="partner-x")
    claims = await hook(f"Bearer {partner}")
    assert (claims["client_id"], claims["sub"]) == ("partner-x", "p-1")
    assert await hook(None) is None
    with pytest.raises(PermissionError):
        await hook("Bearer not.a.token")
    async with production_router(token_validator=hook, rate_limit_burst=1) as router:
        router.app.state.router.limiter.clock = Clock()
        first = await router.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {partner}"})
        again = await router.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {partner}"})
        anonymous = await router.post("/graphql", json=QUERY)  # the IP's bucket is still full
    assert (first.status_code, again.status_code, anonymous.status_code) == (200, 429, 200)
