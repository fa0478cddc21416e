"""GraphQL types of consumer lending: Quote, LoanApplication, Decision, Contract, the Loan entity, Party.loans."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from shared import access
from shared.graphql import (
    ConflictError,
    FourEyesRequiredError,
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    MoneyType,
    NotFoundError,
    parse_uuid,
)
from shared.money import Money
from shared.products import ProductReference, product_reference
from subgraphs.consumer_lending import models
from subgraphs.consumer_lending.products import LoanProduct
from subgraphs.lending_schedules.engine import Installment, generate, installments_from_json, terms_from_json

QuoteStatusEnum = strawberry.enum(models.QuoteStatus, name="QuoteStatus")
ApplicationStatusEnum = strawberry.enum(models.ApplicationStatus, name="LoanApplicationStatus")
OutcomeEnum = strawberry.enum(models.Outcome, name="DecisionOutcome")
LoanStatusEnum = strawberry.enum(models.LoanStatus, name="LoanStatus")
BucketEnum = strawberry.enum(models.DelinquencyBucket, name="DelinquencyBucket")
HardshipTypeEnum = strawberry.enum(models.HardshipType, name="HardshipType")
HardshipStatusEnum = strawberry.enum(models.HardshipStatus, name="HardshipStatus")
RepaymentPurposeEnum = strawberry.enum(models.RepaymentPurpose, name="LoanRepaymentPurpose")
RepaymentStatusEnum = strawberry.enum(models.RequestStatus, name="LoanRepaymentStatus")


def _m(amount: Decimal, currency: str) -> MoneyType:
    return MoneyType.of(Money.of(amount, currency, exact=False))


async def _visible(info: Info, party_id: uuid.UUID | None) -> bool:
    return party_id is None or (await access.scope(info)).admits(party_id)


@strawberry.type(description="One instalment of a loan schedule.")
class LoanInstallment:
    number: int
    from_date: dt.date
    due_date: dt.date
    principal: MoneyType
    interest: MoneyType
    total: MoneyType
    balance_after: MoneyType

    @classmethod
    def of(cls, i: Installment, currency: str) -> LoanInstallment:
        return cls(number=i.number, from_date=i.from_date, due_date=i.due_date, principal=_m(i.principal, currency),
                   interest=_m(i.interest, currency), total=_m(i.total, currency),
                   balance_after=_m(i.balance_after, currency))


@strawberry.type(description="The one-off arrangement fee of a consumer loan, kept from the amount advanced.")
class ArrangementFee:
    calculation: str = strawberry.field(description="FIXED (amount) or PERCENTAGE (ratePct of the principal).")
    amount: MoneyType | None
    rate_pct: Decimal | None
    minimum: MoneyType | None = strawberry.field(description="A PERCENTAGE fee's floor.")
    maximum: MoneyType | None = strawberry.field(description="A PERCENTAGE fee's cap.")


@strawberry.type(description="A consumer loan on sale today: what a quote may ask for and how it is priced.")
class ConsumerLoanProduct:
    code: str = strawberry.field(description="The productCode a quote names.")
    version: int
    currency: str
    annual_rate_pct: Decimal = strawberry.field(description="The nominal annual rate quotes are priced at, percent.")
    day_count: str = strawberry.field(description="ACTUAL_365, ACTUAL_360 or THIRTY_360.")
    interest_method: str
    amortisation: str
    min_amount: MoneyType
    max_amount: MoneyType
    min_term_months: int
    max_term_months: int
    grace_on_principal_periods: int
    arrangement_fee: ArrangementFee | None
    product: ProductReference = strawberry.field(description="The product version (product subgraph).")

    @classmethod
    def of(cls, p: LoanProduct) -> ConsumerLoanProduct:
        fee, ccy = p.arrangement, p.currency

        def money(value: str | None) -> MoneyType | None:
            return _m(Decimal(value), ccy) if value is not None else None

        return cls(code=p.code, version=p.version, currency=ccy, annual_rate_pct=p.annual_rate_pct,
                   day_count=p.day_count.value, interest_method=p.interest_method.value,
                   amortisation=p.amortisation.value, min_amount=_m(p.min_amount, ccy),
                   max_amount=_m(p.max_amount, ccy), min_term_months=p.min_term_months,
                   max_term_months=p.max_term_months, grace_on_principal_periods=p.grace_on_principal,
                   arrangement_fee=None if fee is None else ArrangementFee(
                       calculation=fee["calculation"], amount=money(fee.get("amount")),
                       rate_pct=Decimal(fee["rate"]) if fee.get("rate") is not None else None,
                       minimum=money(fee.get("min_cap")), maximum=money(fee.get("max_cap"))),
                   product=product_reference(p.id))


@strawberry.type(description="A priced loan offer with its schedule preview; anonymous quotes are allowed.")
class Quote:
    row: strawberry.Private[models.Quote]
    id: strawberry.ID
    party_id: strawberry.ID | None
    product_code: str
    principal: MoneyType
    term_months: int
    annual_rate_pct: Decimal = strawberry.field(description="Nominal annual rate in percent.")
    apr_pct: Decimal = strawberry.field(description="Annual percentage rate (EU method), percent, 2 decimals.")
    installment_amount: MoneyType
    total_repayable: MoneyType
    total_cost_of_credit: MoneyType
    valid_until: dt.datetime
    status: QuoteStatusEnum
    product: ProductReference | None = strawberry.field(
        description="The product version (product subgraph) the quote is priced under.")

    @classmethod
    def of(cls, r: models.Quote) -> Quote:
        c = r.currency
        return cls(row=r, id=strawberry.ID(str(r.id)), party_id=strawberry.ID(str(r.party_id)) if r.party_id else None,
                   product_code=r.product_code, principal=_m(r.principal, c), term_months=int(r.terms["installments"]),
                   annual_rate_pct=r.annual_rate_pct.normalize(), apr_pct=r.apr_pct.quantize(Decimal("0.01")),
                   installment_amount=_m(r.installment_amount, c), total_repayable=_m(r.total_repayable, c),
                   total_cost_of_credit=_m(r.total_cost_of_credit, c), valid_until=r.valid_until,
                   status=models.QuoteStatus(r.status), product=product_reference(r.product_id))

    @strawberry.field(description="The repayment schedule this quote would produce.")
    def schedule_preview(self) -> list[LoanInstallment]:
        schedule = generate(terms_from_json(self.row.terms))
        return [LoanInstallment.of(i, self.row.currency) for i in schedule.installments]


@strawberry.type
class Decision:
    id: strawberry.ID
    outcome: OutcomeEnum
    reason_codes: list[str]
    policy_version: str
    score: int
    affordability_ratio: Decimal
    decided_by: str
    approved_by: str | None
    override_of: strawberry.ID | None
    reason: str | None
    decided_at: dt.datetime

    @classmethod
    def of(cls, r: models.Decision) -> Decision:
        return cls(id=strawberry.ID(str(r.id)), outcome=models.Outcome(r.outcome), reason_codes=list(r.reason_codes),
                   policy_version=r.policy_version, score=r.score, affordability_ratio=r.affordability_ratio,
                   decided_by=r.decided_by, approved_by=r.approved_by,
                   override_of=strawberry.ID(str(r.override_of)) if r.override_of else None, reason=r.reason,
                   decided_at=r.decided_at)


@strawberry.type
class PendingOverride:
    outcome: OutcomeEnum
    reason: str
    proposed_by: str


@strawberry.type
class Contract:
    id: strawberry.ID
    application_id: strawberry.ID
    document_version: str
    issued_at: dt.datetime
    accepted_at: dt.datetime | None
    cooling_off_ends_on: dt.date | None
    status: str

    @classmethod
    def of(cls, r: models.Contract) -> Contract:
        return cls(id=strawberry.ID(str(r.id)), application_id=strawberry.ID(str(r.application_id)),
                   document_version=r.document_version, issued_at=r.issued_at, accepted_at=r.accepted_at,
                   cooling_off_ends_on=r.cooling_off_ends_on, status=r.status)


@strawberry.type
class LoanApplication:
    row: strawberry.Private[models.Application]
    id: strawberry.ID
    quote_id: strawberry.ID
    party_id: strawberry.ID
    settlement_account_id: strawberry.ID
    status: ApplicationStatusEnum
    version: int

    @classmethod
    def of(cls, r: models.Application) -> LoanApplication:
        return cls(row=r, id=strawberry.ID(str(r.id)), quote_id=strawberry.ID(str(r.quote_id)),
                   party_id=strawberry.ID(str(r.party_id)),
                   settlement_account_id=strawberry.ID(str(r.settlement_account_id)),
                   status=models.ApplicationStatus(r.status), version=r.version)

    @strawberry.field
    async def decisions(self, info: Info) -> list[Decision]:
        return [Decision.of(d) for d in await info.context.loaders.decisions_by_application.load(self.row.id)]

    @strawberry.field
    def pending_override(self) -> PendingOverride | None:
        p = self.row.pending_override
        return PendingOverride(outcome=models.Outcome(p["outcome"]), reason=p["reason"],
                               proposed_by=p["proposed_by"]) if p else None

    @strawberry.field
    async def contract(self, info: Info) -> Contract | None:
        rows = await info.context.loaders.contracts_by_application.load(self.row.id)
        return Contract.of(rows[-1]) if rows else None

    @strawberry.field
    async def loan(self, info: Info) -> Loan | None:
        rows = await info.context.loaders.loans_by_application.load(self.row.id)
        return Loan.of(rows[-1]) if rows else None


@strawberry.type
class HardshipArrangement:
    id: strawberry.ID
    loan_id: strawberry.ID
    arrangement_type: HardshipTypeEnum
    periods: int
    reason: str
    status: HardshipStatusEnum
    requested_by: str
    decided_by: str | None
    reduced_amount: MoneyType | None = strawberry.field(
        description="REDUCED_PAYMENT: the agreed instalment for the covered periods.")
    first_installment: int | None = strawberry.field(description="The first instalment covered (once active).")
    last_installment: int | None = strawberry.field(description="The last instalment covered (once active).")
    starts_on: dt.date | None
    ends_on: dt.date | None = strawberry.field(
        description="Due date of the last covered instalment: the end of day then completes the arrangement.")
    version: int

    @classmethod
    def of(cls, r: models.Hardship) -> HardshipArrangement:
        reduced = _m(r.reduced_amount, r.currency) if r.reduced_amount is not None and r.currency else None
        return cls(id=strawberry.ID(str(r.id)), loan_id=strawberry.ID(str(r.loan_id)),
                   arrangement_type=models.HardshipType(r.arrangement_type), periods=r.periods, reason=r.reason,
                   status=models.HardshipStatus(r.status), requested_by=r.requested_by, decided_by=r.decided_by,
                   reduced_amount=reduced, first_installment=r.first_installment,
                   last_installment=r.last_installment, starts_on=r.starts_on, ends_on=r.ends_on,
                   version=r.version)


@strawberry.federation.type(keys=["id"], description="A consumer loan account.")
class Loan:
    row: strawberry.Private[models.Loan]
    id: strawberry.ID
    party_id: strawberry.ID
    application_id: strawberry.ID
    settlement_account_id: strawberry.ID
    principal: MoneyType
    status: LoanStatusEnum
    schedule_version: int
    disbursed_on: dt.date | None
    days_past_due: int
    delinquency_bucket: BucketEnum
    failure_reason: str | None
    amount_repaid: MoneyType
    version: int
    withdrawal_repay_by: dt.date | None = strawberry.field(
        description="After a cooling-off withdrawal: the last day to repay what was advanced plus interest; the "
                    "loan ages from the day after.")
    product: ProductReference | None = strawberry.field(
        description="The product version (product subgraph) the loan was sold under; its terms stay with the loan.")

    @classmethod
    def of(cls, r: models.Loan) -> Loan:
        return cls(row=r, id=strawberry.ID(str(r.id)), party_id=strawberry.ID(str(r.party_id)),
                   application_id=strawberry.ID(str(r.application_id)),
                   settlement_account_id=strawberry.ID(str(r.settlement_account_id)),
                   principal=_m(r.principal, r.currency), status=models.LoanStatus(r.status),
                   schedule_version=r.schedule_version, disbursed_on=r.disbursed_on, days_past_due=r.days_past_due,
                   delinquency_bucket=models.DelinquencyBucket(r.delinquency_bucket),
                   failure_reason=r.failure_reason, amount_repaid=_m(r.amount_repaid, r.currency),
                   version=r.version, withdrawal_repay_by=r.withdrawal_repay_by,
                   product=product_reference(r.product_id))

    @classmethod
    async def load(cls, info: Info, loan_id: uuid.UUID) -> Loan | None:
        row = await info.context.loaders.loans.load(loan_id)
        return cls.of(row) if row is not None and await _visible(info, row.party_id) else None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID, **_: object) -> Loan | None:
        info.context.require()
        return await cls.load(info, parse_uuid(id))

    @strawberry.field
    def schedule(self) -> list[LoanInstallment]:
        return [LoanInstallment.of(i, self.row.currency) for i in installments_from_json(self.row.schedule)]

    @strawberry.field
    async def hardship_arrangements(self, info: Info) -> list[HardshipArrangement]:
        return [HardshipArrangement.of(h) for h in await info.context.loaders.hardships_by_loan.load(self.row.id)]

    @strawberry.field(description="The status of the open hardship arrangement (REQUESTED and APPROVED wait for "
                                  "the bank, ACTIVE runs); null when there is none. The workbench's review alert.")
    async def open_hardship_status(self, info: Info) -> HardshipStatusEnum | None:  # type: ignore[valid-type]
        open_ = {models.HardshipStatus.REQUESTED, models.HardshipStatus.APPROVED, models.HardshipStatus.ACTIVE}
        rows = await info.context.loaders.hardships_by_loan.load(self.row.id)
        return next((models.HardshipStatus(h.status) for h in rows if h.status in open_), None)


@strawberry.federation.type(keys=["id"], description="A party (owned by the party subgraph), with its loans.")
class Party:
    id: strawberry.ID

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID, **_: object) -> Party:
        return cls(id=id)

    @strawberry.field(description="The party's consumer loans (empty when not visible to the caller).")
    async def loans(self, info: Info) -> list[Loan]:
        info.context.require()
        pid = parse_uuid(self.id)
        rows = await info.context.loaders.loans_by_party.load(pid)
        return [Loan.of(r) for r in rows] if rows and await _visible(info, pid) else []


_ERRORS = (NotFoundError, InvalidTransitionError, ConflictError, IdempotencyKeyReusedError, FourEyesRequiredError)


@strawberry.type(description="A repayment asked of the borrower's account: PENDING until the account answers.")
class LoanRepaymentRequest:
    id: strawberry.ID
    loan_id: strawberry.ID
    amount: MoneyType
    purpose: RepaymentPurposeEnum  # type: ignore[valid-type]
    installment_number: int | None
    status: RepaymentStatusEnum  # type: ignore[valid-type]
    reason: str | None

    @classmethod
    def of(cls, r: models.RepaymentRequest) -> LoanRepaymentRequest:
        return cls(id=strawberry.ID(str(r.id)), loan_id=strawberry.ID(str(r.loan_id)), amount=_m(r.amount, r.currency),
                   purpose=models.RepaymentPurpose(r.purpose), installment_number=r.installment_number,
                   status=models.RequestStatus(r.status), reason=r.reason)


def _union(name: str, ok: type) -> object:
    return Annotated[ok | NotFoundError | InvalidTransitionError | ConflictError | IdempotencyKeyReusedError |  # type: ignore[valid-type]
                     FourEyesRequiredError, strawberry.union(name)]


@strawberry.type(description="A published decision policy version (rules as data).")
class ScoreBand:
    min: int
    max: int
    outcome: OutcomeEnum
    reason: str | None


@strawberry.type
class DecisionPolicy:
    version: str
    active: bool
    score_bands: list[ScoreBand]
    refer_affordability_ratio: Decimal
    max_affordability_ratio: Decimal
    exposure_caps: list[MoneyType]
    default_exposure_cap: Decimal

    @classmethod
    def of(cls, r: models.DecisionPolicy) -> DecisionPolicy:
        rules = r.rules
        return cls(version=r.version, active=r.active,
                   score_bands=[ScoreBand(min=b["min"], max=b["max"], outcome=models.Outcome(b["outcome"]),
                                          reason=b.get("reason")) for b in rules["score_bands"]],
                   refer_affordability_ratio=Decimal(rules["refer_affordability_ratio"]),
                   max_affordability_ratio=Decimal(rules["max_affordability_ratio"]),
                   exposure_caps=[_m(Decimal(v), c) for c, v in sorted(rules["exposure_caps"].items())],
                   default_exposure_cap=Decimal(rules["default_exposure_cap"]))


QuoteResult = _union("QuoteResult", Quote)
DecisionPolicyResult = _union("DecisionPolicyResult", DecisionPolicy)
LoanApplicationResult = _union("LoanApplicationResult", LoanApplication)
ContractResult = _union("ContractResult", Contract)
LoanResult = _union("LoanResult", Loan)
HardshipResult = _union("HardshipResult", HardshipArrangement)
RepaymentRequestResult = _union("LoanRepaymentRequestResult", LoanRepaymentRequest)
