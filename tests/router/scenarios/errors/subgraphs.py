"""Subgraph errors, nulls in non-null positions, missing entities and a subgraph that fails."""

from __future__ import annotations

import asyncio

import strawberry
from strawberry.federation import Schema

CARDS = {"k1": "Visa", "k2": "Amex", "k3": "Maestro"}


# -- cards -----------------------------------------------------------------------------------------
@strawberry.federation.type(keys=["id"])
class Card:
    id: strawberry.ID
    brand: str

    @strawberry.field
    def pin_hint(self) -> str | None:
        if self.id == "k2":
            raise ValueError("pin hint unavailable for k2")
        return "starts with 1"

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Card | None:
        return Card(id=id, brand=CARDS[str(id)]) if str(id) in CARDS else None


@strawberry.type
class CardsQuery:
    @strawberry.field
    def cards(self) -> list[Card]:
        return [Card(id=c, brand=b) for c, b in sorted(CARDS.items())]

    @strawberry.field
    def card(self, id: strawberry.ID) -> Card | None:
        return Card.resolve_reference(id)

    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("cards exploded")


cards = Schema(query=CardsQuery, federation_version="2.9")


# -- limits: adds limit fields; one of them violates non-null, one raises ------------------------
@strawberry.federation.type(keys=["id"], name="Card")
class CardL:
    id: strawberry.ID

    @strawberry.field
    def limit(self) -> int:
        if self.id == "k3":
            raise ValueError("limit service unavailable for k3")
        return 1000

    @strawberry.field
    def daily(self) -> int | None:
        return None if self.id == "k1" else 50

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> CardL:
        return CardL(id=id)


@strawberry.type
class LimitsQuery:
    @strawberry.field
    def ghost_card(self) -> CardL:
        return CardL(id="k9")


limits = Schema(query=LimitsQuery, federation_version="2.9")


# -- rewards: a subgraph tests switch off to simulate an outage -------------------------------------
@strawberry.federation.type(keys=["id"], name="Card")
class CardR:
    id: strawberry.ID

    @strawberry.field
    def points(self) -> int:
        return 42

    @strawberry.field
    async def slow_points(self) -> int | None:
        await asyncio.sleep(2)
        return 1

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> CardR:
        return CardR(id=id)


@strawberry.type
class RewardsQuery:
    @strawberry.field
    def program(self) -> str:
        return "miles"

    @strawberry.field
    def header(self, name: str, info: strawberry.Info) -> str | None:
        """Echoes a request header, so tests can see what the router forwarded."""
        return info.context["request"].headers.get(name)


rewards = Schema(query=RewardsQuery, types=[CardR], federation_version="2.9")

SUBGRAPHS = {"cards": cards, "limits": limits, "rewards": rewards}
