"""The consumer lending subgraph's composition root."""

from __future__ import annotations

from starlette.applications import Starlette

from shared.access import access_subscriber
from shared.app import create_subgraph_app
from shared.config import Settings
from shared.eod import scheduled
from subgraphs.consumer_lending.eod import run_eod
from subgraphs.consumer_lending.queries import make_loaders
from subgraphs.consumer_lending.schema import build_schema
from subgraphs.consumer_lending.subscribers import SUBSCRIBERS

DOMAIN = "consumer_lending"


def create_app(settings: Settings | None = None) -> Starlette:
    """Builds the consumer lending subgraph ASGI app (uvicorn --factory)."""
    return create_subgraph_app(settings=settings or Settings(), domain=DOMAIN, schema=build_schema(),
                               make_loaders=make_loaders, subscribers=[*SUBSCRIBERS, access_subscriber(DOMAIN)],
                               jobs=[job for job in (scheduled(run_eod, DOMAIN),) if job is not None])
