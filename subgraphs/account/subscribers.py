"""The product read model: keeps which product versions are on sale from the product domain's events."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.app import SubscriberSpec
from shared.events import Envelope
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


SUBSCRIBERS = [SubscriberSpec(stream=STREAM, durable=DURABLE, handler=apply_product_event)]
