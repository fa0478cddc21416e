"""Account reads: per-request DataLoaders scoped by shared.access, postings pages and statements."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from aiodataloader import DataLoader
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.access import RequestAccess
from shared.auth import Principal
from shared.loaders import rows_by_parent
from subgraphs.account.models import (
    Account,
    AccountKind,
    Hold,
    HoldStatus,
    JournalEntry,
    Mandate,
    Payment,
    PaymentStatus,
    Posting,
)


@dataclass
class AccountLoaders:
    """Per-request loaders: accounts by id and by party; active holds and pending payments by account."""

    sessions: async_sessionmaker[AsyncSession]
    access: RequestAccess
    account: DataLoader = field(init=False)
    by_party: DataLoader = field(init=False)
    holds: DataLoader = field(init=False)
    pending_payments: DataLoader = field(init=False)

    def __post_init__(self) -> None:
        async def accounts(ids: list[uuid.UUID]) -> list[Account | None]:
            scope = await self.access.scope()
            async with self.sessions() as session:
                rows = (await session.execute(select(Account).where(
                    Account.id.in_(ids), Account.kind == AccountKind.CUSTOMER.value))).scalars().all()
            found = {r.id: r for r in rows if scope.admits(r.party_id)}
            return [found.get(i) for i in ids]

        async def by_party(ids: list[uuid.UUID]) -> list[list[Account]]:
            scope = await self.access.scope()
            async with self.sessions() as session:
                rows = (await session.execute(select(Account).where(Account.party_id.in_(ids))
                                              .order_by(Account.created_at, Account.id))).scalars().all()
            grouped: dict[uuid.UUID, list[Account]] = defaultdict(list)
            for row in rows:
                if scope.admits(row.party_id):
                    grouped[row.party_id].append(row)  # type: ignore[index]
            return [grouped.get(i, []) for i in ids]

        self.account = DataLoader(accounts)
        self.by_party = DataLoader(by_party)
        self.holds = rows_by_parent(self.sessions, Hold, Hold.account_id, Hold.created_at,
                                    Hold.status == HoldStatus.ACTIVE.value)
        self.pending_payments = rows_by_parent(
            self.sessions, Payment, Payment.account_id, Payment.created_at,
            Payment.status == PaymentStatus.PENDING_AUTHORISATION.value, Payment.expires_at > func.now())


def make_loaders(sessions: async_sessionmaker[AsyncSession], principal: Principal | None,
                 access: RequestAccess | None = None) -> AccountLoaders:
    """Builds the loaders of one request (the access state is the request's; a bare one for direct callers)."""
    return AccountLoaders(sessions, access or RequestAccess(sessions, principal))


async def list_postings(session: AsyncSession, account_id: uuid.UUID, *, first: int,
                        after: int | None) -> tuple[list[tuple[Posting, JournalEntry]], bool]:
    """Returns postings newest first (by booking sequence) and whether more follow."""
    stmt = (select(Posting, JournalEntry).join(JournalEntry, JournalEntry.id == Posting.journal_entry_id)
            .where(Posting.account_id == account_id).order_by(Posting.seq.desc()).limit(first + 1))
    if after is not None:
        stmt = stmt.where(Posting.seq < after)
    rows = [(p, j) for p, j in (await session.execute(stmt)).all()]
    return rows[:first], len(rows) > first


async def get_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment | None:
    return await session.get(Payment, payment_id)


async def get_mandate(session: AsyncSession, account_id: uuid.UUID) -> Mandate | None:
    return (await session.execute(select(Mandate).where(Mandate.account_id == account_id,
                                                        Mandate.status == "ACTIVE"))).scalar_one_or_none()


@dataclass(frozen=True)
class StatementLine:
    booking_date: dt.date
    value_date: dt.date
    entry_type: str
    reference: str | None
    amount: Decimal
    running_balance: Decimal
    posting_id: uuid.UUID
    journal_entry_id: uuid.UUID


@dataclass(frozen=True)
class StatementData:
    account_id: uuid.UUID
    account_number: str
    currency: str
    period_start: dt.date
    period_end: dt.date
    opening_balance: Decimal
    closing_balance: Decimal
    total_credits: Decimal
    total_debits: Decimal
    lines: Sequence[StatementLine]

    def csv(self) -> str:
        """Renders the statement as CSV: a header row, one row per entry, then opening and closing totals."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["booking_date", "value_date", "type", "reference", "debit", "credit", "balance"])
        writer.writerow([self.period_start.isoformat(), "", "OPENING", "", "", "", f"{self.opening_balance:.2f}"])
        for line in self.lines:
            debit = f"{-line.amount:.2f}" if line.amount < 0 else ""
            credit = f"{line.amount:.2f}" if line.amount > 0 else ""
            writer.writerow([line.booking_date.isoformat(), line.value_date.isoformat(), line.entry_type,
                             line.reference or "", debit, credit, f"{line.running_balance:.2f}"])
        writer.writerow([self.period_end.isoformat(), "", "CLOSING", "", f"{self.total_debits:.2f}",
                         f"{self.total_credits:.2f}", f"{self.closing_balance:.2f}"])
        return out.getvalue()


async def statement(session: AsyncSession, account: Account, start: dt.date, end: dt.date) -> StatementData:
    """Builds the statement of a booking-date period from the postings' running balances."""
    opening = await session.scalar(select(func.coalesce(func.sum(Posting.amount), 0)).where(
        Posting.account_id == account.id, Posting.booking_date < start))
    rows = (await session.execute(
        select(Posting, JournalEntry).join(JournalEntry, JournalEntry.id == Posting.journal_entry_id)
        .where(Posting.account_id == account.id, Posting.booking_date >= start, Posting.booking_date <= end)
        .order_by(Posting.seq))).all()
    lines = [StatementLine(booking_date=p.booking_date, value_date=p.value_date, entry_type=j.entry_type,
                           reference=p.description, amount=p.amount, running_balance=p.running_balance,
                           posting_id=p.id, journal_entry_id=j.id) for p, j in rows]
    credits = sum((line.amount for line in lines if line.amount > 0), Decimal(0))
    debits = sum((-line.amount for line in lines if line.amount < 0), Decimal(0))
    opening_balance = Decimal(opening or 0)
    return StatementData(account_id=account.id, account_number=account.account_number, currency=account.currency,
                         period_start=start, period_end=end, opening_balance=opening_balance,
                         closing_balance=opening_balance + credits - debits, total_credits=credits,
                         total_debits=debits, lines=lines)
