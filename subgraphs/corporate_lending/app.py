"""The corporate lending subgraph's composition root."""

from __future__ import annotations

from starlette.applications import Starlette

from shared.app import create_subgraph_app
from shared.config import Settings
from subgraphs.corporate_lending.queries import make_loaders
from subgraphs.corporate_lending.schema import build_schema
from subgraphs.corporate_lending.subscribers import SUBSCRIBERS

DOMAIN = "corporate_lending"


def create_app(settings: Settings | None = None) -> Starlette:
    """Builds the corporate lending subgraph ASGI app (uvicorn --factory)."""
    return create_subgraph_app(settings=settings or Settings(), domain=DOMAIN, schema=build_schema(),
                               make_loaders=make_loaders, subscribers=SUBSCRIBERS)
