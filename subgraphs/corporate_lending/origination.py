"""Corporate origination: credit application, four-eyes credit decision, offer, acceptance into a facility."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from shared.db import UnitOfWork
from shared.errors import FourEyesRequired, InputError, InvalidTransition, NotFound
from shared.money import Money
from shared.products import sellable
from shared.validation import reason as check_reason
from shared.validation import required_text
from subgraphs.corporate_lending import events
from subgraphs.corporate_lending.common import lock, now, visible
from subgraphs.corporate_lending.models import (
    AllocationOrder,
    ApplicationStatus,
    Covenant,
    CovenantStatus,
    CreditApplication,
    Facility,
    FacilityStatus,
    FacilityType,
    Offer,
    OfferStatus,
    Operator,
    ProductVersion,
    check,
)
from subgraphs.lending_schedules.calendar import add_months
from subgraphs.lending_schedules.engine import ScheduleTerms, terms_to_json


@dataclass(frozen=True)
class NewApplication:
    borrower_party_id: uuid.UUID
    guarantor_party_ids: tuple[uuid.UUID, ...]
    purpose: str
    requested: Money
    facility_type: FacilityType
    financials: dict[str, str]
    internal_rating: str | None


async def create_credit_application(uow: UnitOfWork, *, data: NewApplication, idempotency_key: str,
                                    scope: frozenset[str] | None) -> CreditApplication:
    """Submits a credit application for underwriting."""
    purpose = required_text(data.purpose, field="purpose", max_length=500)
    if data.requested.amount <= 0:
        raise InputError("requested amount must be positive.", field="requested")
    if not visible(scope, data.borrower_party_id):
        raise InputError("borrowerPartyId is not one of the caller's parties.", field="borrowerPartyId")
    async with uow:
        if (prior := await uow.replayed("createCreditApplication", idempotency_key, asdict(data),
                                    CreditApplication)) is not None:
            return prior
        app = CreditApplication(
            id=uuid.uuid4(), borrower_party_id=data.borrower_party_id,
            guarantor_party_ids=[str(g) for g in data.guarantor_party_ids], purpose=purpose,
            requested_amount=data.requested.amount, currency=data.requested.currency,
            facility_type=data.facility_type.value, financials=data.financials, internal_rating=data.internal_rating,
            status=ApplicationStatus.SUBMITTED.value, version=1)
        uow.session.add(app)
        await uow.emit(events.CreditApplicationSubmitted(application_id=str(app.id),
                                                         borrower_party_id=str(app.borrower_party_id),
                                                         requested=data.requested,
                                                         facility_type=app.facility_type),
                       aggregate_id=app.id, aggregate_version=1)
        await uow.commit({"id": str(app.id)})
        return app


async def propose_credit_decision(uow: UnitOfWork, *, application_id: str, approve: bool,
                                  reason: str) -> CreditApplication:
    """Records the analyst's recommendation (maker); it takes effect only when a second person approves it."""
    reason = check_reason(reason)
    async with uow:
        app = await lock(uow, CreditApplication, application_id, "applicationId")
        check(app.status, {ApplicationStatus.SUBMITTED}, "propose a credit decision", "application")
        app.pending_decision = {"approve": approve, "reason": reason, "proposed_by": uow.context.actor.sub}
        await uow.emit(events.CreditDecisionProposed(application_id=str(app.id),
                                                     borrower_party_id=str(app.borrower_party_id), approve=approve,
                                                     proposed_by=uow.context.actor.sub),
                       aggregate_id=app.id, aggregate_version=app.touch(), reason=reason)
        await uow.commit()
        return app


async def approve_credit_decision(uow: UnitOfWork, *, application_id: str) -> CreditApplication:
    """Confirms the proposed decision (checker must differ from maker)."""
    async with uow:
        app = await lock(uow, CreditApplication, application_id, "applicationId")
        check(app.status, {ApplicationStatus.SUBMITTED}, "approve a credit decision", "application")
        pending = app.pending_decision
        if not pending:
            raise NotFound(f"Application {app.id} has no credit decision awaiting approval.")
        if pending["proposed_by"] == uow.context.actor.sub:
            raise FourEyesRequired("The credit decision must be approved by someone other than who proposed it.")
        app.status = (ApplicationStatus.APPROVED if pending["approve"] else ApplicationStatus.DECLINED).value
        app.decided_by, app.approved_by = pending["proposed_by"], uow.context.actor.sub
        app.decision_reason, app.pending_decision = pending["reason"], None
        await uow.emit(events.CreditDecisionRecorded(application_id=str(app.id),
                                                     borrower_party_id=str(app.borrower_party_id),
                                                     outcome=app.status, decided_by=app.decided_by,
                                                     approved_by=app.approved_by),
                       aggregate_id=app.id, aggregate_version=app.touch(), reason=app.decision_reason,
                       before={"status": "SUBMITTED"}, after={"status": app.status})
        await uow.commit()
        return app


