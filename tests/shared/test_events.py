"""Domain events and the envelope: subjects, data, before/after, JSON round trip."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import FrozenInstanceError, dataclass
from decimal import Decimal

import pytest

from shared.events import Actor, DomainEvent, Envelope
from shared.money import Money


@dataclass(frozen=True, kw_only=True)
class PartyStatusChanged(DomainEvent):
    domain = "party"
    aggregate = "party"

    party_id: uuid.UUID
    status: str


@dataclass(frozen=True, kw_only=True)
class PostingBooked(DomainEvent):
    domain = "account"
    aggregate = "posting"
    schema_version = 2

    account_id: uuid.UUID
    amount: Money
    booked_on: dt.date


@dataclass(frozen=True, kw_only=True)
class ConsentRecorded(DomainEvent):
    domain = "party"
    aggregate = "consent"

    purpose: str


def test_subjects_are_finpace_domain_aggregate_event_in_snake_case() -> None:
    assert PartyStatusChanged.event_name() == "status_changed"
    assert PartyStatusChanged.subject() == "finpace.party.party.status_changed"
    assert PostingBooked.subject() == "finpace.account.posting.booked"
    assert ConsentRecorded.subject() == "finpace.party.consent.recorded"


@dataclass(frozen=True, kw_only=True)
class KYCCheckPassed(DomainEvent):
    domain = "onboarding"
    aggregate = "kyc_check"


@dataclass(frozen=True, kw_only=True)
class UBOAdded(DomainEvent):
    domain = "party"
    aggregate = "party"


def test_acronyms_stay_one_word_in_subjects() -> None:
    assert KYCCheckPassed.subject() == "finpace.onboarding.kyc_check.passed"
    assert UBOAdded.subject() == "finpace.party.party.ubo_added"


def test_events_are_frozen_and_their_data_is_json_ready() -> None:
    account_id = uuid.uuid4()
    event = PostingBooked(account_id=account_id, amount=Money.of("12.5", "EUR"), booked_on=dt.date(2026, 1, 2))
    with pytest.raises(FrozenInstanceError):
        event.account_id = uuid.uuid4()  # type: ignore[misc]
    assert event.data() == {
        "account_id": str(account_id),
        "amount": {"amount": "12.50", "currency": "EUR"},
        "booked_on": "2026-01-02",
    }


def _envelope(**extra: object) -> tuple[Envelope, uuid.UUID]:
    party_id = uuid.uuid4()
    envelope = Envelope.wrap(
        PartyStatusChanged(party_id=party_id, status="ACTIVE"),
        aggregate_id=party_id,
        aggregate_version=3,
        actor=Actor(sub="ops-1", roles=("ops",), client_id="web"),
        reason="KYC passed",
        correlation_id="corr-1",
        causation_id="cause-1",
        **extra,  # type: ignore[arg-type]
    )
    return envelope, party_id


def test_wrap_fills_the_envelope_of_the_architecture() -> None:
    envelope, party_id = _envelope(before={"status": "PENDING_VERIFICATION"}, after={"status": "ACTIVE"})
    body = envelope.to_dict()
    assert set(body) == {
        "id", "type", "source", "subject", "aggregate_version", "occurred_at", "actor", "reason",
        "correlation_id", "causation_id", "schema_version", "data",
    }
    assert uuid.UUID(body["id"]) == envelope.id
    assert body["type"] == "PartyStatusChanged"
    assert body["source"] == "party"
    assert body["subject"] == str(party_id)
    assert body["aggregate_version"] == 3
    assert body["occurred_at"].endswith("Z")
    assert body["actor"] == {"sub": "ops-1", "roles": ["ops"], "client_id": "web"}
    assert body["reason"] == "KYC passed"
    assert (body["correlation_id"], body["causation_id"]) == ("corr-1", "cause-1")
    assert body["schema_version"] == 1
    assert body["data"] == {
        "party_id": str(party_id), "status": "ACTIVE",
        "before": {"status": "PENDING_VERIFICATION"}, "after": {"status": "ACTIVE"},
    }
    assert envelope.nats_subject == "finpace.party.party.status_changed"
    json.dumps(body)  # plain JSON: no Decimal, UUID or datetime left


def test_each_wrap_gets_a_new_id_and_no_before_after_without_a_state_change() -> None:
    first, _ = _envelope()
    second, _ = _envelope()
    assert first.id != second.id
    assert "before" not in first.data and "after" not in first.data


def test_schema_version_comes_from_the_event_class() -> None:
    event = PostingBooked(account_id=uuid.uuid4(), amount=Money.of("1", "EUR"), booked_on=dt.date(2026, 1, 1))
    envelope = Envelope.wrap(event, aggregate_id="acc-1", aggregate_version=1, actor=Actor.system(), reason=None,
                             correlation_id="c")
    assert envelope.schema_version == 2
    assert envelope.actor == {"sub": "system", "roles": ["system"], "client_id": None}


def test_envelope_round_trips_through_json() -> None:
    occurred = dt.datetime(2026, 5, 1, 10, 30, 0, 123456, tzinfo=dt.UTC)
    envelope, _ = _envelope(occurred_at=occurred, before={"amount": Decimal("1.00")}, after={"amount": Decimal("2.00")})
    wire = json.dumps(envelope.to_dict())
    back = Envelope.from_dict(json.loads(wire), nats_subject="finpace.party.party.status_changed")
    assert back == envelope
    assert back.occurred_at == occurred
    assert back.nats_subject == envelope.nats_subject
    assert back.data["before"] == {"amount": "1.00"}


def test_from_dict_tolerates_missing_optional_fields() -> None:
    event_id = uuid.uuid4()
    back = Envelope.from_dict({
        "id": str(event_id), "type": "X", "source": "kit", "subject": "a", "aggregate_version": "2",
        "occurred_at": "2026-01-01T00:00:00Z",
    })
    assert back.id == event_id
    assert back.aggregate_version == 2
    assert back.occurred_at.tzinfo is not None
    assert (back.actor, back.reason, back.correlation_id, back.causation_id, back.data) == ({}, None, "", None, {})
    assert back.schema_version == 1


def test_naive_occurred_at_is_refused_when_serialised() -> None:
    envelope, _ = _envelope(occurred_at=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="Naive"):
        envelope.to_dict()
