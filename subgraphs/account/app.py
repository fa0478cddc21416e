"""The account subgraph's composition root (with the product read-model and lending disbursement subscribers)."""

from __future__ import annotations

from starlette.applications import Starlette

from shared.access import access_subscriber
from shared.app import create_subgraph_app
from shared.config import Settings
from subgraphs.account.queries import make_loaders
from subgraphs.account.schema import build_schema
from subgraphs.account.subscribers import PRODUCT_SUBSCRIBERS, SUBSCRIBERS

DOMAIN = "account"


def create_app(settings: Settings | None = None, *, lending_saga: bool = True) -> Starlette:
    """Builds the account subgraph ASGI app (uvicorn --factory); lending_saga=False leaves disbursements unbooked."""
    return create_subgraph_app(settings=settings or Settings(), domain=DOMAIN, schema=build_schema(),
                               make_loaders=make_loaders,
                               subscribers=[*(SUBSCRIBERS if lending_saga else PRODUCT_SUBSCRIBERS),
                                            access_subscriber(DOMAIN)])
