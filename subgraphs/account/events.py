"""Events the account domain publishes on finpace.account.> (the only module other domains may import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class AccountEvent(DomainEvent):
    domain: ClassVar[str] = "account"
    aggregate: ClassVar[str] = "account"
    account_id: str


@dataclass(frozen=True, kw_only=True)
class AccountOpened(AccountEvent):
    party_id: str
    product_id: str
    account_number: str
    currency: str
    status: str


@dataclass(frozen=True, kw_only=True)
class AccountStatusChanged(AccountEvent):
    from_status: str
    to_status: str


@dataclass(frozen=True, kw_only=True)
class AccountRestrictionChanged(AccountEvent):
    restriction: str
    applied: bool
    restrictions: list[str]


@dataclass(frozen=True, kw_only=True)
class OverdraftLimitChanged(AccountEvent):
    old_limit: str
    new_limit: str
    currency: str
    debit_rate_pct: str
    expires_on: str | None


@dataclass(frozen=True, kw_only=True)
class OverdraftLimitExceeded(AccountEvent):
    booked_balance: str
    overdraft_limit: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class PostingEvent(AccountEvent):
    aggregate: ClassVar[str] = "posting"
    posting_id: str
    journal_entry_id: str
    amount: str
    currency: str
    direction: str
    booking_date: str
    value_date: str
    running_balance: str


@dataclass(frozen=True, kw_only=True)
class PostingBooked(PostingEvent):
    entry_type: str


@dataclass(frozen=True, kw_only=True)
class PostingReversed(PostingEvent):
    reversed_posting_id: str


@dataclass(frozen=True, kw_only=True)
class HoldEvent(AccountEvent):
    aggregate: ClassVar[str] = "hold"
    hold_id: str
    amount: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class HoldPlaced(HoldEvent):
    expires_at: str | None


@dataclass(frozen=True, kw_only=True)
class HoldReleased(HoldEvent):
    status: str


@dataclass(frozen=True, kw_only=True)
class MandateActivated(AccountEvent):
    aggregate: ClassVar[str] = "mandate"
    mandate_id: str
    signatories: list[dict[str, object]]
    rules: list[dict[str, object]]


@dataclass(frozen=True, kw_only=True)
class PaymentEvent(AccountEvent):
    aggregate: ClassVar[str] = "payment"
    payment_id: str
    amount: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class PaymentAuthorisationRecorded(PaymentEvent):
    signatory_party_id: str
    approvals: list[str]
    satisfied: bool


@dataclass(frozen=True, kw_only=True)
class PaymentExecuted(PaymentEvent):
    """An outgoing payment executed, or a lending disbursement credited (then with idempotency_id)."""

    journal_entry_id: str
    to_account_id: str | None
    beneficiary: str | None
    idempotency_id: str | None = None
    value_date: str | None = None
    requested_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class PaymentFailed(PaymentEvent):
    """A lending disbursement the account domain refused to book (the reply lending compensates on)."""

    idempotency_id: str
    code: str
    reason: str
    requested_by: str


@dataclass(frozen=True, kw_only=True)
class PaymentExpired(PaymentEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class StatementGenerated(AccountEvent):
    aggregate: ClassVar[str] = "statement"
    period_start: str
    period_end: str
    opening_balance: str
    closing_balance: str
    total_credits: str
    total_debits: str
    entries: int