@dataclass(frozen=True)
class CovenantTerms:
    metric: str
    operator: Operator
    threshold: Decimal
    test_frequency: str


@dataclass(frozen=True)
class OfferTerms:
    limit: Money
    base_rate_pct: Decimal
    margin_pct: Decimal
    commitment_fee_pct: Decimal
    arrangement_fee: Money
    availability_months: int
    installments: int
    schedule: dict[str, Any]
    conditions_precedent: tuple[str, ...]
    covenants: tuple[CovenantTerms, ...]
    valid_days: int
    product_id: str | None = None  # a Product version id of the product subgraph (a federated reference)


def _check_offer(t: OfferTerms, currency: str) -> None:
    if t.limit.currency != currency or t.arrangement_fee.currency != currency:
        raise InputError(f"Offer amounts must be in the application's currency {currency}.", field="limit")
    if t.limit.amount <= 0:
        raise InputError("limit must be positive.", field="limit")
    for name, rate in (("baseRatePct", t.base_rate_pct), ("marginPct", t.margin_pct),
                       ("commitmentFeePct", t.commitment_fee_pct)):
        if not Decimal(0) <= rate <= Decimal(50):
            raise InputError(f"{name} must be between 0 and 50.", field=name)
    if not 1 <= t.availability_months <= 120 or not 1 <= t.valid_days <= 180:
        raise InputError("availabilityMonths must be 1-120 and validDays 1-180.", field="availabilityMonths")
    for c in t.covenants:
        required_text(c.metric, field="covenants.metric", max_length=64)
        required_text(c.test_frequency, field="covenants.testFrequency", max_length=16)
    for cp in t.conditions_precedent:
        required_text(cp, field="conditionsPrecedent", max_length=200)
    if len(set(t.conditions_precedent)) != len(t.conditions_precedent):
        raise InputError("conditionsPrecedent must be distinct.", field="conditionsPrecedent")


# The product families a facility type may be sold under (the product directory's lending families).
PRODUCT_FAMILIES = {FacilityType.REVOLVING: {"REVOLVING_FACILITY"}, FacilityType.TERM: {"TERM_LOAN"},
                    FacilityType.DECREASING: {"TERM_LOAN"}}


async def _check_product(uow: UnitOfWork, terms: OfferTerms, app: CreditApplication) -> None:
    """An offer names a version on sale today, of the facility's family and currency, within its ranges."""
    if terms.product_id is None:
        return
    product = await sellable(uow.session, ProductVersion, uuid.UUID(terms.product_id),
                             families=PRODUCT_FAMILIES[FacilityType(app.facility_type)], currency=app.currency,
                             day=now().date(), field="productId")
    if not product.terms:
        return  # published before versions carried their terms: nothing to hold the offer to
    lending, rates = product.terms.get("lending") or {}, product.terms["pricing"]["interest_rate"]
    if lending and not Decimal(lending["principal_min"]) <= terms.limit.amount <= Decimal(lending["principal_max"]):
        raise InputError(f"{product.label} lends between {lending['principal_min']} and {lending['principal_max']} "
                         f"{product.currency}.", field="limit")
    rate = terms.base_rate_pct + terms.margin_pct
    if not Decimal(rates["min"]) <= rate <= Decimal(rates["max"]):
        raise InputError(f"baseRatePct + marginPct = {rate} is outside {product.label}'s approved range "
                         f"{rates['min']} to {rates['max']}.", field="marginPct")


async def issue_offer(uow: UnitOfWork, *, application_id: str, terms: OfferTerms, idempotency_key: str) -> Offer:
    """Issues an offer (terms, pricing, conditions precedent, covenants, expiry) on an approved application.

    A productId must name a version on sale today in the product read model, of the facility type's family and
    the application's currency; the limit and the all-in rate must lie within the version's ranges.
    """
    async with uow:
        request = {"app": application_id, **asdict(terms)}
        if terms.product_id is None:
            del request["product_id"]  # the request as keys stored before offers named a product still replays
        if (prior := await uow.replayed("issueOffer", idempotency_key, request, Offer)) is not None:
            return prior
        app = await lock(uow, CreditApplication, application_id, "applicationId")
        check(app.status, {ApplicationStatus.APPROVED}, "issue an offer", "application")
        _check_offer(terms, app.currency)
        await _check_product(uow, terms, app)
        rate = terms.base_rate_pct + terms.margin_pct
        # Validates the repayment terms now (a drawdown will build its schedule from them).
        sample = ScheduleTerms(principal=terms.limit.amount, currency=app.currency, annual_rate_pct=rate,
                               installments=terms.installments, start_date=now().date(), **terms.schedule).validated()
        offer = Offer(id=uuid.uuid4(), application_id=app.id, borrower_party_id=app.borrower_party_id,
                      facility_type=app.facility_type, limit_amount=terms.limit.amount, currency=app.currency,
                      base_rate_pct=terms.base_rate_pct, margin_pct=terms.margin_pct,
                      commitment_fee_pct=terms.commitment_fee_pct, arrangement_fee=terms.arrangement_fee.amount,
                      availability_months=terms.availability_months, schedule_terms=terms_to_json(sample),
                      conditions_precedent=list(terms.conditions_precedent),
                      covenants=[{**asdict(c), "operator": c.operator.value, "threshold": str(c.threshold)}
                                 for c in terms.covenants],
                      expires_at=now() + dt.timedelta(days=terms.valid_days), status=OfferStatus.ISSUED.value,
                      product_id=uuid.UUID(terms.product_id) if terms.product_id else None, version=1)
        uow.session.add(offer)
        app.status = ApplicationStatus.OFFERED.value
        app.touch()
        await uow.emit(events.OfferIssued(offer_id=str(offer.id), borrower_party_id=str(offer.borrower_party_id),
                                          application_id=str(app.id), limit=terms.limit,
                                          expires_at=offer.expires_at.isoformat()),
                       aggregate_id=offer.id, aggregate_version=1)
        await uow.commit({"id": str(offer.id)})
        return offer


