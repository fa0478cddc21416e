"""Entities across three subgraphs: root fields, @key jumps, chains, lists and de-duplication."""

from __future__ import annotations

import strawberry
from strawberry.federation import Schema

USERS = {"1": "Ada", "2": "Alan", "3": "Grace"}
PRODUCTS = {"p1": ("Widget", 10), "p2": ("Gadget", 25), "p3": ("Doohickey", 7)}
REVIEWS = [
    ("r1", "great", "1", "p1"),
    ("r2", "meh", "2", "p1"),
    ("r3", "superb", "1", "p2"),
    ("r4", "broken", "3", "p3"),
]


# -- accounts ------------------------------------------------------------------------------------
@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    name: str
    username: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User | None:
        name = USERS.get(str(id))
        return User(id=id, name=name, username=name.lower()) if name else None


@strawberry.type
class AccountsQuery:
    @strawberry.field
    def me(self) -> User:
        return User.resolve_reference("1")

    @strawberry.field
    def user(self, id: strawberry.ID) -> User | None:
        return User.resolve_reference(id)

    @strawberry.field
    def users(self) -> list[User]:
        return [User.resolve_reference(i) for i in sorted(USERS)]


accounts = Schema(query=AccountsQuery, federation_version="2.9")


# -- products ------------------------------------------------------------------------------------
@strawberry.federation.type(keys=["upc"], name="Product")
class ProductP:
    upc: str
    name: str
    price: int

    @classmethod
    def resolve_reference(cls, upc: str) -> ProductP | None:
        if upc not in PRODUCTS:
            return None
        name, price = PRODUCTS[upc]
        return ProductP(upc=upc, name=name, price=price)


@strawberry.type
class ProductsQuery:
    @strawberry.field
    def top_products(self, first: int = 5) -> list[ProductP]:
        return [ProductP.resolve_reference(u) for u in sorted(PRODUCTS)][:first]

    @strawberry.field
    def product(self, upc: str) -> ProductP | None:
        return ProductP.resolve_reference(upc)


products = Schema(query=ProductsQuery, federation_version="2.9")


# -- reviews -------------------------------------------------------------------------------------
@strawberry.federation.type(keys=["upc"], name="Product")
class ProductR:
    upc: str

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [_review(r) for r in REVIEWS if r[3] == self.upc]

    @classmethod
    def resolve_reference(cls, upc: str) -> ProductR:
        return ProductR(upc=upc)


@strawberry.federation.type(keys=["id"], name="User")
class UserR:
    id: strawberry.ID

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [_review(r) for r in REVIEWS if r[2] == str(self.id)]

    @strawberry.field
    def review_count(self) -> int:
        return sum(1 for r in REVIEWS if r[2] == str(self.id))

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> UserR:
        return UserR(id=id)


@strawberry.type
class Review:
    id: strawberry.ID
    body: str
    author: UserR
    product: ProductR


def _review(r) -> Review:
    return Review(id=r[0], body=r[1], author=UserR(id=r[2]), product=ProductR(upc=r[3]))


@strawberry.type
class ReviewsQuery:
    @strawberry.field
    def top_reviews(self, first: int = 10) -> list[Review]:
        return [_review(r) for r in REVIEWS][:first]


reviews = Schema(query=ReviewsQuery, types=[UserR, ProductR], federation_version="2.9")

SUBGRAPHS = {"accounts": accounts, "products": products, "reviews": reviews}
