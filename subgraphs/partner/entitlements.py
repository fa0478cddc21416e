"""Which events a partner may receive: event types are NATS subjects (finpace.<domain>.<aggregate>.<event>).

The registration (client id → allowed types) decides; a partner's access token narrows it further when it
carries `events:` scopes (docs/partner.md, "Token scopes"): `events:<domain>.*` covers every type of the
domain (`finpace.<domain>.>`), `events:<domain>.<aggregate>.*` every type of one aggregate, and
`events:<domain>.<aggregate>.<event>` exactly one type. A final `*` stands for one or more tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shared.errors import InputError

EVENTS_SCOPE = "events:"
_TYPE = re.compile(r"^finpace\.[a-z_]+\.[a-z_]+\.[a-z_]+$")


def check_event_type(value: str, *, field: str) -> str:
    """Returns the event type if it is a full event subject, else raises BAD_USER_INPUT."""
    if not _TYPE.match(value):
        raise InputError(f"'{value[:60]}' is not an event type like finpace.party.party.registered.", field=field)
    return value


def stream_of(event_type: str) -> str:
    """Returns the JetStream stream an event type travels on (FINPACE_<DOMAIN>)."""
    return f"FINPACE_{event_type.split('.')[1].upper()}"


def entitled(allowed: list[str] | tuple[str, ...], event_type: str) -> bool:
    """Whether an event type is among a partner's allowed types (exact subjects only: no wildcards)."""
    return event_type in allowed


def scope_covers(scope: str, event_type: str) -> bool:
    """Whether one `events:` scope covers an event type (see the module's docstring for the matching)."""
    if not scope.startswith(EVENTS_SCOPE):
        return False
    pattern = scope.removeprefix(EVENTS_SCOPE).split(".")
    tokens = event_type.split(".")[1:]  # without the "finpace" prefix every event type has
    if pattern[-1] == "*":
        head = pattern[:-1]
        return len(tokens) > len(head) and tokens[: len(head)] == head
    return tokens == pattern


def effective_types(allowed: Iterable[str], scopes: Iterable[str]) -> list[str]:
    """The registration's types the token may receive: all of them when it carries no `events:` scope, else
    those an `events:` scope covers (the intersection of registration and token)."""
    granted = [s for s in scopes if s.startswith(EVENTS_SCOPE)]
    return [t for t in allowed if not granted or any(scope_covers(s, t) for s in granted)]
