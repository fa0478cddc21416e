"""Helpers the domain test suites share: provisioning, row and outbox counts, publishing envelopes, waiting."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.access import apply_access_event
from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import outbox_table
from shared.events import Actor, Envelope
from shared.messaging import connect, provision_from
from shared.products import ProductVersionColumns
from subgraphs.product import events as product_events
from tests.helpers import GraphQLClient

REPO = Path(__file__).resolve().parents[2]


async def provision(nats_url: str) -> None:
    """Provisions every stream and consumer of the repository's nats/ folder."""
    nc = await connect(nats_url, name="test-provision")
    try:
        await provision_from(nc, REPO / "nats")
    finally:
        await nc.close()


def token(settings: Settings, role: str, sub: str, party_ids: list[str] | None = None) -> str:
    """Issues a dev access token."""
    return issue_dev_token(settings, role=role, sub=sub, party_ids=party_ids)


async def counts(sessions: async_sessionmaker[AsyncSession], *models: Any) -> tuple[int, ...]:
    """Returns the row count of each model, then of the outbox: what a refused command must leave unchanged."""
    async with sessions() as session:
        totals = [int(await session.scalar(select(func.count()).select_from(m)) or 0) for m in models]
        totals.append(int(await session.scalar(select(func.count()).select_from(outbox_table)) or 0))
    return tuple(totals)


async def outbox_envelopes(sessions: async_sessionmaker[AsyncSession], aggregate_id: str,
                           event_type: str | None = None) -> list[dict[str, Any]]:
    """Returns the envelopes written for one aggregate (of one type, if given), in outbox order."""
    async with sessions() as session:
        rows = (await session.execute(select(outbox_table.c.envelope).where(
            outbox_table.c.aggregate_id == aggregate_id).order_by(outbox_table.c.id))).scalars().all()
    return [r for r in rows if event_type is None or r["type"] == event_type]


async def outbox_types(sessions: async_sessionmaker[AsyncSession], aggregate_id: str) -> list[str]:
    """Returns the event types written for one aggregate, in outbox order."""
    return [r["type"] for r in await outbox_envelopes(sessions, aggregate_id)]


async def publish_reply(settings: Settings, subject: str, data: dict[str, Any], *, event_id: str | None = None,
                        msg_id: str | None = None, source: str = "account") -> str:
    """Publishes an envelope into JetStream as another domain's outbox relay would; returns the event id."""
    eid = event_id or str(uuid.uuid4())
    envelope = {"id": eid, "type": "Payment" + subject.rsplit(".", 1)[1].title(), "source": source,
                "subject": str(uuid.uuid4()), "aggregate_version": 1,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
                "actor": {"sub": "system", "roles": ["system"], "client_id": None}, "reason": None,
                "correlation_id": "test", "causation_id": None, "schema_version": 1, "data": data}
    nc = await connect(settings.nats_url or "", name="test-publisher")
    try:
        await nc.jetstream().publish(subject, json.dumps(envelope).encode(), headers={"Nats-Msg-Id": msg_id or eid})
    finally:
        await nc.close()
    return eid


async def eventually(
    probe: Callable[[], Awaitable[bool]], within: float = 30, what: str = "the condition", interval: float = 0.05
) -> None:
    """Waits until probe() is true; fails after `within` seconds, a probe that never returns included."""
    deadline = asyncio.timeout(within)
    try:
        async with deadline:
            while not await probe():  # noqa: ASYNC110 - polling state another process changes
                await asyncio.sleep(interval)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise AssertionError(f"timed out after {within} s waiting for {what}") from None


