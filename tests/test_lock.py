"""requirements.lock pins every dependency that pyproject.toml declares (run `make lock` after changing them)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def test_lock_pins_every_declared_dependency_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    lock = (REPO / "requirements.lock").read_text()
    pinned = {
        canonicalize_name(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock, re.M)
    }
    missing = [str(r) for r in declared if canonicalize_name(r.name) not in pinned]
    assert missing == [], f"not in requirements.lock (run `make lock`): {missing}"
    unsatisfied = [
        f"{r} (locked {pinned[canonicalize_name(r.name)]})"
        for r in declared
        if not r.specifier.contains(pinned[canonicalize_name(r.name)], prereleases=True)
    ]
    assert unsatisfied == [], f"locked versions outside pyproject's ranges (run `make lock`): {unsatisfied}"
    assert "--hash=sha256:" in lock
