"""Runs schemathesis over every root field of one graph and reports server errors and non-null violations.

The verdict is the platform's, not schemathesis's default GraphQL one: typed refusals (BAD_USER_INPUT,
NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, the router's limit codes...) are the expected answer to fuzzed input, while
an HTTP 5xx, an untyped error, an INTERNAL_SERVER_ERROR (the masked form of a resolver exception or of a null
in a non-null field) or a router fetch/planning failure is a bug.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation.case import Case

SERVER_CODES = frozenset(
    {"INTERNAL_SERVER_ERROR", "SUBREQUEST_HTTP_ERROR", "SUBREQUEST_MALFORMED_RESPONSE", "QUERY_PLANNING_FAILED"}
)
NON_NULL = "Cannot return null for non-nullable field"
# Examples per root field in the suite; FINPACE_FUZZ_EXAMPLES raises it for deep runs (`make fuzz`).
EXAMPLES = int(os.environ.get("FINPACE_FUZZ_EXAMPLES") or 0)


class ServerFault(AssertionError):
    """A response that shows the server failed rather than refused."""


def verdict(status: int, body: Any) -> str | None:
    """Returns why a response is a server fault, or None when it is a result or a typed refusal."""
    if status >= 500:
        return f"HTTP {status}"
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        return "not a GraphQL response"
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        message = str(error.get("message")) if isinstance(error, dict) else str(error)
        if NON_NULL in message:
            return f"null in a non-null field: {message}"
        if code is None or code in SERVER_CODES:
            return f"{code or 'untyped error'}: {message} at {error.get('path')}"
    return None


def check(case: Case, response: Any) -> bool:
    """Raises ServerFault for a fault; returns whether the graph answered without any error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    fault = verdict(response.status_code, body)
    if fault:
        raise ServerFault(
            f"{fault}\n  query: {case.body.get('query') if isinstance(case.body, dict) else case.body}"
            f"\n  response: {json.dumps(body)[:600]}"
        )
    return isinstance(body, dict) and body.get("data") is not None and not body.get("errors")


@dataclass
class Report:
    graph: str
    operations: int = 0
    calls: int = 0
    answered: int = 0
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.graph}: {self.operations} root fields, {self.calls} calls ({self.answered} answered without"
            f" error), {len(self.faults)} faults"
            f" in {self.seconds:.1f}s"
        )


def fuzz(
    graph: str, url: str, token: str | None, *, examples: int, only_queries: bool = False, skip: Iterable[str] = ()
) -> Report:
    """Fuzzes each root field of the graph at `url` (introspected) with `examples` cases; returns the report."""
    examples = EXAMPLES or examples
    schema = schemathesis.graphql.from_url(url, headers={"authorization": f"Bearer {token}"} if token else {})
    # Including everything explicitly also selects the federation fields (_entities, _service).
    schema = schema.include(name_regex=".*")
    report = Report(graph)
    started = time.monotonic()
    headers = {"authorization": f"Bearer {token}"} if token else {}
    session = requests.Session()
    session.trust_env = False  # loopback servers: never through a proxy from the environment
    skipped = set(skip)
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in skipped or (only_queries and not operation.label.startswith("Query.")):
            continue
        report.operations += 1

        @settings(
            max_examples=examples,
            derandomize=True,
            deadline=None,
            database=None,
            print_blob=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Case) -> None:
            report.calls += 1
            report.answered += check(case, case.call(session=session, headers=headers, timeout=30))

        try:
            run()
        except ServerFault as exc:
            report.faults.append(f"{graph} {operation.label}: {exc}")
    report.seconds = time.monotonic() - started
    return report
