"""Mandates, signatory approvals and outgoing payments (transfers and external payments through clearing)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from shared.db import UnitOfWork
from shared.errors import Conflict, CurrencyMismatch, InvalidTransition, MandateNotSatisfied, NotFound
from shared.money import Money
from subgraphs.account import events, rules
from subgraphs.account.commands import CreateMandate, MakePayment
from subgraphs.account.ledger import (
    Leg,
    book,
    check_credit,
    check_debit,
    internal_account,
    lock_account,
    lock_accounts,
    now,
    wire,
)
from subgraphs.account.models import Account, InternalPurpose, Mandate, Payment, PaymentStatus

DEFAULT_EXPIRY = dt.timedelta(days=30)


async def active_mandate(uow: UnitOfWork, account_id: uuid.UUID) -> Mandate | None:
    """Returns the account's ACTIVE mandate, if any."""
    return (await uow.session.execute(select(Mandate).where(
        Mandate.account_id == account_id, Mandate.status == "ACTIVE"))).scalar_one_or_none()


async def create_mandate(uow: UnitOfWork, *, data: CreateMandate, reason: str, idempotency_key: str) -> Mandate:
    """Activates a mandate on the account, superseding the previous one (which voids nothing already executed)."""
    data.check()
    async with uow:
        if (prior := await uow.replayed("createMandate", idempotency_key, data, Mandate)) is not None:
            return prior
        account = await lock_account(uow, data.account_id)
        if account.status == "CLOSED":
            raise InvalidTransition(f"Account {account.account_number} is CLOSED.")
        previous = await active_mandate(uow, account.id)
        if previous is not None:
            previous.status = "SUPERSEDED"
            await uow.session.flush()
            # Amending the mandate voids pending approvals collected under the old one.
            pending = (await uow.session.execute(select(Payment).where(
                Payment.mandate_id == previous.id,
                Payment.status == PaymentStatus.PENDING_AUTHORISATION.value))).scalars().all()
            for payment in pending:
                payment.status = PaymentStatus.REJECTED.value
        signatories, rule_list = data.as_json()
        mandate = Mandate(id=uuid.uuid4(), account_id=account.id, status="ACTIVE", signatories=signatories,
                          rules=rule_list)
        uow.session.add(mandate)
        await uow.emit(events.MandateActivated(account_id=str(account.id), mandate_id=str(mandate.id),
                                               signatories=signatories, rules=rule_list),
                       aggregate_id=mandate.id, aggregate_version=1, reason=reason)
        await uow.commit({"id": str(mandate.id)})
        return mandate


async def _execute(uow: UnitOfWork, payment: Payment, locked: dict[uuid.UUID, Account]) -> None:
    source = locked[payment.account_id]
    money = Money(payment.amount, payment.currency)
    check_debit(source, money)
    if payment.to_account_id is not None:
        target: Account | uuid.UUID = locked[payment.to_account_id]
        check_credit(target, money)  # type: ignore[arg-type]
        entry_type = "TRANSFER"
    else:
        target = await internal_account(uow, InternalPurpose.CLEARING, payment.currency)
        entry_type = "PAYMENT_OUT"
    entry = await book(uow, entry_type=entry_type, currency=payment.currency, reference=payment.reference,
                       legs=[Leg(source, -payment.amount), Leg(target, payment.amount)])
    payment.status, payment.journal_entry_id = PaymentStatus.EXECUTED.value, entry.id
    await uow.emit(events.PaymentExecuted(
        account_id=str(payment.account_id), payment_id=str(payment.id), amount=wire(payment.amount, payment.currency),
        currency=payment.currency, journal_entry_id=str(entry.id),
        to_account_id=str(payment.to_account_id) if payment.to_account_id else None,
        beneficiary=payment.beneficiary), aggregate_id=payment.id, aggregate_version=2)


