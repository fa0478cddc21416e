"""GraphQL types of the account subgraph: the Account entity, Party and Product stubs, ledger views, results."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from shared import errors
from shared.errors import InputError
from shared.graphql import (
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    MoneyType,
    NotFoundError,
    check_page_size,
    error_type,
    parse_uuid,
    register_error,
)
from shared.money import Money
from subgraphs.account import models, queries
from subgraphs.account.ledger import AccountRestricted, today

AccountStatusEnum = strawberry.enum(models.AccountStatus, name="AccountStatus")
RestrictionEnum = strawberry.enum(models.Restriction, name="AccountRestriction")
DayCountEnum = strawberry.enum(models.DayCount, name="DayCount")
HoldStatusEnum = strawberry.enum(models.HoldStatus, name="HoldStatus")
PaymentStatusEnum = strawberry.enum(models.PaymentStatus, name="PaymentStatus")

InsufficientFundsError = error_type("INSUFFICIENT_FUNDS", "InsufficientFunds",
                                    "The debit exceeds the available balance (booked - holds + overdraft).")
MandateNotSatisfiedError = error_type("MANDATE_NOT_SATISFIED", "MandateNotSatisfied",
                                      "The account's signing mandate does not allow this.")
AccountRestrictedError = error_type("ACCOUNT_RESTRICTED", "AccountRestricted",
                                    "A restriction on the account (FROZEN, DEBIT_BLOCKED, CREDIT_BLOCKED) refuses it.")
register_error(errors.InsufficientFunds, InsufficientFundsError)
register_error(errors.MandateNotSatisfied, MandateNotSatisfiedError)
register_error(AccountRestricted, AccountRestrictedError)


def money(amount: Decimal, currency: str) -> MoneyType:
    return MoneyType.of(Money(Decimal(amount), currency))


@strawberry.federation.type(keys=["id"], description="A product version, owned by the product subgraph.")
class Product:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, **_: object) -> Product:
        return cls(id=id)


@strawberry.type
class Overdraft:
    limit: MoneyType
    debit_rate_pct: Decimal
    expires_on: dt.date | None
    headroom: MoneyType = strawberry.field(description="The limit while it has not expired, else zero.")


@strawberry.type(name="Hold")
class HoldType:
    id: strawberry.ID
    amount: MoneyType
    reason: str
    status: HoldStatusEnum
    expires_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, row: models.Hold, currency: str) -> HoldType:
        return cls(id=strawberry.ID(str(row.id)), amount=money(row.amount, currency), reason=row.reason,
                   status=models.HoldStatus(row.status), expires_at=row.expires_at, created_at=row.created_at)


@strawberry.type(name="Posting")
class PostingType:
    id: strawberry.ID
    journal_entry_id: strawberry.ID
    entry_type: str
    amount: MoneyType = strawberry.field(description="Signed: credits positive, debits negative.")
    booking_date: dt.date
    value_date: dt.date
    running_balance: MoneyType
    description: str | None
    cursor: str


@strawberry.type
class PostingPage:
    items: list[PostingType]
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(name="JournalEntry")
class JournalEntryType:
    id: strawberry.ID
    entry_type: str
    reference: str | None
    booking_date: dt.date
    value_date: dt.date
    reversal_of: strawberry.ID | None

    @classmethod
    def of(cls, row: models.JournalEntry) -> JournalEntryType:
        return cls(id=strawberry.ID(str(row.id)), entry_type=row.entry_type, reference=row.reference,
                   booking_date=row.booking_date, value_date=row.value_date,
                   reversal_of=strawberry.ID(str(row.reversal_of)) if row.reversal_of else None)


@strawberry.type
class NoCharge:
    """The period's interest or fee came to zero (recorded, so a re-run is still a no-op)."""

    period: str


@strawberry.type
class SignatoryType:
    party_id: strawberry.ID
    group: str
    limit: Decimal | None


@strawberry.type
class RequirementType:
    groups: list[str]
    count: int


@strawberry.type
class MandateRuleType:
    operation: str
    min: Decimal
    max: Decimal | None
    requires: list[RequirementType]


