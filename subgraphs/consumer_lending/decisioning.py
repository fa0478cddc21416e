"""Credit decisioning as data: a policy (score bands, affordability, exposure caps) applied to an application."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from subgraphs.consumer_lending.models import Outcome

DEFAULT_POLICY_VERSION = "CL-2026.1"
DEFAULT_POLICY: dict[str, Any] = {
    "score_bands": [
        {"min": 0, "max": 549, "outcome": "DECLINE", "reason": "SCORE_BELOW_CUTOFF"},
        {"min": 550, "max": 649, "outcome": "REFER", "reason": "SCORE_IN_REFER_BAND"},
        {"min": 650, "max": 999, "outcome": "APPROVE", "reason": None},
    ],
    "refer_affordability_ratio": "0.35",
    "max_affordability_ratio": "0.45",
    "exposure_caps": {"EUR": "50000.00", "GBP": "45000.00", "USD": "55000.00"},
    "default_exposure_cap": "25000.00",
}
_SEVERITY = {Outcome.APPROVE: 0, Outcome.REFER: 1, Outcome.DECLINE: 2}


@dataclass(frozen=True)
class Applicant:
    credit_score: int
    monthly_income: Decimal
    monthly_expenses: Decimal
    monthly_debt_payments: Decimal
    existing_exposure: Decimal


@dataclass(frozen=True)
class DecisionResult:
    outcome: Outcome
    reason_codes: list[str]
    affordability_ratio: Decimal
    policy_version: str


def decide(policy_version: str, rules: dict[str, Any], applicant: Applicant, *, principal: Decimal,
           currency: str, monthly_installment: Decimal) -> DecisionResult:
    """Applies every rule and keeps the most severe outcome with all the reasons that led to it."""
    outcome, reasons = Outcome.APPROVE, []

    def verdict(o: Outcome, reason: str) -> None:
        nonlocal outcome
        reasons.append(reason)
        if _SEVERITY[o] > _SEVERITY[outcome]:
            outcome = o

    for band in rules["score_bands"]:
        if band["min"] <= applicant.credit_score <= band["max"]:
            if band["reason"]:
                verdict(Outcome(band["outcome"]), band["reason"])
            break
    else:
        verdict(Outcome.REFER, "SCORE_OUT_OF_RANGE")
    outgoings = applicant.monthly_expenses + applicant.monthly_debt_payments + monthly_installment
    if applicant.monthly_income <= 0:
        ratio = Decimal("99.9999")
        verdict(Outcome.DECLINE, "NO_INCOME")
    else:
        ratio = (outgoings / applicant.monthly_income).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    if ratio > Decimal(rules["max_affordability_ratio"]):
        verdict(Outcome.DECLINE, "UNAFFORDABLE")
    elif ratio > Decimal(rules["refer_affordability_ratio"]):
        verdict(Outcome.REFER, "AFFORDABILITY_MARGINAL")
    cap = Decimal(rules["exposure_caps"].get(currency, rules["default_exposure_cap"]))
    if applicant.existing_exposure + principal > cap:
        verdict(Outcome.DECLINE, "EXPOSURE_CAP_EXCEEDED")
    return DecisionResult(outcome=outcome, reason_codes=reasons or ["ALL_RULES_PASSED"],
                          affordability_ratio=ratio, policy_version=policy_version)
