"""Header propagation rules, in order, never forwarding hop-by-hop or router-owned headers."""

from __future__ import annotations

import pytest

from router.headers import HeaderRule, apply_rules

INCOMING = {
    "Authorization": "Bearer a",
    "X-Tenant": "t1",
    "X-Debug-One": "1",
    "X-Debug-Two": "2",
    "Connection": "keep-alive",
    "Content-Length": "12",
}


def rules(*specs: dict) -> list[HeaderRule]:
    return [HeaderRule(**spec) for spec in specs]


def test_propagate_by_name_with_rename_and_default() -> None:
    out = apply_rules(
        INCOMING,
        rules(
            {"action": "propagate", "named": "x-tenant", "rename": "x-tenant-id"},
            {"action": "propagate", "named": "x-region", "default": "eu"},
        ),
        {},
    )
    assert out == {"x-tenant-id": "t1", "x-region": "eu"}


def test_propagate_by_pattern_then_remove() -> None:
    out = apply_rules(
        INCOMING,
        rules({"action": "propagate", "matching": "x-debug-.*"}, {"action": "remove", "named": "x-debug-two"}),
        {"authorization": "Bearer a"},
    )
    assert out == {"authorization": "Bearer a", "x-debug-one": "1"}


def test_insert_and_reserved_headers() -> None:
    out = apply_rules(
        INCOMING,
        rules(
            {"action": "propagate", "matching": ".*"},
            {"action": "insert", "named": "x-source", "value": "router"},
            {"action": "remove", "matching": "authorization"},
        ),
        {},
    )
    assert out == {"x-tenant": "t1", "x-debug-one": "1", "x-debug-two": "2", "x-source": "router"}


@pytest.mark.parametrize(
    "spec",
    [
        {"action": "insert", "named": "x"},
        {"action": "propagate"},
        {"action": "remove", "named": "a", "matching": "b"},
        {"action": "propagate", "matching": "x-.*", "rename": "y"},
    ],
)
def test_invalid_rules(spec: dict) -> None:
    with pytest.raises(ValueError, match=r"rule|rename"):
        HeaderRule(**spec)
