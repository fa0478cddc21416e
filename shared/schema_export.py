"""`finpace schema export`: write (or check) each subgraph's SDL snapshot in schema/<name>.graphql."""

from __future__ import annotations

import importlib

from shared.registry import load_subgraphs, schema_dir


def subgraph_sdl(name: str) -> str:
    """Returns the SDL of a subgraph, built by its `subgraphs.<name>.schema.build_schema()`."""
    module = importlib.import_module(f"subgraphs.{name}.schema")
    return str(module.build_schema().as_str()) + "\n"


def export_all(*, names: list[str] | None = None, check: bool = False) -> str:
    """Writes every (or the named) subgraph's snapshot; with check=True raises SystemExit when one is stale."""
    wanted = [s for s in load_subgraphs() if not names or s.name in names]
    unknown = set(names or []) - {s.name for s in wanted}
    if unknown:
        raise SystemExit(f"Unknown subgraph(s): {', '.join(sorted(unknown))}.")
    lines, stale = [], []
    for service in wanted:
        path = service.schema_file or schema_dir() / f"{service.name}.graphql"
        sdl = subgraph_sdl(service.name)
        current = path.read_text() if path.exists() else None
        if current == sdl:
            lines.append(f"{service.name}: up to date ({path})")
        elif check:
            stale.append(service.name)
            lines.append(f"{service.name}: STALE ({path})")
        else:
            path.write_text(sdl)
            lines.append(f"{service.name}: written ({path})")
    if stale:
        raise SystemExit("\n".join([*lines, "Run `finpace schema export` and commit the snapshots."]))
    return "\n".join(lines)
