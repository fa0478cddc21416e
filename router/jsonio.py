"""JSON encoding on the router's hot path: orjson, and the standard library for what orjson refuses.

orjson writes the compact UTF-8 form the router sends anyway, about ten times faster than `json` for a large
response. It refuses integers beyond 64 bits (a custom scalar may carry one); those values go through the
standard library, which writes them exactly. Decoding stays with the standard library: orjson would read such
integers as floats and lose digits silently.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse

_compact = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_sorted = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True).encode


def dumps(value: Any) -> bytes:
    """`value` as compact JSON bytes."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _compact(value).encode()


def canonical(value: Any) -> bytes:
    """`value` as compact JSON bytes with every object's keys sorted: equal values give equal bytes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _sorted(value).encode()


class ORJSONResponse(JSONResponse):
    """A JSON response encoded by `dumps`."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
