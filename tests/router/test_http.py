"""GraphQL over HTTP: methods, content negotiation, status codes, CSRF, auth modes, headers, plans."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from router.app import create_app
from router.config import AuthMode, RouterSettings
from tests.router.harness import SCENARIOS

JSON = {"content-type": "application/json"}


@pytest.fixture
def supergraph_file(scenarios, tmp_path) -> Path:
    """The errors scenario (whose rewards subgraph echoes headers) with live subgraph URLs."""
    path = tmp_path / "supergraph.graphql"
    sdl = (SCENARIOS / "errors" / "supergraph.graphql").read_text()
    for name, url in scenarios.urls("errors").items():
        sdl = sdl.replace(f"http://{name}.invalid/graphql", url)
    path.write_text(sdl)
    return path


@pytest.fixture
def client_for(supergraph_file):
    def make(**settings) -> httpx.AsyncClient:
        app = create_app(RouterSettings(supergraph=supergraph_file, **settings))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router")

    return make


async def test_post_json(client_for) -> None:
    async with client_for() as client:
        resp = await client.post("/graphql", json={"query": "{ program }"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == {"data": {"program": "miles"}}


async def test_graphql_response_media_type_when_accepted(client_for) -> None:
    async with client_for() as client:
        resp = await client.post(
            "/graphql", json={"query": "{ program }"}, headers={"accept": "application/graphql-response+json"}
        )
    assert resp.headers["content-type"].startswith("application/graphql-response+json")


async def test_unacceptable_accept_is_406(client_for) -> None:
    async with client_for() as client:
        resp = await client.post("/graphql", json={"query": "{ program }"}, headers={"accept": "text/csv"})
    assert resp.status_code == 406


async def test_get_query_and_get_mutation(client_for) -> None:
    async with client_for() as client:
        ok = await client.get(
            "/graphql",
            params={"query": "query P($n: String!) { header(name: $n) }", "variables": '{"n": "x-none"}'},
            headers={"apollo-require-preflight": "true"},
        )
        assert ok.status_code == 200
        assert ok.json() == {"data": {"header": None}}
        refused = await client.get(
            "/graphql", params={"query": "mutation { x }"}, headers={"apollo-require-preflight": "true"}
        )
    # Validation runs first in Apollo too: this unknown mutation root is a 400; a valid one would be 405.
    assert refused.status_code in (400, 405)


async def test_get_mutation_is_405(scenarios, tmp_path) -> None:
    path = tmp_path / "m.graphql"
    path.write_text((SCENARIOS / "mutations" / "supergraph.graphql").read_text())
    app = create_app(RouterSettings(supergraph=path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
        resp = await client.get(
            "/graphql", params={"query": 'mutation { note(text: "x") }'}, headers={"apollo-require-preflight": "1"}
        )
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"


async def test_csrf_prevention_blocks_simple_requests(client_for) -> None:
    async with client_for() as client:
        get = await client.get("/graphql", params={"query": "{ program }"})
        form = await client.post("/graphql", content=b'{"query":"{ program }"}', headers={"content-type": "text/plain"})
    assert get.status_code == 400
    assert "CSRF" in get.json()["errors"][0]["message"]
    assert form.status_code == 400


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", JSON, 400),
        (b"[1]", JSON, 400),
        (b'{"variables": {}}', JSON, 400),
        (b'{"query": "{ program }", "variables": [1]}', JSON, 400),
        (b'{"query": "{ program }"}', {"content-type": "application/xml", "apollo-require-preflight": "1"}, 415),
        (b'{"query": "{ program"}', JSON, 400),
        (b'{"query": "{ nope }"}', JSON, 400),
        (b'{"query": "query A { program } query B { program }"}', JSON, 400),
        (b'{"query": "query Q($n: String!) { header(name: $n) }", "variables": {}}', JSON, 400),
    ],
)
async def test_bad_requests(client_for, content: bytes, headers: dict, status: int) -> None:
    async with client_for() as client:
        resp = await client.post("/graphql", content=content, headers=headers)
    assert resp.status_code == status
    assert resp.json()["errors"]


async def test_parse_and_validation_error_codes(client_for) -> None:
    async with client_for() as client:
        parse_error = await client.post("/graphql", json={"query": "{"})
        invalid = await client.post("/graphql", json={"query": "{ nope }"})
    assert parse_error.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_headers_forwarded_to_subgraphs(client_for) -> None:
    query = (
        '{ a: header(name: "authorization") c: header(name: "x-correlation-id") '
        't: header(name: "traceparent") x: header(name: "x-secret") }'
    )
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with client_for() as client:
        resp = await client.post(
            "/graphql",
            json={"query": query},
            headers={
                "authorization": "Bearer t0k",
                "x-correlation-id": "corr-1",
                "traceparent": parent,
                "x-secret": "s",
            },
        )
        generated = await client.post("/graphql", json={"query": query})
    data = resp.json()["data"]
    assert data["a"] == "Bearer t0k"
    assert data["c"] == "corr-1"
    assert resp.headers["x-correlation-id"] == "corr-1"
    assert data["t"].startswith("00-0af7651916cd43dd8448eb211c80319c-")  # same trace, new span
    assert data["t"] != parent
    assert data["x"] is None  # not on the propagation list
    fresh = generated.json()["data"]
    assert fresh["c"] and fresh["c"] == generated.headers["x-correlation-id"]
    assert fresh["t"].startswith("00-") and fresh["a"] is None


async def test_auth_required(client_for) -> None:
    async with client_for(auth_mode=AuthMode.REQUIRED) as client:
        missing = await client.post("/graphql", json={"query": "{ program }"})
        present = await client.post("/graphql", json={"query": "{ program }"}, headers={"authorization": "Bearer x"})
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert present.status_code == 200


async def test_a_token_outside_the_authorization_header_is_refused_not_served_anonymously(client_for) -> None:
    """Auth optional: without the check, ?access_token= would be ignored and the query answered anonymously."""
    preflight = {"apollo-require-preflight": "true"}
    async with client_for(auth_mode=AuthMode.OPTIONAL) as client:
        responses = [
            await client.get("/graphql", params={"query": "{ program }", "access_token": "t"}, headers=preflight),
            await client.post("/graphql", params={"access_token": "t"}, json={"query": "{ program }"}),
            await client.post("/graphql", json={"query": "{ program }", "access_token": "t"}),
            await client.post("/graphql", data={"query": "{ program }", "access_token": "t"}, headers=preflight),
        ]
        anonymous = await client.post("/graphql", json={"query": "{ program }"})
    for resp in responses:
        assert resp.status_code == 401, resp.text
        assert resp.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "Authorization header" in resp.json()["errors"][0]["message"]
    assert anonymous.status_code == 200  # no token at all is still fine when auth is optional


async def test_token_validator_hook(supergraph_file) -> None:
    async def validate(token: str | None) -> None:
        if token != "Bearer good":
            raise PermissionError("token rejected")

    app = create_app(RouterSettings(supergraph=supergraph_file), token_validator=validate)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
        bad = await client.post("/graphql", json={"query": "{ program }"}, headers={"authorization": "Bearer bad"})
        good = await client.post("/graphql", json={"query": "{ program }"}, headers={"authorization": "Bearer good"})
    assert bad.status_code == 401
    assert good.status_code == 200


async def test_query_plan_exposed_only_when_enabled_and_asked(client_for) -> None:
    ask = {"apollo-expose-query-plan": "true"}
    async with client_for(expose_query_plan=True) as client:
        shown = await client.post("/graphql", json={"query": "{ cards { id points } }"}, headers=ask)
        not_asked = await client.post("/graphql", json={"query": "{ cards { id points } }"})
    async with client_for() as client:
        disabled = await client.post("/graphql", json={"query": "{ cards { id points } }"}, headers=ask)
    plan = shown.json()["extensions"]["apolloQueryPlan"]
    assert plan["object"]["kind"] == "QueryPlan"
    assert json.loads(plan["text"]) == plan["object"]
    assert "extensions" not in not_asked.json()
    assert "extensions" not in disabled.json()


async def test_query_size_and_depth_limits(client_for) -> None:
    async with client_for(max_query_bytes=20, max_depth=2) as client:
        big = await client.post("/graphql", json={"query": "{ program " + " " * 50 + "}"})
    async with client_for(max_depth=2) as client:
        deep = await client.post("/graphql", json={"query": '{ cards { id } card(id: "k1") { brand } }'})
        deeper = await client.post(
            "/graphql", json={"query": "{ ghostCard { id } __schema { types { fields { name } } } }"}
        )
    assert big.status_code == 413
    assert deep.status_code == 200
    assert deeper.status_code == 400


async def test_subgraph_errors_redacted_when_configured(client_for) -> None:
    async with client_for(include_subgraph_errors=False) as client:
        resp = await client.post("/graphql", json={"query": "{ cards { id pinHint } }"})
    body = resp.json()
    assert body["data"]["cards"][1] == {"id": "k2", "pinHint": None}
    assert body["errors"] == [{"message": "Subgraph errors redacted", "path": ["cards", 1, "pinHint"]}]


async def test_header_rules_from_settings(client_for) -> None:
    header_rules = [
        {"action": "propagate", "named": "x-secret", "rename": "x-tenant"},
        {"action": "remove", "named": "authorization"},
    ]
    query = '{ t: header(name: "x-tenant") a: header(name: "authorization") }'
    async with client_for(header_rules=header_rules) as client:
        resp = await client.post(
            "/graphql", json={"query": query}, headers={"x-secret": "acme", "authorization": "Bearer z"}
        )
    assert resp.json()["data"] == {"t": "acme", "a": None}


async def test_graphql_answers_straight_and_everything_else_through_starlette(client_for) -> None:
    async with client_for() as client:
        # GET and POST /graphql go straight to the endpoint; the rest keeps Starlette's answers.
        assert (await client.post("/graphql", json={"query": "{ program }"})).status_code == 200
        get = await client.get("/graphql", params={"query": "{ program }"}, headers={"apollo-require-preflight": "1"})
        assert get.status_code == 200 and get.json()["data"]["program"]
        put = await client.put("/graphql", json={"query": "{ program }"})
        assert put.status_code == 405 and set(put.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
        assert (await client.get("/graphql/x")).status_code == 404
        assert (await client.get("/health")).json() == {"status": "ok"}


async def test_a_bug_outside_the_engine_is_a_500_not_a_dropped_connection(supergraph_file, monkeypatch) -> None:
    def broken(_accept):
        raise RuntimeError("a bug outside the engine")

    monkeypatch.setattr("router.http.negotiate", broken)
    app = create_app(RouterSettings(supergraph=supergraph_file))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        resp = await client.post("/graphql", json={"query": "{ program }"})
    assert resp.status_code == 500
