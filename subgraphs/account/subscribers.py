"""The account's consumers: the product read model, and the lending disbursement and repayment requests it answers."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.app import SubscriberSpec
from shared.events import Envelope
from subgraphs.account.disbursements import on_disbursement_requested, on_repayment_requested
from subgraphs.account.models import ProductVersion

STREAM = "FINPACE_PRODUCT"
DURABLE = "account-product"


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


async def apply_product_event(session: AsyncSession, envelope: Envelope) -> None:
    """Applies one product event to the read model (the Subscriber's inbox makes it once-only)."""
    data = envelope.data
    if envelope.type == "ProductVersionPublished":
        values = {"code": data["code"], "version": int(data["version"]), "family": data["family"],
                  "currency": data["currency"], "status": "ACTIVE", "sale_from": _date(data["effective_from"]),
                  "sale_until": None}
        await session.execute(pg_insert(ProductVersion).values(id=uuid.UUID(data["product_id"]), **values)
                              .on_conflict_do_update(index_elements=[ProductVersion.id], set_=values))
        if data.get("superseded_product_id"):
            await session.execute(update(ProductVersion).where(
                ProductVersion.id == uuid.UUID(data["superseded_product_id"])).values(
                sale_until=_date(data["effective_from"])))
    elif envelope.type == "ProductWithdrawn":
        await session.execute(update(ProductVersion).where(ProductVersion.id == uuid.UUID(data["product_id"]))
                              .values(sale_until=_date(data["effective_at"])))
    elif envelope.type == "ProductRetired":
        await session.execute(update(ProductVersion).where(ProductVersion.id == uuid.UUID(data["product_id"]))
                              .values(status="RETIRED"))


PRODUCT_SUBSCRIBERS = [SubscriberSpec(stream=STREAM, durable=DURABLE, handler=apply_product_event)]
# The disbursement saga (docs/lending.md), durables in nats/consumers/account-*-lending.json.
LENDING_SUBSCRIBERS = [
    SubscriberSpec(stream="FINPACE_CONSUMER_LENDING", durable="account-consumer-lending",
                   handler=on_disbursement_requested),
    SubscriberSpec(stream="FINPACE_CORPORATE_LENDING", durable="account-corporate-lending",
                   handler=on_disbursement_requested),
    # The repayment saga: durables in nats/consumers/account-*-lending-repayments.json.
    SubscriberSpec(stream="FINPACE_CONSUMER_LENDING", durable="account-consumer-lending-repayments",
                   handler=on_repayment_requested),
    SubscriberSpec(stream="FINPACE_CORPORATE_LENDING", durable="account-corporate-lending-repayments",
                   handler=on_repayment_requested),
]
SUBSCRIBERS = PRODUCT_SUBSCRIBERS + LENDING_SUBSCRIBERS
