"""@interfaceObject: a subgraph adds fields to every implementation of an interface it cannot see."""

from __future__ import annotations

import strawberry
from strawberry.federation import Schema

PRODUCTS = {"c1": ("Card", "Classic card"), "l1": ("Loan", "Home loan"), "c2": ("Card", "Gold card")}
FEES = {"c1": 10, "l1": 250, "c2": 40}


# -- catalog: the Product interface (entity) and its implementations -----------------------------
@strawberry.federation.interface(keys=["id"])
class Product:
    id: strawberry.ID
    label: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Product:
        return _product(str(id))


@strawberry.federation.type(keys=["id"])
class Card(Product):
    network: str


@strawberry.federation.type(keys=["id"])
class Loan(Product):
    rate: float


def _product(pid: str):
    kind, label = PRODUCTS[pid]
    if kind == "Card":
        return Card(id=pid, label=label, network="VISA")
    return Loan(id=pid, label=label, rate=3.5)


@strawberry.type
class CatalogQuery:
    @strawberry.field
    def products(self) -> list[Product]:
        return [_product(p) for p in sorted(PRODUCTS)]


catalog = Schema(query=CatalogQuery, types=[Card, Loan], federation_version="2.9")


# -- pricing: sees Product only as an interface object --------------------------------------------
@strawberry.federation.interface_object(keys=["id"], name="Product")
class ProductP:
    id: strawberry.ID

    @strawberry.field
    def fee(self) -> int:
        return FEES[str(self.id)]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> ProductP:
        return ProductP(id=id)


@strawberry.type
class PricingQuery:
    @strawberry.field
    def cheapest(self) -> ProductP:
        return ProductP(id=min(FEES, key=FEES.__getitem__))


pricing = Schema(query=PricingQuery, federation_version="2.9")

SUBGRAPHS = {"catalog": catalog, "pricing": pricing}
