"""Account use cases: open, lifecycle, restrictions, overdraft, holds, incoming payments, reversals, interest, fees."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from shared import access
from shared.db import UnitOfWork
from shared.errors import (
    Conflict,
    CurrencyMismatch,
    InputError,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransition,
    NotFound,
)
from shared.money import Money
from shared.products import sellable
from shared.validation import reason as check_reason
from subgraphs.account import events, queries, rules
from subgraphs.account.commands import OpenAccount
from subgraphs.account.ledger import (
    Leg,
    book,
    check_can_post,
    check_credit,
    check_debit,
    internal_account,
    lock_account,
    now,
    reverse,
    today,
    wire,
)
from subgraphs.account.models import (
    Account,
    AccountKind,
    AccountStatus,
    Hold,
    HoldStatus,
    InternalPurpose,
    JournalEntry,
    PeriodCharge,
    Posting,
    ProductVersion,
    Restriction,
)


async def _status(uow: UnitOfWork, account: Account, to: AccountStatus, reason: str) -> None:
    before = account.snapshot()
    old, account.status = account.status, to.value
    account.version += 1
    await uow.emit(events.AccountStatusChanged(account_id=str(account.id), from_status=old, to_status=to.value),
                   aggregate_id=account.id, aggregate_version=account.version, reason=reason, before=before,
                   after=account.snapshot())


async def open_account(uow: UnitOfWork, *, data: OpenAccount, idempotency_key: str) -> Account:
    """Opens a PENDING_OPEN account on an ACTIVE CURRENT_ACCOUNT product version, pinning its terms."""
    async with uow:
        if (prior := await uow.replayed("openAccount", idempotency_key, data, Account)) is not None:
            return prior
        # An account opens only for a party the caller may write: another portfolio's is "no such party".
        await access.require_party(uow, data.party_id, NotFound(f"Party {data.party_id} does not exist.",
                                                                party_id=str(data.party_id)))
        await sellable(uow.session, ProductVersion, data.product_id, families={"CURRENT_ACCOUNT"},
                       currency=data.currency, day=today())
        number = await uow.session.scalar(text("SELECT nextval('account_numbers')"))
        account = Account(
            id=uuid.uuid4(), account_number=f"FP{number:010d}", kind=AccountKind.CUSTOMER.value,
            party_id=data.party_id, product_id=data.product_id, currency=data.currency,
            status=AccountStatus.PENDING_OPEN.value, restrictions=[], nickname=data.nickname,
            booked_balance=Decimal(0), held_amount=Decimal(0), overdraft_limit=Decimal(0),
            overdraft_rate_pct=data.overdraft_rate_pct, day_count=data.day_count.value,
            monthly_fee=data.monthly_fee, opened_on=today(), version=1,
        )
        uow.session.add(account)
        await uow.emit(events.AccountOpened(account_id=str(account.id), party_id=str(data.party_id),
                                            product_id=str(data.product_id), account_number=account.account_number,
                                            currency=data.currency, status=account.status),
                       aggregate_id=account.id, aggregate_version=1, after=account.snapshot())
        await uow.commit({"id": str(account.id)})
        return account


async def activate_account(uow: UnitOfWork, *, account_id: uuid.UUID, reason: str) -> Account:
    """PENDING_OPEN → ACTIVE."""
    reason = check_reason(reason)
    async with uow:
        account = await lock_account(uow, account_id)
        if account.status != AccountStatus.PENDING_OPEN.value:
            raise InvalidTransition(f"Account {account.account_number} is {account.status}, not PENDING_OPEN.")
        account.activated_on = today()
        await _status(uow, account, AccountStatus.ACTIVE, reason)
        await uow.commit()
        return account


async def close_account(uow: UnitOfWork, *, account_id: uuid.UUID, reason: str) -> Account:
    """ACTIVE → CLOSED, only at a zero booked balance with no active holds."""
    reason = check_reason(reason)
    async with uow:
        account = await lock_account(uow, account_id)
        if account.status == AccountStatus.CLOSED.value:
            raise InvalidTransition(f"Account {account.account_number} is already CLOSED.")
        if Decimal(account.booked_balance) != 0:
            raise InvalidTransition(f"Account {account.account_number} has balance "
                                    f"{Money(account.booked_balance, account.currency)}; close needs zero.")
        if Decimal(account.held_amount) != 0:
            raise InvalidTransition(f"Account {account.account_number} has active holds; release them first.")
        account.closed_on = today()
        await _status(uow, account, AccountStatus.CLOSED, reason)
        await uow.commit()
        return account


async def set_restriction(uow: UnitOfWork, *, account_id: uuid.UUID, restriction: Restriction, applied: bool,
                          reason: str) -> Account:
    """Applies or lifts one restriction (DEBIT_BLOCKED, CREDIT_BLOCKED, FROZEN)."""
    reason = check_reason(reason)
    async with uow:
        account = await lock_account(uow, account_id)
        if account.status == AccountStatus.CLOSED.value:
            raise InvalidTransition(f"Account {account.account_number} is CLOSED.")
        current = set(account.restrictions or [])
        if (restriction.value in current) == applied:
            raise InvalidTransition(f"{restriction.value} is already {'applied' if applied else 'lifted'}.")
        before = account.snapshot()
        current = current | {restriction.value} if applied else current - {restriction.value}
        account.restrictions = sorted(current)
        account.version += 1
        await uow.emit(events.AccountRestrictionChanged(account_id=str(account.id), restriction=restriction.value,
                                                        applied=applied, restrictions=account.restrictions),
                       aggregate_id=account.id, aggregate_version=account.version, reason=reason, before=before,
                       after=account.snapshot())
        await uow.commit()
        return account


async def set_overdraft(uow: UnitOfWork, *, account_id: uuid.UUID, limit: Money, debit_rate_pct: Decimal | None,
                        expires_on: dt.date | None, reason: str) -> Account:
    """Arranges, changes or (limit 0) removes the overdraft; a cut below the current usage is refused."""
    reason = check_reason(reason)
    async with uow:
        account = await lock_account(uow, account_id)
        check_can_post(account)
        if limit.currency != account.currency:
            raise CurrencyMismatch(f"Overdraft must be in {account.currency}.", field="limit")
        if limit.amount < 0:
            raise InvalidAmount("The overdraft limit must not be negative.", field="limit")
        if expires_on is not None and expires_on <= today():
            raise InputError("expiresOn must be in the future.", field="expiresOn")
        if Decimal(account.booked_balance) - Decimal(account.held_amount) + limit.amount < 0:
            raise InsufficientFunds(f"A limit of {limit} is below the account's current usage.")
        new_rate = debit_rate_pct if debit_rate_pct is not None else Decimal(account.overdraft_rate_pct)
        if (Decimal(account.overdraft_limit), Decimal(account.overdraft_rate_pct), account.overdraft_expires_on) == (
                limit.amount, new_rate, expires_on):
            await uow.commit()  # the same terms again: nothing changes, no event
            return account
        before = account.snapshot()
        old = Decimal(account.overdraft_limit)
        account.overdraft_limit, account.overdraft_expires_on = limit.amount, expires_on
        if debit_rate_pct is not None:
            account.overdraft_rate_pct = debit_rate_pct
        account.version += 1
        await uow.emit(events.OverdraftLimitChanged(
            account_id=str(account.id), old_limit=wire(old, account.currency), new_limit=limit.wire_amount(),
            currency=account.currency,
            debit_rate_pct=str(account.overdraft_rate_pct),
            expires_on=expires_on.isoformat() if expires_on else None),
            aggregate_id=account.id, aggregate_version=account.version, reason=reason, before=before,
            after=account.snapshot())
        await uow.commit()
        return account


async def place_hold(uow: UnitOfWork, *, account_id: uuid.UUID, amount: Money, reason: str,
                     expires_at: dt.datetime | None, idempotency_key: str) -> Hold:
    """Blocks an amount of the available balance until released or expired."""
    reason = check_reason(reason)
    async with uow:
        request = {"account": str(account_id), "amount": str(amount), "reason": reason, "expires": expires_at}
        if (prior := await uow.replayed("placeHold", idempotency_key, request, Hold)) is not None:
            return prior
        account = await lock_account(uow, account_id)
        check_debit(account, amount)
        if expires_at is not None and expires_at <= now():
            raise InputError("expiresAt must be in the future.", field="expiresAt")
        hold = Hold(id=uuid.uuid4(), account_id=account.id, amount=amount.amount, reason=reason,
                    status=HoldStatus.ACTIVE.value, expires_at=expires_at)
        uow.session.add(hold)
        account.held_amount = Decimal(account.held_amount) + amount.amount
        account.version += 1
        await uow.emit(events.HoldPlaced(account_id=str(account.id), hold_id=str(hold.id), amount=amount.wire_amount(),
                                         currency=amount.currency,
                                         expires_at=expires_at.isoformat() if expires_at else None),
                       aggregate_id=hold.id, aggregate_version=1, reason=reason)
        await uow.commit({"id": str(hold.id)})
        return hold


async def release_hold(uow: UnitOfWork, *, hold_id: uuid.UUID, reason: str) -> Hold:
    """Releases an active hold."""
    reason = check_reason(reason)
    async with uow:
        account_id = await uow.session.scalar(select(Hold.account_id).where(Hold.id == hold_id))
        missing = NotFound(f"Hold {hold_id} does not exist.")
        if account_id is None:
            raise missing
        account = await lock_account(uow, account_id, missing)
        hold = await uow.session.get(Hold, hold_id)
        assert hold is not None
        if hold.status != HoldStatus.ACTIVE.value:
            raise InvalidTransition(f"Hold {hold_id} is {hold.status}.")
        hold.status, hold.ended_at = HoldStatus.RELEASED.value, now()
        account.held_amount = Decimal(account.held_amount) - hold.amount
        account.version += 1
        await uow.emit(events.HoldReleased(account_id=str(account.id), hold_id=str(hold.id),
                                           amount=wire(hold.amount, account.currency),
                                           currency=account.currency, status=hold.status),
                       aggregate_id=hold.id, aggregate_version=2, reason=reason)
        await uow.commit()
        return hold


async def receive_payment(uow: UnitOfWork, *, account_id: uuid.UUID, amount: Money, reference: str | None,
                          value_date: dt.date | None, idempotency_key: str) -> JournalEntry:
    """Credits an incoming external payment to the account against the clearing account."""
    async with uow:
        request = {"account": str(account_id), "amount": str(amount), "ref": reference, "value": value_date}
        if (prior := await uow.replayed("receivePayment", idempotency_key, request, JournalEntry)) is not None:
            return prior
        entry = await credit_from_internal(uow, account_id=account_id, amount=amount, reference=reference,
                                           value_date=value_date, purpose=InternalPurpose.CLEARING,
                                           entry_type="PAYMENT_IN")
        await uow.commit({"id": str(entry.id)})
        return entry


async def credit_from_internal(uow: UnitOfWork, *, account_id: uuid.UUID, amount: Money, reference: str | None,
                               value_date: dt.date | None, purpose: InternalPurpose,
                               entry_type: str) -> JournalEntry:
    """Books a credit to a customer account against an internal account, inside the caller's transaction."""
    account = await lock_account(uow, account_id)
    check_credit(account, amount)
    if amount.amount <= 0:
        raise InvalidAmount("A credit must be a positive amount.", field="amount")
    source = await internal_account(uow, purpose, amount.currency)
    return await book(uow, entry_type=entry_type, currency=amount.currency, reference=reference,
                      value_date=value_date, legs=[Leg(source, -amount.amount), Leg(account, amount.amount)])


