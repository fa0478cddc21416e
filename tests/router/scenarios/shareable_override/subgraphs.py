"""@shareable fields and root fields resolved by several subgraphs, and @override."""

from __future__ import annotations

import strawberry
from strawberry.federation import Schema

BRANCHES = {"b1": ("Paris", "FR", "Rue A"), "b2": ("Berlin", "DE", "Strasse B")}


# -- branches: owns Branch; city and country are shareable; `address` moved to `geo` --------------
@strawberry.federation.type(keys=["id"])
class Branch:
    id: strawberry.ID
    city: str = strawberry.federation.field(shareable=True)
    country: str = strawberry.federation.field(shareable=True)
    address: str
    manager: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Branch:
        city, country, address = BRANCHES[str(id)]
        return Branch(id=id, city=city, country=country, address="old " + address, manager="M-" + str(id))


@strawberry.type
class BranchesQuery:
    @strawberry.federation.field(shareable=True)
    def headquarters(self) -> Branch:
        return Branch.resolve_reference("b1")

    @strawberry.field
    def branches(self) -> list[Branch]:
        return [Branch.resolve_reference(b) for b in sorted(BRANCHES)]


branches = Schema(query=BranchesQuery, federation_version="2.9")


# -- geo: also resolves city/country and the headquarters root field; took `address` over -----------
@strawberry.federation.type(keys=["id"], name="Branch")
class BranchG:
    id: strawberry.ID
    city: str = strawberry.federation.field(shareable=True)
    country: str = strawberry.federation.field(shareable=True)
    address: str = strawberry.federation.field(override="branches")
    timezone: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> BranchG:
        city, country, address = BRANCHES[str(id)]
        return BranchG(id=id, city=city, country=country, address=address, timezone=f"TZ/{city}")


@strawberry.type
class GeoQuery:
    @strawberry.federation.field(shareable=True)
    def headquarters(self) -> BranchG:
        return BranchG.resolve_reference("b1")

    @strawberry.field
    def nearest(self, city: str) -> BranchG | None:
        for bid, (bcity, _, _) in BRANCHES.items():
            if bcity == city:
                return BranchG.resolve_reference(bid)
        return None


geo = Schema(query=GeoQuery, federation_version="2.9")

SUBGRAPHS = {"branches": branches, "geo": geo}