async def caught_up(settings: Settings, domain: str, within: float = 240) -> None:
    """Waits until every durable consumer of `domain` (nats/consumers/<domain>-*.json) has handled its stream.

    Each durable starts at its stream's first event, and in a test worker the streams already hold what every
    earlier test file published (thousands of events late in a run): a service fixture calls this once after
    starting the service, so that no test waits for that backlog on top of its own events.
    """
    from nats.js.errors import NotFoundError

    durables = []
    for path in sorted((REPO / "nats" / "consumers").glob(f"{domain}-*.json")):
        definition = json.loads(path.read_text())
        durables.append((definition["stream_name"], definition["config"]["durable_name"]))
    nc = await connect(settings.nats_url or "", name="test-caught-up")
    try:
        js = nc.jetstream()

        async def idle() -> bool:
            for stream, durable in durables:
                try:
                    info = await js.consumer_info(stream, durable)
                except NotFoundError:
                    return False
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        await eventually(idle, within=within, what=f"{domain}'s consumers to work through the streams' backlog")
    finally:
        await nc.close()


def party_envelope(event_type: str, party_id: str, data: dict[str, Any], *, version: int = 1) -> Envelope:
    """A party-domain envelope as its outbox relay publishes it (for the access read model)."""
    subject = {"EntitlementGranted": "entitlement.granted", "EntitlementRevoked": "entitlement.revoked",
               "RelationshipManagerAssigned": "relationship_manager.assigned",
               "PartyRegistered": "party.registered"}[event_type]
    return Envelope(id=uuid.uuid4(), type=event_type, source="party", subject=party_id, aggregate_version=version,
                    occurred_at=dt.datetime.now(dt.UTC), actor={"sub": "ops-1", "roles": ["ops"]}, reason=None,
                    correlation_id="test", causation_id=None, schema_version=1,
                    data={"party_id": party_id, **data}, nats_subject=f"finpace.party.{subject}")


def granted(party_id: str, user_sub: str, **window: str | None) -> Envelope:
    """EntitlementGranted for a user on a party, valid from 2000-01-01 unless told otherwise."""
    return party_envelope("EntitlementGranted", party_id, {
        "entitlement_id": str(uuid.uuid4()), "user_sub": user_sub, "permissions": ["VIEW"],
        "valid_from": window.get("valid_from") or "2000-01-01", "valid_to": window.get("valid_to")})


def rm_assigned(party_id: str, rm_id: str, *, version: int) -> Envelope:
    """RelationshipManagerAssigned moving a party into an RM's portfolio at a party version."""
    return party_envelope("RelationshipManagerAssigned", party_id, {"from_rm_id": None, "to_rm_id": rm_id},
                          version=version)


async def apply_access(sessions: async_sessionmaker[AsyncSession], *envelopes: Envelope) -> None:
    """Applies party events to a domain's access read model with the consumer's own handler (no broker)."""
    async with sessions() as session, session.begin():
        for envelope in envelopes:
            await apply_access_event(session, envelope)


async def publish_party_event(settings: Settings, envelope: Envelope, *, msg_id: str | None = None) -> None:
    """Publishes a party envelope into FINPACE_PARTY as the party outbox relay would (msg_id: a redelivery)."""
    nc = await connect(settings.nats_url or "", name="test-party-publisher")
    try:
        await nc.jetstream().publish(envelope.nats_subject, json.dumps(envelope.to_dict()).encode(),
                                     headers={"Nats-Msg-Id": msg_id or str(envelope.id)})
    finally:
        await nc.close()


