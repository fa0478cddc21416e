"""Import boundaries: shared imports no domain or router; the router no domain; a domain only others' events."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def domains() -> set[str]:
    """Subgraph packages that are domains (they have an app); other packages there are pure libraries."""
    return {p.parent.name for p in (ROOT / "subgraphs").glob("*/app.py")}


def test_shared_imports_no_domain_and_no_router() -> None:
    bad = {f"{p.relative_to(ROOT)}: {name}" for p in python_files("shared") for name in imports_of(p)
           if name.split(".")[0] in {"subgraphs", "router"}}
    assert not bad, bad


def test_router_imports_no_domain() -> None:
    bad = {f"{p.relative_to(ROOT)}: {name}" for p in python_files("router") for name in imports_of(p)
           if name.split(".")[0] == "subgraphs"}
    assert not bad, bad


def test_domains_import_only_other_domains_events() -> None:
    known = domains()
    assert "party" in known
    bad = set()
    for path in python_files("subgraphs"):
        own = path.relative_to(ROOT / "subgraphs").parts[0]
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] != "subgraphs" or len(parts) < 2 or parts[1] == own or parts[1] not in known:
                continue
            if len(parts) < 3 or parts[2] != "events":
                bad.add(f"{path.relative_to(ROOT)}: {name}")
    assert not bad, bad


def test_data_only_folders_are_not_packages() -> None:
    # A package named `nats` would shadow the nats-py client library.
    for folder in ("nats", "schema"):
        assert not list((ROOT / folder).rglob("__init__.py")), folder
        assert not list((ROOT / folder).rglob("*.py")), folder
