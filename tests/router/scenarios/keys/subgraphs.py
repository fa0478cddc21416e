"""Several keys per type, key chains, compound keys and nested (object-valued) keys."""

from __future__ import annotations

import strawberry
from strawberry.federation import Schema

PEOPLE = {"1": ("111", "Ada"), "2": ("222", "Alan")}  # id -> (ssn, name)
RISK = {"111": 0.1, "222": 0.7}
TRANSFERS = [("FR", "DE", 100), ("DE", "GB", 250)]
ACCOUNTS = {("a1", "acme"): "Acme current", ("a2", "acme"): "Acme savings"}


# -- people: User by id and by ssn; Transfer by nested key --------------------------------------
@strawberry.federation.type(keys=["id", "ssn"])
class User:
    id: strawberry.ID
    ssn: str
    name: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID | None = None, ssn: str | None = None) -> User | None:
        for pid, (pssn, name) in PEOPLE.items():
            if pid == id or pssn == ssn:
                return User(id=pid, ssn=pssn, name=name)
        return None


@strawberry.type
class Country:
    iso: str


@strawberry.federation.type(keys=["from_ { iso } to { iso }"], name="Transfer")
class TransferP:
    from_: Country
    to: Country
    amount: int


@strawberry.type
class PeopleQuery:
    @strawberry.field
    def people(self) -> list[User]:
        return [User.resolve_reference(id=i) for i in sorted(PEOPLE)]

    @strawberry.field
    def transfers(self) -> list[TransferP]:
        return [TransferP(from_=Country(iso=f), to=Country(iso=t), amount=a) for f, t, a in TRANSFERS]


people = Schema(query=PeopleQuery, federation_version="2.9")


# -- notes: knows User only by id; Account by compound key ---------------------------------------
@strawberry.federation.type(keys=["id"], name="User")
class UserN:
    id: strawberry.ID

    @strawberry.field
    def notes(self) -> list[str]:
        return [f"note for {self.id}"]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> UserN:
        return UserN(id=id)


@strawberry.federation.type(keys=["number org"])
class Account:
    number: str
    org: str

    @strawberry.field
    def holder(self) -> UserN:
        return UserN(id="1" if self.number == "a1" else "2")


@strawberry.type
class NotesQuery:
    @strawberry.field
    def authors(self) -> list[UserN]:
        return [UserN(id="2"), UserN(id="1"), UserN(id="2")]

    @strawberry.field
    def accounts(self) -> list[Account]:
        return [Account(number=n, org=o) for n, o in sorted(ACCOUNTS)]


notes = Schema(query=NotesQuery, federation_version="2.9")


# -- risk: knows User only by ssn; Account label by compound key; Transfer fee by nested key -----
@strawberry.federation.type(keys=["ssn"], name="User")
class UserRisk:
    ssn: str

    @strawberry.field
    def risk_score(self) -> float:
        return RISK[self.ssn]

    @classmethod
    def resolve_reference(cls, ssn: str) -> UserRisk:
        return UserRisk(ssn=ssn)


@strawberry.federation.type(keys=["number org"], name="Account")
class AccountR:
    number: str
    org: str

    @strawberry.field
    def label(self) -> str:
        return ACCOUNTS[(self.number, self.org)]

    @classmethod
    def resolve_reference(cls, number: str, org: str) -> AccountR:
        return AccountR(number=number, org=org)


@strawberry.federation.type(shareable=True, name="Country")
class CountryR:
    iso: str


@strawberry.federation.type(keys=["from_ { iso } to { iso }"], name="Transfer")
class TransferR:
    from_: CountryR
    to: CountryR

    @strawberry.field
    def fee(self) -> int:
        return 5 if self.from_.iso == "FR" else 9

    @classmethod
    def resolve_reference(cls, from_: dict, to: dict) -> TransferR:
        return TransferR(from_=CountryR(iso=from_["iso"]), to=CountryR(iso=to["iso"]))


@strawberry.type
class RiskQuery:
    @strawberry.field
    def risk_version(self) -> str:
        return "v1"


risk = Schema(query=RiskQuery, types=[UserRisk, AccountR, TransferR], federation_version="2.9")

SUBGRAPHS = {"people": people, "notes": notes, "risk": risk}
