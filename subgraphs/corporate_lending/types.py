"""GraphQL types of corporate lending: applications, offers, the Facility and Drawdown entities, Party.facilities."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from shared import access
from shared.errors import LimitExceeded
from shared.graphql import (
    ConflictError,
    FourEyesRequiredError,
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    MoneyType,
    NotFoundError,
    error_type,
    parse_uuid,
    register_error,
)
from shared.money import Money
from shared.products import ProductReference, product_reference
from subgraphs.corporate_lending import models
from subgraphs.corporate_lending.facilities import current_limit
from subgraphs.corporate_lending.fees import commitment_fee
from subgraphs.lending_schedules.allocation import unpaid
from subgraphs.lending_schedules.engine import installments_from_json

LimitExceededError = error_type("LIMIT_EXCEEDED", "LimitExceeded", "The amount exceeds an applicable limit.")
register_error(LimitExceeded, LimitExceededError)

ApplicationStatusEnum = strawberry.enum(models.ApplicationStatus, name="CreditApplicationStatus")
OfferStatusEnum = strawberry.enum(models.OfferStatus, name="OfferStatus")
FacilityTypeEnum = strawberry.enum(models.FacilityType, name="FacilityType")
FacilityStatusEnum = strawberry.enum(models.FacilityStatus, name="FacilityStatus")
DrawdownStatusEnum = strawberry.enum(models.DrawdownStatus, name="DrawdownStatus")
CovenantStatusEnum = strawberry.enum(models.CovenantStatus, name="CovenantStatus")
OperatorEnum = strawberry.enum(models.Operator, name="CovenantOperator")
AllocationOrderEnum = strawberry.enum(models.AllocationOrder, name="AllocationOrder")
RepaymentPurposeEnum = strawberry.enum(models.RepaymentPurpose, name="DrawdownRepaymentPurpose")
RepaymentStatusEnum = strawberry.enum(models.RequestStatus, name="DrawdownRepaymentStatus")


def _m(amount: Decimal, currency: str) -> MoneyType:
    return MoneyType.of(Money.of(amount, currency, exact=False))


def _id(value: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(str(value))


async def _visible(info: Info, party_id: uuid.UUID) -> bool:
    return (await access.scope(info)).admits(party_id)


@strawberry.type
class CreditApplication:
    id: strawberry.ID
    borrower_party_id: strawberry.ID
    guarantor_party_ids: list[strawberry.ID]
    purpose: str
    requested: MoneyType
    facility_type: FacilityTypeEnum
    internal_rating: str | None
    status: ApplicationStatusEnum
    decision_proposed_by: str | None
    decided_by: str | None
    approved_by: str | None
    decision_reason: str | None
    version: int

    @classmethod
    def of(cls, r: models.CreditApplication) -> CreditApplication:
        return cls(id=_id(r.id), borrower_party_id=_id(r.borrower_party_id),
                   guarantor_party_ids=[strawberry.ID(g) for g in r.guarantor_party_ids], purpose=r.purpose,
                   requested=_m(r.requested_amount, r.currency), facility_type=models.FacilityType(r.facility_type),
                   internal_rating=r.internal_rating, status=models.ApplicationStatus(r.status),
                   decision_proposed_by=(r.pending_decision or {}).get("proposed_by"), decided_by=r.decided_by,
                   approved_by=r.approved_by, decision_reason=r.decision_reason, version=r.version)


@strawberry.type
class CovenantTerms:
    metric: str
    operator: OperatorEnum
    threshold: Decimal
    test_frequency: str


@strawberry.type
class Offer:
    id: strawberry.ID
    application_id: strawberry.ID
    borrower_party_id: strawberry.ID
    facility_type: FacilityTypeEnum
    limit: MoneyType
    base_rate_pct: Decimal
    margin_pct: Decimal
    commitment_fee_pct: Decimal
    arrangement_fee: MoneyType
    availability_months: int
    conditions_precedent: list[str]
    covenants: list[CovenantTerms]
    expires_at: dt.datetime
    status: OfferStatusEnum
    product: ProductReference | None = strawberry.field(description="The product version the offer is made under.")

    @classmethod
    def of(cls, r: models.Offer) -> Offer:
        return cls(id=_id(r.id), application_id=_id(r.application_id), borrower_party_id=_id(r.borrower_party_id),
                   facility_type=models.FacilityType(r.facility_type), limit=_m(r.limit_amount, r.currency),
                   base_rate_pct=r.base_rate_pct.normalize(), margin_pct=r.margin_pct.normalize(),
                   commitment_fee_pct=r.commitment_fee_pct.normalize(),
                   arrangement_fee=_m(r.arrangement_fee, r.currency), availability_months=r.availability_months,
                   conditions_precedent=list(r.conditions_precedent),
                   covenants=[CovenantTerms(metric=c["metric"], operator=models.Operator(c["operator"]),
                                            threshold=Decimal(c["threshold"]), test_frequency=c["test_frequency"])
                              for c in r.covenants],
                   expires_at=r.expires_at, status=models.OfferStatus(r.status),
                   product=product_reference(r.product_id))


@strawberry.type
class CovenantTest:
    id: strawberry.ID
    period_end: dt.date
    actual_value: Decimal
    result: str
    evidence_ref: str | None
    submitted_by: str

    @classmethod
    def of(cls, r: models.CovenantTest) -> CovenantTest:
        return cls(id=_id(r.id), period_end=r.period_end, actual_value=r.actual_value.normalize(), result=r.result,
                   evidence_ref=r.evidence_ref, submitted_by=r.submitted_by)


@strawberry.type
class Covenant:
    row: strawberry.Private[models.Covenant]
    id: strawberry.ID
    facility_id: strawberry.ID
    metric: str
    operator: OperatorEnum
    threshold: Decimal
    test_frequency: str
    status: CovenantStatusEnum
    waiver_requested_by: str | None
    waiver_expires_on: dt.date | None

    @classmethod
    def of(cls, r: models.Covenant) -> Covenant:
        return cls(row=r, id=_id(r.id), facility_id=_id(r.facility_id), metric=r.metric,
                   operator=models.Operator(r.operator), threshold=r.threshold.normalize(),
                   test_frequency=r.test_frequency, status=models.CovenantStatus(r.status),
                   waiver_requested_by=(r.pending_waiver or {}).get("requested_by"),
                   waiver_expires_on=r.waiver_expires_on)

    @strawberry.field
    async def tests(self, info: Info) -> list[CovenantTest]:
        return [CovenantTest.of(t) for t in await info.context.loaders.tests_by_covenant.load(self.row.id)]


@strawberry.type(description="One instalment of a drawdown's schedule, with what has been paid.")
class DrawdownInstallment:
    number: int
    due_date: dt.date
    principal: MoneyType
    interest: MoneyType
    total: MoneyType
    paid_principal: MoneyType
    paid_interest: MoneyType


@strawberry.federation.type(keys=["id"], description="A drawing (tranche) under a facility.")
class Drawdown:
    row: strawberry.Private[models.Drawdown]
    id: strawberry.ID
    facility_id: strawberry.ID
    borrower_party_id: strawberry.ID
    settlement_account_id: strawberry.ID
    amount: MoneyType
    principal_outstanding: MoneyType
    value_date: dt.date
    status: DrawdownStatusEnum
    version: int

    @classmethod
    def of(cls, r: models.Drawdown) -> Drawdown:
        return cls(row=r, id=_id(r.id), facility_id=_id(r.facility_id), borrower_party_id=_id(r.borrower_party_id),
                   settlement_account_id=_id(r.settlement_account_id), amount=_m(r.amount, r.currency),
                   principal_outstanding=_m(r.principal_outstanding, r.currency), value_date=r.value_date,
                   status=models.DrawdownStatus(r.status), version=r.version)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID, **_: object) -> Drawdown | None:
        info.context.require()
        row = await info.context.loaders.drawdowns.load(parse_uuid(id))
        return cls.of(row) if row is not None and await _visible(info, row.borrower_party_id) else None

    @strawberry.field
    def schedule(self) -> list[DrawdownInstallment]:
        c = self.row.currency
        out = []
        for raw, i in zip(self.row.schedule, installments_from_json(self.row.schedule), strict=True):
            out.append(DrawdownInstallment(number=i.number, due_date=i.due_date, principal=_m(i.principal, c),
                                           interest=_m(i.interest, c), total=_m(i.total, c),
                                           paid_principal=_m(Decimal(raw.get("paid_principal", "0")), c),
                                           paid_interest=_m(Decimal(raw.get("paid_interest", "0")), c)))
        return out

    @strawberry.field(description="Instalments raised overdue (InstallmentOverdue) and still not fully paid.")
    def overdue_installments(self) -> int:
        return sum(1 for r in self.row.schedule if r.get("overdue_notified") and unpaid(r) > 0)


@strawberry.federation.type(keys=["id"], description="A committed credit facility.")
class Facility:
    row: strawberry.Private[models.Facility]
    id: strawberry.ID
    borrower_party_id: strawberry.ID
    offer_id: strawberry.ID
    facility_type: FacilityTypeEnum
    limit: MoneyType
    drawn: MoneyType
    current_limit: MoneyType = strawberry.field(description="The limit in force today (steps down if DECREASING).")
    available: MoneyType
    annual_rate_pct: Decimal
    commitment_fee_pct: Decimal
    availability_end: dt.date
    maturity_date: dt.date
    allocation_order: AllocationOrderEnum
    conditions_outstanding: list[str]
    status: FacilityStatusEnum
    version: int
    product: ProductReference | None = strawberry.field(
        description="The product version (product subgraph) the facility is sold under; null when none was named.")

    @classmethod
    def of(cls, r: models.Facility) -> Facility:
        c = r.currency
        return cls(row=r, id=_id(r.id), borrower_party_id=_id(r.borrower_party_id), offer_id=_id(r.offer_id),
                   facility_type=models.FacilityType(r.facility_type), limit=_m(r.limit_amount, c),
                   drawn=_m(r.drawn_amount, c), current_limit=_m(current_limit(r), c),
                   available=_m(max(current_limit(r) - r.drawn_amount, Decimal(0)), c),
                   annual_rate_pct=r.annual_rate_pct.normalize(), commitment_fee_pct=r.commitment_fee_pct.normalize(),
                   availability_end=r.availability_end, maturity_date=r.maturity_date,
                   allocation_order=models.AllocationOrder(r.allocation_order),
                   conditions_outstanding=list(r.conditions_outstanding), status=models.FacilityStatus(r.status),
                   version=r.version, product=product_reference(r.product_id))

    @classmethod
    async def load(cls, info: Info, facility_id: uuid.UUID) -> Facility | None:
        row = await info.context.loaders.facilities.load(facility_id)
        return cls.of(row) if row is not None and await _visible(info, row.borrower_party_id) else None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID, **_: object) -> Facility | None:
        info.context.require()
        return await cls.load(info, parse_uuid(id))

    @strawberry.field(description="Commitment fee accrued on the undrawn amount from creation to asOf "
                                  "(capped at the end of the availability period), ACTUAL/365.")
    async def commitment_fee_accrued(self, info: Info, as_of: dt.date) -> MoneyType:
        r = self.row
        changes: list[tuple[dt.date, Decimal]] = []
        for d in await info.context.loaders.drawdowns_by_facility.load(r.id):
            if d.status == models.DrawdownStatus.FAILED:
                continue
            changes.append((d.value_date, d.amount))
            if r.facility_type == models.FacilityType.REVOLVING:
                changes += [(p.received_on, -(p.principal + p.prepaid_principal))
                            for p in await info.context.loaders.repayments_by_drawdown.load(d.id)]
        end = min(as_of, r.availability_end)
        fee = commitment_fee(limit=r.limit_amount, fee_pct=r.commitment_fee_pct, start=r.created_at.date(),
                             end=end, drawn_changes=changes, currency=r.currency)
        return _m(fee, r.currency)

    @strawberry.field
    async def drawdowns(self, info: Info) -> list[Drawdown]:
        return [Drawdown.of(d) for d in await info.context.loaders.drawdowns_by_facility.load(self.row.id)]

    @strawberry.field(description="Overdue instalments across the facility's drawdowns (the workbench's alert).")
    async def overdue_installments(self, info: Info) -> int:
        rows = await info.context.loaders.drawdowns_by_facility.load(self.row.id)
        return sum(Drawdown.of(d).overdue_installments() for d in rows)

    @strawberry.field
    async def covenants(self, info: Info) -> list[Covenant]:
        return [Covenant.of(c) for c in await info.context.loaders.covenants_by_facility.load(self.row.id)]


@strawberry.federation.type(keys=["id"], description="A party (owned by the party subgraph), with its facilities.")
class Party:
    id: strawberry.ID

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID, **_: object) -> Party:
        return cls(id=id)

    @strawberry.field(description="The party's credit facilities (empty when not visible to the caller).")
    async def facilities(self, info: Info) -> list[Facility]:
        info.context.require()
        pid = parse_uuid(self.id)
        rows = await info.context.loaders.facilities_by_party.load(pid)
        return [Facility.of(r) for r in rows] if rows and await _visible(info, pid) else []


@strawberry.type(description="A repayment asked of the borrower's account: PENDING until the account answers.")
class DrawdownRepaymentRequest:
    id: strawberry.ID
    drawdown_id: strawberry.ID
    amount: MoneyType
    purpose: RepaymentPurposeEnum  # type: ignore[valid-type]
    installment_number: int | None
    status: RepaymentStatusEnum  # type: ignore[valid-type]
    reason: str | None

    @classmethod
    def of(cls, r: models.RepaymentRequest) -> DrawdownRepaymentRequest:
        return cls(id=_id(r.id), drawdown_id=_id(r.drawdown_id), amount=_m(r.amount, r.currency),
                   purpose=models.RepaymentPurpose(r.purpose), installment_number=r.installment_number,
                   status=models.RequestStatus(r.status), reason=r.reason)


def _union(name: str, ok: type) -> object:
    return Annotated[ok | NotFoundError | InvalidTransitionError | ConflictError | IdempotencyKeyReusedError |  # type: ignore[valid-type]
                     FourEyesRequiredError | LimitExceededError, strawberry.union(name)]


CreditApplicationResult = _union("CreditApplicationResult", CreditApplication)
OfferResult = _union("OfferResult", Offer)
FacilityResult = _union("FacilityResult", Facility)
DrawdownResult = _union("DrawdownResult", Drawdown)
CovenantResult = _union("CovenantResult", Covenant)
CovenantTestResult = _union("CovenantTestResult", CovenantTest)
RepaymentRequestResult = _union("DrawdownRepaymentRequestResult", DrawdownRepaymentRequest)
