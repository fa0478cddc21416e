"""Header propagation rules (Apollo Router's model): propagate, remove and insert, applied in order."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, model_validator

# Never forwarded, whatever the rules say: hop-by-hop headers and those the router sets itself.
RESERVED = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
        "content-length",
        "content-type",
        "accept",
        "accept-encoding",
        "host",
    }
)


class HeaderRule(BaseModel):
    """One rule: `propagate` (by `named` or `matching`, optional `rename`/`default`), `remove`, `insert`."""

    action: Literal["propagate", "remove", "insert"]
    named: str | None = None
    matching: str | None = None
    rename: str | None = None
    default: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _check(self) -> HeaderRule:
        if self.action == "insert" and (not self.named or self.value is None):
            raise ValueError("an insert rule needs `named` and `value`")
        if self.action != "insert" and bool(self.named) == bool(self.matching):
            raise ValueError(f"a {self.action} rule needs exactly one of `named` or `matching`")
        if self.rename and not self.named:
            raise ValueError("`rename` applies to a `named` rule only")
        return self


def apply_rules(incoming: Mapping[str, str], rules: list[HeaderRule], base: dict[str, str]) -> dict[str, str]:
    """Apply `rules` in order on top of `base`; later rules override earlier ones."""
    out = dict(base)
    lowered = {k.lower(): v for k, v in incoming.items()}
    for rule in rules:
        if rule.action == "insert":
            out[rule.named.lower()] = rule.value  # type: ignore[union-attr,assignment]
        elif rule.action == "remove":
            if rule.named:
                out.pop(rule.named.lower(), None)
            else:
                pattern = re.compile(rule.matching or "", re.IGNORECASE)
                out = {k: v for k, v in out.items() if not pattern.fullmatch(k)}
        elif rule.named:
            value = lowered.get(rule.named.lower(), rule.default)
            if value is not None:
                out[(rule.rename or rule.named).lower()] = value
        else:
            pattern = re.compile(rule.matching or "", re.IGNORECASE)
            out.update({k: v for k, v in lowered.items() if pattern.fullmatch(k)})
    return {k: v for k, v in out.items() if k not in RESERVED}
