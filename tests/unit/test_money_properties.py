"""Money typed by agents, property-based (hypothesis): whatever is typed, parsing
gives an exact amount in the currency's minor units or a clear refusal — never a
crash, never an amount 100 times off (a yen has no cents)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_tui.formatting import format_major, format_money, minor_exponent
from crm_tui.services.directory import MAX_AMOUNT_MINOR, parse_amount_minor

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "KRW", "CHF"]


def typed(minor: int, currency: str) -> str:
    """How an agent writes the amount: '1,234.50' in dollars, '1,500' in yen."""
    return format_major(minor) if minor_exponent(currency) == 2 else f"{minor:,}"


@given(st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR), st.sampled_from(CURRENCIES))
def test_an_amount_as_written_parses_back_exactly(minor: int, currency: str) -> None:
    assert parse_amount_minor(typed(minor, currency), currency) == minor
    assert parse_amount_minor(typed(minor, currency).replace(",", ""), currency) == minor


@given(st.text(max_size=40), st.sampled_from(CURRENCIES))
def test_any_text_is_an_amount_or_a_clear_refusal(text: str, currency: str) -> None:
    try:
        minor = parse_amount_minor(text, currency)
    except ValueError as refusal:
        assert str(refusal)  # a message to show beside the field
    else:
        assert isinstance(minor, int) and minor >= 0


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(CURRENCIES))
def test_formatting_never_fails_and_keeps_the_sign(minor: int, currency: str) -> None:
    shown = format_money(minor, currency)
    assert shown.startswith("-") == (minor < 0)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1500", "JPY", 1500),  # ¥1,500, not ¥150,000
        ("1,500", "JPY", 1500),
        ("1500.00", "JPY", 1500),  # zeros after the point say nothing more
        ("15", "USD", 1500),
        ("15.5", "USD", 1550),
        ("15.50", "EUR", 1550),
    ],
)
def test_the_minor_unit_follows_the_currency(text: str, currency: str, minor: int) -> None:
    assert parse_amount_minor(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("15.5", "JPY", "JPY has no decimals"),
        ("1.234", "USD", "at most two decimals"),
        ("-5", "USD", "zero or more"),
        ("1e3", "USD", "not an amount"),
        ("9" * 14, "USD", "too large"),
    ],
)
def test_refusals_say_why(text: str, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount_minor(text, currency)
