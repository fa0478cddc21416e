"""Notifications end to end: templates, preferences, consent, SMTP and HTTP delivery, retries and webhooks."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import outbox_table
from subgraphs.notification.adapters import sign_webhook, verify_webhook
from subgraphs.notification.models import Notification, Template
from subgraphs.notification.schema import build_schema
from tests.helpers import GraphQLClient
from tests.subgraphs.notification.conftest import WEBHOOK_SECRET, Provider, publish_party_event
from tests.subgraphs.support import apply_access, granted, rm_assigned
from tests.subgraphs.support import eventually as until

SNAPSHOT = Path(__file__).resolve().parents[3] / "schema" / "notification.graphql"

PUBLISH = """
mutation P($input: PublishTemplateInput!, $key: String!) {
  publishNotificationTemplate(input: $input, idempotencyKey: $key) {
    __typename
    ... on NotificationTemplate { id version eventType channel category }
    ... on DomainError { code message }
  }
}"""
PREFER = """
mutation S($party: ID!, $input: SetPreferenceInput!) {
  setNotificationPreference(partyId: $party, input: $input) {
    __typename
    ... on NotificationPreference { channel enabled address }
    ... on DomainError { code message }
  }
}"""
PARTY_NOTES = """
query N($reps: [_Any!]!) { _entities(representations: $reps) { ... on Party {
  notifications { id status channel category subject body attempts lastError recipient }
  notificationPreferences { channel enabled address } } } }"""


def event_type() -> str:
    return f"TestEvent{uuid.uuid4().hex[:10]}"


async def template(ops: GraphQLClient, etype: str, channel: str = "EMAIL", category: str = "SERVICE",
                   body: str = "Dear customer, your status is now {{ to_status }}.") -> dict[str, Any]:
    subject = "Status {{ to_status }}" if channel == "EMAIL" else None
    data = await ops.data(PUBLISH, {"key": uuid.uuid4().hex, "input": {
        "eventType": etype, "channel": channel, "locale": "en", "category": category, "subject": subject,
        "body": body}})
    result: dict[str, Any] = data["publishNotificationTemplate"]
    assert result["__typename"] == "NotificationTemplate", result
    return result


async def prefer(ops: GraphQLClient, party: str, channel: str, address: str, enabled: bool = True) -> None:
    data = await ops.data(PREFER, {"party": party, "input": {"channel": channel, "enabled": enabled,
                                                             "address": address}})
    assert data["setNotificationPreference"]["__typename"] == "NotificationPreference", data


async def notes(ops: GraphQLClient, party: str) -> list[dict[str, Any]]:
    data = await ops.data(PARTY_NOTES, {"reps": [{"__typename": "Party", "id": party}]})
    result: list[dict[str, Any]] = data["_entities"][0]["notifications"]
    return result


async def test_sdl_snapshot_is_current() -> None:
    assert SNAPSHOT.read_text() == build_schema().as_str() + "\n"


async def test_service_email_reaches_smtp(ops: GraphQLClient, settings: Settings, mailbox: Any,
                                          note_sessions: async_sessionmaker[AsyncSession]) -> None:
    etype, party = event_type(), str(uuid.uuid4())
    await template(ops, etype)
    await prefer(ops, party, "EMAIL", f"{party[:8]}@example.com")
    env = await publish_party_event(settings, etype, party, to_status="ACTIVE")

    async def sent() -> bool:
        return any(n["status"] == "SENT" for n in await notes(ops, party))

    await until(sent)
    [note] = await notes(ops, party)
    assert note["subject"] == "Status ACTIVE" and "now ACTIVE." in note["body"] and note["attempts"] == 1
    [mail] = mailbox[0].to(f"{party[:8]}@example.com")
    assert "Subject: Status ACTIVE" in mail and "your status is now ACTIVE." in mail
    async with note_sessions() as session:
        events = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == note["id"]))).scalars().all()
        rows = (await session.execute(select(func.count()).select_from(Notification).where(
            Notification.event_id == env.id))).scalar_one()
    assert [e["data"]["to_status"] for e in events] == ["SENT"] and rows == 1


async def test_marketing_needs_granted_consent_at_send_time(ops: GraphQLClient, settings: Settings,
                                                            mailbox: Any) -> None:
    etype = event_type()
    await template(ops, etype, category="MARKETING", body="Offers for you ({{ to_status }})")
    consented, silent, withdrawn = (str(uuid.uuid4()) for _ in range(3))
    now = dt.datetime.now(dt.UTC)
    for party in (consented, silent, withdrawn):
        await prefer(ops, party, "EMAIL", f"m-{party[:8]}@example.com")
    await publish_party_event(settings, "ConsentRecorded", consented, consent_id=str(uuid.uuid4()),
                              purpose="MARKETING", channel="EMAIL", decision="GRANTED", notice_version="v1",
                              captured_at=(now - dt.timedelta(days=1)).isoformat(), expires_at=None)
    await publish_party_event(settings, "ConsentRecorded", withdrawn, consent_id=str(uuid.uuid4()),
                              purpose="MARKETING", channel="ALL", decision="GRANTED", notice_version="v1",
                              captured_at=(now - dt.timedelta(days=2)).isoformat(), expires_at=None)
    await publish_party_event(settings, "ConsentRecorded", withdrawn, consent_id=str(uuid.uuid4()),
                              purpose="MARKETING", channel="EMAIL", decision="WITHDRAWN", notice_version="v1",
                              captured_at=(now - dt.timedelta(hours=1)).isoformat(), expires_at=None)
    for party in (consented, silent, withdrawn):
        await publish_party_event(settings, etype, party, to_status="ACTIVE")

    async def settled() -> bool:
        states = [await notes(ops, p) for p in (consented, silent, withdrawn)]
        return all(s and s[0]["status"] != "QUEUED" for s in states)

    await until(settled)
    assert (await notes(ops, consented))[0]["status"] == "SENT"
    for party in (silent, withdrawn):
        [note] = await notes(ops, party)
        assert note["status"] == "SUPPRESSED" and "consent" in note["lastError"]
        assert mailbox[0].to(f"m-{party[:8]}@example.com") == []
    assert len(mailbox[0].to(f"m-{consented[:8]}@example.com")) == 1


async def test_sms_through_provider_with_retries_and_signed_status_webhook(
        ops: GraphQLClient, settings: Settings, provider: tuple[Provider, str], notification_url: str,
        note_http: httpx.AsyncClient, note_sessions: async_sessionmaker[AsyncSession]) -> None:
    state, _ = provider
    etype, party = event_type(), str(uuid.uuid4())
    await template(ops, etype, channel="SMS", body="Status: {{ to_status }}")
    await prefer(ops, party, "SMS", "+447700900123")
    state.failures = 2  # two 503s, then accepted: retried with backoff
    await publish_party_event(settings, etype, party, to_status="RESTRICTED")

    async def sent() -> bool:
        return any(n["status"] == "SENT" for n in await notes(ops, party))

    await until(sent)
    [note] = await notes(ops, party)
    assert note["attempts"] == 3 and note["body"] == "Status: RESTRICTED"
    async with note_sessions() as session:
        provider_id = (await session.execute(select(Notification.provider_message_id).where(
            Notification.id == uuid.UUID(note["id"])))).scalar_one()
    url = f"{notification_url}/webhooks/delivery-status"

    async def report(status: str, secret: str = WEBHOOK_SECRET, ts: int | None = None) -> httpx.Response:
        body = json.dumps({"providerMessageId": provider_id, "status": status}).encode()
        stamp = str(ts if ts is not None else int(time.time()))
        return await note_http.post(url, content=body, headers={
            "x-finpace-timestamp": stamp, "x-finpace-signature": sign_webhook(secret, stamp, body)})

    assert (await report("DELIVERED", secret="wrong")).status_code == 401
    assert (await report("DELIVERED", ts=int(time.time()) - 3600)).status_code == 401
    assert (await notes(ops, party))[0]["status"] == "SENT"
    assert (await report("DELIVERED")).json() == {"result": "applied"}
    assert (await report("BOUNCED")).json() == {"result": "ignored"}
    assert (await notes(ops, party))[0]["status"] == "DELIVERED"


async def test_undeliverable_message_fails_after_max_attempts(ops: GraphQLClient, settings: Settings,
                                                              provider: tuple[Provider, str]) -> None:
    state, _ = provider
    etype, party = event_type(), str(uuid.uuid4())
    await template(ops, etype, channel="PUSH", body="Hello")
    await prefer(ops, party, "PUSH", "device-token-dead")
    state.always_fail_to.add("device-token-dead")
    await publish_party_event(settings, etype, party)

    async def failed() -> bool:
        found = await notes(ops, party)
        return bool(found) and found[0]["status"] == "FAILED"

    await until(failed)
    assert (await notes(ops, party))[0]["attempts"] == 3


async def test_sandbox_refuses_internals(ops: GraphQLClient, settings: Settings) -> None:
    etype, party = event_type(), str(uuid.uuid4())
    await template(ops, etype, channel="SECURE_MESSAGE", body="{{ to_status.__class__.__mro__ }}")
    await prefer(ops, party, "SECURE_MESSAGE", "inbox")
    await publish_party_event(settings, etype, party, to_status="ACTIVE")

    async def failed() -> bool:
        found = await notes(ops, party)
        return bool(found) and found[0]["status"] == "FAILED"

    await until(failed)
    [note] = await notes(ops, party)
    assert note["attempts"] == 1 and "__class__" in note["lastError"]


async def test_templates_are_versioned_idempotent_and_validated(
        ops: GraphQLClient, note_sessions: async_sessionmaker[AsyncSession]) -> None:
    etype, key = event_type(), uuid.uuid4().hex
    body = {"eventType": etype, "channel": "SMS", "locale": "en", "category": "SERVICE", "body": "v {{ x }}"}
    first = await ops.data(PUBLISH, {"key": key, "input": body})
    again = await ops.data(PUBLISH, {"key": key, "input": body})
    assert first == again and first["publishNotificationTemplate"]["version"] == 1
    second = await ops.data(PUBLISH, {"key": uuid.uuid4().hex, "input": body})
    assert second["publishNotificationTemplate"]["version"] == 2
    reused = await ops.data(PUBLISH, {"key": key, "input": {**body, "body": "other"}})
    assert reused["publishNotificationTemplate"]["code"] == "IDEMPOTENCY_KEY_REUSED"

    async def count() -> int:
        async with note_sessions() as session:
            return int((await session.execute(select(func.count()).select_from(Template))).scalar_one())

    before = await count()
    for bad in ({"body": "{% if %}"}, {"locale": "english"}, {"channel": "EMAIL"}, {"eventType": "lower"}):
        answer = await ops(PUBLISH, {"key": uuid.uuid4().hex, "input": {**body, **bad}})
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
    assert await count() == before


async def test_customers_see_only_their_own_notifications(ops: GraphQLClient, settings: Settings,
                                                          note_sessions: async_sessionmaker[AsyncSession]) -> None:
    etype, mine, other = event_type(), str(uuid.uuid4()), str(uuid.uuid4())
    await template(ops, etype, channel="SECURE_MESSAGE", body="hi")
    await prefer(ops, other, "SECURE_MESSAGE", "inbox")
    await publish_party_event(settings, etype, other)

    async def queued() -> bool:
        return bool(await notes(ops, other))

    await until(queued)
    note_id = (await notes(ops, other))[0]["id"]
    await apply_access(note_sessions, granted(mine, "c-9"))  # entitled to its own party only
    customer = ops.with_token(issue_dev_token(settings, role="customer", sub="c-9", party_ids=[mine, other]))
    assert (await customer.data("query($id: ID!) { notification(id: $id) { id } }", {"id": note_id})) == {
        "notification": None}
    assert await notes(customer, other) == []
    refused = await customer.data(PREFER, {"party": other, "input": {"channel": "SMS", "enabled": True,
                                                                     "address": "+447700900999"}})
    assert refused["setNotificationPreference"]["code"] == "NOT_FOUND"
    own = await customer.data(PREFER, {"party": mine, "input": {"channel": "SMS", "enabled": False,
                                                                "address": "+447700900999"}})
    assert own["setNotificationPreference"] == {"__typename": "NotificationPreference", "channel": "SMS",
                                                "enabled": False, "address": "+447700900999"}
    bad = await customer(PREFER, {"party": mine, "input": {"channel": "SMS", "enabled": True, "address": "12"}})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # notification is @authenticated; templates are staff @policy; an auditor may not set preferences.
    anonymous = await ops.with_token(None)("query($id: ID!) { notification(id: $id) { id } }", {"id": note_id})
    assert anonymous["data"] == {"notification": None}
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    templates = await customer("query($t: String!) { notificationTemplates(eventType: $t) { id } }", {"t": etype})
    assert templates["data"] is None and templates["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    auditor = ops.with_token(issue_dev_token(settings, role="auditor", sub="aud-9"))
    refused = await auditor(PREFER, {"party": mine, "input": {"channel": "SMS", "enabled": True, "address": "+4477"}})
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_webhook_signature_rules() -> None:
    body, ts = b'{"a":1}', str(int(time.time()))
    good = sign_webhook("s", ts, body)
    assert verify_webhook("s", ts, good, body) and verify_webhook("s", ts, "sha256=" + good, body)
    assert not verify_webhook("s", ts, good, body + b" ")
    assert not verify_webhook("s", None, good, body) and not verify_webhook("s", "x", good, body)


async def test_no_cross_customer_or_cross_portfolio_notification_reads(
        ops: GraphQLClient, settings: Settings, note_sessions: async_sessionmaker[AsyncSession]) -> None:
    # Six parties with a secure message each: a customer is entitled to two, an RM holds two others in its
    # portfolio. Everything else, and 1,000 random ids, answers exactly like a missing record.
    etype, rng = event_type(), random.Random(20261208)
    parties = [str(uuid.uuid4()) for _ in range(6)]
    await template(ops, etype, channel="SECURE_MESSAGE", body="statement ready")
    for party in parties:
        await prefer(ops, party, "SECURE_MESSAGE", "inbox")
        await publish_party_event(settings, etype, party)

    async def all_queued() -> bool:
        return all([await notes(ops, p) for p in parties])

    await until(all_queued, what="a notification for each of the six parties")
    note_of = {p: (await notes(ops, p))[0]["id"] for p in parties}
    customer_sub, rm_id = f"c-{uuid.uuid4().hex[:8]}", f"rm-{uuid.uuid4().hex[:8]}"
    for party in parties[:2]:
        await apply_access(note_sessions, granted(party, customer_sub))
    for party in parties[2:4]:
        await apply_access(note_sessions, rm_assigned(party, rm_id, version=1))
    randoms = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(1000)]
    for role, sub, allowed in (("customer", customer_sub, parties[:2]), ("rm", rm_id, parties[2:4])):
        viewer = ops.with_token(issue_dev_token(settings, role=role, sub=sub, party_ids=parties))
        # Notifications by id, in one _entities batch: only the viewer's parties' come back.
        reps = [{"__typename": "Notification", "id": i} for i in randoms + list(note_of.values())]
        found = (await viewer.data("query($r: [_Any!]!) { _entities(representations: $r) { ... on Notification "
                                   "{ id partyId } } }", {"r": reps}))["_entities"]
        assert found[:len(randoms)] == [None] * len(randoms)
        assert [e["partyId"] if e else None for e in found[len(randoms):]] == \
            [p if p in allowed else None for p in parties]
        # A party's notifications and preferences: another party's look like those of a party with none.
        party_reps = [{"__typename": "Party", "id": p} for p in parties + randoms[:100]]
        lists = (await viewer.data(PARTY_NOTES, {"reps": party_reps}))["_entities"]
        assert [bool(e["notifications"]) for e in lists[:len(parties)]] == [p in allowed for p in parties]
        assert all(e == {"notifications": [], "notificationPreferences": []}
                   for p, e in zip(parties + randoms[:100], lists, strict=True) if p not in allowed)
        # notification(id): a foreign one and 250 random ids answer byte for byte alike.
        probe = "query($id: ID!) { notification(id: $id) { id } }"
        foreign = [note_of[p] for p in parties if p not in allowed]
        answers = {(await viewer.raw(probe, {"id": i})).text for i in foreign + randoms[:250]}
        assert answers == {'{"data":{"notification":null}}'}, answers
        for party in allowed:
            assert (await viewer.data(probe, {"id": note_of[party]}))["notification"] == {"id": note_of[party]}
