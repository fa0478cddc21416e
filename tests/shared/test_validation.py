"""Shared input checks: bounded text, ISO 3166 countries, dates, reasons; every failure is BAD_USER_INPUT."""

from __future__ import annotations

import datetime as dt

import pytest

from shared import validation
from shared.errors import InputError


def test_text_is_trimmed() -> None:
    assert validation.text("  Acme Ltd  ", field="legalName") == "Acme Ltd"
    assert validation.required_text("Zoë Ørsted", field="name") == "Zoë Ørsted"


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_required_text_refuses_missing_or_blank(value: str | None) -> None:
    with pytest.raises(InputError) as info:
        validation.text(value, field="legalName")
    assert info.value.field == "legalName"
    assert info.value.code == "BAD_USER_INPUT"
    assert "legalName" in info.value.message


@pytest.mark.parametrize("value", [None, "", "  "])
def test_optional_text_may_be_absent(value: str | None) -> None:
    assert validation.text(value, field="tradingName", required=False) is None


def test_over_long_text_is_refused_with_its_length() -> None:
    assert validation.text("x" * 200, field="legalName") == "x" * 200
    with pytest.raises(InputError, match="10240 characters long; at most 200"):
        validation.text("x" * 10240, field="legalName")
    with pytest.raises(InputError):
        validation.text("y" * 11, field="code", max_length=10)


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "bell\x07", "del\x7f", "a\x0bb"])
def test_control_characters_are_refused(value: str) -> None:
    with pytest.raises(InputError, match="control characters"):
        validation.text(value, field="legalName")


@pytest.mark.parametrize("code", ["GB", "DE", "FR", "JP", "KW"])
def test_countries_are_iso_3166_alpha_2(code: str) -> None:
    assert validation.country(code) == code
    assert validation.country(f" {code} ") == code


@pytest.mark.parametrize("code", ["", "gb", "Gb", "GBR", "UK", "XX", "ZZ", "1A", None])
def test_invalid_countries_are_refused(code: str | None) -> None:
    with pytest.raises(InputError) as info:
        validation.country(code, field="taxResidence")  # type: ignore[arg-type]
    assert info.value.field == "taxResidence"


def test_invalid_country_message_is_bounded() -> None:
    with pytest.raises(InputError) as info:
        validation.country("Q" * 10_000)
    assert len(info.value.message) < 200


def test_dates_in_the_future_are_refused() -> None:
    today = dt.datetime.now(dt.UTC).date()
    assert validation.not_in_future(today, field="incorporationDate") == today
    assert validation.not_in_future(None, field="incorporationDate") is None
    with pytest.raises(InputError, match="incorporationDate"):
        validation.not_in_future(today + dt.timedelta(days=2), field="incorporationDate")


def test_validity_ranges_must_not_end_before_they_start() -> None:
    start = dt.date(2026, 1, 10)
    validation.date_range(start, start, field="validity")
    validation.date_range(start, None, field="validity")
    validation.date_range(None, start, field="validity")
    with pytest.raises(InputError, match="before validFrom"):
        validation.date_range(start, start - dt.timedelta(days=1), field="validity")


def test_reason_is_mandatory_and_bounded() -> None:
    assert validation.reason("  customer asked ") == "customer asked"
    for bad in [None, "", " ", "r" * 501]:
        with pytest.raises(InputError) as info:
            validation.reason(bad)
        assert info.value.field == "reason"
