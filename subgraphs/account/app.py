"""The account subgraph's composition root (with the product read-model subscriber)."""

from __future__ import annotations

from starlette.applications import Starlette

from shared.app import create_subgraph_app
from shared.config import Settings
from subgraphs.account.queries import make_loaders
from subgraphs.account.schema import build_schema
from subgraphs.account.subscribers import SUBSCRIBERS

DOMAIN = "account"


def create_app(settings: Settings | None = None) -> Starlette:
    """Builds the account subgraph ASGI app (uvicorn --factory)."""
    return create_subgraph_app(settings=settings or Settings(), domain=DOMAIN, schema=build_schema(),
                               make_loaders=make_loaders, subscribers=SUBSCRIBERS)
