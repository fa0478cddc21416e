"""Input checks shared by every domain: bounded text, ISO 3166 countries, dates; each failure is BAD_USER_INPUT."""

from __future__ import annotations

import datetime as dt
import re

import iso3166

from shared.errors import InputError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def text(value: str | None, *, field: str, max_length: int = 200, required: bool = True) -> str | None:
    """Returns the trimmed text, refusing empty (when required), over-long or control-character input."""
    if value is None:
        if required:
            raise InputError(f"{field} is required.", field=field)
        return None
    trimmed = value.strip()
    if not trimmed:
        if required:
            raise InputError(f"{field} must not be empty.", field=field)
        return None
    if len(trimmed) > max_length:
        raise InputError(f"{field} is {len(trimmed)} characters long; at most {max_length} are allowed.", field=field)
    if _CONTROL.search(trimmed):
        raise InputError(f"{field} contains control characters.", field=field)
    return trimmed


def required_text(value: str | None, *, field: str, max_length: int = 200) -> str:
    """Returns the trimmed, non-empty text (see text())."""
    result = text(value, field=field, max_length=max_length, required=True)
    assert result is not None
    return result


def country(value: str, *, field: str = "country") -> str:
    """Returns an ISO 3166-1 alpha-2 country code, refusing anything else."""
    code = (value or "").strip()
    if len(code) != 2 or code.upper() != code or code not in iso3166.countries_by_alpha2:
        raise InputError(f"{field} '{value[:10] if value else value}' is not an ISO 3166-1 alpha-2 code.", field=field)
    return code


def not_in_future(value: dt.date | None, *, field: str) -> dt.date | None:
    """Refuses a date after today (UTC)."""
    if value is not None and value > dt.datetime.now(dt.UTC).date():
        raise InputError(f"{field} {value.isoformat()} is in the future.", field=field)
    return value


def date_range(start: dt.date | None, end: dt.date | None, *, field: str) -> None:
    """Refuses a validity period that ends before it starts."""
    if start is not None and end is not None and end < start:
        raise InputError(f"{field}: validTo {end.isoformat()} is before validFrom {start.isoformat()}.", field=field)


def reason(value: str | None, *, field: str = "reason") -> str:
    """Returns the mandatory reason of a material action (1 to 500 characters)."""
    return required_text(value, field=field, max_length=500)
