"""Custom GraphQL scalars shared by the subgraphs."""

from __future__ import annotations

from typing import Any, NewType

import strawberry

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def _serialize_long(value: int) -> str:
    return str(int(value))


def _parse_long(value: Any) -> int:
    # bool is an int in Python but never a sequence; floats and "1e3" are refused rather than rounded.
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("A Long is an integer or a string of decimal digits.")
    text = str(value).strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"'{text[:30]}' is not a whole number.")
    number = int(text)
    if not LONG_MIN <= number <= LONG_MAX:
        raise ValueError(f"{text[:30]} is outside the 64-bit range.")
    return number


Long = strawberry.scalar(
    NewType("Long", int),
    description="A signed 64-bit integer (stream and chain sequences), sent as a decimal string because JSON "
    "numbers lose precision above 2^53; inputs may be a string or an integer.",
    serialize=_serialize_long,
    parse_value=_parse_long,
)
