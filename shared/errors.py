"""Typed errors: business failures (returned as result-union members) and malformed input (BAD_USER_INPUT)."""

from __future__ import annotations

from typing import Any, ClassVar


class FinpaceError(Exception):
    """Base of every error Finpace raises on purpose; `code` is stable and machine-readable."""

    code: ClassVar[str] = "FINPACE_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class DomainError(FinpaceError):
    """An expected business failure; mutations return it as a typed member of their result union."""

    code = "DOMAIN_ERROR"


class NotFound(DomainError):
    code = "NOT_FOUND"


class InvalidTransition(DomainError):
    code = "INVALID_TRANSITION"


class Conflict(DomainError):
    code = "CONFLICT"


class InsufficientFunds(DomainError):
    code = "INSUFFICIENT_FUNDS"


class LimitExceeded(DomainError):
    code = "LIMIT_EXCEEDED"


class MandateNotSatisfied(DomainError):
    code = "MANDATE_NOT_SATISFIED"


class FourEyesRequired(DomainError):
    code = "FOUR_EYES_REQUIRED"


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyInFlight(DomainError):
    code = "IDEMPOTENCY_KEY_IN_FLIGHT"


class InputError(FinpaceError):
    """Malformed input: a GraphQL error with extensions.code BAD_USER_INPUT; nothing is written."""

    code = "BAD_USER_INPUT"
    reason: ClassVar[str] = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field


class InvalidAmount(InputError):
    reason = "INVALID_AMOUNT"


class InvalidCurrency(InputError):
    reason = "INVALID_CURRENCY"


class CurrencyMismatch(InputError):
    reason = "CURRENCY_MISMATCH"


class AuthError(FinpaceError):
    """The caller is not authenticated (401) or not allowed (403)."""

    code = "UNAUTHENTICATED"


class Forbidden(AuthError):
    code = "FORBIDDEN"