async def reverse_entry(uow: UnitOfWork, *, journal_entry_id: uuid.UUID, reason: str,
                        idempotency_key: str) -> JournalEntry:
    """Reverses a journal entry by booking its negation."""
    reason = check_reason(reason)
    async with uow:
        request = {"entry": str(journal_entry_id), "reason": reason}
        if (prior := await uow.replayed("reversePosting", idempotency_key, request, JournalEntry)) is not None:
            return prior
        entry = await reverse(uow, journal_entry_id=journal_entry_id, reason=reason)
        await uow.commit({"id": str(entry.id)})
        return entry


async def _period_claim(uow: UnitOfWork, account: Account, kind: str, period: str) -> JournalEntry | bool | None:
    """Returns the prior entry (or True when a zero charge was recorded) if the period is already done."""
    prior = (await uow.session.execute(select(PeriodCharge).where(
        PeriodCharge.account_id == account.id, PeriodCharge.kind == kind, PeriodCharge.period == period)
    )).scalar_one_or_none()
    if prior is None:
        return None
    if prior.journal_entry_id is None:
        return True
    entry = await uow.session.get(JournalEntry, prior.journal_entry_id)
    if entry is not None:
        uow.session.expunge(entry)  # an idempotent re-run commits nothing
    return entry


async def _charge(uow: UnitOfWork, account: Account, kind: str, period: str, amount: Money,
                  purpose: InternalPurpose, value_date: dt.date, reference: str) -> JournalEntry | None:
    entry = None
    if amount.amount > 0:
        income = await internal_account(uow, purpose, account.currency)
        entry = await book(uow, entry_type=kind, currency=account.currency, reference=reference,
                           value_date=value_date, legs=[Leg(account, -amount.amount), Leg(income, amount.amount)])
    uow.session.add(PeriodCharge(account_id=account.id, kind=kind, period=period, amount=amount.amount,
                                 journal_entry_id=entry.id if entry else None))
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Conflict(f"{kind} for {period} is being posted concurrently.") from None
    return entry


