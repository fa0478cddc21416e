"""schemathesis over every subgraph and the router: 0 server errors and 0 nulls in non-null fields.

Bounded for the suite (a few examples per root field, derandomized so every run sends the same cases) on a
throw-away seeded platform; `make fuzz` runs the same tests with FINPACE_FUZZ_EXAMPLES raised.
"""

from __future__ import annotations

import pytest

from tests.fuzz.platform import SUBGRAPHS, Platform
from tests.fuzz.runner import Report, fuzz


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
