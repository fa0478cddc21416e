"""The ledger core: locking, state gates, internal accounts and booking balanced journal entries."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared import access
from shared.db import UnitOfWork
from shared.errors import CurrencyMismatch, DomainError, InputError, InsufficientFunds, InvalidTransition, NotFound
from shared.money import Money
from subgraphs.account import events
from subgraphs.account.models import (
    Account,
    AccountKind,
    AccountStatus,
    Hold,
    HoldStatus,
    InternalPurpose,
    JournalEntry,
    Posting,
    Restriction,
)


class AccountClosed(InvalidTransition):
    """Postings are refused on an account that is not ACTIVE."""


class AccountRestricted(InvalidTransition):
    """A restriction (FROZEN, DEBIT_BLOCKED, CREDIT_BLOCKED) refuses the movement."""

    code = "ACCOUNT_RESTRICTED"


def wire(amount: Decimal, currency: str) -> str:
    """Formats an amount for an event: a decimal string with exactly the currency's minor digits."""
    return Money(Decimal(amount), currency).wire_amount()


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def missing_account(account_id: uuid.UUID) -> NotFound:
    return NotFound(f"Account {account_id} does not exist.", account_id=str(account_id))


async def lock_accounts(uow: UnitOfWork, ids: Sequence[uuid.UUID], *, acting_on: uuid.UUID | None = None,
                        missing: NotFound | None = None) -> dict[uuid.UUID, Account]:
    """Locks customer account rows FOR UPDATE in id order (no deadlocks) and sweeps their expired holds.

    `acting_on` is the account the command changes: when its party is not one the caller may write, it raises
    `missing` (default: the account's own NotFound), exactly what a missing account raises. The other accounts
    (a transfer's beneficiary, the accounts a signatory's approval executes on) are not the caller's to see.
    """
    wanted = sorted(set(ids))
    rows = (await uow.session.execute(
        select(Account).where(Account.id.in_(wanted), Account.kind == AccountKind.CUSTOMER.value)
        .order_by(Account.id).with_for_update()
    )).scalars().all()
    found = {row.id: row for row in rows}
    if acting_on is not None:  # first: a refused account answers the same whatever the other ids are
        refused = missing or missing_account(acting_on)
        if acting_on not in found:
            raise refused
        await access.require_party(uow, found[acting_on].party_id, refused)
    for account_id in wanted:
        if account_id not in found:
            raise missing_account(account_id)
    for account in found.values():
        await sweep_expired_holds(uow, account)
    return found


async def lock_account(uow: UnitOfWork, account_id: uuid.UUID, missing: NotFound | None = None) -> Account:
    """Locks the customer account row a command changes FOR UPDATE (one the caller may not write: `missing`)."""
    return (await lock_accounts(uow, [account_id], acting_on=account_id, missing=missing))[account_id]


async def sweep_expired_holds(uow: UnitOfWork, account: Account, at: dt.datetime | None = None) -> int:
    """Expires the account's holds past their expiry (the account row must be locked)."""
    moment = at or now()
    holds = (await uow.session.execute(
        select(Hold).where(Hold.account_id == account.id, Hold.status == HoldStatus.ACTIVE.value,
                           Hold.expires_at.is_not(None), Hold.expires_at <= moment)
    )).scalars().all()
    for hold in holds:
        hold.status, hold.ended_at = HoldStatus.EXPIRED.value, moment
        account.held_amount = Decimal(account.held_amount) - hold.amount
        await uow.emit(events.HoldReleased(account_id=str(account.id), hold_id=str(hold.id),
                                           amount=wire(hold.amount, account.currency),
                                           currency=account.currency, status=HoldStatus.EXPIRED.value),
                       aggregate_id=hold.id, aggregate_version=2)
    return len(holds)


def check_currency_of(account: Account, money: Money) -> None:
    if money.currency != account.currency:
        raise CurrencyMismatch(f"Account {account.account_number} is in {account.currency}, not {money.currency}.",
                               field="amount")


def check_can_post(account: Account) -> None:
    if account.status != AccountStatus.ACTIVE.value:
        raise AccountClosed(f"Account {account.account_number} is {account.status}; postings need ACTIVE.")


def check_debit(account: Account, money: Money) -> None:
    """Refuses a debit the account's state, restrictions or available balance do not allow."""
    check_currency_of(account, money)
    check_can_post(account)
    blocked = {Restriction.FROZEN.value, Restriction.DEBIT_BLOCKED.value} & set(account.restrictions or [])
    if blocked:
        raise AccountRestricted(f"Account {account.account_number} is {sorted(blocked)[0]}; debits are refused.")
    available = account.available(today())
    if money.amount > available:
        raise InsufficientFunds(
            f"Debit of {money} exceeds the available balance {Money(available, account.currency)} "
            f"of account {account.account_number}.", available=str(available))


def check_credit(account: Account, money: Money) -> None:
    """Refuses a credit the account's state or restrictions do not allow."""
    check_currency_of(account, money)
    check_can_post(account)
    blocked = {Restriction.FROZEN.value, Restriction.CREDIT_BLOCKED.value} & set(account.restrictions or [])
    if blocked:
        raise AccountRestricted(f"Account {account.account_number} is {sorted(blocked)[0]}; credits are refused.")


