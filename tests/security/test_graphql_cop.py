"""graphql-cop's 13 probes, ported from dolevf/graphql-cop (lib/tests/*.py), against the production router.

Each probe sends what graphql-cop sends and applies its verdict (`vulnerable`); the tests then also
check the refusal itself (status and stable code) and that no probe reached a subgraph. graphql-cop
posts JSON with `operationName: "cop"` and a `graphql-cop` User-Agent; its directive probe's timing
ladder is kept without the timing (tests never assert durations): a 5xx is the verdict there.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from router.config import RouterSettings
from tests.security.conftest import RouterClient

HEADERS = {"user-agent": "graphql-cop/1.14"}
# graphql-cop's sign that a server refused many directives on purpose (dos_directive_overloading.py).
LIMIT_SIGNAL = re.compile(
    r"too many directives|directive.*limit|exceeds maximum|query complexity|depth limit|maxDirectives", re.I
)


@dataclass
class Finding:
    vulnerable: bool
    response: httpx.Response

    def json(self) -> Any:
        return self.response.json()


async def graph_query(client: httpx.AsyncClient, payload: str) -> httpx.Response:
    """lib/utils.py graph_query: a JSON POST of {query, operationName: "cop"}."""
    return await client.post("/graphql", json={"query": payload, "operationName": "cop"}, headers=HEADERS)


def _data(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("data") if isinstance(body, dict) else None


def _first_error(response: httpx.Response) -> dict[str, Any]:
    try:
        return response.json()["errors"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return {}


async def field_suggestions(client: httpx.AsyncClient) -> Finding:
    resp = await graph_query(client, "query cop { __schema { directive } }")
    return Finding("Did you mean" in str(_first_error(resp).get("message")), resp)


async def introspection(client: httpx.AsyncClient) -> Finding:
    resp = await graph_query(client, "query cop { __schema { types { name fields { name } } } }")
    return Finding(bool((_data(resp) or {}).get("__schema", {}).get("types")), resp)


async def detect_graphiql(client: httpx.AsyncClient) -> Finding:
    heuristics = ("graphiql.min.css", "GraphQL Playground", "GraphiQL", "graphql-playground")
    resp = None
    for endpoint in ("/graphiql", "/playground", "/console", "/graphql"):
        resp = await client.get(endpoint, headers={**HEADERS, "accept": "text/html"})
        if any(word in resp.text for word in heuristics):
            return Finding(True, resp)
    assert resp is not None
    return Finding(False, resp)


async def get_method_support(client: httpx.AsyncClient) -> Finding:
    resp = await client.get("/graphql", params={"query": "{__typename}"}, headers=HEADERS)
    return Finding(bool((_data(resp) or {}).get("__typename")), resp)


async def alias_overloading(client: httpx.AsyncClient) -> Finding:
    aliases = "".join(f"alias{i}:__typename \n" for i in range(101))
    resp = await graph_query(client, "query cop { " + aliases + " }")
    return Finding(bool((_data(resp) or {}).get("alias100")), resp)


async def batch_query(client: httpx.AsyncClient) -> Finding:
    batch = [{"query": "query cop { __typename }"} for _ in range(10)]
    resp = await client.post("/graphql", json=batch, headers=HEADERS)
    try:
        body = resp.json()
    except ValueError:
        body = None
    return Finding(isinstance(body, list) and len(body) >= 10, resp)


async def field_duplication(client: httpx.AsyncClient) -> Finding:
    resp = await graph_query(client, "query cop { " + "__typename \n" * 500 + "} ")
    return Finding(bool((_data(resp) or {}).get("__typename")), resp)


async def trace_mode(client: httpx.AsyncClient) -> Finding:
    resp = await graph_query(client, "query cop { __typename }")
    body = resp.json()
    tracing = (_first_error(resp).get("extensions") or {}).get("tracing") or (body.get("extensions") or {}).get(
        "tracing"
    )
    return Finding(bool(tracing) or "'extensions': {'tracing':" in str(body).lower(), resp)


async def directive_overloading(client: httpx.AsyncClient) -> Finding:
    # The original probe: ten unknown directives answered with ten errors.
    classic = await graph_query(client, "query cop { __typename @aa@aa@aa@aa@aa@aa@aa@aa@aa@aa }")
    if len(classic.json().get("errors") or []) == 10:
        return Finding(True, classic)
    # The current probe: a valid directive repeated up a ladder; a 5xx under load is the verdict.
    for n in (0, 10, 100, 500, 1000):
        resp = await graph_query(client, "query cop { __typename " + "@skip(if:true)" * n + " }")
        if n > 0 and LIMIT_SIGNAL.search(resp.text):
            return Finding(False, resp)
        if n > 0 and resp.status_code >= 500:
            return Finding(True, resp)
    return Finding(False, resp)


async def circular_query_introspection(client: httpx.AsyncClient) -> Finding:
    nested = "fields { type { " * 4
    resp = await graph_query(client, "query cop { __schema { types { " + nested + "name" + " } }" * 4 + " } } }")
    return Finding(len((_data(resp) or {}).get("__schema", {}).get("types") or ()) > 25, resp)


async def get_based_mutation(client: httpx.AsyncClient) -> Finding:
    resp = await client.get("/graphql", params={"query": "mutation cop {__typename}"}, headers=HEADERS)
    return Finding(bool((_data(resp) or {}).get("__typename")), resp)


async def post_based_csrf(client: httpx.AsyncClient) -> Finding:
    # graphql-cop puts the query in the URL of a body-less POST; a form post is the browser's version.
    in_url = await client.post("/graphql", params={"query": "query cop {__typename}"}, headers=HEADERS)
    form = await client.post("/graphql", data={"query": "query cop {__typename}"}, headers=HEADERS)
    vulnerable = any((_data(r) or {}).get("__typename") for r in (in_url, form))
    return Finding(vulnerable, form)


async def unhandled_error_detection(client: httpx.AsyncClient) -> Finding:
    resp = await graph_query(client, "qwerty cop { abc }")
    body = resp.json()
    exception = (_first_error(resp).get("extensions") or {}).get("exception")
    return Finding(bool(exception) or "'extensions': {'exception':" in str(body).lower(), resp)


Probe = Callable[[httpx.AsyncClient], Awaitable[Finding]]
# probe -> (HTTP status, error code) of the production router's refusal
PROBES: dict[str, tuple[Probe, int, str | None]] = {
    "field_suggestions": (field_suggestions, 400, "GRAPHQL_VALIDATION_FAILED"),
    "introspection": (introspection, 400, "INTROSPECTION_DISABLED"),
    "detect_graphiql": (detect_graphiql, 406, "BAD_REQUEST"),
    "get_method_support": (get_method_support, 400, "CSRF_ERROR"),
    "alias_overloading": (alias_overloading, 400, "MAX_ALIASES_EXCEEDED"),
    "batch_query": (batch_query, 400, "BATCHING_NOT_ENABLED"),
    "field_duplication": (field_duplication, 400, "MAX_ROOT_FIELDS_EXCEEDED"),
    "trace_mode": (trace_mode, 200, None),
    "directive_overloading": (directive_overloading, 400, "MAX_DIRECTIVES_EXCEEDED"),
    "circular_query_introspection": (circular_query_introspection, 400, "INTROSPECTION_DISABLED"),
    "get_based_mutation": (get_based_mutation, 400, "CSRF_ERROR"),
    "post_based_csrf": (post_based_csrf, 400, "CSRF_ERROR"),
    "unhandled_error_detection": (unhandled_error_detection, 400, "GRAPHQL_PARSE_FAILED"),
}


@pytest.mark.parametrize("name", PROBES)
async def test_probe_is_refused_in_production(production_router, name: str) -> None:
    probe, status, code = PROBES[name]
    async with production_router() as router:
        finding = await probe(router)
        assert await router.fetches() == 0  # refused at the edge: no subgraph saw the probe
    assert not finding.vulnerable, finding.response.text
    assert finding.response.status_code == status, finding.response.text
    if code is not None:
        assert {e["extensions"]["code"] for e in finding.json()["errors"]} >= {code}
    text = finding.response.text
    assert "Did you mean" not in text and "Traceback" not in text


async def test_all_thirteen_probes_refused(production_router) -> None:
    async with production_router() as router:
        findings = {name: await probe(router) for name, (probe, _, _) in PROBES.items()}
    assert len(findings) == 13
    assert [name for name, f in findings.items() if f.vulnerable] == []


async def test_the_probes_see_what_the_dev_profile_allows(supergraph_for) -> None:
    # The same probes against the dev profile: what it leaves on for developers is found, so the
    # production verdicts above come from the router's settings, not from blind probes. (graphql-core's
    # own MaxIntrospectionDepthRule refuses the circular introspection query in both profiles.)
    settings = RouterSettings(supergraph=supergraph_for(), **RouterSettings.profile_defaults(dev=True))
    async with RouterClient(settings) as router:
        found = {name for name, (probe, _, _) in PROBES.items() if (await probe(router)).vulnerable}
        graphiql_installed = router.app.state.router.graphiql_html is not None
    assert found - {"detect_graphiql"} == {"field_suggestions", "introspection"}
    assert ("detect_graphiql" in found) == graphiql_installed


async def test_csrf_off_lets_the_get_probes_through(supergraph_for) -> None:
    # With CSRF prevention off a GET query runs; a GET mutation is still refused (405, Allow: POST).
    settings = RouterSettings.production(supergraph=supergraph_for(), csrf_prevention=False)
    async with RouterClient(settings) as router:
        assert (await get_method_support(router)).vulnerable
        mutation = await get_based_mutation(router)
    assert not mutation.vulnerable
    assert mutation.response.status_code == 405 and mutation.response.headers["allow"] == "POST"


async def test_introspection_of_a_fragment_and_typename_alone(production_router) -> None:
    async with production_router() as router:
        hidden = await router.post(
            "/graphql", json={"query": '{ ...F } fragment F on Query { __type(name: "Account") { name } }'}
        )
        typename = await router.post("/graphql", json={"query": "{ __typename }"})
    assert hidden.status_code == 400
    assert hidden.json()["errors"] == [
        {"message": "Introspection has been disabled.", "extensions": {"code": "INTROSPECTION_DISABLED"}}
    ]
    assert typename.json() == {"data": {"__typename": "Query"}}


async def test_suggestions_hidden_for_arguments_enums_and_variables(production_router) -> None:
    async with production_router() as router:
        argument = await router.post("/graphql", json={"query": '{ account(idd: "acc1") { balance } }'})
        field = await router.post("/graphql", json={"query": '{ account(id: "acc1") { balanc } }'})
        variable = await router.post(
            "/graphql",
            json={"query": 'mutation($a: Int!) { deposit(id: "x", amount: $a) { id } }', "variables": {"a": "x"}},
        )
    for resp in (argument, field, variable):
        assert resp.status_code == 400
        assert "Did you mean" not in resp.text
    assert field.json()["errors"][0]["message"] == "Cannot query field 'balanc' on type 'Account'."


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"query": "{ __typename @aa }"', {"content-type": "application/json"}),  # malformed JSON
        (b'{"query": "{ __typename @aa }"}', {"content-type": "application/json"}),  # unknown directive
        (b"\xff\xfe{", {"content-type": "application/json"}),  # not UTF-8
        (b'{"query": {"nested": 1}}', {"content-type": "application/json"}),  # query is not a string
        (b'{"query": "{ __typename }", "variables": [1]}', {"content-type": "application/json"}),
    ],
)
async def test_malformed_requests_leak_nothing(production_router, content: bytes, headers: dict[str, str]) -> None:
    async with production_router() as router:
        resp = await router.post("/graphql", content=content, headers=headers)
    assert 400 <= resp.status_code < 500
    assert resp.json()["errors"][0]["extensions"]["code"]
    for leak in ("Traceback", "exception", "stacktrace", ".py", 'File "'):
        assert leak not in resp.text
