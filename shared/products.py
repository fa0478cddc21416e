"""The product directory as another domain sees it: a read model of published versions, fed by product events.

A domain that sells or books products (account, corporate and consumer lending) keeps the versions it may
sell in its own table `product_versions` (a model built on `ProductVersionColumns`), through a durable
consumer `<domain>-product` on `FINPACE_PRODUCT` (nats/consumers/<domain>-product.json) whose handler is
`product_event_handler(model)`. `sellable(...)` is the one check every domain applies before it sells a
version: published, inside its sale window today, of the right family and currency. The version's terms
(pricing, charges, lending ranges) travel on ProductVersionPublished, so a domain prices from the version
it names and never reads the product subgraph's tables.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

import strawberry
from sqlalchemy import Date, DateTime, Integer, String, text, update
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from strawberry.federation.schema_directives import Key

from shared.errors import CurrencyMismatch, InvalidTransition, NotFound
from shared.events import Envelope

PRODUCT_STREAM = "FINPACE_PRODUCT"


class ProductVersionColumns:
    """The columns of a domain's `product_versions` read model (mix into the domain's declarative Base)."""

    __tablename__ = "product_versions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    family: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    sale_from: Mapped[dt.date] = mapped_column(Date)
    sale_until: Mapped[dt.date | None] = mapped_column(Date)  # exclusive: the day it stops selling
    # pricing, charges, lending ranges as the product subgraph holds them (null from events before terms travelled)
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))

    def on_sale(self, day: dt.date) -> bool:
        """True when the version is ACTIVE and inside its sale window on that day."""
        return self.status == "ACTIVE" and self.sale_from <= day and (self.sale_until is None or day < self.sale_until)

    @property
    def label(self) -> str:
        return f"{self.code} v{self.version}"


V = TypeVar("V", bound=ProductVersionColumns)


@strawberry.federation.type(name="Product", keys=[Key(fields="id", resolvable=False)],
                            description="A product version: a reference the product subgraph resolves.")
class ProductReference:
    """What a selling domain returns for the version a contract is sold under (the router fetches the rest)."""

    id: strawberry.ID


def product_reference(product_id: uuid.UUID | None) -> ProductReference | None:
    return ProductReference(id=strawberry.ID(str(product_id))) if product_id is not None else None


def durable_for(domain: str) -> str:
    """The durable consumer name of a domain's product read model."""
    return f"{domain}-product"


def product_subscriber(domain: str, model: type[ProductVersionColumns]) -> Any:
    """The consumer that keeps a domain's product read model: its `<domain>-product` durable on FINPACE_PRODUCT."""
    from shared.app import SubscriberSpec  # shared.app builds on the platform modules

    return SubscriberSpec(stream=PRODUCT_STREAM, durable=durable_for(domain), handler=product_event_handler(model))


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def product_event_handler(model: type[ProductVersionColumns]) -> Callable[[AsyncSession, Envelope],
                                                                          Awaitable[None]]:
    """The handler that applies product events to `model` (the Subscriber's inbox makes each once-only)."""

    async def apply(session: AsyncSession, envelope: Envelope) -> None:
        data, table = envelope.data, model.__table__  # type: ignore[attr-defined]
        if envelope.type == "ProductVersionPublished":
            values = {"code": data["code"], "version": int(data["version"]), "family": data["family"],
                      "currency": data["currency"], "status": "ACTIVE", "sale_from": _date(data["effective_from"]),
                      "sale_until": None, "terms": data.get("terms")}
            await session.execute(pg_insert(table).values(id=uuid.UUID(data["product_id"]), **values)
                                  .on_conflict_do_update(index_elements=[table.c.id], set_=values))
            if data.get("superseded_product_id"):
                await session.execute(update(table).where(table.c.id == uuid.UUID(data["superseded_product_id"]))
                                      .values(sale_until=_date(data["effective_from"])))
        elif envelope.type == "ProductWithdrawn":
            await session.execute(update(table).where(table.c.id == uuid.UUID(data["product_id"]))
                                  .values(sale_until=_date(data["effective_at"])))
        elif envelope.type == "ProductRetired":
            await session.execute(update(table).where(table.c.id == uuid.UUID(data["product_id"]))
                                  .values(status="RETIRED"))

    return apply


def check_sellable(product: V | None, product_id: object, *, families: Collection[str], currency: str,
                   day: dt.date, field: str = "currency") -> V:
    """Returns the version if it may be sold on `day` in `currency` as one of `families`, else raises.

    NotFound when the read model has never seen it, InvalidTransition when it is not on sale that day or
    is another family, CurrencyMismatch when it is sold in another currency.
    """
    if product is None:
        raise NotFound(f"Product version {product_id} is not a published product version.")
    if product.family not in families or not product.on_sale(day):
        raise InvalidTransition(f"Product {product.label} is not an ACTIVE {' or '.join(sorted(families))} "
                                f"version on sale on {day.isoformat()}.")
    if product.currency != currency:
        raise CurrencyMismatch(f"Product {product.label} is sold in {product.currency}, not {currency}.", field=field)
    return product


async def sellable(session: AsyncSession, model: type[V], product_id: uuid.UUID, *, families: Collection[str],
                   currency: str, day: dt.date, field: str = "currency") -> V:
    """Loads the version from the read model and applies check_sellable."""
    return check_sellable(await session.get(model, product_id), product_id, families=families, currency=currency,
                          day=day, field=field)
