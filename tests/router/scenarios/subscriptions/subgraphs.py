"""Subscriptions: the owning subgraph streams entities; the router resolves their other fields per event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry
from strawberry.federation import Schema

LABELS = {"1": "one", "2": "two", "3": "three"}


# -- ticker: owns the subscription ----------------------------------------------------------------
@strawberry.federation.type(keys=["id"])
class Tick:
    id: strawberry.ID
    n: int


@strawberry.type
class TickerQuery:
    @strawberry.field
    def last(self) -> Tick:
        return Tick(id="3", n=3)


@strawberry.type
class TickerSubscription:
    @strawberry.subscription
    async def ticks(self, to: int = 3) -> AsyncGenerator[Tick, None]:
        for n in range(1, to + 1):
            await asyncio.sleep(0.01)
            yield Tick(id=str(n), n=n)


ticker = Schema(query=TickerQuery, subscription=TickerSubscription, federation_version="2.9")


# -- labels: adds a field to each tick ------------------------------------------------------------
@strawberry.federation.type(keys=["id"], name="Tick")
class TickL:
    id: strawberry.ID

    @strawberry.field
    def label(self) -> str:
        return LABELS.get(str(self.id), "many")

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> TickL:
        return TickL(id=id)


@strawberry.type
class LabelsQuery:
    @strawberry.field
    def language(self) -> str:
        return "en"


labels = Schema(query=LabelsQuery, types=[TickL], federation_version="2.9")

SUBGRAPHS = {"labels": labels, "ticker": ticker}
