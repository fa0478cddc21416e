"""The partner event feed: an ordered JetStream consumer from a stream sequence, filtered to entitlements."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.errors import Forbidden, InputError
from subgraphs.partner.entitlements import check_event_type, entitled, stream_of


@dataclass(frozen=True)
class FeedItem:
    """One event as a partner receives it, with its stream sequence (resume from sequence + 1)."""

    stream: str
    sequence: int
    event_type: str
    envelope: dict[str, Any]


def check_request(allowed: list[str], types: list[str]) -> str:
    """Validates the requested types against the entitlements; returns the one stream they live on."""
    if not types:
        raise InputError("types must name at least one event type.", field="types")
    for t in types:
        check_event_type(t, field="types")
    refused = sorted(t for t in types if not entitled(allowed, t))
    if refused:
        raise Forbidden(f"This partner is not entitled to {refused}.")
    streams = {stream_of(t) for t in types}
    if len(streams) != 1:
        raise InputError(f"types must belong to one stream (sequences are per stream), got {sorted(streams)}.",
                         field="types")
    return streams.pop()


async def event_feed(nc: NATS, *, allowed: list[str], types: list[str],
                     from_sequence: int | None) -> AsyncIterator[FeedItem]:
    """Yields the entitled events of the requested types in stream order, from from_sequence (else new ones)."""
    stream = check_request(allowed, types)
    if from_sequence is not None and from_sequence < 1:
        raise InputError("fromSequence starts at 1.", field="fromSequence")
    wanted = set(types)
    subject = types[0] if len(wanted) == 1 else f"finpace.{types[0].split('.')[1]}.>"
    if from_sequence is None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=from_sequence)
    sub = await nc.jetstream().subscribe(subject, stream=stream, ordered_consumer=True, config=config)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            # Entitlement is checked on every message, not only on the filter: defence in depth.
            if msg.subject not in wanted or not entitled(allowed, msg.subject):
                continue
            yield FeedItem(stream=stream, sequence=msg.metadata.sequence.stream, event_type=msg.subject,
                           envelope=json.loads(msg.data))
    finally:
        await sub.unsubscribe()
