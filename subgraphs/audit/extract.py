"""Compliance extracts: the audit trail as JSON Lines or CSV, with a progress callback and a file digest."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from shared.config import Settings
from shared.db import create_engine, create_sessionmaker
from subgraphs.audit.chain import CHAINED_FIELDS, canonical_entry
from subgraphs.audit.models import Evidence
from subgraphs.audit.queries import TrailFilter, count_trail, iter_trail

COLUMNS = (*CHAINED_FIELDS, "actor_sub", "prev_hash", "hash")
FORMATS = ("jsonl", "csv")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExtractResult:
    """What an extract wrote: its path, format, row count and SHA-256 of the file."""

    path: Path
    format: str
    rows: int
    sha256: str


def _record(row: Evidence) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(canonical_entry(row))
    record.update(actor_sub=row.actor_sub, prev_hash=row.prev_hash, hash=row.hash)
    return record


def _csv_line(record: dict[str, Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([
        json.dumps(record[c], sort_keys=True, separators=(",", ":")) if isinstance(record[c], dict | list)
        else ("" if record[c] is None else record[c]) for c in COLUMNS
    ])
    return buffer.getvalue()


async def write_extract(sessions: async_sessionmaker[Any], path: Path, *, fmt: str = "jsonl",
                        trail: TrailFilter | None = None, progress: Progress | None = None) -> ExtractResult:
    """Writes the filtered audit trail to path; progress(done, total) is called as rows are written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    trail = trail or TrailFilter()
    total = await count_trail(sessions, trail)
    digest, rows = hashlib.sha256(), 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:  # noqa: ASYNC230 - buffered local file
        def emit(text: str) -> None:
            handle.write(text)
            digest.update(text.encode())
        if fmt == "csv":
            emit(_csv_line({c: c for c in COLUMNS}))
        async for row in iter_trail(sessions, trail):
            record = _record(row)
            emit(_csv_line(record) if fmt == "csv" else json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
            rows += 1
            if progress is not None and (rows % 500 == 0 or rows == total):
                progress(rows, total)
    if progress is not None and rows != total:
        progress(rows, rows)
    return ExtractResult(path=path, format=fmt, rows=rows, sha256=digest.hexdigest())


async def extract(settings: Settings, path: Path, *, fmt: str = "jsonl", trail: TrailFilter | None = None,
                  progress: Progress | None = None) -> ExtractResult:
    """Writes an extract from the configured audit database (entry point for `finpace audit extract`)."""
    engine = create_engine(settings, "audit")
    try:
        return await write_extract(create_sessionmaker(engine), path, fmt=fmt, trail=trail, progress=progress)
    finally:
        await engine.dispose()