@strawberry.type(name="Mandate")
class MandateType:
    id: strawberry.ID
    status: str
    signatories: list[SignatoryType]
    rules: list[MandateRuleType]

    @classmethod
    def of(cls, row: models.Mandate) -> MandateType:
        return cls(
            id=strawberry.ID(str(row.id)), status=row.status,
            signatories=[SignatoryType(party_id=strawberry.ID(str(s["party_id"])), group=str(s["group"]),
                                       limit=None if s.get("limit") is None else Decimal(str(s["limit"])))
                         for s in row.signatories],
            rules=[MandateRuleType(operation=str(r["operation"]), min=Decimal(str(r["min"])),
                                   max=None if r.get("max") is None else Decimal(str(r["max"])),
                                   requires=[RequirementType(groups=list(q["groups"]), count=int(q["count"]))
                                             for q in r["requires"]]) for r in row.rules])


@strawberry.type(name="Payment")
class PaymentType:
    id: strawberry.ID
    account_id: strawberry.ID
    to_account_id: strawberry.ID | None
    beneficiary: str | None
    amount: MoneyType
    reference: str | None
    status: PaymentStatusEnum
    approvals: list[strawberry.ID]
    expires_at: dt.datetime
    journal_entry_id: strawberry.ID | None

    @classmethod
    def of(cls, row: models.Payment) -> PaymentType:
        return cls(id=strawberry.ID(str(row.id)), account_id=strawberry.ID(str(row.account_id)),
                   to_account_id=strawberry.ID(str(row.to_account_id)) if row.to_account_id else None,
                   beneficiary=row.beneficiary, amount=money(row.amount, row.currency), reference=row.reference,
                   status=models.PaymentStatus(row.status), approvals=[strawberry.ID(a) for a in row.approvals],
                   expires_at=row.expires_at,
                   journal_entry_id=strawberry.ID(str(row.journal_entry_id)) if row.journal_entry_id else None)


@strawberry.type
class StatementLineType:
    booking_date: dt.date
    value_date: dt.date
    entry_type: str
    reference: str | None
    amount: MoneyType
    running_balance: MoneyType


@strawberry.type(name="Statement")
class StatementType:
    account_id: strawberry.ID
    period_start: dt.date
    period_end: dt.date
    opening_balance: MoneyType
    closing_balance: MoneyType
    total_credits: MoneyType
    total_debits: MoneyType
    entries: list[StatementLineType]
    csv: str

    @classmethod
    def of(cls, data: queries.StatementData) -> StatementType:
        c = data.currency
        return cls(account_id=strawberry.ID(str(data.account_id)), period_start=data.period_start,
                   period_end=data.period_end, opening_balance=money(data.opening_balance, c),
                   closing_balance=money(data.closing_balance, c), total_credits=money(data.total_credits, c),
                   total_debits=money(data.total_debits, c),
                   entries=[StatementLineType(booking_date=x.booking_date, value_date=x.value_date,
                                              entry_type=x.entry_type, reference=x.reference,
                                              amount=money(x.amount, c), running_balance=money(x.running_balance, c))
                            for x in data.lines], csv=data.csv())


