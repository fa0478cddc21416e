"""The project's own graph for the gateway benchmark: a seeded platform, the supergraph as each gateway reads it,
and the router's token (the router app itself is tests/perf/platform_router.py, kept light to start).

The party, product, account and lending subgraphs run in the benchmark's process on private embedded servers,
seeded with the demo bank (as tests/test_views.py does). Replaying servers stand in front of them, adding an
ops token to what they forward, so after the warm-up both gateways are measured, not the subgraphs.

Apollo Gateway refuses a supergraph that links SECURITY features it does not implement (`@authenticated`,
`@requiresScopes`, `@policy`), so it gets the supergraph without them and does no authorization at all. The
router gets the committed supergraph unchanged and a dev token on every request: it validates the JWT and
applies field authorization on top of the same work, which makes the comparison conservative for the router.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from graphql import DirectiveDefinitionNode, DirectiveNode, ScalarTypeDefinitionNode, parse, print_ast, visit
from graphql.language import REMOVE, Visitor

from shared.auth import issue_dev_token
from shared.config import Profile, Settings
from shared.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shared.migrations import upgrade
from shared.seed import SeedContext

REPO = Path(__file__).resolve().parents[2]
SUPERGRAPH = REPO / "schema" / "supergraph.graphql"
OPERATIONS = REPO / "router" / "operations"
SUBGRAPHS = ("party", "product", "account", "consumer_lending", "corporate_lending")
SECURITY_DIRECTIVES = {"authenticated", "requiresScopes", "policy"}
SECURITY_SCALARS = {"requiresScopes__Scope", "policy__Policy"}


class _StripSecurity(Visitor):
    """Removes the authorization directives, their definitions and scalars, and their SECURITY links."""

    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        if node.name.value in SECURITY_DIRECTIVES:
            return REMOVE
        if node.name.value == "link":
            purpose = next((a.value for a in node.arguments if a.name.value == "for"), None)
            if purpose is not None and getattr(purpose, "value", None) == "SECURITY":
                return REMOVE
        return None

    def enter_directive_definition(self, node: DirectiveDefinitionNode, *_: Any) -> Any:
        return REMOVE if node.name.value in SECURITY_DIRECTIVES else None

    def enter_scalar_type_definition(self, node: ScalarTypeDefinitionNode, *_: Any) -> Any:
        return REMOVE if node.name.value in SECURITY_SCALARS else None


def without_security(sdl: str) -> str:
    """The supergraph without its SECURITY features (what Apollo Gateway can load)."""
    return print_ast(visit(parse(sdl), _StripSecurity()))


@dataclass(frozen=True)
class SeededPlatform:
    """The running subgraphs, their dev settings and what the seed created."""

    settings: Settings
    urls: dict[str, str]
    state: dict[str, Any]

    def token(self, role: str = "ops", sub: str = "bench-ops") -> str:
        """A dev token (10 minutes) the subgraphs and the router accept."""
        return issue_dev_token(self.settings, role=role, sub=sub)

    def queries(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """The persisted views as plain documents with variables: customer 360 of the largest group, the workbench."""
        head = self.state["party.organisations"][0]
        return {
            "customer 360": ((OPERATIONS / "Customer360.graphql").read_text(), {"partyId": head}),
            "RM workbench": ((OPERATIONS / "RmWorkbench.graphql").read_text(), {"rmId": "rm-01"}),
        }


@contextlib.asynccontextmanager
async def seeded_platform(count: int = 12) -> AsyncIterator[SeededPlatform]:
    """Private embedded servers, the five subgraphs served in this process, and the demo bank seeded."""
    from subgraphs.account.app import create_app as create_account
    from subgraphs.account.seed import seed as seed_accounts
    from subgraphs.consumer_lending.app import create_app as create_consumer_lending
    from subgraphs.consumer_lending.seed import seed as seed_consumer_lending
    from subgraphs.corporate_lending.app import create_app as create_corporate_lending
    from subgraphs.corporate_lending.seed import seed as seed_corporate_lending
    from subgraphs.party.app import create_app as create_party
    from subgraphs.party.seed import seed as seed_parties
    from subgraphs.product.app import create_app as create_product
    from subgraphs.product.seed import seed as seed_products
    from tests.helpers import serve
    from tests.subgraphs.support import provision

    factories = {"party": create_party, "product": create_product, "account": create_account,
                 "consumer_lending": create_consumer_lending, "corporate_lending": create_corporate_lending}
    root = Path(tempfile.mkdtemp(prefix="finpace-bench-"))
    previous = os.environ.get("FINPACE_DATA_DIR")
    os.environ["FINPACE_EOD_ENABLED"] = "0"  # no end-of-day timer in the benchmark's subgraphs
    try:
        with EmbeddedPostgres(root / "pg", port=free_port()) as pg, EmbeddedNats(root / "nats", port=free_port()) as nc:
            settings = Settings(profile=Profile.DEV, database_url=pg.url, nats_url=nc.url, data_dir=root / "data",
                                log_json=False, log_level="WARNING")
            os.environ["FINPACE_DATA_DIR"] = str(settings.data_dir)  # the product seed signs its checker's token here
            await provision(settings.nats_url or "")
            async with contextlib.AsyncExitStack() as stack:
                urls: dict[str, str] = {}
                for name in SUBGRAPHS:
                    await upgrade(settings, name)  # before the app, whose outbox relay polls the database at once
                    base = await stack.enter_async_context(serve(factories[name](settings)))
                    urls[name] = f"{base}/graphql"
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=60))
                ctx = SeedContext(http=http, urls=urls, token=issue_dev_token(settings, role="admin", sub="seed-admin"),
                                  count=count)
                for seed in (seed_parties, seed_products, seed_accounts, seed_corporate_lending, seed_consumer_lending):
                    await seed(ctx)
                yield SeededPlatform(settings=settings, urls=urls, state=ctx.state)
    finally:
        if previous is None:
            os.environ.pop("FINPACE_DATA_DIR", None)
        else:
            os.environ["FINPACE_DATA_DIR"] = previous
        shutil.rmtree(root, ignore_errors=True)