async def overdraft_interest(session: Any, account: Account, as_of: dt.date) -> tuple[str, Money]:
    """Computes the month-to-date (through as_of) debit interest of the account from value-dated postings."""
    period = as_of.strftime("%Y-%m")
    start = as_of.replace(day=1)
    opening = await session.scalar(select(func.coalesce(func.sum(Posting.amount), 0)).where(
        Posting.account_id == account.id, Posting.value_date < start))
    rows = (await session.execute(select(Posting.value_date, func.sum(Posting.amount)).where(
        Posting.account_id == account.id, Posting.value_date >= start, Posting.value_date <= as_of,
        Posting.journal_entry_id.not_in(select(JournalEntry.id).where(JournalEntry.entry_type == "INTEREST")),
    ).group_by(Posting.value_date))).all()
    balances = rules.end_of_day_balances(Decimal(opening), dict(rows), start, as_of)  # type: ignore[arg-type]
    rate = Decimal(account.overdraft_rate_pct)
    return period, rules.accrue(balances, rate, account.day_count, account.currency)


async def post_interest(uow: UnitOfWork, *, account_id: uuid.UUID, as_of: dt.date) -> JournalEntry | None:
    """Posts the debit interest accrued daily in as_of's month through as_of; once per account and month."""
    async with uow:
        account = await lock_account(uow, account_id)
        check_can_post(account)
        if as_of > today():
            raise InputError("asOf must not be in the future.", field="asOf")
        period = as_of.strftime("%Y-%m")
        prior = await _period_claim(uow, account, "INTEREST", period)
        if prior is not None:
            return None if prior is True else prior  # type: ignore[return-value]
        _, interest = await overdraft_interest(uow.session, account, as_of)
        entry = await _charge(uow, account, "INTEREST", period, interest, InternalPurpose.INTEREST_INCOME, as_of,
                              f"Overdraft interest {period}")
        await uow.commit()
        return entry


