"""The party subgraph's composition root."""

from __future__ import annotations

from starlette.applications import Starlette

from shared.access import access_subscriber
from shared.app import create_subgraph_app
from shared.config import Settings
from subgraphs.party.queries import make_loaders
from subgraphs.party.schema import build_schema

DOMAIN = "party"


def create_app(settings: Settings | None = None) -> Starlette:
    """Builds the party subgraph ASGI app (uvicorn --factory); it keeps the access read model from its own events."""
    return create_subgraph_app(settings=settings or Settings(), domain=DOMAIN, schema=build_schema(),
                               make_loaders=make_loaders, subscribers=[access_subscriber(DOMAIN)])
