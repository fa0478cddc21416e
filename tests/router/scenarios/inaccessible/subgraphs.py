"""@inaccessible fields, arguments, enum values and types: hidden from clients, usable internally."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from strawberry.federation import Schema


@strawberry.enum
class Tier(Enum):
    GOLD = "GOLD"
    SILVER = "SILVER"
    INTERNAL = strawberry.federation.enum_value("INTERNAL", inaccessible=True)


@strawberry.federation.type(keys=["id"], inaccessible=True)
class Secret:
    id: strawberry.ID
    code: str


# -- customers: internal key field and hidden type -------------------------------------------------
@strawberry.federation.type(keys=["id", "internalRef"])
class Customer:
    id: strawberry.ID
    name: str
    tier: Tier
    internal_ref: str = strawberry.federation.field(inaccessible=True)

    @strawberry.federation.field(inaccessible=True)
    def secret(self) -> Secret | None:
        return None

    @classmethod
    def resolve_reference(cls, id: strawberry.ID | None = None, **key: str) -> Customer:
        cid = str(id) if id else key["internalRef"].replace("ref-", "")
        return Customer(id=cid, name=f"Customer {cid}", tier=Tier.GOLD, internal_ref=f"ref-{cid}")


@strawberry.type
class CustomersQuery:
    @strawberry.field
    def customers(
        self, include_hidden: Annotated[bool, strawberry.federation.argument(inaccessible=True)] = False
    ) -> list[Customer]:
        return [Customer.resolve_reference(id=str(i)) for i in (1, 2)]

    @strawberry.federation.field(inaccessible=True)
    def secrets(self) -> list[Secret]:
        return []


customers = Schema(query=CustomersQuery, federation_version="2.9")


# -- scoring: reaches Customer through the inaccessible key only -----------------------------------
@strawberry.federation.type(keys=["internalRef"], name="Customer")
class CustomerS:
    internal_ref: str = strawberry.federation.field(inaccessible=True)

    @strawberry.field
    def score(self) -> int:
        return 700 + int(self.internal_ref.replace("ref-", ""))

    @classmethod
    def resolve_reference(cls, **key: str) -> CustomerS:
        return CustomerS(internal_ref=key["internalRef"])


@strawberry.type
class ScoringQuery:
    @strawberry.field
    def model_version(self) -> str:
        return "m-7"


scoring = Schema(query=ScoringQuery, types=[CustomerS], federation_version="2.9")

SUBGRAPHS = {"customers": customers, "scoring": scoring}