async def make_payment(uow: UnitOfWork, *, data: MakePayment, idempotency_key: str,
                       expires_in: dt.timedelta = DEFAULT_EXPIRY) -> Payment:
    """Executes a payment now when the mandate allows, else leaves it PENDING_AUTHORISATION."""
    async with uow:
        if (prior := await uow.replayed("makePayment", idempotency_key, data, Payment)) is not None:
            return prior
        ids = [data.account_id] + ([data.to_account_id] if data.to_account_id else [])
        if data.to_account_id == data.account_id:
            raise Conflict("A transfer needs two different accounts.")
        locked = await lock_accounts(uow, ids, acting_on=data.account_id)
        source = locked[data.account_id]
        if source.currency != data.amount.currency:
            raise CurrencyMismatch(f"Account is in {source.currency}, not {data.amount.currency}.", field="amount")
        if data.to_account_id and locked[data.to_account_id].currency != source.currency:
            raise CurrencyMismatch("Both accounts of a transfer must have the same currency.", field="toAccountId")
        payment = Payment(id=uuid.uuid4(), account_id=source.id, to_account_id=data.to_account_id,
                          beneficiary=data.beneficiary, amount=data.amount.amount, currency=data.amount.currency,
                          reference=data.reference, status=PaymentStatus.PENDING_AUTHORISATION.value, approvals=[],
                          initiated_by=uow.context.actor.sub, expires_at=now() + expires_in)
        mandate = await active_mandate(uow, source.id)
        if mandate is None:
            uow.session.add(payment)
            await uow.session.flush()
            await _execute(uow, payment, locked)
        else:
            rule = rules.band_rule(mandate.rules, "PAYMENT", data.amount.amount)
            if rule is None:
                raise MandateNotSatisfied(f"No mandate rule covers a payment of {data.amount}.")
            payment.mandate_id = mandate.id
            initiator = data.initiated_by_party_id
            if initiator is not None:
                if not rules.eligible(mandate.signatories, [initiator], data.amount.amount):
                    raise MandateNotSatisfied(f"Party {initiator} may not sign a payment of {data.amount}.")
                payment.approvals = [initiator]
            uow.session.add(payment)
            await uow.session.flush()
            if initiator is not None:
                await _record(uow, payment, initiator, rule, mandate)
            if rules.satisfied(rule, rules.eligible(mandate.signatories, payment.approvals, payment.amount)):
                await _execute(uow, payment, locked)
        await uow.commit({"id": str(payment.id)})
        return payment


async def _record(uow: UnitOfWork, payment: Payment, party: str, rule: object, mandate: Mandate) -> None:
    ok = rules.satisfied(rule, rules.eligible(mandate.signatories, payment.approvals, payment.amount))  # type: ignore[arg-type]
    await uow.emit(events.PaymentAuthorisationRecorded(
        account_id=str(payment.account_id), payment_id=str(payment.id), amount=wire(payment.amount, payment.currency),
        currency=payment.currency, signatory_party_id=party, approvals=list(payment.approvals), satisfied=ok),
        aggregate_id=payment.id, aggregate_version=1 + len(payment.approvals))


class PaymentExpiredError(InvalidTransition):
    """The payment passed its expiry before the mandate was satisfied."""


async def approve_payment(uow: UnitOfWork, *, payment_id: uuid.UUID, signatory_party_id: str) -> Payment:
    """Records one signatory's approval; executes the payment once the mandate rule is satisfied."""
    async with uow:
        payment = (await uow.session.execute(
            select(Payment).where(Payment.id == payment_id).with_for_update())).scalar_one_or_none()
        if payment is None:
            raise NotFound(f"Payment {payment_id} does not exist.")
        if payment.status != PaymentStatus.PENDING_AUTHORISATION.value:
            raise InvalidTransition(f"Payment {payment_id} is {payment.status}.")
        if payment.expires_at <= now():
            await _expire(uow, payment)
            await uow.commit()
            raise PaymentExpiredError(f"Payment {payment_id} expired at {payment.expires_at.isoformat()}.")
        mandate = await uow.session.get(Mandate, payment.mandate_id)
        assert mandate is not None
        if signatory_party_id in payment.approvals:
            raise Conflict(f"Party {signatory_party_id} has already approved payment {payment_id}.")
        if not rules.eligible(mandate.signatories, [signatory_party_id], payment.amount):
            raise MandateNotSatisfied(f"Party {signatory_party_id} may not sign a payment of {payment.amount}.")
        rule = rules.band_rule(mandate.rules, "PAYMENT", payment.amount)
        if rule is None:
            raise MandateNotSatisfied("No mandate rule covers this payment.")
        payment.approvals = [*payment.approvals, signatory_party_id]
        await uow.session.flush()
        await _record(uow, payment, signatory_party_id, rule, mandate)
        if rules.satisfied(rule, rules.eligible(mandate.signatories, payment.approvals, payment.amount)):
            ids = [payment.account_id] + ([payment.to_account_id] if payment.to_account_id else [])
            await _execute(uow, payment, await lock_accounts(uow, ids))
        await uow.commit()
        return payment


async def _expire(uow: UnitOfWork, payment: Payment) -> None:
    payment.status = PaymentStatus.EXPIRED.value
    await uow.emit(events.PaymentExpired(account_id=str(payment.account_id), payment_id=str(payment.id),
                                         amount=wire(payment.amount, payment.currency), currency=payment.currency),
                   aggregate_id=payment.id, aggregate_version=2 + len(payment.approvals))


async def expire_payments(uow: UnitOfWork, *, as_of: dt.datetime | None = None) -> int:
    """Expires every pending payment past its expiry; returns how many."""
    moment = as_of or now()
    async with uow:
        pending = (await uow.session.execute(select(Payment).where(
            Payment.status == PaymentStatus.PENDING_AUTHORISATION.value, Payment.expires_at <= moment)
            .with_for_update(skip_locked=True))).scalars().all()
        for payment in pending:
            await _expire(uow, payment)
        await uow.commit()
        return len(pending)


