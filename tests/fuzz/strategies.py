"""Hypothesis strategies for the platform's scalars, registered with schemathesis before each graph is fuzzed.

Every strategy yields GraphQL value nodes. They mix values that reach deep into the domains (seeded ids, ISO
currencies and countries, product codes, event subjects, money amounts) with edge cases that must be refused
with a typed error (NaN and exponent amounts, malformed ids, far dates, unknown entity types).
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping, Sequence
from typing import Any

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

CURRENCIES = ("EUR", "GBP", "USD", "JPY", "CHF", "XXX", "eur", "EURO", "")
WORDS = (
    "GB",
    "DE",
    "FR",
    "US",
    "ZZ",
    "SME",
    "RETAIL",
    "CORPORATE",
    "ORGANISATION",
    "PERSON",
    "BCA-GBP",
    "BCA-EUR",
    "TL-EUR",
    "CL-PERSONAL",
    "46.90",
    "EC1A 1AA",
    "London",
    "ops-1",
    "rm-1",
    "finance@acme.example",
    "+441234567890",
    "https://partner.example/hook",
    "http://127.0.0.1:1/x",
    "finpace.party.party.registered",
    "finpace.account.>",
    "finpace.*",
    "{{ party.legal_name }}",
    "{% for x in y %}",
    "2026-01-31",
    "2026-02-30",
    "MONTHLY",
    "ACT_365",
    "1",
    "0",
    "-1",
    "1e9",
    "NaN",
    " ",
    "a" * 300,
    "'; DROP TABLE party;--",
)
AMOUNTS = (
    "0",
    "0.00",
    "-0.01",
    "0.001",
    "1",
    "100.00",
    "999999999999.99",
    "1E+3",
    "1e-7",
    "-100",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1E+400",
    "12345678901234567890123.45",
)


def to_node(value: Any) -> graphql.ValueNode:
    """Builds the GraphQL literal for a JSON-like Python value."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, Mapping):
        return nodes.Object(
            [graphql.ObjectFieldNode(name=graphql.NameNode(value=str(k)), value=to_node(v)) for k, v in value.items()]
        )
    return nodes.List([to_node(v) for v in value])


def ids(known: Sequence[str]) -> st.SearchStrategy[str]:
    """Seeded ids (reach real rows), fresh UUIDs (missing rows) and malformed ids (refused as input)."""
    malformed = st.sampled_from(
        (
            "",
            "not-a-uuid",
            "00000000-0000-0000-0000-000000000000",
            "1",
            "x" * 100,
            "00000000-0000-0000-0000-00000000000g",
        )
    )
    parts = [st.uuids().map(str), malformed]
    if known:
        parts.insert(0, st.sampled_from(sorted(known)))
    return st.one_of(*parts)


def decimals() -> st.SearchStrategy[str]:
    """Decimal scalars as strings: money-like amounts, special values and exponent forms."""
    money = st.decimals(min_value=-(10**13), max_value=10**13, places=2, allow_nan=False).map(str)
    precise = st.decimals(allow_nan=True, allow_infinity=True).map(str)
    return st.one_of(st.sampled_from(AMOUNTS), money, precise)


def json_values() -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20)
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(string.ascii_letters, max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


def representations(entities: Mapping[str, Sequence[str]]) -> st.SearchStrategy[Any]:
    """`_Any` representations: each entity type with seeded, unknown and malformed keys, and broken shapes."""
    typenames = sorted(entities) or ["Party"]
    valid = st.sampled_from(typenames).flatmap(
        lambda t: ids(entities.get(t, ())).map(lambda key: {"__typename": t, "id": key})
    )
    broken = st.one_of(
        st.uuids().map(lambda u: {"__typename": "NoSuchType", "id": str(u)}),
        st.sampled_from(typenames).map(lambda t: {"__typename": t}),
        st.sampled_from(typenames).map(lambda t: {"__typename": t, "id": None}),
        st.sampled_from(typenames).flatmap(lambda t: st.integers().map(lambda n: {"__typename": t, "id": n})),
        st.uuids().map(lambda u: {"id": str(u)}),
        json_values(),
    )
    return st.one_of(valid, valid, broken)


def register(known_ids: Sequence[str], entities: Mapping[str, Sequence[str]]) -> None:
    """Registers the platform's scalar strategies (process-wide in schemathesis) for the next graphs fuzzed."""
    text = st.one_of(st.sampled_from(WORDS + CURRENCIES), st.text(max_size=40))
    dates = st.one_of(st.dates().map(str), st.sampled_from(("1900-01-01", "9999-12-31", "0001-01-01")))
    times = st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat())
    schemathesis.graphql.scalar("ID", ids(known_ids).map(nodes.String))
    schemathesis.graphql.scalar("String", text.map(nodes.String))
    schemathesis.graphql.scalar("Decimal", decimals().map(nodes.String))
    schemathesis.graphql.scalar("Date", dates.map(nodes.String))
    schemathesis.graphql.scalar("DateTime", times.map(nodes.String))
    schemathesis.graphql.scalar("JSON", json_values().map(to_node))
    schemathesis.graphql.scalar("_Any", representations(entities).map(to_node))
