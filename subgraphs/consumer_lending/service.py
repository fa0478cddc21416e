"""Consumer origination use cases: quote, application with decision, override, contract, disbursement request."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select

from shared.access import Scope, lock_visible, visible
from shared.db import UnitOfWork
from shared.errors import FourEyesRequired, InputError, NotFound
from shared.money import Money
from shared.validation import reason as check_reason
from shared.validation import required_text
from subgraphs.consumer_lending import events
from subgraphs.consumer_lending.decisioning import Applicant, decide
from subgraphs.consumer_lending.models import (
    Application,
    ApplicationStatus,
    Contract,
    Decision,
    DecisionPolicy,
    Loan,
    LoanStatus,
    Outcome,
    Quote,
    QuoteStatus,
    check,
)
from subgraphs.consumer_lending.products import product
from subgraphs.lending_schedules.engine import generate, terms_from_json, terms_to_json

M = TypeVar("M")
QUOTE_VALIDITY = dt.timedelta(days=30)
COOLING_OFF_DAYS = 14
CONTRACT_VERSION = "CL-AGREEMENT-2026.1"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def lock(uow: UnitOfWork, model: type[M], raw_id: str, field: str, scope: Scope | None) -> M:
    """Loads a row FOR UPDATE; missing and not-visible look the same."""
    return await lock_visible(uow, model, raw_id, field=field, scope=scope)


@dataclass(frozen=True)
class QuoteRequest:
    product_code: str
    amount: Money
    term_months: int
    party_id: uuid.UUID | None


async def request_quote(uow: UnitOfWork, *, data: QuoteRequest, idempotency_key: str,
                        scope: Scope | None) -> Quote:
    """Prices a loan with a schedule preview, APR and total repayable; anonymous callers are allowed.

    The price is the product version's on sale today (subgraphs/consumer_lending/products.py).
    """
    if data.party_id is not None and scope is not None and not scope.admits(data.party_id):
        raise InputError("partyId is not one of the caller's parties.", field="partyId")
    async with uow:
        request = {"product": data.product_code, "amount": data.amount, "term": data.term_months,
                   "party": data.party_id}
        if (prior := await uow.replayed("requestQuote", idempotency_key, request, Quote)) is not None:
            return prior
        p = await product(uow.session, data.product_code, data.amount.currency, _now().date())
        terms = p.schedule_terms(data.amount.amount, data.term_months, _now().date())
        schedule = generate(terms)
        quote = Quote(id=uuid.uuid4(), party_id=data.party_id, product_code=f"{p.code}@{p.version}",
                      product_id=p.id, terms=terms_to_json(terms), principal=terms.principal, currency=terms.currency,
                      annual_rate_pct=p.annual_rate_pct, apr_pct=schedule.apr_pct(),
                      installment_amount=schedule.regular_installment, total_repayable=schedule.total_repayable,
                      total_cost_of_credit=schedule.total_cost_of_credit, valid_until=_now() + QUOTE_VALIDITY,
                      status=QuoteStatus.ISSUED.value)
        uow.session.add(quote)
        party = str(data.party_id) if data.party_id else None
        await uow.emit(events.QuoteIssued(quote_id=str(quote.id), party_id=party,
                                          principal=data.amount, apr_pct=str(quote.apr_pct),
                                          total_repayable=Money.of(quote.total_repayable, quote.currency)),
                       aggregate_id=quote.id, aggregate_version=1)
        await uow.commit({"id": str(quote.id)})
        return quote


@dataclass(frozen=True)
class ApplicationRequest:
    quote_id: str
    party_id: uuid.UUID
    settlement_account_id: uuid.UUID
    monthly_income: Money
    monthly_expenses: Money
    monthly_debt_payments: Money
    existing_exposure: Money
    credit_score: int
    employment_status: str


async def _policy(uow: UnitOfWork) -> DecisionPolicy:
    stmt = select(DecisionPolicy).where(DecisionPolicy.active).order_by(DecisionPolicy.created_at.desc()).limit(1)
    return (await uow.session.execute(stmt)).scalar_one()


async def submit_application(uow: UnitOfWork, *, data: ApplicationRequest, idempotency_key: str,
                             scope: Scope | None) -> Application:
    """Turns a valid quote into an application and decides it at once under the active policy."""
    if not 0 <= data.credit_score <= 999:
        raise InputError("creditScore must be between 0 and 999.", field="creditScore")
    employment = required_text(data.employment_status, field="employmentStatus", max_length=32)
    if not visible(scope, data.party_id):
        raise InputError("partyId is not one of the caller's parties.", field="partyId")
    async with uow:
        request = {k: getattr(data, k) for k in data.__dataclass_fields__}
        if (prior := await uow.replayed("submitApplication", idempotency_key, request, Application)) is not None:
            return prior
        quote = await lock(uow, Quote, data.quote_id, "quoteId", None)
        if quote.party_id is not None and quote.party_id != data.party_id:
            raise NotFound(f"Quote {quote.id} does not exist.")
        check(quote.status, {QuoteStatus.ISSUED}, "apply", "quote")
        if quote.valid_until < _now():
            quote.status = QuoteStatus.EXPIRED.value
            check(quote.status, {QuoteStatus.ISSUED}, "apply", "quote")
        for m in (data.monthly_income, data.monthly_expenses, data.monthly_debt_payments, data.existing_exposure):
            if m.currency != quote.currency:
                raise InputError(f"Affordability amounts must be in {quote.currency}.", field="affordability")
            if m.is_negative:
                raise InputError("Affordability amounts may not be negative.", field="affordability")
        quote.status = QuoteStatus.ACCEPTED.value
        app = Application(id=uuid.uuid4(), quote_id=quote.id, party_id=data.party_id,
                          settlement_account_id=data.settlement_account_id,
                          monthly_income=data.monthly_income.amount, monthly_expenses=data.monthly_expenses.amount,
                          monthly_debt_payments=data.monthly_debt_payments.amount,
                          existing_exposure=data.existing_exposure.amount, credit_score=data.credit_score,
                          employment_status=employment, status=ApplicationStatus.SUBMITTED.value,
                          created_by=uow.context.actor.sub, version=1)
        uow.session.add(app)
        await uow.emit(events.ApplicationSubmitted(application_id=str(app.id), party_id=str(app.party_id),
                                                   quote_id=str(quote.id),
                                                   principal=Money.of(quote.principal, quote.currency)),
                       aggregate_id=app.id, aggregate_version=1)
        policy = await _policy(uow)
        result = decide(policy.version, policy.rules, Applicant(
            credit_score=app.credit_score, monthly_income=app.monthly_income, monthly_expenses=app.monthly_expenses,
            monthly_debt_payments=app.monthly_debt_payments, existing_exposure=app.existing_exposure),
            principal=quote.principal, currency=quote.currency, monthly_installment=quote.installment_amount)
        decision = Decision(id=uuid.uuid4(), application_id=app.id, outcome=result.outcome.value,
                            reason_codes=result.reason_codes, policy_version=result.policy_version,
                            score=app.credit_score, affordability_ratio=result.affordability_ratio,
                            decided_by="SYSTEM")
        await _apply_decision(uow, app, decision)
        await uow.commit({"id": str(app.id)})
        return app


_STATUS_FOR = {Outcome.APPROVE: ApplicationStatus.APPROVED, Outcome.DECLINE: ApplicationStatus.DECLINED,
               Outcome.REFER: ApplicationStatus.REFERRED}


async def _apply_decision(uow: UnitOfWork, app: Application, decision: Decision) -> None:
    uow.session.add(decision)
    before = app.status
    app.status = _STATUS_FOR[Outcome(decision.outcome)].value
    await uow.emit(events.ApplicationDecisionMade(
        application_id=str(app.id), party_id=str(app.party_id), decision_id=str(decision.id),
        outcome=decision.outcome, reason_codes=list(decision.reason_codes), policy_version=decision.policy_version,
        decided_by=decision.decided_by, override_of=str(decision.override_of) if decision.override_of else None),
        aggregate_id=app.id, aggregate_version=app.touch(),
        reason=decision.reason, before={"status": before}, after={"status": app.status})


async def _latest_decision(uow: UnitOfWork, app_id: uuid.UUID) -> Decision:
    stmt = select(Decision).where(Decision.application_id == app_id).order_by(Decision.decided_at.desc()).limit(1)
    return (await uow.session.execute(stmt)).scalar_one()


OVERRIDABLE = {ApplicationStatus.REFERRED, ApplicationStatus.DECLINED, ApplicationStatus.APPROVED}


async def propose_override(uow: UnitOfWork, *, application_id: str, outcome: Outcome, reason: str) -> Application:
    """Proposes a manual decision (maker); it has no effect until a second person approves it."""
    reason = check_reason(reason)
    if outcome is Outcome.REFER:
        raise InputError("An override decides: APPROVE or DECLINE.", field="outcome")
    async with uow:
        app = await lock(uow, Application, application_id, "applicationId", None)
        check(app.status, OVERRIDABLE, "override the decision", "application")
        app.pending_override = {"outcome": outcome.value, "reason": reason, "proposed_by": uow.context.actor.sub}
        await uow.emit(events.ApplicationOverrideProposed(application_id=str(app.id), party_id=str(app.party_id),
                                                          outcome=outcome.value, proposed_by=uow.context.actor.sub),
                       aggregate_id=app.id, aggregate_version=app.touch(), reason=reason)
        await uow.commit()
        return app


async def approve_override(uow: UnitOfWork, *, application_id: str) -> Application:
    """Approves a proposed override (checker ≠ maker) and records it as a new decision."""
    async with uow:
        app = await lock(uow, Application, application_id, "applicationId", None)
        check(app.status, OVERRIDABLE, "approve an override", "application")
        pending = app.pending_override
        if not pending:
            raise NotFound(f"Application {app.id} has no override awaiting approval.")
        if pending["proposed_by"] == uow.context.actor.sub:
            raise FourEyesRequired("The override must be approved by someone other than who proposed it.")
        prior = await _latest_decision(uow, app.id)
        decision = Decision(id=uuid.uuid4(), application_id=app.id, outcome=pending["outcome"],
                            reason_codes=["MANUAL_OVERRIDE"], policy_version=prior.policy_version, score=prior.score,
                            affordability_ratio=prior.affordability_ratio, decided_by=pending["proposed_by"],
                            approved_by=uow.context.actor.sub, override_of=prior.id, reason=pending["reason"])
        app.pending_override = None
        await _apply_decision(uow, app, decision)
        await uow.commit()
        return app


async def issue_contract(uow: UnitOfWork, *, application_id: str) -> Contract:
    """Issues the credit agreement (pre-contract information) for an approved application."""
    async with uow:
        app = await lock(uow, Application, application_id, "applicationId", None)
        check(app.status, {ApplicationStatus.APPROVED}, "issue a contract", "application")
        contract = Contract(id=uuid.uuid4(), application_id=app.id, document_version=CONTRACT_VERSION,
                            issued_at=_now(), status="ISSUED")
        uow.session.add(contract)
        app.status = ApplicationStatus.CONTRACT_ISSUED.value
        await uow.emit(events.ApplicationContractIssued(application_id=str(app.id), party_id=str(app.party_id),
                                                        contract_id=str(contract.id),
                                                        document_version=CONTRACT_VERSION),
                       aggregate_id=app.id, aggregate_version=app.touch())
        await uow.commit()
        return contract


async def accept_contract(uow: UnitOfWork, *, application_id: str, evidence: dict[str, str],
                          scope: Scope | None) -> Contract:
    """Records the borrower's acceptance with its evidence; the cooling-off period starts."""
    if not evidence.get("signature_method"):
        raise InputError("Acceptance evidence needs a signatureMethod.", field="evidence")
    async with uow:
        app = await lock(uow, Application, application_id, "applicationId", scope)
        check(app.status, {ApplicationStatus.CONTRACT_ISSUED}, "accept the contract", "application")
        contract = (await uow.session.execute(
            select(Contract).where(Contract.application_id == app.id).with_for_update())).scalar_one()
        contract.accepted_at = _now()
        contract.acceptance_evidence = evidence
        contract.cooling_off_ends_on = contract.accepted_at.date() + dt.timedelta(days=COOLING_OFF_DAYS)
        contract.status = "ACCEPTED"
        app.status = ApplicationStatus.CONTRACT_ACCEPTED.value
        await uow.emit(events.ApplicationContractAccepted(
            application_id=str(app.id), party_id=str(app.party_id), contract_id=str(contract.id),
            cooling_off_ends_on=contract.cooling_off_ends_on.isoformat()),
            aggregate_id=app.id, aggregate_version=app.touch())
        await uow.commit()
        return contract


