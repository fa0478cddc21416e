"""`finpace consumer_lending eod [--as-of DATE]`: the click group the finpace CLI mounts (shared/eod.py)."""

from __future__ import annotations

import click

from shared.eod import eod_group
from subgraphs.consumer_lending.eod import run_eod


def build_group(live_settings=None) -> click.Group:  # type: ignore[no-untyped-def]
    """The consumer_lending command group (end of day)."""
    return eod_group("consumer_lending", run_eod, live_settings)
