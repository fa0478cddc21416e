"""Prometheus metrics of the router: requests per operation and fetches per subgraph."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class RouterMetrics:
    """One registry per app, so several routers (and tests) can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "finpace_router_requests",
            "GraphQL requests by operation and HTTP status",
            ["operation", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "finpace_router_request_duration_seconds",
            "GraphQL request duration by operation",
            ["operation"],
            registry=self.registry,
        )
        self.fetches = Counter(
            "finpace_router_subgraph_fetches",
            "Subgraph fetches by subgraph and outcome",
            ["subgraph", "outcome"],
            registry=self.registry,
        )
        self.fetch_seconds = Histogram(
            "finpace_router_subgraph_fetch_duration_seconds",
            "Subgraph fetch duration",
            ["subgraph"],
            registry=self.registry,
        )

    def observe_request(self, operation: str | None, status: int, seconds: float) -> None:
        name = operation or "anonymous"
        self.requests.labels(name, str(status)).inc()
        self.request_seconds.labels(name).observe(seconds)

    def observe_fetch(self, subgraph: str, seconds: float, ok: bool) -> None:
        self.fetches.labels(subgraph, "ok" if ok else "error").inc()
        self.fetch_seconds.labels(subgraph).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
