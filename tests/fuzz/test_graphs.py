"""schemathesis over every subgraph and the router: 0 server errors and 0 nulls in non-null fields.

Bounded for the suite (a few examples per root field, derandomized so every run sends the same cases) on a
throw-away seeded platform; `make fuzz` runs the same tests with FINPACE_FUZZ_EXAMPLES raised.
"""

from __future__ import annotations

import httpx
import pytest

from router.supergraph import Supergraph
from tests.fuzz.platform import SUBGRAPHS, Platform
from tests.fuzz.runner import Report, fuzz
from tests.root_fields import DENIED, ROLES, SUPERGRAPH_FILE, root_fields


def passes(report: Report) -> None:
    print(report.summary())
    assert report.operations > 1 and report.calls >= report.operations, report.summary()
    assert report.answered > 0, report.summary()
    assert not report.faults, "\n\n".join(report.faults)


@pytest.mark.parametrize("graph", list(SUBGRAPHS))
def test_subgraph_as_staff(platform: Platform, graph: str) -> None:
    passes(fuzz(graph, platform.urls[graph], platform.token("admin"), examples=6))


@pytest.mark.parametrize("graph", list(SUBGRAPHS))
def test_subgraph_reads_as_customer(platform: Platform, customer_token: str, graph: str) -> None:
    passes(fuzz(graph, platform.urls[graph], customer_token, examples=4, only_queries=True))


def test_router_as_staff(platform: Platform, router_url: str) -> None:
    passes(fuzz("router", router_url, platform.token("ops"), examples=4))


def test_router_reads_as_customer(router_url: str, customer_token: str) -> None:
    passes(fuzz("router", router_url, customer_token, examples=4, only_queries=True))


def test_partner_reads_as_a_partner(platform: Platform) -> None:
    token = platform.token("partner")
    passes(fuzz("partner", platform.urls["partner"], token, examples=4, only_queries=True))


@pytest.mark.parametrize("graph", list(SUBGRAPHS))
def test_subgraph_re_checks_every_root_field_for_every_role(platform: Platform, graph: str) -> None:
    """Called directly, past the router, each subgraph refuses exactly the callers its SDL excludes.

    Every query is sent for every role and without a token; a mutation only by callers it must refuse,
    so nothing is executed (the check comes before the resolver). Subscriptions are checked over the
    socket in the partner suite.
    """
    schema = Supergraph.from_file(SUPERGRAPH_FILE).api_schema
    fields = [f for f in root_fields() if f.subgraph == graph and f.operation != "subscription"]
    assert fields, graph
    tokens = {role: platform.token(role) for role in ROLES}
    checked = 0
    with httpx.Client(timeout=30) as http:
        for field in fields:
            query, variables = field.call(schema)
            for role in (None, *ROLES):
                if field.operation == "mutation" and field.may(role):
                    continue
                headers = {"authorization": f"Bearer {tokens[role]}"} if role else {}
                response = http.post(platform.urls[graph], json={"query": query, "variables": variables},
                                     headers=headers)
                assert response.status_code == 200, (field.id, role, response.text)
                body = response.json()
                codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
                assert "GRAPHQL_VALIDATION_FAILED" not in codes, (field.id, body)  # the call reached the field
                if field.may(role):
                    assert not codes & DENIED, (field.id, role, body)
                else:
                    assert codes & DENIED, (field.id, role, body)
                    assert not body.get("data") or body["data"].get(field.name) is None, (field.id, role, body)
                checked += 1
    assert checked >= len(fields)
