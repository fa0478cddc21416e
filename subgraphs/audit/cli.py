"""`finpace audit verify` and `finpace audit extract`: the click group the finpace CLI mounts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.config import Settings
from subgraphs.audit.extract import FORMATS, extract
from subgraphs.audit.queries import TrailFilter
from subgraphs.audit.verify import verify

# Returns a context manager yielding live settings (e.g. the CLI's embedded_servers(_settings(), nats=False)).
LiveSettings = Callable[[], contextlib.AbstractContextManager[Settings]]

EXIT_TAMPERED = 2


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def build_audit_group(live_settings: LiveSettings | None = None, console: Console | None = None) -> click.Group:
    """Builds the `audit` command group; live_settings supplies the settings (default: FINPACE_* from the env)."""
    live = live_settings or (lambda: contextlib.nullcontext(Settings()))
    err = console or Console(stderr=True, soft_wrap=True)

    @click.group(name="audit")
    def audit() -> None:
        """Audit evidence: verify the hash chain, write compliance extracts."""

    @audit.command(name="verify")
    def verify_cmd() -> None:
        """Verify every evidence entry and signed checkpoint; exit 2 naming the first bad entry."""
        with live() as settings, _progress(err) as bar:
            task = bar.add_task("Verifying evidence chain", total=None)
            result = asyncio.run(verify(settings, progress=lambda done: bar.update(task, completed=done)))
        if result.ok:
            click.echo(f"OK: {result.entries_checked} entries, {result.checkpoints_checked} signed checkpoints, "
                       f"head {result.last_sequence} {result.last_hash}")
            return
        click.echo(f"TAMPERED: {result.problem} at entry {result.first_bad_sequence}"
                   f"{f' (event {result.first_bad_event_id})' if result.first_bad_event_id else ''}: "
                   f"{result.message}")
        raise SystemExit(EXIT_TAMPERED)

    @audit.command(name="extract")
    @click.option("--output", "-o", type=click.Path(path_type=Path), required=True, help="File to write.")
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
    @click.option("--subject", default=None, help="Only this aggregate id.")
    @click.option("--actor", default=None, help="Only this actor (token subject).")
    @click.option("--type", "event_type", default=None, help="Only this event type or NATS subject.")
    @click.option("--from", "occurred_from", type=click.DateTime(), default=None, help="Occurred at or after (UTC).")
    @click.option("--to", "occurred_to", type=click.DateTime(), default=None, help="Occurred before (UTC).")
    def extract_cmd(output: Path, fmt: str, subject: str | None, actor: str | None, event_type: str | None,
                    occurred_from: dt.datetime | None, occurred_to: dt.datetime | None) -> None:
        """Write the (filtered) audit trail as JSON Lines or CSV, with its SHA-256."""
        def utc(value: dt.datetime | None) -> dt.datetime | None:
            return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value
        trail = TrailFilter(subject=subject, actor=actor, event_type=event_type, occurred_from=utc(occurred_from),
                            occurred_to=utc(occurred_to))
        with live() as settings, _progress(err) as bar:
            task = bar.add_task(f"Writing {output.name}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result: Any = asyncio.run(extract(settings, output, fmt=fmt, trail=trail, progress=progress))
        click.echo(f"{result.rows} entries written to {result.path} ({result.format}), sha256 {result.sha256}")

    return audit


build_group = build_audit_group  # the name the finpace CLI looks for in a domain's cli module
