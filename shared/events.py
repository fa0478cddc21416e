"""Domain events and the envelope every Finpace event travels in (subject finpace.<domain>.<aggregate>.<event>)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from shared.jsonutil import to_jsonable

# Word boundaries of a CamelCase name; an acronym stays one word (KYCCheckPassed -> kyc_check_passed).
_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of a domain's published events: frozen, past tense, its data is its fields.

    Subclasses set `domain` and `aggregate`; the event name is the snake case of the class
    name without the aggregate prefix (PartyStatusChanged -> status_changed).
    """

    domain: ClassVar[str]
    aggregate: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def event_name(cls) -> str:
        name = _SNAKE.sub("_", cls.__name__).lower()
        prefix = cls.aggregate + "_"
        return name[len(prefix):] if name.startswith(prefix) else name

    @classmethod
    def subject(cls) -> str:
        return f"finpace.{cls.domain}.{cls.aggregate}.{cls.event_name()}"

    def data(self) -> dict[str, Any]:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a user, a client or the system."""

    sub: str
    roles: tuple[str, ...] = ()
    client_id: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(sub=name, roles=("system",))

    def as_dict(self) -> dict[str, Any]:
        return {"sub": self.sub, "roles": list(self.roles), "client_id": self.client_id}


@dataclass(frozen=True)
class Envelope:
    """The JSON envelope of ARCHITECTURE.md; `id` is also the Nats-Msg-Id and consumers' inbox key."""

    id: uuid.UUID
    type: str
    source: str
    subject: str
    aggregate_version: int
    occurred_at: dt.datetime
    actor: dict[str, Any]
    reason: str | None
    correlation_id: str
    causation_id: str | None
    schema_version: int
    data: dict[str, Any]
    nats_subject: str = field(default="", compare=False)

    @classmethod
    def wrap(
        cls,
        event: DomainEvent,
        *,
        aggregate_id: uuid.UUID | str,
        aggregate_version: int,
        actor: Actor,
        reason: str | None,
        correlation_id: str,
        causation_id: str | None = None,
        before: Any = None,
        after: Any = None,
        occurred_at: dt.datetime | None = None,
    ) -> Envelope:
        """Wraps a domain event with its metadata; before/after go into data for state changes."""
        data = event.data()
        if before is not None or after is not None:
            data["before"] = to_jsonable(before)
            data["after"] = to_jsonable(after)
        return cls(
            id=uuid.uuid4(),
            type=type(event).__name__,
            source=event.domain,
            subject=str(aggregate_id),
            aggregate_version=aggregate_version,
            occurred_at=occurred_at or dt.datetime.now(dt.UTC),
            actor=actor.as_dict(),
            reason=reason,
            correlation_id=correlation_id,
            causation_id=causation_id,
            schema_version=event.schema_version,
            data=data,
            nats_subject=event.subject(),
        )

    def to_dict(self) -> dict[str, Any]:
        body = {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        body.pop("nats_subject")
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any], *, nats_subject: str = "") -> Envelope:
        return cls(
            id=uuid.UUID(body["id"]),
            type=body["type"],
            source=body["source"],
            subject=body["subject"],
            aggregate_version=int(body["aggregate_version"]),
            occurred_at=dt.datetime.fromisoformat(body["occurred_at"].replace("Z", "+00:00")),
            actor=body.get("actor") or {},
            reason=body.get("reason"),
            correlation_id=body.get("correlation_id") or "",
            causation_id=body.get("causation_id"),
            schema_version=int(body.get("schema_version", 1)),
            data=body.get("data") or {},
            nats_subject=nats_subject,
        )
