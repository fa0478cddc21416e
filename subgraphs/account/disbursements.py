"""The account side of the lending sagas: book a requested disbursement (credit) or repayment (debit) once, reply."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import RequestContext, UnitOfWork
from shared.errors import DomainError, InputError, InvalidAmount, NotFound
from shared.events import Actor, Envelope
from shared.money import Money
from subgraphs.account import events
from subgraphs.account.ledger import Leg, book, check_debit, internal_account, lock_account
from subgraphs.account.models import (
    Account,
    Collection,
    Disbursement,
    DisbursementStatus,
    EntryType,
    InternalPurpose,
    LendingRequest,
)
from subgraphs.account.service import credit_from_internal

log = structlog.get_logger(__name__)

CONSUMER_LENDING = "consumer_lending"
CORPORATE_LENDING = "corporate_lending"


class NotBorrowersAccount(DomainError):
    """The settlement account is held by another party than the borrower."""

    code = "NOT_BORROWERS_ACCOUNT"


class MalformedRequest(ValueError):
    """A request without an idempotency_id cannot be answered: it is retried, then dead-lettered."""


@dataclass(frozen=True)
class Request:
    """A disbursement or repayment request of either lending domain, in the account domain's terms."""

    source: str
    source_ref: str | None
    party_id: str | None
    settlement_account_id: str
    amount: str
    currency: str
    idempotency_id: str

    @classmethod
    def of(cls, envelope: Envelope) -> Request:
        """Reads the contract fields of the Loan/Drawdown DisbursementRequested and RepaymentRequested events."""
        data = envelope.data
        idem = str(data.get("idempotency_id") or "").strip()
        if not idem or len(idem) > 128:
            raise MalformedRequest(f"{envelope.type} {envelope.id} has no usable idempotency_id.")
        raw = data.get("amount")
        amount: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if envelope.source == CORPORATE_LENDING or "drawdown_id" in data:
            source, ref, party = CORPORATE_LENDING, data.get("drawdown_id"), data.get("borrower_party_id")
        else:
            source, ref, party = CONSUMER_LENDING, data.get("loan_id"), data.get("party_id")
        return cls(source=source, source_ref=str(ref)[:64] if ref else None,
                   party_id=str(party)[:64] if party else None,
                   settlement_account_id=str(data.get("settlement_account_id") or "")[:64],
                   amount=str(amount.get("amount") or "")[:64], currency=str(amount.get("currency") or "")[:8],
                   idempotency_id=idem)


def saga_uow(session: AsyncSession, envelope: Envelope) -> UnitOfWork:
    """A UnitOfWork bound to the subscriber's transaction (the inbox row commits with the booking)."""
    uow = UnitOfWork(sessions=None,  # type: ignore[arg-type]
                     context=RequestContext(actor=Actor.system("account-disbursement"),
                                            correlation_id=envelope.correlation_id, causation_id=str(envelope.id)))
    uow.session = session
    return uow


async def _checked(uow: UnitOfWork, request: Request, what: str) -> tuple[uuid.UUID, Money]:
    """The named account and a positive amount, the account held by the borrower (or the business refusal)."""
    try:
        account_id = uuid.UUID(request.settlement_account_id)
    except ValueError:
        raise NotFound(f"Account {request.settlement_account_id!r} does not exist.") from None
    money = Money.of(request.amount, request.currency)
    if money.amount <= 0:
        raise InvalidAmount(f"A {what} must be positive, not {money}.", field="amount")
    holder = await uow.session.scalar(select(Account.party_id).where(Account.id == account_id))
    if holder is not None and request.party_id is not None and str(holder) != request.party_id.lower():
        raise NotBorrowersAccount(f"Account {account_id} is not held by the borrower {request.party_id}.")
    return account_id, money


def _settled(row: LendingRequest, account_id: uuid.UUID, money: Money, entry_id: uuid.UUID,
             value_date: dt.date) -> None:
    row.account_id, row.amount, row.currency = str(account_id), money.wire_amount(), money.currency
    row.status, row.journal_entry_id, row.value_date = DisbursementStatus.EXECUTED.value, entry_id, value_date


