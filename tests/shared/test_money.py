"""Money: ISO 4217 minor units, no floats, banker's rounding, no mixed currencies, exact allocation."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from shared.errors import CurrencyMismatch, InputError, InvalidAmount, InvalidCurrency
from shared.money import Money, check_currency, minor_units, parse_decimal


@pytest.mark.parametrize(("currency", "units"), [("JPY", 0), ("KWD", 3), ("EUR", 2), ("CLF", 4), ("USD", 2)])
def test_minor_units_follow_iso_4217(currency: str, units: int) -> None:
    assert minor_units(currency) == units
    assert check_currency(currency) == currency


@pytest.mark.parametrize(
    "currency", ["eur", "Eur", "EURO", "EU", "", "E1R", "ZZZ", "XAU", "XAG", "XXX", "XDR", None, 978]
)
def test_unknown_lowercase_and_unitless_codes_are_refused(currency: object) -> None:
    with pytest.raises(InvalidCurrency):
        minor_units(currency)  # type: ignore[arg-type]
    with pytest.raises(InvalidCurrency):
        Money(Decimal(1), currency)  # type: ignore[arg-type]


def test_invalid_currency_is_bad_user_input_naming_the_value() -> None:
    with pytest.raises(InvalidCurrency, match="'eur'") as info:
        Money.of("1", "eur")
    assert isinstance(info.value, InputError)
    assert info.value.code == "BAD_USER_INPUT"
    assert info.value.reason == "INVALID_CURRENCY"


@pytest.mark.parametrize(("amount", "currency", "wire"), [
    ("1500", "JPY", "1500"),
    ("1.234", "KWD", "1.234"),
    ("10", "EUR", "10.00"),
    ("0.1", "EUR", "0.10"),
    ("1.2345", "CLF", "1.2345"),
    (7, "EUR", "7.00"),
    (Decimal("-3.5"), "EUR", "-3.50"),
    (" 42.10 ", "EUR", "42.10"),
])
def test_of_quantizes_to_minor_units(amount: object, currency: str, wire: str) -> None:
    money = Money.of(amount, currency)
    assert money.wire_amount() == wire
    assert money.amount.as_tuple().exponent == -minor_units(currency)
    assert str(money) == f"{wire} {currency}"


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan"), True, False])
def test_floats_and_bools_are_never_money(value: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_decimal(value)
    with pytest.raises(InvalidAmount):
        Money.of(value, "EUR")
    with pytest.raises(InvalidAmount):
        Money(value, "EUR")  # type: ignore[arg-type]


def test_times_refuses_a_float_factor() -> None:
    with pytest.raises(TypeError):
        Money.of("1", "EUR").times(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["", "  ", "abc", "1e3", "1E+3", "NaN", "Infinity", "-inf", "1,000.00", "0x10", "1.2.3", "1" * 41, "--1",
     "1234567890123456789", Decimal("NaN"), Decimal("Infinity"), Decimal("1E+18"), None, [1], {"a": 1}],
)
def test_malformed_amounts_are_refused(value: object) -> None:
    with pytest.raises(InvalidAmount):
        Money.of(value, "EUR")


def test_decimal_amount_given_directly_is_still_checked() -> None:
    with pytest.raises(InvalidAmount):
        Money(Decimal("NaN"), "EUR")
    with pytest.raises(InvalidAmount):
        Money(Decimal("Infinity"), "EUR")
    with pytest.raises(InvalidAmount):
        Money(Decimal("1E+20"), "EUR")


def test_eighteen_integer_digits_are_the_limit() -> None:
    assert Money.of("999999999999999999.99", "EUR").wire_amount() == "999999999999999999.99"
    with pytest.raises(InvalidAmount, match="integer digits"):
        Money.of("1000000000000000000", "EUR")


@pytest.mark.parametrize(
    ("amount", "currency"), [("1.005", "EUR"), ("1.5", "JPY"), ("0.0001", "KWD"), ("1.00001", "CLF")]
)
def test_exact_refuses_more_decimals_than_the_currency_allows(amount: str, currency: str) -> None:
    with pytest.raises(InvalidAmount, match=currency):
        Money.of(amount, currency)


def test_trailing_zeros_beyond_the_scale_are_exact() -> None:
    assert Money.of("1.5000", "EUR").wire_amount() == "1.50"
    assert Money.of("100.000", "JPY").wire_amount() == "100"


@pytest.mark.parametrize(("amount", "currency", "rounded"), [
    ("0.125", "EUR", "0.12"),
    ("0.135", "EUR", "0.14"),
    ("-0.125", "EUR", "-0.12"),
    ("2.5", "JPY", "2"),
    ("3.5", "JPY", "4"),
    ("1.0005", "KWD", "1.000"),
    ("1.0015", "KWD", "1.002"),
    ("0.00005", "CLF", "0.0000"),
    ("0.00015", "CLF", "0.0002"),
])
def test_inexact_amounts_round_half_even(amount: str, currency: str, rounded: str) -> None:
    assert Money.of(amount, currency, exact=False).wire_amount() == rounded
    # quantize() applies the same rule to a full-precision intermediate value.
    assert Money(Decimal(amount), currency).quantize().wire_amount() == rounded


def test_negative_zero_is_plain_zero_on_the_wire() -> None:
    assert (-Money.zero("EUR")).wire_amount() == "0.00"
    assert Money.of("-0.004", "EUR", exact=False).wire_amount() == "0.00"
    assert Money.of("-0", "JPY").wire_amount() == "0"


def test_quantize_can_be_told_another_rounding() -> None:
    assert Money(Decimal("0.125"), "EUR").quantize(ROUND_HALF_UP).wire_amount() == "0.13"


def test_times_keeps_full_precision_until_quantized() -> None:
    interest = Money.of("1000.00", "EUR").times(Decimal("0.000123"))
    assert interest.amount == Decimal("0.12300000")
    assert interest.quantize().wire_amount() == "0.12"
    assert Money.of("0.05", "EUR").times(Decimal("0.5")).quantize().wire_amount() == "0.02"  # 0.025 -> 0.02
    assert Money.of("3", "EUR").times(3).wire_amount() == "9.00"


def test_arithmetic_and_comparison_in_one_currency() -> None:
    a, b = Money.of("10.10", "EUR"), Money.of("0.20", "EUR")
    assert (a + b).wire_amount() == "10.30"
    assert (b - a).wire_amount() == "-9.90"
    assert (-a).wire_amount() == "-10.10"
    assert abs(b - a).wire_amount() == "9.90"
    assert b < a and b <= a and a > b and a >= b
    assert Money.of("1.0", "EUR") == Money.of("1.00", "EUR")
    assert Money.zero("JPY").is_zero and not Money.zero("JPY").is_negative
    assert (b - a).is_negative
    # Addition never loses a cent, however many small amounts are summed.
    total = Money.zero("EUR")
    for _ in range(1000):
        total += Money.of("0.01", "EUR")
    assert total == Money.of("10.00", "EUR")


@pytest.mark.parametrize("op", ["add", "sub", "lt", "le", "gt", "ge"])
def test_mixed_currency_arithmetic_is_refused(op: str) -> None:
    eur, usd = Money.of("1", "EUR"), Money.of("1", "USD")
    with pytest.raises(CurrencyMismatch, match=r"EUR.*USD"):
        getattr(eur, f"__{op}__")(usd)


def test_money_never_combines_with_plain_numbers() -> None:
    with pytest.raises(TypeError):
        Money.of("1", "EUR") + Decimal(1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = Money.of("1", "EUR") < 2  # type: ignore[operator]


def test_money_is_immutable_and_hashable() -> None:
    money = Money.of("1", "EUR")
    with pytest.raises(AttributeError):
        money.amount = Decimal(2)  # type: ignore[misc]
    assert len({Money.of("1", "EUR"), Money.of("1.00", "EUR"), Money.of("1", "USD")}) == 2


def test_allocate_examples() -> None:
    parts = Money.of("100.00", "EUR").allocate([1, 1, 1])
    assert [p.wire_amount() for p in parts] == ["33.34", "33.33", "33.33"]
    assert [p.wire_amount() for p in Money.of("5", "JPY").allocate([3, 7])] == ["2", "3"]
    assert [p.wire_amount() for p in Money.of("0.05", "EUR").allocate([1, 0, 1])] == ["0.03", "0.00", "0.02"]
    assert [p.wire_amount() for p in Money.of("-10.00", "EUR").allocate([1, 2])] == ["-3.33", "-6.67"]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_allocate_refuses_bad_weights(weights: list[int]) -> None:
    with pytest.raises(InvalidAmount):
        Money.of("1", "EUR").allocate(weights)


def test_allocate_sums_exactly_for_many_random_amounts_and_weights() -> None:
    rng = random.Random(20261122)
    currencies = ["EUR", "JPY", "KWD", "CLF", "USD"]
    for _ in range(3000):
        currency = rng.choice(currencies)
        scale = minor_units(currency)
        units = rng.randint(-10**12, 10**12) if rng.random() < 0.9 else rng.randint(-5, 5)
        amount = Money(Decimal(units).scaleb(-scale), currency).quantize()
        weights = [rng.randint(0, 1000) for _ in range(rng.randint(1, 12))]
        if sum(weights) == 0:
            weights[0] = 1
        parts = amount.allocate(weights)
        assert len(parts) == len(weights)
        assert sum((p.amount for p in parts), Decimal(0)) == amount.amount
        assert all(p.currency == currency for p in parts)
        assert all(p.amount.as_tuple().exponent == -scale for p in parts)
        # Each part is within one minor unit of its exact proportional share.
        unit = Decimal(1).scaleb(-scale)
        total = sum(weights)
        for part, weight in zip(parts, weights, strict=True):
            exact = amount.amount * weight / total
            assert abs(part.amount - exact) < unit
            if weight == 0:
                assert part.is_zero
