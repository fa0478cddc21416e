"""Mutations on two subgraphs run in document order; follow-up entity fetches are queries."""

from __future__ import annotations

import strawberry
from strawberry.federation import Schema

LOG: list[str] = []  # order in which root mutation fields ran, across both subgraphs
BALANCES: dict[str, int] = {"acc1": 100}


# -- ledger ----------------------------------------------------------------------------------------
@strawberry.federation.type(keys=["id"])
class Account:
    id: strawberry.ID

    @strawberry.field
    def balance(self) -> int:
        return BALANCES.get(str(self.id), 0)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Account:
        return Account(id=id)


@strawberry.type
class LedgerQuery:
    @strawberry.field
    def account(self, id: strawberry.ID) -> Account:
        return Account(id=id)


@strawberry.type
class LedgerMutation:
    @strawberry.mutation
    def deposit(self, id: strawberry.ID, amount: int) -> Account:
        LOG.append(f"deposit {amount}")
        BALANCES[str(id)] = BALANCES.get(str(id), 0) + amount
        return Account(id=id)

    @strawberry.mutation
    def reset(self) -> int:
        LOG.clear()
        BALANCES.clear()
        BALANCES["acc1"] = 100
        return len(BALANCES)


ledger = Schema(query=LedgerQuery, mutation=LedgerMutation, federation_version="2.9")


# -- audit: records what happened and adds `history` to accounts -----------------------------------
@strawberry.federation.type(keys=["id"], name="Account")
class AccountA:
    id: strawberry.ID

    @strawberry.field
    def history(self) -> list[str]:
        return list(LOG)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> AccountA:
        return AccountA(id=id)


@strawberry.type
class AuditQuery:
    @strawberry.field
    def entries(self) -> int:
        return len(LOG)


@strawberry.type
class AuditMutation:
    @strawberry.mutation
    def note(self, text: str) -> str:
        LOG.append(f"note {text}")
        return f"noted {text} after {len(LOG) - 1} entries"


audit = Schema(query=AuditQuery, mutation=AuditMutation, types=[AccountA], federation_version="2.9")

SUBGRAPHS = {"ledger": ledger, "audit": audit}
