"""Canonical JSON: Decimals as strings, UTC datetimes, sorted keys, no floats, stable hashes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from decimal import Decimal

import pytest

from shared.jsonutil import canonical_json, sha256_hex, to_jsonable
from shared.money import Money


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: Decimal
    when: dt.date


def test_scalars_and_containers() -> None:
    event_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = {
        "none": None, "yes": True, "n": 3, "s": "é",
        "amount": Decimal("1.10"), "big": Decimal("1E+3"), "id": event_id,
        "colour": Colour.RED, "day": dt.date(2026, 1, 31), "items": (1, [2]),
        "money": Money.of("5", "EUR"), "point": Point(Decimal("0.5"), dt.date(2026, 2, 1)),
    }
    assert to_jsonable(value) == {
        "none": None, "yes": True, "n": 3, "s": "é",
        "amount": "1.10", "big": "1000", "id": str(event_id),
        "colour": "red", "day": "2026-01-31", "items": [1, [2]],
        "money": {"amount": "5.00", "currency": "EUR"}, "point": {"x": "0.5", "when": "2026-02-01"},
    }


def test_datetimes_are_utc_with_z_and_naive_ones_are_refused() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert to_jsonable(dt.datetime(2026, 3, 1, 13, 0, tzinfo=paris)) == "2026-03-01T12:00:00Z"
    assert to_jsonable(dt.datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=dt.UTC)) == "2026-03-01T12:00:00.000005Z"
    with pytest.raises(ValueError, match="Naive"):
        to_jsonable(dt.datetime(2026, 3, 1, 12, 0))


@pytest.mark.parametrize("value", [1.5, {"a": 0.1}, [float("inf")], object(), b"bytes"])
def test_floats_and_unknown_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError):
        to_jsonable(value)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": {"d": "é", "c": Decimal("2.50")}}) == '{"a":{"c":"2.50","d":"é"},"b":1}'


def test_sets_are_sorted_so_their_hash_is_stable() -> None:
    assert canonical_json({3, 1, 2}) == "[1,2,3]"
    assert canonical_json(frozenset({"b", "a"})) == '["a","b"]'


def test_hash_ignores_key_order_and_notices_any_change() -> None:
    a = {"name": "Acme", "amount": Decimal("10.00"), "tags": ["x", "y"]}
    b = {"tags": ["x", "y"], "amount": Decimal("10.00"), "name": "Acme"}
    assert sha256_hex(a) == sha256_hex(b)
    assert len(sha256_hex(a)) == 64
    assert sha256_hex(a) != sha256_hex({**a, "name": "Acme "})
    assert sha256_hex(a) != sha256_hex({**a, "tags": ["y", "x"]})


def test_round_trip_through_json() -> None:
    text = canonical_json({"amount": Decimal("-0.000001"), "n": 10**20})
    assert json.loads(text) == {"amount": "-0.000001", "n": 10**20}


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_non_finite_decimals_are_refused(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_jsonable({"amount": value})


def test_request_hash_treats_equal_decimals_alike() -> None:
    from decimal import Decimal

    from shared.jsonutil import request_hash

    assert request_hash({"amount": Decimal("10.5")}) == request_hash({"amount": Decimal("10.50")})
    assert request_hash({"amount": Decimal("0.00")}) == request_hash({"amount": Decimal("-0")})
    assert request_hash({"amount": Decimal("10.5")}) != request_hash({"amount": Decimal("10.51")})
    assert request_hash([Decimal("1E+1")]) == request_hash([Decimal("10")])
