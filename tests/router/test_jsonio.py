"""The router's JSON encoding: orjson's bytes where it can, the standard library's exact digits where it cannot."""

from __future__ import annotations

import json

import pytest

from router.jsonio import ORJSONResponse, canonical, dumps, loads

BIG = 2**70  # a custom scalar may carry an integer no 64-bit type holds


@pytest.mark.parametrize(
    "value",
    [
        {"data": {"a": [1, 2.5, None, True, "é — ✓"], "b": {"c": -(2**63)}}},
        {"data": {"big": BIG, "neg": -BIG, "nested": [{"x": BIG}]}},
        [],
        "text with \"quotes\" and \u2028",
    ],
)
def test_dumps_is_compact_utf8_json_that_reads_back_equal(value) -> None:
    out = dumps(value)
    assert isinstance(out, bytes)
    assert json.loads(out) == value
    assert out == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def test_integers_beyond_64_bits_keep_every_digit() -> None:
    assert dumps({"n": BIG}) == b'{"n":1180591620717411303424}'
    assert canonical({"n": -BIG}) == b'{"n":-1180591620717411303424}'


def test_canonical_bytes_do_not_depend_on_key_order() -> None:
    a = {"id": "1", "sku": {"b": 2, "a": [1, {"z": 0, "y": BIG}]}}
    b = {"sku": {"a": [1, {"y": BIG, "z": 0}], "b": 2}, "id": "1"}
    assert canonical(a) == canonical(b)
    assert canonical({"id": "1"}) != canonical({"id": 1})


def test_a_value_json_cannot_hold_is_refused_not_written() -> None:
    with pytest.raises(ValueError, match="Out of range float values"):
        dumps({"n": BIG, "x": float("nan")})  # the fallback never writes NaN, which is not JSON


def test_the_response_carries_the_same_bytes() -> None:
    response = ORJSONResponse({"data": {"n": BIG}}, media_type="application/graphql-response+json")
    assert response.body == b'{"data":{"n":1180591620717411303424}}'
    assert response.headers["content-type"].startswith("application/graphql-response+json")


@pytest.mark.parametrize(
    "text",
    [
        b'{"data":{"_entities":[{"__typename":"User","id":"1","n":-9223372036854775808,"f":0.1,"e":1e22}]}}',
        b'{"n":1180591620717411303424,"m":-9223372036854775809,"u":18446744073709551616}',  # beyond 64 bits
        b'{"id":"12345678901234567890123"}',  # a long run of digits in a string reads the same either way
        b'{"x":NaN,"y":Infinity,"z":1e400}',  # not JSON, but the standard library has always read them
        b'{"a":1,"a":2,"s":"\\ud83d\\ude00 \\u0000"}',
    ],
)
def test_loads_reads_exactly_what_the_standard_library_reads(text: bytes) -> None:
    got, want = loads(text), json.loads(text)
    assert repr(got) == repr(want)  # repr: types and every digit, and NaN compared as text


def test_loads_keeps_every_digit_of_a_big_integer() -> None:
    assert loads(b'{"n":1180591620717411303424}') == {"n": BIG}
    assert loads(dumps({"n": [BIG, -BIG]})) == {"n": [BIG, -BIG]}


@pytest.mark.parametrize("text", [b"", b"{", b'{"a":}', b"\xff", b'{"a":1}x'])
def test_loads_refuses_what_is_not_json_as_the_standard_library_does(text: bytes) -> None:
    with pytest.raises(ValueError) as got:
        loads(text)
    with pytest.raises(ValueError) as want:
        json.loads(text)
    assert type(got.value) is type(want.value) and str(got.value) == str(want.value)