WITHDRAWABLE = {ApplicationStatus.SUBMITTED, ApplicationStatus.APPROVED, ApplicationStatus.REFERRED,
                ApplicationStatus.CONTRACT_ISSUED, ApplicationStatus.CONTRACT_ACCEPTED}


async def withdraw_application(uow: UnitOfWork, *, application_id: str, reason: str,
                               scope: Scope | None) -> Application:
    """Withdraws an application before disbursement."""
    reason = check_reason(reason)
    async with uow:
        app = await lock(uow, Application, application_id, "applicationId", scope)
        check(app.status, WITHDRAWABLE, "withdraw", "application")
        before, app.status = app.status, ApplicationStatus.WITHDRAWN.value
        await uow.emit(events.ApplicationWithdrawn(application_id=str(app.id), party_id=str(app.party_id)),
                       aggregate_id=app.id, aggregate_version=app.touch(), reason=reason,
                       before={"status": before}, after={"status": app.status})
        await uow.commit()
        return app


async def disburse_loan(uow: UnitOfWork, *, application_id: str, idempotency_key: str) -> Loan:
    """Opens the loan and asks the account domain to credit the settlement account (saga step 1)."""
    async with uow:
        if (prior := await uow.replayed("disburseLoan", idempotency_key, {"app": application_id}, Loan)):
            return prior
        app = await lock(uow, Application, application_id, "applicationId", None)
        check(app.status, {ApplicationStatus.CONTRACT_ACCEPTED}, "disburse", "application")
        quote = await uow.session.get(Quote, app.quote_id)
        assert quote is not None
        terms = terms_from_json(quote.terms)
        loan = Loan(id=uuid.uuid4(), application_id=app.id, party_id=app.party_id,
                    settlement_account_id=app.settlement_account_id, principal=quote.principal,
                    currency=quote.currency, terms=quote.terms, product_id=quote.product_id, schedule=[],
                    schedule_version=0,
                    disbursement_id=uuid.uuid4(), status=LoanStatus.DISBURSEMENT_PENDING.value,
                    amount_repaid=Decimal(0), days_past_due=0, delinquency_bucket="CURRENT", version=1)
        uow.session.add(loan)
        app.status = ApplicationStatus.DISBURSEMENT_REQUESTED.value
        await uow.emit(events.LoanDisbursementRequested(
            loan_id=str(loan.id), party_id=str(loan.party_id), application_id=str(app.id),
            settlement_account_id=str(loan.settlement_account_id),
            amount=Money.of(terms.principal - terms.upfront_fee, terms.currency),
            idempotency_id=str(loan.disbursement_id)), aggregate_id=loan.id, aggregate_version=1)
        await uow.commit({"id": str(loan.id)})
        return loan