class EntitledClient(GraphQLClient):
    """A customer's client whose entitlements are put in the domain's read model before its first call."""

    def __init__(self, http: Any, url: str, token: str | None, grant: Callable[[], Awaitable[None]]) -> None:
        super().__init__(http, url, token)
        self._grant: Callable[[], Awaitable[None]] | None = grant

    async def raw(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
        if self._grant is not None:
            grant, self._grant = self._grant, None
            await grant()
        return await super().raw(query, variables, **headers)


def customer_client(http: Any, url: str, settings: Settings, sessions: async_sessionmaker[AsyncSession],
                    party_id: str, sub: str | None = None) -> EntitledClient:
    """A customer token entitled (in the domain's read model) to one party."""
    sub = sub or f"cust-{party_id[:8]}"
    return EntitledClient(http, url, token(settings, "customer", sub),
                          grant=lambda: apply_access(sessions, granted(party_id, sub)))


# -- the product directory as the selling domains see it (shared/products.py) -------------------
def product_id(code: str, family: str, currency: str) -> uuid.UUID:
    """A fixed id per test product (the same in every xdist worker)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"finpace-test-product/{code}/{family}/{currency}")


def lending_terms(*, rate: tuple[str, str, str] = ("1", "6", "24"),
                  principal: tuple[str, str] = ("1000.00", "5000000.00"), months: tuple[int, int] = (6, 120),
                  frequency: str = "MONTHLY", charges: tuple[dict[str, Any], ...] = (), day_count: str = "ACTUAL_365",
                  grace: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """A lending version's terms as the product subgraph stores and publishes them (snake_case, Decimals as text)."""
    return {"pricing": {"interest_rate": {"min": rate[0], "default": rate[1], "max": rate[2]},
                        "day_count": day_count, "compounding": "NONE", "posting_frequency": "MONTHLY",
                        "overdraft_rate": None},
            "charges": [{"code": "ARRANGEMENT", "name": "Arrangement fee", "fee_type": "ARRANGEMENT",
                         "calculation": "FIXED", "frequency": "ONE_OFF", "amount": None, "rate": None,
                         "min_cap": None, "max_cap": None, **c} for c in charges],
            "lending": {"principal_min": principal[0], "principal_default": principal[0], "principal_max": principal[1],
                        "term_min_months": months[0], "term_default_months": months[0], "term_max_months": months[1],
                        "interest_method": "DECLINING_BALANCE", "amortisation": "EQUAL_INSTALLMENTS",
                        "repayment_frequency": frequency, "grace_on_principal_periods": grace[0],
                        "grace_on_interest_periods": grace[1]}}


def published(code: str, family: str, currency: str, *, start: dt.date | None = None,
              terms: dict[str, Any] | None = None) -> Any:
    """ProductVersionPublished of version 1 of a test product, on sale from start (today by default)."""
    return product_events.ProductVersionPublished(
        product_id=str(product_id(code, family, currency)), code=code, version=1, family=family, currency=currency,
        effective_from=(start or dt.date.today()).isoformat(), supersedes_version=None, superseded_product_id=None,
        terms=terms)


async def publish_product_event(settings: Settings, event: Any) -> None:
    """Publishes a product-domain event into JetStream exactly as the product outbox relay would."""
    envelope = Envelope.wrap(event, aggregate_id=event.product_id, aggregate_version=event.version,
                             actor=Actor.system("product-test"), reason=None, correlation_id="test")
    nc = await connect(settings.nats_url or "", name="test-product-events")
    try:
        await nc.jetstream().publish(envelope.nats_subject, json.dumps(envelope.to_dict()).encode(),
                                     headers={"Nats-Msg-Id": str(envelope.id)})
    finally:
        await nc.close()


async def wait_for_products(sessions: async_sessionmaker[AsyncSession], model: type[ProductVersionColumns],
                            ids: list[uuid.UUID], check: Callable[[Any], bool] = lambda _: True) -> None:
    """Waits until a domain's product read model holds every product (and each passes check)."""
    for _ in range(300):
        async with sessions() as session:
            rows = (await session.execute(select(model).where(model.id.in_(ids)))).scalars().all()
        if len(rows) == len(ids) and all(check(r) for r in rows):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"product read model did not receive {ids}")


async def publish_products(settings: Settings, sessions: async_sessionmaker[AsyncSession],
                           model: type[ProductVersionColumns], *events: Any) -> None:
    """Publishes the product events through the broker and waits until the domain's read model applied them."""
    for event in events:
        await publish_product_event(settings, event)
    await wait_for_products(sessions, model, [uuid.UUID(e.product_id) for e in events],
                            lambda r: r.terms == next(e.terms for e in events if e.product_id == str(r.id)))
