"""The account subgraph's Query and Mutation: thin resolvers over queries.py, service.py and payments.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from shared import access
from shared.federation import Schema
from shared.graphql import (
    FinpaceErrors,
    MoneyInput,
    any_role,
    authenticated,
    operation_metrics,
    parse_uuid,
    run_command,
    unit_of_work,
)
from shared.money import Money
from shared.validation import text
from subgraphs.account import payments, queries, service
from subgraphs.account.commands import positive, rate
from subgraphs.account.inputs import CreateMandateInput, MakePaymentInput, OpenAccountInput
from subgraphs.account.models import Account as AccountRow
from subgraphs.account.models import Restriction
from subgraphs.account.types import (
    Account,
    AccountResult,
    ChargeResult,
    EntryResult,
    HoldResult,
    HoldType,
    JournalEntryType,
    MandateResult,
    MandateType,
    NoCharge,
    Party,
    PaymentResult,
    PaymentType,
    Product,
    RestrictionEnum,
    StatementResult,
    StatementType,
)

T = TypeVar("T")
WRITERS = ("ops", "rm", "admin")
OPS = ("ops", "admin")


def _entry(row: Any) -> Any:
    return JournalEntryType.of(row)


@strawberry.type
class Query:
    @strawberry.field(
        description="One account by id; null when missing or not visible to the caller.",
        extensions=[authenticated()],
    )
    async def account(self, info: Info, id: strawberry.ID) -> Account | None:
        return await Account.load(info, parse_uuid(id))

    @strawberry.field(description="A payment by id (staff only).", extensions=[any_role(*WRITERS, "auditor")])
    async def payment(self, info: Info, id: strawberry.ID) -> PaymentType | None:
        async with info.context.sessions() as session:
            row = await queries.get_payment(session, parse_uuid(id))
        visible = row is not None and await info.context.loaders.account.load(row.account_id) is not None
        return PaymentType.of(row) if visible else None  # another party's payment answers like a missing one


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Opens a PENDING_OPEN account for a party on a pinned product version.",
        extensions=[any_role(*WRITERS)],
    )
    async def open_account(self, info: Info, input: OpenAccountInput, idempotency_key: str) -> AccountResult:
        command = input.to_command()
        return await run_command(
            service.open_account(unit_of_work(info), data=command, idempotency_key=idempotency_key),
            Account.of,
        )

    @strawberry.mutation(description="PENDING_OPEN → ACTIVE.", extensions=[any_role(*OPS)])
    async def activate_account(self, info: Info, account_id: strawberry.ID, reason: str) -> AccountResult:
        return await run_command(
            service.activate_account(
                unit_of_work(info), account_id=parse_uuid(account_id, field="accountId"), reason=reason
            ),
            Account.of,
        )

    @strawberry.mutation(description="ACTIVE → CLOSED at zero balance with no holds.", extensions=[any_role(*OPS)])
    async def close_account(self, info: Info, account_id: strawberry.ID, reason: str) -> AccountResult:
        return await run_command(
            service.close_account(
                unit_of_work(info), account_id=parse_uuid(account_id, field="accountId"), reason=reason
            ),
            Account.of,
        )

    @strawberry.mutation(description="Applies (applied=true) or lifts a restriction.", extensions=[any_role(*OPS)])
    async def set_account_restriction(
        self, info: Info, account_id: strawberry.ID, restriction: RestrictionEnum, applied: bool, reason: str
    ) -> AccountResult:
        return await run_command(
            service.set_restriction(
                unit_of_work(info),
                account_id=parse_uuid(account_id, field="accountId"),
                restriction=Restriction(restriction.value),
                applied=applied,
                reason=reason,
            ),
            Account.of,
        )

    @strawberry.mutation(
        description="Arranges or changes the overdraft (limit 0 removes it).",
        extensions=[any_role(*OPS)],
    )
    async def set_overdraft_limit(
        self,
        info: Info,
        account_id: strawberry.ID,
        limit: MoneyInput,
        reason: str,
        debit_rate_pct: Decimal | None = None,
        expires_on: dt.date | None = None,
    ) -> AccountResult:
        amount = Money.of(limit.amount, limit.currency)
        pct = rate(debit_rate_pct, field="debitRatePct") if debit_rate_pct is not None else None
        return await run_command(
            service.set_overdraft(
                unit_of_work(info),
                account_id=parse_uuid(account_id, field="accountId"),
                limit=amount,
                debit_rate_pct=pct,
                expires_on=expires_on,
                reason=reason,
            ),
            Account.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def place_hold(
        self,
        info: Info,
        account_id: strawberry.ID,
        amount: MoneyInput,
        reason: str,
        idempotency_key: str,
        expires_at: dt.datetime | None = None,
    ) -> HoldResult:
        money = positive(amount.amount, amount.currency)
        return await run_command(
            service.place_hold(
                unit_of_work(info),
                account_id=parse_uuid(account_id, field="accountId"),
                amount=money,
                reason=reason,
                expires_at=expires_at,
                idempotency_key=idempotency_key,
            ),
            lambda h: HoldType.of(h, money.currency),
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def release_hold(self, info: Info, hold_id: strawberry.ID, reason: str) -> HoldResult:
        uow = unit_of_work(info)

        async def run() -> Any:
            hold = await service.release_hold(uow, hold_id=parse_uuid(hold_id, field="holdId"), reason=reason)
            async with info.context.sessions() as session:
                account = await session.get(AccountRow, hold.account_id)
            return HoldType.of(hold, account.currency if account else "EUR")

        return await run_command(run(), lambda h: h)

    @strawberry.mutation(
        description="Credits an incoming external payment (clearing → account).",
        extensions=[any_role(*OPS)],
    )
    async def receive_payment(
        self,
        info: Info,
        account_id: strawberry.ID,
        amount: MoneyInput,
        idempotency_key: str,
        reference: str | None = None,
        value_date: dt.date | None = None,
    ) -> EntryResult:
        money = positive(amount.amount, amount.currency)
        ref = text(reference, field="reference", max_length=140, required=False)
        return await run_command(
            service.receive_payment(
                unit_of_work(info),
                account_id=parse_uuid(account_id, field="accountId"),
                amount=money,
                reference=ref,
                value_date=value_date,
                idempotency_key=idempotency_key,
            ),
            _entry,
        )

    @strawberry.mutation(
        description="Transfers to another account or pays out through clearing, under the mandate.",
        extensions=[any_role(*WRITERS)],
    )
    async def make_payment(self, info: Info, input: MakePaymentInput, idempotency_key: str) -> PaymentResult:
        command = input.to_command()
        return await run_command(
            payments.make_payment(unit_of_work(info), data=command, idempotency_key=idempotency_key),
            PaymentType.of,
        )

    @strawberry.mutation(
        description="Records a signatory's approval; executes the payment once the rule is met.",
        extensions=[authenticated()],
    )
    async def approve_payment(
        self, info: Info, payment_id: strawberry.ID, signatory_party_id: strawberry.ID
    ) -> PaymentResult:
        party = str(parse_uuid(signatory_party_id, field="signatoryPartyId"))
        # A signatory approves for themself (an entitlement to the party); ops on their behalf.
        roles = () if (await access.scope(info)).acts_for(party) else OPS
        return await run_command(
            payments.approve_payment(
                unit_of_work(info, *roles),
                payment_id=parse_uuid(payment_id, field="paymentId"),
                signatory_party_id=party,
            ),
            PaymentType.of,
        )

    @strawberry.mutation(
        description="Expires pending payments past their expiry; returns how many.",
        extensions=[any_role(*OPS)],
    )
    async def expire_payments(self, info: Info) -> int:
        return await payments.expire_payments(unit_of_work(info))

    @strawberry.mutation(
        description="Replaces the account's signing mandate (pending approvals are voided).",
        extensions=[any_role(*OPS)],
    )
    async def create_mandate(
        self, info: Info, input: CreateMandateInput, reason: str, idempotency_key: str
    ) -> MandateResult:
        command = input.to_command()
        return await run_command(
            payments.create_mandate(unit_of_work(info), data=command, reason=reason, idempotency_key=idempotency_key),
            MandateType.of,
        )

    @strawberry.mutation(
        description="Reverses a journal entry by booking its exact negation.",
        extensions=[any_role(*OPS)],
    )
    async def reverse_journal_entry(
        self, info: Info, journal_entry_id: strawberry.ID, reason: str, idempotency_key: str
    ) -> EntryResult:
        return await run_command(
            service.reverse_entry(
                unit_of_work(info),
                journal_entry_id=parse_uuid(journal_entry_id, field="journalEntryId"),
                reason=reason,
                idempotency_key=idempotency_key,
            ),
            _entry,
        )

    @strawberry.mutation(
        description="Posts overdraft interest accrued in asOf's month through asOf; once per month.",
        extensions=[any_role(*OPS)],
    )
    async def post_interest(self, info: Info, account_id: strawberry.ID, as_of: dt.date) -> ChargeResult:
        return await run_command(
            service.post_interest(
                unit_of_work(info), account_id=parse_uuid(account_id, field="accountId"), as_of=as_of
            ),
            lambda e: _entry(e) if e else NoCharge(period=as_of.strftime("%Y-%m")),
        )

    @strawberry.mutation(
        description="Issues the statement of a closed period (StatementGenerated); data and CSV.",
        extensions=[any_role(*WRITERS)],
    )
    async def generate_statement(
        self, info: Info, account_id: strawberry.ID, from_date: dt.date, to_date: dt.date, idempotency_key: str
    ) -> StatementResult:
        return await run_command(
            service.generate_statement(
                unit_of_work(info),
                account_id=parse_uuid(account_id, field="accountId"),
                start=from_date,
                end=to_date,
                idempotency_key=idempotency_key,
            ),
            StatementType.of,
        )

    @strawberry.mutation(
        description="Charges the pinned monthly fee for a YYYY-MM period; once per period.",
        extensions=[any_role(*OPS)],
    )
    async def apply_monthly_fee(self, info: Info, account_id: strawberry.ID, period: str) -> ChargeResult:
        return await run_command(
            service.apply_monthly_fee(
                unit_of_work(info), account_id=parse_uuid(account_id, field="accountId"), period=period
            ),
            lambda e: _entry(e) if e else NoCharge(period=period),
        )


def build_schema() -> Schema:
    """Builds the account subgraph schema (Federation 2.9)."""
    return Schema(
        query=Query,
        mutation=Mutation,
        types=[Account, Party, Product],
        federation_version="2.9",
        extensions=[lambda: FinpaceErrors("account"), operation_metrics("account")],
    )
