"""Composition of Federation 2 subgraph SDLs (Rover's supergraph.yaml) into a supergraph SDL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from graphql import GraphQLSyntaxError

from router.composition.merge import Merger
from router.composition.subgraph import Subgraph, parse_subgraph
from router.composition.validate import CompositionError, check

__all__ = [
    "CompositionError",
    "CompositionResult",
    "SubgraphSource",
    "compose",
    "compose_sources",
    "write_supergraph",
]


@dataclass(frozen=True)
class SubgraphSource:
    """One subgraph to compose: name, routing URL and SDL text."""

    name: str
    url: str
    sdl: str


@dataclass
class CompositionResult:
    """Either a supergraph SDL or the errors that prevented it."""

    supergraph_sdl: str | None = None
    errors: list[CompositionError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.supergraph_sdl is not None and not self.errors

    def __str__(self) -> str:
        if self.ok:
            return "composition succeeded"
        lines = [f"composition failed with {len(self.errors)} error(s):"]
        lines += [f"  {e.code} [{', '.join(e.subgraphs)}]: {e.message}" for e in self.errors]
        return "\n".join(lines)


def read_config(config_path: Path) -> list[SubgraphSource]:
    """Subgraphs listed in a Rover-format supergraph.yaml; schema files are relative to the file."""
    data = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    sources = []
    for name, entry in (data.get("subgraphs") or {}).items():
        schema = entry.get("schema") or {}
        if "file" not in schema:
            raise ValueError(f"Subgraph {name!r} in {config_path} has no schema.file (only files are supported).")
        sdl = (Path(config_path).parent / schema["file"]).read_text(encoding="utf-8")
        sources.append(SubgraphSource(name, entry.get("routing_url") or "", sdl))
    return sources


def compose_sources(sources: list[SubgraphSource]) -> CompositionResult:
    """Compose subgraph SDLs into a supergraph (link v1.0, join v0.5)."""
    parsed: list[Subgraph] = []
    errors: list[CompositionError] = []
    for src in sources:
        try:
            parsed.append(parse_subgraph(src.name, src.url, src.sdl))
        except GraphQLSyntaxError as exc:
            errors.append(CompositionError("INVALID_GRAPHQL", f"[{src.name}] {exc.message}", (src.name,)))
    if not errors:
        errors = check(parsed)
    if errors:
        return CompositionResult(errors=errors)
    return CompositionResult(supergraph_sdl=Merger(parsed).print() + "\n")


def compose(config_path: Path) -> CompositionResult:
    """Compose the subgraphs listed in a Rover-format supergraph.yaml."""
    return compose_sources(read_config(config_path))


def write_supergraph(
    output: Path = Path("schema/supergraph.graphql"), config_path: Path | None = None
) -> CompositionResult | None:
    """Compose `config_path` (default: supergraph.yaml next to `output`) into `output`; None on success."""
    config = config_path or Path(output).parent / "supergraph.yaml"
    result = compose(config)
    if not result.ok:
        return result
    assert result.supergraph_sdl is not None
    Path(output).write_text(result.supergraph_sdl, encoding="utf-8")
    return None