async def internal_account(uow: UnitOfWork, purpose: InternalPurpose, currency: str) -> uuid.UUID:
    """Returns the internal account of a purpose and currency, creating it on first use."""
    stmt = select(Account.id).where(Account.kind == AccountKind.INTERNAL.value, Account.purpose == purpose.value,
                                    Account.currency == currency)
    found = await uow.session.scalar(stmt)
    if found is not None:
        return found
    await uow.session.execute(pg_insert(Account).values(
        id=uuid.uuid4(), account_number=f"INT-{purpose.value}-{currency}", kind=AccountKind.INTERNAL.value,
        purpose=purpose.value, currency=currency, status=AccountStatus.ACTIVE.value, restrictions=[],
        booked_balance=0, held_amount=0, overdraft_limit=0, overdraft_rate_pct=0, monthly_fee=0, version=1,
    ).on_conflict_do_nothing())
    return (await uow.session.scalar(stmt))  # type: ignore[return-value]


@dataclass(frozen=True)
class Leg:
    """One side of a movement: a customer Account (locked) or an internal account id, and a signed amount."""

    account: Account | uuid.UUID
    amount: Decimal
    description: str | None = None


async def book(uow: UnitOfWork, *, entry_type: str, legs: Sequence[Leg], currency: str, reference: str | None,
               value_date: dt.date | None = None, reversal_of: uuid.UUID | None = None,
               reversed_postings: dict[uuid.UUID, uuid.UUID] | None = None) -> JournalEntry:
    """Books a journal entry whose legs sum to zero; updates customer snapshots and emits PostingBooked."""
    if not legs or sum((leg.amount for leg in legs), Decimal(0)) != 0:
        raise DomainError("A journal entry must have postings that sum to zero.")
    if not any(leg.amount < 0 for leg in legs) or not any(leg.amount > 0 for leg in legs):
        raise DomainError("A journal entry needs at least one debit and one credit.")
    booking = today()
    value = value_date or booking
    if value > booking:
        raise InputError(f"valueDate {value} is in the future.", field="valueDate")
    entry = JournalEntry(id=uuid.uuid4(), entry_type=entry_type, reference=reference, booking_date=booking,
                         value_date=value, reversal_of=reversal_of, created_by=uow.context.actor.sub)
    uow.session.add(entry)
    await uow.session.flush()
    for leg in legs:
        account = leg.account
        posting = Posting(id=uuid.uuid4(), journal_entry_id=entry.id, amount=leg.amount, currency=currency,
                          booking_date=booking, value_date=value, description=leg.description or reference)
        if isinstance(account, Account):
            account.booked_balance = Decimal(account.booked_balance) + leg.amount
            account.version += 1
            posting.account_id, posting.running_balance = account.id, account.booked_balance
        else:
            posting.account_id = account
        uow.session.add(posting)
        if isinstance(account, Account):
            await uow.session.flush()
            common = {"account_id": str(account.id), "posting_id": str(posting.id),
                      "journal_entry_id": str(entry.id), "amount": wire(abs(leg.amount), currency),
                      "currency": currency,
                      "direction": "CREDIT" if leg.amount > 0 else "DEBIT", "booking_date": booking.isoformat(),
                      "value_date": value.isoformat(), "running_balance": wire(account.booked_balance, currency)}
            if reversal_of is not None:
                event: events.PostingEvent = events.PostingReversed(
                    **common, reversed_posting_id=str((reversed_postings or {}).get(account.id, "")))
            else:
                event = events.PostingBooked(**common, entry_type=entry_type)
            await uow.emit(event, aggregate_id=posting.id, aggregate_version=1)
            if Decimal(account.booked_balance) < -account.overdraft_headroom(booking):
                await uow.emit(events.OverdraftLimitExceeded(
                    account_id=str(account.id), booked_balance=wire(account.booked_balance, currency),
                    overdraft_limit=wire(account.overdraft_headroom(booking), currency), currency=account.currency),
                    aggregate_id=account.id, aggregate_version=account.version)
    await uow.session.flush()
    return entry


async def reverse(uow: UnitOfWork, *, journal_entry_id: uuid.UUID, reason: str) -> JournalEntry:
    """Books the exact negation of an entry (forced; the original postings are never changed)."""
    original = (await uow.session.execute(
        select(JournalEntry).where(JournalEntry.id == journal_entry_id).with_for_update())).scalar_one_or_none()
    if original is None:
        raise NotFound(f"Journal entry {journal_entry_id} does not exist.")
    if original.reversal_of is not None:
        raise InvalidTransition("A reversal cannot itself be reversed; book a new entry instead.")
    if await uow.session.scalar(select(JournalEntry.id).where(JournalEntry.reversal_of == original.id)):
        raise InvalidTransition(f"Journal entry {original.id} is already reversed.")
    postings = (await uow.session.execute(
        select(Posting).where(Posting.journal_entry_id == original.id).order_by(Posting.seq))).scalars().all()
    customer_ids = [p.account_id for p in postings if p.running_balance is not None]
    locked = await lock_accounts(uow, customer_ids)
    for account in locked.values():
        check_can_post(account)
    legs = [Leg(locked.get(p.account_id, p.account_id), -p.amount, f"Reversal: {reason}"[:140]) for p in postings]
    per_account = {p.account_id: p.id for p in postings}
    return await book(uow, entry_type="REVERSAL", legs=legs, currency=postings[0].currency,
                      reference=f"Reversal of {original.id}", reversal_of=original.id, reversed_postings=per_account)


async def ledger_totals(session: object) -> dict[str, Decimal]:
    """Returns the sum of all postings per currency (always zero)."""
    rows = (await session.execute(  # type: ignore[attr-defined]
        select(Posting.currency, func.sum(Posting.amount)).group_by(Posting.currency))).all()
    out: dict[str, Decimal] = defaultdict(Decimal)
    for currency, total in rows:
        out[currency] = total
    return dict(out)

