"""Validated account commands: each constructor refuses malformed input with a BAD_USER_INPUT error."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any

from shared.errors import InputError, InvalidAmount
from shared.graphql import parse_uuid
from shared.money import Money, check_currency, parse_decimal
from shared.validation import text
from subgraphs.account.models import DayCount

MAX_RULE_SLOTS = 8


def positive(amount: object, currency: str, *, field: str = "amount") -> Money:
    """Returns exact, strictly positive money in the currency (too many decimals, zero or negative refused)."""
    money = Money.of(amount, check_currency(currency))
    if money.amount <= 0:
        raise InvalidAmount(f"{field} must be greater than zero, got {money.amount}.", field=field)
    return money


def rate(value: object, *, field: str) -> Decimal:
    """Returns a percent rate in 0..100 with at most 6 decimals."""
    pct = parse_decimal(value, field=field)
    if pct < 0 or pct > 100 or pct != pct.quantize(Decimal("0.000001")):
        raise InputError(f"{field} must be a percent between 0 and 100 with at most 6 decimals.", field=field)
    return pct


@dataclass(frozen=True)
class OpenAccount:
    party_id: uuid.UUID
    product_id: uuid.UUID
    currency: str
    overdraft_rate_pct: Decimal
    day_count: DayCount
    monthly_fee: Decimal
    nickname: str | None = None

    @classmethod
    def build(cls, *, party_id: str, product_id: str, currency: str, overdraft_rate_pct: object, day_count: str,
              monthly_fee: object, nickname: str | None = None) -> OpenAccount:
        ccy = check_currency(currency)
        fee = Money.of(monthly_fee, ccy)
        if fee.amount < 0:
            raise InvalidAmount("monthlyFee must not be negative.", field="monthlyFee")
        return cls(party_id=parse_uuid(party_id, field="partyId"), product_id=parse_uuid(product_id, field="productId"),
                   currency=ccy, overdraft_rate_pct=rate(overdraft_rate_pct, field="overdraftDebitRatePct"),
                   day_count=DayCount(day_count), monthly_fee=fee.amount,
                   nickname=text(nickname, field="nickname", max_length=100, required=False))


@dataclass(frozen=True)
class SignatoryData:
    party_id: str
    group: str
    limit: Decimal | None = None


@dataclass(frozen=True)
class RuleData:
    min: Decimal
    max: Decimal | None
    requires: tuple[tuple[tuple[str, ...], int], ...]
    operation: str = "PAYMENT"


@dataclass(frozen=True)
class CreateMandate:
    account_id: uuid.UUID
    signatories: tuple[SignatoryData, ...]
    rules: tuple[RuleData, ...] = field(default=())

    def check(self) -> None:
        """Refuses empty, duplicate, overlapping or unsatisfiable definitions."""
        if not self.signatories:
            raise InputError("A mandate needs at least one signatory.", field="signatories")
        parties = [s.party_id for s in self.signatories]
        if len(set(parties)) != len(parties):
            raise InputError("A party may be a signatory only once.", field="signatories")
        groups = {s.group for s in self.signatories}
        if not self.rules:
            raise InputError("A mandate needs at least one rule.", field="rules")
        bands = sorted((r.operation, r.min, r.max) for r in self.rules)
        for (op1, _lo1, hi1), (op2, lo2, _hi2) in pairwise(bands):
            if op1 == op2 and (hi1 is None or hi1 > lo2):
                raise InputError("Rule amount bands must not overlap.", field="rules")
        for rule in self.rules:
            if rule.min < 0 or (rule.max is not None and rule.max <= rule.min):
                raise InputError("A rule band needs 0 <= min < max.", field="rules")
            slots = sum(count for _, count in rule.requires)
            if not rule.requires or slots > MAX_RULE_SLOTS or any(c < 1 for _, c in rule.requires):
                raise InputError(f"A rule needs 1 to {MAX_RULE_SLOTS} signatures.", field="rules")
            for req_groups, count in rule.requires:
                if not set(req_groups) <= groups:
                    raise InputError(f"Rule names unknown groups {sorted(set(req_groups) - groups)}.", field="rules")
                if count > sum(1 for s in self.signatories if s.group in req_groups):
                    raise InputError("A rule asks for more signatories than the groups hold.", field="rules")

    def as_json(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        sigs = [{"party_id": s.party_id, "group": s.group, "limit": None if s.limit is None else str(s.limit)}
                for s in self.signatories]
        rules = [{"operation": r.operation, "min": str(r.min), "max": None if r.max is None else str(r.max),
                  "requires": [{"groups": list(g), "count": c} for g, c in r.requires]} for r in self.rules]
        return sigs, rules


@dataclass(frozen=True)
class MakePayment:
    account_id: uuid.UUID
    amount: Money
    to_account_id: uuid.UUID | None
    beneficiary: str | None
    reference: str | None
    initiated_by_party_id: str | None
    value_date: dt.date | None = None
