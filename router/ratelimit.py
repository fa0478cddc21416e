"""Per-client rate limits: a token bucket per client, checked before any subgraph call."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RATE_LIMITED = "RATE_LIMITED"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client: `burst` requests at once, refilled at `rate` per second.

    The buckets live in process memory, so each router replica limits on its own. At most
    `max_clients` buckets are kept; the least recently seen client is forgotten first (it
    comes back with a full bucket, which only a flood of distinct clients can exploit, and
    each of those is limited by its own bucket).
    """

    def __init__(
        self, rate: float, burst: int, *, max_clients: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"Rate limit needs rate > 0 and burst >= 1, not rate={rate}, burst={burst}.")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, client: str) -> float | None:
        """Take one token for `client`: None when the request may go on, else the seconds until one is back."""
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate


def client_key(claims: Mapping[str, Any] | None, client_ip: str | None) -> str:
    """Whom a request is counted against: the token's client_id, else its sub, else the client's IP."""
    if claims:
        for claim in ("client_id", "sub"):
            value = claims.get(claim)
            if isinstance(value, str) and value:
                return f"{claim}:{value}"
    return f"ip:{client_ip or 'unknown'}"


def retry_after(seconds: float) -> int:
    """The Retry-After header value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))
