"""The docs stay current: every setting is documented, the README starts with the two commands and its example
operations are valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

from graphql import parse, validate

from router.supergraph import Supergraph
from shared.config import Settings

REPO = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_in_configuration_md() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    missing = [f"FINPACE_{name.upper()}" for name in Settings.model_fields if f"`FINPACE_{name.upper()}`" not in text]
    assert missing == [], f"add to docs/configuration.md: {missing}"


def test_readme_quick_start_shows_make_up_then_make_test() -> None:
    text = (REPO / "README.md").read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands[:2] == ["make up", "make test"]
    assert "docs/operations.md" in text
    assert "docs/configuration.md" in text


def test_the_readme_s_example_operations_are_valid_against_the_composed_api() -> None:
    sg = Supergraph.from_file(REPO / "schema" / "supergraph.graphql")
    bodies = [json.loads(m.group(1)) for m in re.finditer(r"-d '(\{\"query\".*?\})'", (REPO / "README.md").read_text())]
    assert len(bodies) >= 3  # the customer 360, the loans on sale, a quote
    for body in bodies:
        assert validate(sg.api_schema, parse(body["query"])) == [], body["query"]
