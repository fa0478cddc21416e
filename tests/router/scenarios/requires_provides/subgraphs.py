"""@requires (plain, nested, with arguments, chained) and @provides."""

from __future__ import annotations

import strawberry
from strawberry.federation import Schema

ITEMS = {"i1": ("Lamp", 3, 40, "FR"), "i2": ("Desk", 20, 150, "DE"), "i3": ("Pen", 1, 2, "FR")}
SELLERS = {"s1": "Shop One", "s2": "Shop Two"}


# -- catalog: owns items (weight, price, origin) -------------------------------------------------
@strawberry.federation.type(shareable=True)
class Origin:
    country: str


@strawberry.federation.type(keys=["id"])
class Item:
    id: strawberry.ID
    name: str = strawberry.federation.field(shareable=True)
    price: int
    origin: Origin

    @strawberry.field
    def weight(self, unit: str = "KG") -> int:
        grams = ITEMS[str(self.id)][1] * 1000
        return grams if unit == "G" else grams // 1000

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Item | None:
        if str(id) not in ITEMS:
            return None
        name, _, price, country = ITEMS[str(id)]
        return Item(id=id, name=name, price=price, origin=Origin(country=country))


@strawberry.type
class CatalogQuery:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item.resolve_reference(i) for i in sorted(ITEMS)]


catalog = Schema(query=CatalogQuery, federation_version="2.9")


# -- shipping: needs weight/price/origin to compute estimates -----------------------------------
@strawberry.federation.type(name="Origin", shareable=True)
class OriginS:
    country: str


@strawberry.federation.type(keys=["id"], name="Item")
class ItemS:
    id: strawberry.ID
    price: int = strawberry.federation.field(external=True)
    origin: OriginS = strawberry.federation.field(external=True)
    grams: strawberry.Private[int | None] = None

    @strawberry.federation.field(external=True)
    def weight(self, unit: str = "KG") -> int:
        return self.grams or 0

    @strawberry.federation.field(requires=['weight(unit: "G") price'])
    def shipping_estimate(self) -> int:
        return self.grams // 500 + (0 if self.price > 100 else 5)

    @strawberry.federation.field(requires=["origin { country }"])
    def customs(self) -> str:
        return "none" if self.origin["country"] == "FR" else "EU-form"

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, **fields) -> ItemS:
        return ItemS(id=id, price=fields.get("price"), origin=fields.get("origin"), grams=fields.get("weight"))


@strawberry.type
class ShippingQuery:
    @strawberry.field
    def carrier(self) -> str:
        return "PostCo"


shipping = Schema(query=ShippingQuery, types=[ItemS], federation_version="2.9")


# -- insurance: requires a field that is itself computed with @requires (chain) -----------------
@strawberry.federation.type(keys=["id"], name="Item")
class ItemI:
    id: strawberry.ID
    shipping_estimate: int = strawberry.federation.field(external=True)

    @strawberry.federation.field(requires=["shippingEstimate"])
    def insurance(self) -> int:
        return self.shipping_estimate * 3

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, **fields) -> ItemI:
        return ItemI(id=id, shipping_estimate=fields.get("shippingEstimate"))


@strawberry.type
class InsuranceQuery:
    @strawberry.field
    def insurer(self) -> str:
        return "SafeCo"


insurance = Schema(query=InsuranceQuery, types=[ItemI], federation_version="2.9")


# -- market: offers with @provides(fields: "name") on the item ----------------------------------
@strawberry.federation.type(keys=["id"], name="Item")
class ItemM:
    id: strawberry.ID
    name: str = strawberry.federation.field(external=True)


@strawberry.type
class Offer:
    seller: str

    @strawberry.federation.field(provides=["name"])
    def item(self) -> ItemM:
        return ItemM(id="i1", name="Lamp")

    @strawberry.field
    def plain_item(self) -> ItemM:
        return ItemM(id="i2", name="should-not-be-used")


@strawberry.type
class MarketQuery:
    @strawberry.field
    def offers(self) -> list[Offer]:
        return [Offer(seller=s) for s in sorted(SELLERS.values())]


market = Schema(query=MarketQuery, federation_version="2.9")

SUBGRAPHS = {"catalog": catalog, "shipping": shipping, "insurance": insurance, "market": market}
