"""The corporate lending subgraph's Query and Mutation: thin resolvers over the use-case modules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TypeVar

import strawberry
from strawberry.types import Info

from shared import access
from shared.errors import InputError
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
from shared.money import parse_decimal
from shared.products import ProductReference
from shared.validation import text
from subgraphs.corporate_lending import collections, covenants, facilities, origination, servicing
from subgraphs.corporate_lending.inputs import CreditApplicationInput, OfferInput
from subgraphs.corporate_lending.models import FacilityStatus
from subgraphs.corporate_lending.types import Covenant as CovenantType
from subgraphs.corporate_lending.types import (
    CovenantResult,
    CovenantTestResult,
    CreditApplication,
    CreditApplicationResult,
    Drawdown,
    DrawdownRepaymentRequest,
    DrawdownResult,
    Facility,
    FacilityResult,
    FacilityStatusEnum,
    Offer,
    OfferResult,
    Party,
    RepaymentRequestResult,
)
from subgraphs.corporate_lending.types import CovenantTest as CovenantTestType

T = TypeVar("T")
CREDIT = ("rm", "ops", "admin")
BORROWER = ("customer", "rm", "ops", "admin")
SERVICING = ("ops", "admin")


async def _scope(info: Info) -> access.Scope:
    return await access.scope(info)


def _offer_terms(i: OfferInput) -> origination.OfferTerms:
    r = i.repayment
    schedule = {
        "every": r.every,
        "unit": r.unit,
        "interest_method": r.interest_method,
        "amortisation": r.amortisation,
        "day_count": r.day_count,
        "grace_on_principal": r.grace_on_principal,
        "grace_on_interest": r.grace_on_interest,
    }
    return origination.OfferTerms(
        limit=i.limit.to_money(),
        base_rate_pct=parse_decimal(i.base_rate_pct, field="baseRatePct"),
        margin_pct=parse_decimal(i.margin_pct, field="marginPct"),
        commitment_fee_pct=parse_decimal(i.commitment_fee_pct, field="commitmentFeePct"),
        arrangement_fee=i.arrangement_fee.to_money(),
        availability_months=i.availability_months,
        installments=r.installments,
        schedule=schedule,
        conditions_precedent=tuple(i.conditions_precedent),
        covenants=tuple(
            origination.CovenantTerms(
                metric=c.metric,
                operator=c.operator,
                threshold=parse_decimal(c.threshold, field="threshold"),
                test_frequency=c.test_frequency,
            )
            for c in i.covenants
        ),
        valid_days=i.valid_days,
        product_id=str(parse_uuid(i.product_id, field="productId")) if i.product_id is not None else None,
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="A credit application by id; null when missing or not visible.",
        extensions=[authenticated()],
    )
    async def credit_application(self, info: Info, id: strawberry.ID) -> CreditApplication | None:
        row = await info.context.loaders.applications.load(parse_uuid(id))
        ok = row is not None and (await _scope(info)).admits(row.borrower_party_id)
        return CreditApplication.of(row) if ok else None

    @strawberry.field(description="An offer by id; null when missing or not visible.", extensions=[authenticated()])
    async def offer(self, info: Info, id: strawberry.ID) -> Offer | None:
        row = await info.context.loaders.offers.load(parse_uuid(id))
        ok = row is not None and (await _scope(info)).admits(row.borrower_party_id)
        return Offer.of(row) if ok else None

    @strawberry.field(description="A facility by id; null when missing or not visible.", extensions=[authenticated()])
    async def facility(self, info: Info, id: strawberry.ID) -> Facility | None:
        return await Facility.load(info, parse_uuid(id))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Submits a credit application for underwriting.", extensions=[any_role(*BORROWER)])
    async def create_credit_application(
        self, info: Info, input: CreditApplicationInput, idempotency_key: str
    ) -> CreditApplicationResult:
        uow = unit_of_work(info)
        figures = {
            text(f.name, field="financials.name", max_length=64) or "": str(
                parse_decimal(f.value, field="financials.value")
            )
            for f in input.financials
        }
        data = origination.NewApplication(
            borrower_party_id=parse_uuid(input.borrower_party_id, field="borrowerPartyId"),
            guarantor_party_ids=tuple(parse_uuid(g, field="guarantorPartyIds") for g in input.guarantor_party_ids),
            purpose=input.purpose,
            requested=input.requested.to_money(),
            facility_type=input.facility_type,
            financials=figures,
            internal_rating=text(input.internal_rating, field="internalRating", max_length=8, required=False),
        )
        return await run_command(
            origination.create_credit_application(
                uow, data=data, idempotency_key=idempotency_key, scope=await _scope(info)
            ),
            CreditApplication.of,
        )

    @strawberry.mutation(
        description="Proposes the credit decision (maker); a second person confirms it.",
        extensions=[any_role(*CREDIT)],
    )
    async def propose_credit_decision(
        self, info: Info, application_id: strawberry.ID, approve: bool, reason: str
    ) -> CreditApplicationResult:
        return await run_command(
            origination.propose_credit_decision(
                unit_of_work(info), application_id=application_id, approve=approve, reason=reason
            ),
            CreditApplication.of,
        )

    @strawberry.mutation(
        description="Confirms the proposed credit decision (checker, not the maker).",
        extensions=[any_role(*CREDIT)],
    )
    async def approve_credit_decision(self, info: Info, application_id: strawberry.ID) -> CreditApplicationResult:
        return await run_command(
            origination.approve_credit_decision(unit_of_work(info), application_id=application_id),
            CreditApplication.of,
        )

    @strawberry.mutation(description="Issues an offer on an approved application.", extensions=[any_role(*CREDIT)])
    async def issue_offer(
        self, info: Info, application_id: strawberry.ID, input: OfferInput, idempotency_key: str
    ) -> OfferResult:
        return await run_command(
            origination.issue_offer(
                unit_of_work(info),
                application_id=application_id,
                terms=_offer_terms(input),
                idempotency_key=idempotency_key,
            ),
            Offer.of,
        )

    @strawberry.mutation(
        description="Accepts an offer before it expires; the facility is created.",
        extensions=[any_role(*BORROWER)],
    )
    async def accept_offer(self, info: Info, offer_id: strawberry.ID, idempotency_key: str) -> FacilityResult:
        return await run_command(
            origination.accept_offer(
                unit_of_work(info),
                offer_id=offer_id,
                idempotency_key=idempotency_key,
                scope=await _scope(info),
            ),
            Facility.of,
        )

    @strawberry.mutation(description="Marks a condition precedent satisfied.", extensions=[any_role(*CREDIT)])
    async def satisfy_condition_precedent(
        self, info: Info, facility_id: strawberry.ID, condition: str, evidence: str
    ) -> FacilityResult:
        return await run_command(
            facilities.satisfy_condition(
                unit_of_work(info), facility_id=facility_id, condition=condition, evidence=evidence
            ),
            Facility.of,
        )

    @strawberry.mutation(
        description="Moves a facility: SUSPENDED, AVAILABLE, AMORTISING, CANCELLED or CLOSED.",
        extensions=[any_role(*CREDIT)],
    )
    async def change_facility_status(
        self, info: Info, facility_id: strawberry.ID, status: FacilityStatusEnum, reason: str
    ) -> FacilityResult:
        if status is FacilityStatus.PENDING_CONDITIONS:
            raise InputError("A facility never returns to PENDING_CONDITIONS.", field="status")
        return await run_command(
            facilities.change_facility_status(
                unit_of_work(info), facility_id=facility_id, target=status, reason=reason
            ),
            Facility.of,
        )

    @strawberry.mutation(
        description="Draws on a facility within its available amount; requests the credit.",
        extensions=[any_role(*BORROWER)],
    )
    async def execute_drawdown(
        self,
        info: Info,
        facility_id: strawberry.ID,
        amount: MoneyInput,
        settlement_account_id: strawberry.ID,
        idempotency_key: str,
    ) -> DrawdownResult:
        return await run_command(
            facilities.execute_drawdown(
                unit_of_work(info),
                facility_id=facility_id,
                amount=amount.to_money(),
                settlement_account_id=parse_uuid(settlement_account_id, field="settlementAccountId"),
                idempotency_key=idempotency_key,
                scope=await _scope(info),
            ),
            Drawdown.of,
        )

    @strawberry.mutation(
        description="Applies a repayment in the facility's allocation order; excess prepays.",
        extensions=[any_role(*SERVICING)],
    )
    async def record_repayment(
        self, info: Info, drawdown_id: strawberry.ID, amount: MoneyInput, received_on: dt.date, idempotency_key: str
    ) -> DrawdownResult:
        return await run_command(
            servicing.record_repayment(
                unit_of_work(info),
                drawdown_id=drawdown_id,
                amount=amount.to_money(),
                received_on=received_on,
                idempotency_key=idempotency_key,
            ),
            Drawdown.of,
        )

    @strawberry.mutation(
        description="Asks the borrower's account for a repayment (what is due by default); "
        "more than is due prepays. Applied when the account domain books it.",
        extensions=[any_role(*BORROWER)],
    )
    async def request_drawdown_repayment(
        self, info: Info, drawdown_id: strawberry.ID, idempotency_key: str, amount: MoneyInput | None = None
    ) -> RepaymentRequestResult:
        return await run_command(
            collections.request_repayment(
                unit_of_work(info),
                drawdown_id=drawdown_id,
                amount=amount.to_money() if amount is not None else None,
                idempotency_key=idempotency_key,
                scope=await _scope(info),
            ),
            DrawdownRepaymentRequest.of,
        )

    @strawberry.mutation(
        description="Raises InstallmentOverdue for unpaid instalments due before asOf.",
        extensions=[any_role(*SERVICING)],
    )
    async def check_overdue_installments(
        self, info: Info, drawdown_id: strawberry.ID, as_of: dt.date
    ) -> DrawdownResult:
        return await run_command(
            servicing.check_overdue(unit_of_work(info), drawdown_id=drawdown_id, as_of=as_of),
            Drawdown.of,
        )

    @strawberry.mutation(
        description="Submits a covenant compliance figure for a period: PASS or BREACH.",
        extensions=[any_role(*CREDIT)],
    )
    async def submit_covenant_compliance(
        self,
        info: Info,
        covenant_id: strawberry.ID,
        period_end: dt.date,
        actual_value: Decimal,
        evidence_ref: str | None = None,
    ) -> CovenantTestResult:
        return await run_command(
            covenants.submit_compliance(
                unit_of_work(info),
                covenant_id=covenant_id,
                period_end=period_end,
                actual_value=parse_decimal(actual_value, field="actualValue"),
                evidence_ref=evidence_ref,
            ),
            CovenantTestType.of,
        )

    @strawberry.mutation(description="Requests a waiver of a covenant breach (maker).", extensions=[any_role(*CREDIT)])
    async def request_covenant_waiver(
        self, info: Info, covenant_id: strawberry.ID, reason: str, expires_on: dt.date
    ) -> CovenantResult:
        return await run_command(
            covenants.request_waiver(unit_of_work(info), covenant_id=covenant_id, reason=reason, expires_on=expires_on),
            CovenantType.of,
        )

    @strawberry.mutation(
        description="Approves a requested waiver (checker, not the maker).",
        extensions=[any_role(*CREDIT)],
    )
    async def approve_covenant_waiver(self, info: Info, covenant_id: strawberry.ID) -> CovenantResult:
        return await run_command(covenants.approve_waiver(unit_of_work(info), covenant_id=covenant_id), CovenantType.of)


def build_schema() -> Schema:
    """Builds the corporate lending federation schema."""
    return Schema(
        query=Query,
        mutation=Mutation,
        types=[Facility, Drawdown, Party, ProductReference],
        federation_version="2.9",
        extensions=[lambda: FinpaceErrors("corporate_lending"), operation_metrics("corporate_lending")],
    )
