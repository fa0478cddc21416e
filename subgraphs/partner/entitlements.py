"""Which events a partner may receive: event types are NATS subjects (finpace.<domain>.<aggregate>.<event>)."""

from __future__ import annotations

import re

from shared.errors import InputError

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