async def _book(uow: UnitOfWork, request: Request, row: LendingRequest) -> None:
    """Books the credit (settlement account ← loan funding) or raises the business refusal."""
    account_id, money = await _checked(uow, request, "disbursement")
    reference = f"Disbursement {request.source} {request.source_ref or request.idempotency_id}"[:140]
    entry = await credit_from_internal(uow, account_id=account_id, amount=money, reference=reference,
                                       value_date=None, purpose=InternalPurpose.LOAN_FUNDING,
                                       entry_type=EntryType.DISBURSEMENT.value)
    _settled(row, account_id, money, entry.id, entry.value_date)


async def _collect(uow: UnitOfWork, request: Request, row: LendingRequest) -> None:
    """Books the debit (settlement account → loan funding) within the available balance and overdraft limit."""
    account_id, money = await _checked(uow, request, "repayment")
    account = await lock_account(uow, account_id)
    check_debit(account, money)  # state, restrictions, currency, available balance (overdraft headroom included)
    sink = await internal_account(uow, InternalPurpose.LOAN_FUNDING, money.currency)
    reference = f"Repayment {request.source} {request.source_ref or request.idempotency_id}"[:140]
    entry = await book(uow, entry_type=EntryType.LOAN_REPAYMENT.value, currency=money.currency, reference=reference,
                       legs=[Leg(account, -money.amount), Leg(sink, money.amount)])
    _settled(row, account_id, money, entry.id, entry.value_date)


async def _reply(uow: UnitOfWork, row: LendingRequest, code: str | None) -> None:
    """Publishes the stored outcome through the outbox (payment.executed or payment.failed)."""
    row.replies += 1
    common: dict[str, Any] = {"account_id": row.account_id, "payment_id": str(row.id), "amount": row.amount,
                              "currency": row.currency, "idempotency_id": row.idempotency_id,
                              "requested_by": row.source}
    event: events.PaymentEvent
    if row.status == DisbursementStatus.EXECUTED.value:
        assert row.value_date is not None
        event = events.PaymentExecuted(**common, journal_entry_id=str(row.journal_entry_id),
                                       to_account_id=row.account_id, beneficiary=None,
                                       value_date=row.value_date.isoformat())
    else:
        code = code or (row.reason or "REFUSED").split(":", 1)[0]
        event = events.PaymentFailed(**common, code=code, reason=row.reason or "booking refused")
    await uow.emit(event, aggregate_id=row.id, aggregate_version=row.replies, reason=row.reason)


Booking = Callable[[UnitOfWork, Request, LendingRequest], Awaitable[None]]


async def _serve(session: AsyncSession, envelope: Envelope, model: type[Disbursement] | type[Collection],
                 booking: Booking) -> None:
    """Books a request once per idempotency_id and replies in the same transaction (the stored outcome on replays)."""
    request = Request.of(envelope)
    uow = saga_uow(session, envelope)
    claimed = (await session.execute(pg_insert(model).values(
        id=uuid.uuid4(), idempotency_id=request.idempotency_id, source=request.source,
        source_ref=request.source_ref, party_id=request.party_id, account_id=request.settlement_account_id,
        amount=request.amount, currency=request.currency, status=DisbursementStatus.PENDING.value,
        request_event_id=envelope.id, replies=0,
    ).on_conflict_do_nothing(index_elements=[model.idempotency_id]).returning(model.id))).scalar()
    row = (await session.execute(select(model).where(
        model.idempotency_id == request.idempotency_id).with_for_update())).scalar_one()
    if claimed is None:
        # The same idempotency_id again (a new event id): nothing is booked; the stored outcome is sent again.
        log.info("lending_request_replayed", table=model.__tablename__, idempotency_id=request.idempotency_id,
                 status=row.status)
        await _reply(uow, row, None)
        return
    code = None
    try:
        async with session.begin_nested():
            await booking(uow, request, row)
    except (DomainError, InputError) as exc:
        code = exc.code if isinstance(exc, DomainError) else exc.reason
        await session.refresh(row)
        row.status, row.reason = DisbursementStatus.FAILED.value, f"{code}: {exc.message}"[:500]
        log.info("lending_request_refused", table=model.__tablename__, idempotency_id=request.idempotency_id,
                 code=code)
    await _reply(uow, row, code)


async def on_disbursement_requested(session: AsyncSession, envelope: Envelope) -> None:
    """Books a lending disbursement (credit) once per idempotency_id and replies executed or failed."""
    await _serve(session, envelope, Disbursement, _book)


async def on_repayment_requested(session: AsyncSession, envelope: Envelope) -> None:
    """Collects a lending repayment (debit) once per idempotency_id and replies executed or failed."""
    await _serve(session, envelope, Collection, _collect)
