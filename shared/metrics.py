"""Prometheus metrics shared by every Finpace service, exposed on /metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter(
    "finpace_graphql_requests_total", "GraphQL operations served", ["service", "operation", "outcome"]
)
REQUEST_SECONDS = Histogram(
    "finpace_graphql_request_seconds", "GraphQL operation duration", ["service", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_PUBLISHED = Counter("finpace_outbox_published_total", "Outbox events published", ["domain"])
OUTBOX_BACKLOG = Gauge("finpace_outbox_backlog", "Outbox rows waiting to be published", ["domain"])
CONSUMER_PROCESSED = Counter(
    "finpace_consumer_events_total", "Events handled by a consumer", ["consumer", "outcome"]
)
CONSUMER_PENDING = Gauge("finpace_consumer_pending", "Messages not yet delivered to a consumer", ["consumer"])
CONSUMER_REDELIVERED = Counter("finpace_consumer_redeliveries_total", "Redelivered messages", ["consumer"])


async def metrics_endpoint(_: Request) -> Response:
    """Serves the process's metrics in the Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
