"""Fuzzing fixtures: one throw-away, seeded platform (every subgraph, then the router) for the fuzz module."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from shared.config import Settings
from tests.fuzz import strategies
from tests.fuzz.platform import Platform, running_platform, start_router

# Hypothesis keeps an example database and a constants cache under .hypothesis/: not in the checkout.
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="finpace-hypothesis-"))


@pytest.fixture(scope="module")
def platform(private_settings: Settings) -> Iterator[Platform]:
    patch = pytest.MonkeyPatch()
    patch.setenv("FINPACE_DATA_DIR", str(private_settings.data_dir))  # the product seed signs its checker's token
    with running_platform(private_settings) as running:
        strategies.register(running.known_ids, running.entities)
        yield running
    patch.undo()


@pytest.fixture(scope="module")
def router_url(platform: Platform) -> str:
    return start_router(platform)


@pytest.fixture(scope="module")
def customer_token(platform: Platform) -> str:
    """A customer entitled to one seeded organisation."""
    return platform.token("customer", party_ids=platform.entities["Party"][:1])
