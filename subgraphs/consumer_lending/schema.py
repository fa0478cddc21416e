"""The consumer lending subgraph's Query and Mutation: thin resolvers over service.py and servicing.py."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

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
from shared.money import minor_units
from shared.products import ProductReference
from shared.validation import text
from subgraphs.consumer_lending import collections, policies, products, service, servicing
from subgraphs.consumer_lending.inputs import (
    AcceptanceEvidenceInput,
    DecisionPolicyInput,
    LoanApplicationInput,
    QuoteInput,
)
from subgraphs.consumer_lending.types import (
    ConsumerLoanProduct,
    Contract,
    ContractResult,
    DecisionPolicy,
    DecisionPolicyResult,
    HardshipArrangement,
    HardshipResult,
    HardshipTypeEnum,
    Loan,
    LoanApplication,
    LoanApplicationResult,
    LoanRepaymentRequest,
    LoanResult,
    OutcomeEnum,
    Party,
    Quote,
    QuoteResult,
    RepaymentRequestResult,
)

T = TypeVar("T")
CREDIT = ("rm", "ops", "admin")
BORROWER = ("customer", "rm", "ops", "admin")
SERVICING = ("ops", "admin")


async def _scope(info: Info) -> access.Scope:
    return await access.scope(info)


@strawberry.type
class Query:
    @strawberry.field(description="A quote by id (anonymous quotes are readable by anyone holding the id).")
    async def quote(self, info: Info, id: strawberry.ID) -> Quote | None:
        row = await info.context.loaders.quotes.load(parse_uuid(id))
        if row is None or (row.party_id is not None and not (await _scope(info)).admits(row.party_id)):
            return None
        return Quote.of(row)

    @strawberry.field(description="The consumer loans on sale today (in one currency, if given), by code; no login "
                                  "needed. Each is what a quote for its code may ask for and how it is priced.")
    async def loan_products(self, info: Info, currency: str | None = None) -> list[ConsumerLoanProduct]:
        if currency is not None:
            minor_units(currency)  # BAD_USER_INPUT for anything but an ISO 4217 code
        async with info.context.sessions() as session:
            offered = await products.on_sale(session, dt.datetime.now(dt.UTC).date(), currency)
        return [ConsumerLoanProduct.of(p) for p in offered]

    @strawberry.field(
        description="The decision policy new applications are decided under.",
        extensions=[any_role(*CREDIT, "auditor")],
    )
    async def active_decision_policy(self, info: Info) -> DecisionPolicy | None:
        async with info.context.sessions() as session:
            row = await policies.active_policy(session)
        return DecisionPolicy.of(row) if row is not None else None

    @strawberry.field(
        description="A loan application by id; null when missing or not visible.",
        extensions=[authenticated()],
    )
    async def loan_application(self, info: Info, id: strawberry.ID) -> LoanApplication | None:
        row = await info.context.loaders.applications.load(parse_uuid(id))
        if row is None or not (await _scope(info)).admits(row.party_id):
            return None
        return LoanApplication.of(row)

    @strawberry.field(
        description="A consumer loan by id; null when missing or not visible.",
        extensions=[authenticated()],
    )
    async def loan(self, info: Info, id: strawberry.ID) -> Loan | None:
        return await Loan.load(info, parse_uuid(id))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Prices a loan: schedule preview, APR, total repayable. No login needed.")
    async def request_quote(self, info: Info, input: QuoteInput, idempotency_key: str) -> QuoteResult:
        data = service.QuoteRequest(
            product_code=input.product_code,
            amount=input.amount.to_money(),
            term_months=input.term_months,
            party_id=parse_uuid(input.party_id, field="partyId") if input.party_id else None,
        )
        return await run_command(
            service.request_quote(
                unit_of_work(info, anonymous=True), data=data, idempotency_key=idempotency_key, scope=await _scope(info)
            ),
            Quote.of,
        )

    @strawberry.mutation(
        description="Applies on a quote with affordability inputs; decided at once by policy.",
        extensions=[any_role(*BORROWER)],
    )
    async def submit_loan_application(
        self, info: Info, input: LoanApplicationInput, idempotency_key: str
    ) -> LoanApplicationResult:
        uow = unit_of_work(info)
        data = service.ApplicationRequest(
            quote_id=input.quote_id,
            party_id=parse_uuid(input.party_id, field="partyId"),
            settlement_account_id=parse_uuid(input.settlement_account_id, field="settlementAccountId"),
            monthly_income=input.monthly_income.to_money(),
            monthly_expenses=input.monthly_expenses.to_money(),
            monthly_debt_payments=input.monthly_debt_payments.to_money(),
            existing_exposure=input.existing_exposure.to_money(),
            credit_score=input.credit_score,
            employment_status=input.employment_status,
        )
        return await run_command(
            service.submit_application(uow, data=data, idempotency_key=idempotency_key, scope=await _scope(info)),
            LoanApplication.of,
        )

    @strawberry.mutation(
        description="Proposes a manual decision (four eyes: a second person approves it).",
        extensions=[any_role(*CREDIT)],
    )
    async def propose_decision_override(
        self, info: Info, application_id: strawberry.ID, outcome: OutcomeEnum, reason: str
    ) -> LoanApplicationResult:
        return await run_command(
            service.propose_override(unit_of_work(info), application_id=application_id, outcome=outcome, reason=reason),
            LoanApplication.of,
        )

    @strawberry.mutation(
        description="Approves a proposed override; the approver must not be the proposer.",
        extensions=[any_role(*CREDIT)],
    )
    async def approve_decision_override(self, info: Info, application_id: strawberry.ID) -> LoanApplicationResult:
        return await run_command(
            service.approve_override(unit_of_work(info), application_id=application_id), LoanApplication.of
        )

    @strawberry.mutation(
        description="Issues the credit agreement for an approved application.",
        extensions=[any_role(*CREDIT)],
    )
    async def issue_loan_contract(self, info: Info, application_id: strawberry.ID) -> ContractResult:
        return await run_command(service.issue_contract(unit_of_work(info), application_id=application_id), Contract.of)

    @strawberry.mutation(
        description="Accepts the credit agreement with evidence; cooling-off starts.",
        extensions=[any_role(*BORROWER)],
    )
    async def accept_loan_contract(
        self, info: Info, application_id: strawberry.ID, evidence: AcceptanceEvidenceInput
    ) -> ContractResult:
        ev = {
            "signature_method": text(evidence.signature_method, field="signatureMethod", max_length=64) or "",
            "ip_address": text(evidence.ip_address, field="ipAddress", max_length=64, required=False) or "",
            "device": text(evidence.device, field="device", max_length=200, required=False) or "",
        }
        return await run_command(
            service.accept_contract(
                unit_of_work(info), application_id=application_id, evidence=ev, scope=await _scope(info)
            ),
            Contract.of,
        )

    @strawberry.mutation(description="Withdraws an application before disbursement.", extensions=[any_role(*BORROWER)])
    async def withdraw_loan_application(
        self, info: Info, application_id: strawberry.ID, reason: str
    ) -> LoanApplicationResult:
        return await run_command(
            service.withdraw_application(
                unit_of_work(info), application_id=application_id, reason=reason, scope=await _scope(info)
            ),
            LoanApplication.of,
        )

    @strawberry.mutation(
        description="Opens the loan and requests the credit to the settlement account.",
        extensions=[any_role(*SERVICING)],
    )
    async def disburse_loan(self, info: Info, application_id: strawberry.ID, idempotency_key: str) -> LoanResult:
        return await run_command(
            service.disburse_loan(unit_of_work(info), application_id=application_id, idempotency_key=idempotency_key),
            Loan.of,
        )

    @strawberry.mutation(
        description="Asks the borrower's account for a repayment (what is due by default); "
        "more pays ahead. Applied when the account domain books it.",
        extensions=[any_role(*BORROWER)],
    )
    async def request_loan_repayment(
        self, info: Info, loan_id: strawberry.ID, idempotency_key: str, amount: MoneyInput | None = None
    ) -> RepaymentRequestResult:
        return await run_command(
            collections.request_repayment(
                unit_of_work(info),
                loan_id=loan_id,
                amount=amount.to_money() if amount is not None else None,
                idempotency_key=idempotency_key,
                scope=await _scope(info),
            ),
            LoanRepaymentRequest.of,
        )

    @strawberry.mutation(description="Records a repayment received on a loan.", extensions=[any_role(*SERVICING)])
    async def record_loan_repayment(
        self, info: Info, loan_id: strawberry.ID, amount: MoneyInput, idempotency_key: str
    ) -> LoanResult:
        return await run_command(
            servicing.record_repayment(
                unit_of_work(info),
                loan_id=loan_id,
                amount=amount.to_money(),
                idempotency_key=idempotency_key,
            ),
            Loan.of,
        )

    @strawberry.mutation(
        description="Publishes a new decision policy version and makes it active (admin).",
        extensions=[any_role("admin")],
    )
    async def publish_decision_policy(
        self, info: Info, input: DecisionPolicyInput, reason: str
    ) -> DecisionPolicyResult:
        caps = {m.currency: str(m.to_money().amount) for m in input.exposure_caps}
        rules = {
            "score_bands": [
                {"min": b.min, "max": b.max, "outcome": b.outcome.value, "reason": b.reason} for b in input.score_bands
            ],
            "refer_affordability_ratio": str(input.refer_affordability_ratio),
            "max_affordability_ratio": str(input.max_affordability_ratio),
            "exposure_caps": caps,
            "default_exposure_cap": str(input.default_exposure_cap),
        }
        return await run_command(
            policies.publish_policy(unit_of_work(info), version=input.version, rules=rules, reason=reason),
            DecisionPolicy.of,
        )

    @strawberry.mutation(
        description="Withdraws from a disbursed loan inside the cooling-off period; the amount advanced plus "
        "interest to date is collected from the settlement account (WITHDRAWAL_PENDING until it is).",
        extensions=[any_role(*BORROWER)],
    )
    async def exercise_cooling_off(
        self, info: Info, loan_id: strawberry.ID, reason: str, idempotency_key: str | None = None
    ) -> LoanResult:
        return await run_command(
            collections.exercise_cooling_off(
                unit_of_work(info), loan_id=loan_id, reason=reason, scope=await _scope(info),
                idempotency_key=idempotency_key,
            ),
            Loan.of,
        )

    @strawberry.mutation(
        description="Ages a loan as of a date into its delinquency bucket.",
        extensions=[any_role(*SERVICING)],
    )
    async def assess_loan_delinquency(self, info: Info, loan_id: strawberry.ID, as_of: dt.date) -> LoanResult:
        return await run_command(
            servicing.assess_delinquency(unit_of_work(info), loan_id=loan_id, as_of=as_of), Loan.of
        )

    @strawberry.mutation(description="Requests a hardship arrangement on a loan; reducedAmount (the agreed "
                         "instalment) is required for REDUCED_PAYMENT and only for it.",
                         extensions=[any_role(*BORROWER)])
    async def request_hardship(
        self,
        info: Info,
        loan_id: strawberry.ID,
        arrangement_type: HardshipTypeEnum,
        periods: int,
        reason: str,
        idempotency_key: str,
        reduced_amount: MoneyInput | None = None,
    ) -> HardshipResult:
        return await run_command(
            servicing.request_hardship(
                unit_of_work(info),
                loan_id=loan_id,
                arrangement_type=arrangement_type,
                periods=periods,
                reason=reason,
                idempotency_key=idempotency_key,
                scope=await _scope(info),
                reduced_amount=reduced_amount.to_money() if reduced_amount is not None else None,
            ),
            HardshipArrangement.of,
        )

    @strawberry.mutation(
        description="Approves or declines a hardship request (not by its requester).",
        extensions=[any_role(*CREDIT)],
    )
    async def decide_hardship(
        self, info: Info, hardship_id: strawberry.ID, approve: bool, reason: str
    ) -> HardshipResult:
        return await run_command(
            servicing.decide_hardship(unit_of_work(info), hardship_id=hardship_id, approve=approve, reason=reason),
            HardshipArrangement.of,
        )

    @strawberry.mutation(
        description="Starts an approved arrangement and recalculates the schedule.",
        extensions=[any_role(*CREDIT)],
    )
    async def activate_hardship(self, info: Info, hardship_id: strawberry.ID, as_of: dt.date) -> HardshipResult:
        return await run_command(
            servicing.activate_hardship(unit_of_work(info), hardship_id=hardship_id, as_of=as_of),
            HardshipArrangement.of,
        )

    @strawberry.mutation(
        description="Ends an active arrangement as COMPLETED or BROKEN.",
        extensions=[any_role(*CREDIT)],
    )
    async def end_hardship(self, info: Info, hardship_id: strawberry.ID, broken: bool, reason: str) -> HardshipResult:
        return await run_command(
            servicing.end_hardship(unit_of_work(info), hardship_id=hardship_id, broken=broken, reason=reason),
            HardshipArrangement.of,
        )


def build_schema() -> Schema:
    """Builds the consumer lending federation schema."""
    return Schema(
        query=Query,
        mutation=Mutation,
        types=[Loan, Party, ProductReference],
        federation_version="2.9",
        extensions=[lambda: FinpaceErrors("consumer_lending"), operation_metrics("consumer_lending")],
    )