async def apply_monthly_fee(uow: UnitOfWork, *, account_id: uuid.UUID, period: str) -> JournalEntry | None:
    """Charges the pinned monthly fee for a YYYY-MM period; once per account and period."""
    try:
        start, end = rules.month_bounds(period)
    except (ValueError, IndexError):
        raise InputError(f"period '{period[:10]}' is not YYYY-MM.", field="period") from None
    if start > today():
        raise InputError(f"period {period} has not started yet.", field="period")
    async with uow:
        account = await lock_account(uow, account_id)
        check_can_post(account)
        prior = await _period_claim(uow, account, "FEE", period)
        if prior is not None:
            return None if prior is True else prior  # type: ignore[return-value]
        fee = Money(account.monthly_fee, account.currency).quantize()
        entry = await _charge(uow, account, "FEE", period, fee, InternalPurpose.FEE_INCOME, min(end, today()),
                              f"Monthly fee {period}")
        await uow.commit()
        return entry


async def generate_statement(uow: UnitOfWork, *, account_id: uuid.UUID, start: dt.date, end: dt.date,
                             idempotency_key: str) -> Any:
    """Builds the statement of a period and records its issue (StatementGenerated), once per key."""
    if end < start:
        raise InputError("toDate is before fromDate.", field="toDate")
    if end > today():
        raise InputError("toDate is in the future; a statement covers a closed period.", field="toDate")
    async with uow:
        request = {"account": str(account_id), "from": start, "to": end}
        replay = await uow.claim_idempotency("generateStatement", idempotency_key, request)
        account = await lock_account(uow, account_id)
        data = await queries.statement(uow.session, account, start, end)
        if replay is not None:
            return data
        await uow.emit(events.StatementGenerated(
            account_id=str(account.id), period_start=start.isoformat(), period_end=end.isoformat(),
            opening_balance=wire(data.opening_balance, account.currency),
            closing_balance=wire(data.closing_balance, account.currency),
            total_credits=wire(data.total_credits, account.currency),
            total_debits=wire(data.total_debits, account.currency), entries=len(data.lines)),
            aggregate_id=account.id, aggregate_version=account.version)
        await uow.commit({"id": str(account.id)})
        return data