async def expire_offer_if_due(uow: UnitOfWork, offer: Offer) -> bool:
    """Marks an issued offer past its expiry as EXPIRED (committing that); returns True when it did."""
    if offer.status != OfferStatus.ISSUED or offer.expires_at > now():
        return False
    offer.status = OfferStatus.EXPIRED.value
    await uow.emit(events.OfferExpired(offer_id=str(offer.id), borrower_party_id=str(offer.borrower_party_id)),
                   aggregate_id=offer.id, aggregate_version=offer.touch())
    await uow.commit()
    return True


async def accept_offer(uow: UnitOfWork, *, offer_id: str, idempotency_key: str,
                       scope: frozenset[str] | None) -> Facility:
    """Accepts an offer before its expiry and creates the facility with its covenants."""
    async with uow:
        offer = await lock(uow, Offer, offer_id, "offerId", scope)
        if await expire_offer_if_due(uow, offer):  # checked before the key is claimed: expiry is committed
            raise InvalidTransition("The offer has expired.", status=OfferStatus.EXPIRED.value)
        if (prior := await uow.replayed("acceptOffer", idempotency_key, {"offer": offer_id}, Facility)) is not None:
            return prior
        check(offer.status, {OfferStatus.ISSUED}, "accept", "offer")
        offer.status = OfferStatus.ACCEPTED.value
        today = now().date()
        terms = offer.schedule_terms
        maturity = add_months(add_months(today, offer.availability_months), int(terms["installments"]) * int(
            terms["every"])) if terms["unit"] == "MONTHS" else add_months(today, offer.availability_months + 12)
        status = FacilityStatus.PENDING_CONDITIONS if offer.conditions_precedent else FacilityStatus.AVAILABLE
        facility = Facility(
            id=uuid.uuid4(), offer_id=offer.id, borrower_party_id=offer.borrower_party_id,
            facility_type=offer.facility_type, limit_amount=offer.limit_amount, drawn_amount=Decimal(0),
            currency=offer.currency, annual_rate_pct=offer.base_rate_pct + offer.margin_pct,
            commitment_fee_pct=offer.commitment_fee_pct, availability_end=add_months(today, offer.availability_months),
            maturity_date=maturity, schedule_terms=terms, allocation_order=AllocationOrder.INTEREST_FIRST.value,
            conditions_outstanding=list(offer.conditions_precedent), status=status.value, version=1,
            product_id=offer.product_id, created_at=now())
        uow.session.add(facility)
        await uow.session.flush()  # no ORM relationships: the facility row must exist before its covenants
        uow.session.add_all(Covenant(id=uuid.uuid4(), facility_id=facility.id, metric=c["metric"],
                                     operator=c["operator"], threshold=Decimal(c["threshold"]),
                                     test_frequency=c["test_frequency"], status=CovenantStatus.ACTIVE.value,
                                     version=1) for c in offer.covenants)
        await uow.emit(events.OfferAccepted(offer_id=str(offer.id), borrower_party_id=str(offer.borrower_party_id),
                                            facility_id=str(facility.id)),
                       aggregate_id=offer.id, aggregate_version=offer.touch())
        limit = Money.of(facility.limit_amount, facility.currency)
        await uow.emit(events.FacilityCreated(facility_id=str(facility.id),
                                              borrower_party_id=str(facility.borrower_party_id),
                                              facility_type=facility.facility_type, limit=limit,
                                              availability_end=facility.availability_end.isoformat(),
                                              maturity_date=facility.maturity_date.isoformat(), status=facility.status),
                       aggregate_id=facility.id, aggregate_version=1)
        if status is FacilityStatus.AVAILABLE:
            await uow.emit(events.FacilityAvailable(facility_id=str(facility.id),
                                                    borrower_party_id=str(facility.borrower_party_id),
                                                    available=limit),
                           aggregate_id=facility.id, aggregate_version=facility.touch())
        await uow.commit({"id": str(facility.id)})
        return facility