@strawberry.federation.type(keys=["id"], description="An SME current account on the double-entry ledger.")
class Account:
    id: strawberry.ID
    account_number: str
    currency: str
    status: AccountStatusEnum
    restrictions: list[RestrictionEnum]
    nickname: str | None
    booked_balance: MoneyType
    available_balance: MoneyType
    held_amount: MoneyType
    overdraft: Overdraft
    day_count: DayCountEnum
    monthly_fee: MoneyType
    opened_on: dt.date | None
    activated_on: dt.date | None
    closed_on: dt.date | None
    version: int
    uid: strawberry.Private[uuid.UUID]
    party_uid: strawberry.Private[uuid.UUID]
    product_uid: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, row: models.Account) -> Account:
        c, day = row.currency, today()
        return cls(
            id=strawberry.ID(str(row.id)), account_number=row.account_number, currency=c,
            status=models.AccountStatus(row.status),
            restrictions=[models.Restriction(r) for r in row.restrictions or []], nickname=row.nickname,
            booked_balance=money(row.booked_balance, c), available_balance=money(row.available(day), c),
            held_amount=money(row.held_amount, c),
            overdraft=Overdraft(limit=money(row.overdraft_limit, c), debit_rate_pct=row.overdraft_rate_pct,
                                expires_on=row.overdraft_expires_on, headroom=money(row.overdraft_headroom(day), c)),
            day_count=models.DayCount(row.day_count), monthly_fee=money(row.monthly_fee, c),
            opened_on=row.opened_on, activated_on=row.activated_on, closed_on=row.closed_on, version=row.version,
            uid=row.id, party_uid=row.party_id, product_uid=row.product_id,  # type: ignore[arg-type]
        )

    @classmethod
    async def load(cls, info: Info, account_id: uuid.UUID) -> Account | None:
        row = await info.context.loaders.account.load(account_id)
        return cls.of(row) if row is not None else None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID, **_: object) -> Account | None:
        info.context.require()
        return await cls.load(info, parse_uuid(id))

    @strawberry.field
    def holder(self) -> Party:
        return Party(id=strawberry.ID(str(self.party_uid)))

    @strawberry.field(description="The product version pinned at opening.")
    def product(self) -> Product:
        return Product(id=strawberry.ID(str(self.product_uid)))

    @strawberry.field
    async def holds(self, info: Info) -> list[HoldType]:
        return [HoldType.of(h, self.currency) for h in await info.context.loaders.holds.load(self.uid)]

    @strawberry.field(description="Payments waiting for signatories' approval (not yet expired), oldest first.")
    async def pending_payments(self, info: Info) -> list[PaymentType]:
        return [PaymentType.of(p) for p in await info.context.loaders.pending_payments.load(self.uid)]

    @strawberry.field
    async def mandate(self, info: Info) -> MandateType | None:
        async with info.context.sessions() as session:
            row = await queries.get_mandate(session, self.uid)
        return MandateType.of(row) if row else None

    @strawberry.field(description="Postings newest first; `after` is the cursor of the last one seen.")
    async def postings(self, info: Info, first: int = 50, after: str | None = None) -> PostingPage:
        try:
            seq = int(after) if after is not None else None
        except ValueError:
            raise InputError("after is not a posting cursor.", field="after") from None
        async with info.context.sessions() as session:
            rows, more = await queries.list_postings(session, self.uid, first=check_page_size(first), after=seq)
        items = [PostingType(id=strawberry.ID(str(p.id)), journal_entry_id=strawberry.ID(str(j.id)),
                             entry_type=j.entry_type, amount=money(p.amount, self.currency),
                             booking_date=p.booking_date, value_date=p.value_date,
                             running_balance=money(p.running_balance, self.currency), description=p.description,
                             cursor=str(p.seq)) for p, j in rows]
        return PostingPage(items=items, has_next_page=more, end_cursor=items[-1].cursor if items else None)

    @strawberry.field(description="The statement of a booking-date period (inclusive), as data and CSV.")
    async def statement(self, info: Info, from_date: dt.date, to_date: dt.date) -> StatementType:
        if to_date < from_date:
            raise InputError("toDate is before fromDate.", field="toDate")
        async with info.context.sessions() as session:
            row = await session.get(models.Account, self.uid)
            assert row is not None
            return StatementType.of(await queries.statement(session, row, from_date, to_date))


@strawberry.federation.type(keys=["id"], description="A party, owned by the party subgraph.")
class Party:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID, **_: object) -> Party:
        return cls(id=id)

    @strawberry.field(description="The party's accounts (customers see only their own).")
    async def accounts(self, info: Info) -> list[Account]:
        info.context.require()
        rows = await info.context.loaders.by_party.load(parse_uuid(self.id))
        return [Account.of(r) for r in rows]


Errors = (NotFoundError | InvalidTransitionError | ConflictError | IdempotencyKeyReusedError  # type: ignore[operator]
          | InsufficientFundsError | MandateNotSatisfiedError | AccountRestrictedError)
AccountResult = Annotated[Account | Errors, strawberry.union("AccountResult")]  # type: ignore[valid-type]
HoldResult = Annotated[HoldType | Errors, strawberry.union("HoldResult")]  # type: ignore[valid-type]
EntryResult = Annotated[JournalEntryType | Errors, strawberry.union("JournalEntryResult")]  # type: ignore[valid-type]
ChargeResult = Annotated[JournalEntryType | NoCharge | Errors,  # type: ignore[valid-type]
                         strawberry.union("PeriodChargeResult")]
MandateResult = Annotated[MandateType | Errors, strawberry.union("MandateResult")]  # type: ignore[valid-type]
PaymentResult = Annotated[PaymentType | Errors, strawberry.union("PaymentResult")]  # type: ignore[valid-type]
StatementResult = Annotated[StatementType | Errors, strawberry.union("StatementResult")]  # type: ignore[valid-type]
