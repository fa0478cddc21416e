"""@authenticated, @requiresScopes and @policy on fields, types, interfaces, scalars and enums.

Apollo Gateway does not serve SECURITY features, so this scenario has no differential cases: its
composition is checked against @apollo/composition and its behaviour in tests/router/test_authorization.py.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, NewType

import strawberry
from strawberry.federation import Schema
from strawberry.federation.schema_directives import Authenticated, Policy, RequiresScopes

RiskGrade = strawberry.federation.scalar(
    NewType("RiskGrade", str), name="RiskGrade", directives=[RequiresScopes(scopes=[["risk:read"]])]
)


@strawberry.federation.enum(directives=[Authenticated()])
class Tier(Enum):
    GOLD = "GOLD"
    SILVER = "SILVER"


@strawberry.interface
class Node:
    id: strawberry.ID
    label: str | None


@strawberry.interface
class Staff:
    badge: str


@strawberry.federation.type(keys=["id"])
class Customer(Node):
    name: str
    label: str | None = strawberry.federation.field(directives=[RequiresScopes(scopes=[["a"], ["b", "c"]])])
    email: str | None = strawberry.federation.field(directives=[RequiresScopes(scopes=[["pii:read"], ["admin"]])])
    tier: Tier | None = None
    internal_ref: str | None = strawberry.federation.field(default=None, inaccessible=True)
    grade: RiskGrade | None = None
    notes: str | None = strawberry.federation.field(
        default=None, directives=[Policy(policies=[["role:rm", "mfa"], ["role:auditor"]])]
    )

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Customer:
        return customer(str(id))


@strawberry.federation.type(directives=[Authenticated()])
class Secret(Node):
    code: str
    label: str | None = strawberry.federation.field(directives=[RequiresScopes(scopes=[["d"]])])


@strawberry.federation.type(directives=[RequiresScopes(scopes=[["hr:read"]])])
class Clerk(Staff):
    desk: int


def customer(cid: str) -> Customer:
    return Customer(
        id=strawberry.ID(cid),
        name=f"Customer {cid}",
        email=f"c{cid}@example.com",
        tier=Tier.GOLD,
        grade=RiskGrade("B"),
        label=f"label {cid}",
        notes=f"notes {cid}",
    )


@strawberry.type
class CustomersQuery:
    @strawberry.field
    def public_info(self) -> str:
        return "open"

    @strawberry.federation.field(directives=[Authenticated()])
    def me(self) -> Customer | None:
        return customer("1")

    @strawberry.federation.field(directives=[RequiresScopes(scopes=[["customer:read"]])])
    def customers(self) -> list[Customer]:
        return [customer("1"), customer("2")]

    @strawberry.field
    def nodes(self) -> list[Node]:
        return [customer("1"), Secret(id=strawberry.ID("s1"), code="xyzzy", label="secret")]

    @strawberry.field
    def search(self) -> list[Annotated[Customer | Secret, strawberry.union("SearchResult")]]:
        return [customer("3"), Secret(id=strawberry.ID("s2"), code="plugh", label=None)]

    @strawberry.field
    def staff(self) -> list[Staff]:
        return [Clerk(badge="b-7", desk=3)]

    @strawberry.federation.field(directives=[Policy(policies=[["role:auditor"]])])
    def audit_log(self) -> list[str]:
        return ["e1", "e2"]


customers = Schema(query=CustomersQuery, types=[Secret, Clerk], federation_version="2.9")


# -- accounts: extends Customer; an @authenticated type and a scope pair on a field ------------------
@strawberry.federation.type(directives=[Authenticated()])
class Account:
    number: str
    balance: int = strawberry.federation.field(directives=[RequiresScopes(scopes=[["accounts:read", "pii:read"]])])


@strawberry.federation.type(keys=["id"], name="Customer")
class CustomerA:
    id: strawberry.ID

    @strawberry.field
    def accounts(self) -> list[Account]:
        return [Account(number=f"{self.id}-1", balance=100)]

    @strawberry.field
    def account_count(self) -> int:
        return 1

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> CustomerA:
        return CustomerA(id=id)


@strawberry.type
class AccountsQuery:
    @strawberry.field
    def bank_name(self) -> str:
        return "Finpace"


accounts = Schema(query=AccountsQuery, types=[CustomerA], federation_version="2.9")

SUBGRAPHS = {"accounts": accounts, "customers": customers}
