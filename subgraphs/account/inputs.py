"""GraphQL inputs of the account subgraph, each turned into a validated command."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from shared.errors import InputError
from shared.graphql import MoneyInput, parse_uuid
from shared.money import parse_decimal
from shared.validation import text
from subgraphs.account import commands
from subgraphs.account.types import DayCountEnum


@strawberry.input(description="Open an account on a published product version; its pricing terms are pinned.")
class OpenAccountInput:
    party_id: strawberry.ID
    product_id: strawberry.ID
    currency: str
    overdraft_debit_rate_pct: Decimal = strawberry.field(description="Annual debit rate in percent, e.g. 12.5.")
    day_count: DayCountEnum
    monthly_fee: Decimal
    nickname: str | None = None

    def to_command(self) -> commands.OpenAccount:
        return commands.OpenAccount.build(
            party_id=str(self.party_id), product_id=str(self.product_id), currency=self.currency,
            overdraft_rate_pct=self.overdraft_debit_rate_pct, day_count=self.day_count.value,
            monthly_fee=self.monthly_fee, nickname=self.nickname)


@strawberry.input
class SignatoryInput:
    party_id: strawberry.ID
    group: str
    limit: Decimal | None = strawberry.field(default=None, description="Individual limit; null = unlimited.")

    def to_data(self) -> commands.SignatoryData:
        group = (self.group or "").strip()
        if not group or len(group) > 8 or not group.isalnum():
            raise InputError("group must be 1-8 letters or digits (A, B, ...).", field="group")
        limit = None if self.limit is None else parse_decimal(self.limit, field="limit")
        if limit is not None and limit <= 0:
            raise InputError("limit must be positive.", field="limit")
        return commands.SignatoryData(party_id=str(parse_uuid(self.party_id, field="partyId")), group=group,
                                      limit=limit)


@strawberry.input(description="Needs `count` distinct signatories from any of `groups`.")
class RequirementInput:
    groups: list[str]
    count: int = 1


@strawberry.input(description="A rule for an amount band [min, max); all requirements must be met.")
class MandateRuleInput:
    min: Decimal
    requires: list[RequirementInput]
    max: Decimal | None = None
    operation: str = "PAYMENT"

    def to_data(self) -> commands.RuleData:
        if self.operation != "PAYMENT":
            raise InputError("Only PAYMENT rules are supported.", field="operation")
        return commands.RuleData(min=parse_decimal(self.min, field="min"),
                                 max=None if self.max is None else parse_decimal(self.max, field="max"),
                                 operation=self.operation,
                                 requires=tuple((tuple(r.groups), r.count) for r in self.requires))


@strawberry.input
class CreateMandateInput:
    account_id: strawberry.ID
    signatories: list[SignatoryInput]
    rules: list[MandateRuleInput]

    def to_command(self) -> commands.CreateMandate:
        return commands.CreateMandate(account_id=parse_uuid(self.account_id, field="accountId"),
                                      signatories=tuple(s.to_data() for s in self.signatories),
                                      rules=tuple(r.to_data() for r in self.rules))


@strawberry.input(description="An outgoing payment: to another account (transfer) or an external beneficiary.")
class MakePaymentInput:
    account_id: strawberry.ID
    amount: MoneyInput
    to_account_id: strawberry.ID | None = None
    beneficiary: str | None = None
    reference: str | None = None
    initiated_by_party_id: strawberry.ID | None = strawberry.field(
        default=None, description="The signatory initiating; counts as the first approval.")

    def to_command(self) -> commands.MakePayment:
        if (self.to_account_id is None) == (self.beneficiary is None):
            raise InputError("Give exactly one of toAccountId or beneficiary.", field="toAccountId")
        return commands.MakePayment(
            account_id=parse_uuid(self.account_id, field="accountId"),
            amount=commands.positive(self.amount.amount, self.amount.currency),
            to_account_id=parse_uuid(self.to_account_id, field="toAccountId") if self.to_account_id else None,
            beneficiary=text(self.beneficiary, field="beneficiary", max_length=140, required=False),
            reference=text(self.reference, field="reference", max_length=140, required=False),
            initiated_by_party_id=str(parse_uuid(self.initiated_by_party_id, field="initiatedByPartyId"))
            if self.initiated_by_party_id else None)


