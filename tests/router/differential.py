"""Compares one response of the router with Apollo Gateway's: data byte for byte, errors by path, message and code.

Where the two routers legitimately differ, a case names the difference in `apollo_differences`
({kind: reason}); each kind is a normalisation applied to both answers, and the comparison also checks that
the recorded difference still exists, so a stale record fails.

One difference is not recorded per case because it holds for every subgraph error: Apollo Gateway names the
subgraph in `extensions.serviceName` and gives an error without a code `DOWNSTREAM_SERVICE_ERROR`; we follow
Apollo Router (`extensions.service`, the subgraph's own code, if any). The comparison maps Gateway's form to
ours and then requires the same subgraph name.
"""

from __future__ import annotations

import json
from typing import Any

DIFFERENCES = {
    # graphql-core's validation messages quote names with ' where graphql-js uses ".
    "message_quotes": lambda summary: [(p, m.replace('"', "'") if m else m, c, s) for p, m, c, s in summary],
    # graphql-core and graphql-js word some validation and variable-coercion messages differently (same code).
    "message_wording": lambda summary: [(p, None, c, s) for p, m, c, s in summary],
    # Apollo Gateway tags value-completion entries with code INVALID_GRAPHQL; Apollo Router and we give
    # {message, path} only.
    "value_completion_code": lambda summary: [(p, m, None, s) if s == "valueCompletion" else (p, m, c, s)
                                              for p, m, c, s in summary],
}


def _summary(body: dict[str, Any]) -> list[tuple]:
    """(path, message, code, subgraph) per error, then (path, message, code, "valueCompletion") per entry."""
    out = []
    for error in body.get("errors") or []:
        ext = error.get("extensions") or {}
        code, service = ext.get("code"), ext.get("service")
        if "serviceName" in ext:  # Apollo Gateway's form of a subgraph error
            service = ext["serviceName"]
            code = None if code == "DOWNSTREAM_SERVICE_ERROR" else code
        out.append((json.dumps(error.get("path")), error.get("message"), code, service))
    for entry in (body.get("extensions") or {}).get("valueCompletion") or []:
        code = (entry.get("extensions") or {}).get("code")
        out.append((json.dumps(entry.get("path")), entry.get("message"), code, "valueCompletion"))
    return sorted(out, key=json.dumps)


def _normalised(summary: list[tuple], kinds) -> list[tuple]:
    for kind in sorted(kinds):
        summary = DIFFERENCES[kind](summary)
    return summary


def compare_errors(ours: dict[str, Any], apollo: dict[str, Any], differences: dict[str, str]) -> None:
    """Assert both answers carry the same errors once the case's recorded differences are normalised."""
    mine, theirs = _summary(ours), _summary(apollo)
    unknown = set(differences) - set(DIFFERENCES)
    assert not unknown, f"unknown difference kinds {sorted(unknown)}"
    assert _normalised(mine, differences) == _normalised(theirs, differences), (ours, apollo)
    for kind in differences:
        # Without this one normalisation the answers must still differ, or the record is stale.
        others = set(differences) - {kind}
        assert _normalised(mine, others) != _normalised(theirs, others), f"{kind!r} no longer differs: drop it"
