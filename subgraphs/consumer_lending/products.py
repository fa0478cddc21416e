"""The consumer loan products sold here: CONSUMER_LOAN versions of the product directory, from the read model.

A quote names a product code; the version of that code on sale today (published, inside its sale window) in the
quote's currency prices it: its default interest rate and day count, its interest method and amortisation, its
grace periods, its principal and term ranges (invariant 12), and its one-off ARRANGEMENT charge as the upfront
fee. Quotes and loans keep the version's id (a federated Product reference), so a loan stays on the terms it was
sold under.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import InputError, InvalidTransition
from shared.money import minor_units
from shared.products import check_sellable
from subgraphs.consumer_lending.models import ProductVersion
from subgraphs.lending_schedules.calendar import DayCount
from subgraphs.lending_schedules.engine import Amortisation, InterestMethod, ScheduleTerms

FAMILY = "CONSUMER_LOAN"


@dataclass(frozen=True)
class LoanProduct:
    id: uuid.UUID
    code: str
    version: int
    currency: str
    annual_rate_pct: Decimal
    day_count: DayCount
    interest_method: InterestMethod
    amortisation: Amortisation
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    grace_on_principal: int
    grace_on_interest: int
    arrangement: dict[str, Any] | None  # the one-off ARRANGEMENT charge, if the version has one

    @classmethod
    def of(cls, version: ProductVersion) -> LoanProduct:
        """The sellable terms of a version, or InvalidTransition when they cannot price a monthly consumer loan."""
        terms = version.terms or {}
        lending = terms.get("lending")
        if not lending or lending.get("repayment_frequency") != "MONTHLY":
            raise InvalidTransition(f"Product {version.label} has no monthly lending terms this domain can price "
                                    "(published before versions carried their terms, or not repaid monthly).")
        arrangement = next((c for c in terms.get("charges", []) if c["fee_type"] == "ARRANGEMENT"
                            and c["frequency"] == "ONE_OFF"), None)
        return cls(id=version.id, code=version.code, version=version.version, currency=version.currency,
                   annual_rate_pct=Decimal(terms["pricing"]["interest_rate"]["default"]),
                   day_count=DayCount(terms["pricing"]["day_count"]),
                   interest_method=InterestMethod(lending["interest_method"]),
                   amortisation=Amortisation(lending["amortisation"]),
                   min_amount=Decimal(lending["principal_min"]), max_amount=Decimal(lending["principal_max"]),
                   min_term_months=int(lending["term_min_months"]), max_term_months=int(lending["term_max_months"]),
                   grace_on_principal=int(lending.get("grace_on_principal_periods") or 0),
                   grace_on_interest=int(lending.get("grace_on_interest_periods") or 0), arrangement=arrangement)

    @property
    def label(self) -> str:
        return f"{self.code} v{self.version}"

    def upfront_fee(self, principal: Decimal) -> Decimal:
        """The arrangement fee on this principal: FIXED as is, PERCENTAGE of it within its caps, to the cent."""
        charge = self.arrangement
        if charge is None:
            return Decimal(0)
        if charge["calculation"] == "FIXED":
            return Decimal(charge["amount"])
        fee = principal * Decimal(charge["rate"]) / 100
        if charge.get("min_cap") is not None:
            fee = max(fee, Decimal(charge["min_cap"]))
        if charge.get("max_cap") is not None:
            fee = min(fee, Decimal(charge["max_cap"]))
        return fee.quantize(Decimal(1).scaleb(-minor_units(self.currency)), rounding=ROUND_HALF_UP)

    def schedule_terms(self, principal: Decimal, term_months: int, start: dt.date) -> ScheduleTerms:
        """The schedule of `principal` over `term_months` monthly instalments from `start` on this version's terms."""
        self.check_within(principal, term_months)
        return ScheduleTerms(principal=principal, currency=self.currency, annual_rate_pct=self.annual_rate_pct,
                             installments=term_months, start_date=start, interest_method=self.interest_method,
                             amortisation=self.amortisation, day_count=self.day_count,
                             grace_on_principal=self.grace_on_principal, grace_on_interest=self.grace_on_interest,
                             upfront_fee=self.upfront_fee(principal))

    def check_within(self, amount: Decimal, term_months: int) -> None:
        """Refuses terms outside the version's ranges (invariant 12)."""
        if not self.min_amount <= amount <= self.max_amount:
            raise InputError(f"{self.label} lends between {self.min_amount} and {self.max_amount} {self.currency}.",
                             field="amount")
        if not self.min_term_months <= term_months <= self.max_term_months:
            raise InputError(f"{self.label} runs {self.min_term_months} to {self.max_term_months} months.",
                             field="termMonths")


async def on_sale(session: AsyncSession, day: dt.date, currency: str | None = None) -> list[LoanProduct]:
    """The consumer loans on sale on `day` (in `currency`, if given) that this domain can price, by code."""
    stmt = select(ProductVersion).where(ProductVersion.family == FAMILY)
    if currency is not None:
        stmt = stmt.where(ProductVersion.currency == currency)
    chosen: dict[tuple[str, str], ProductVersion] = {}
    for version in (await session.execute(stmt.order_by(ProductVersion.sale_from, ProductVersion.version))).scalars():
        if version.on_sale(day):
            chosen[(version.code, version.currency)] = version  # the latest to go on sale wins, as product() picks
    out = []
    for _, version in sorted(chosen.items()):
        try:
            out.append(LoanProduct.of(version))
        except InvalidTransition:
            continue  # no terms this domain can price: not offered
    return out


async def product(session: AsyncSession, code: str, currency: str, day: dt.date) -> LoanProduct:
    """The version of `code` on sale on `day`, priced for `currency`; BAD_USER_INPUT for a code not on sale."""
    versions = list((await session.execute(
        select(ProductVersion).where(ProductVersion.code == code[:64], ProductVersion.family == FAMILY)
        .order_by(ProductVersion.sale_from.desc(), ProductVersion.version.desc()))).scalars())
    on_sale = next((v for v in versions if v.on_sale(day)), None)
    if on_sale is None:
        codes = sorted(set((await session.execute(select(ProductVersion.code).where(
            ProductVersion.family == FAMILY, ProductVersion.status == "ACTIVE"))).scalars()))
        raise InputError(f"productCode '{code[:40]}' is not a consumer loan on sale; try one of {codes[:20]}.",
                         field="productCode")
    return LoanProduct.of(check_sellable(on_sale, on_sale.id, families={FAMILY}, currency=currency, day=day,
                                         field="amount"))
