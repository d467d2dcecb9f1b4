"""How values read on screen and in exports: money, dates. Pure functions, no I/O, no UI."""

from __future__ import annotations

from datetime import date, datetime

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "AUD": "A$", "CAD": "C$"}
# Currencies whose minor unit is not a hundredth (ISO 4217 exponent 0).
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF"})


def minor_exponent(currency: str) -> int:
    """Decimals of the currency's minor unit: 2 for USD (cents), 0 for JPY (ISO 4217)."""
    return 0 if currency.upper() in _ZERO_DECIMAL else 2


def format_major(minor: int) -> str:
    """1234567 → '12,345.67' (two decimals; the currency is said elsewhere)."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def format_money(minor: int, currency: str) -> str:
    """8900, 'USD' → '$89.00'; 1500, 'JPY' → '¥1,500'; unknown codes keep their code."""
    code = currency.upper()
    prefix = _SYMBOLS.get(code, f"{code} ")
    if code in _ZERO_DECIMAL:
        sign = "-" if minor < 0 else ""
        return f"{sign}{prefix}{abs(minor):,}"
    amount = format_major(minor)
    if amount.startswith("-"):
        return f"-{prefix}{amount[1:]}"
    return f"{prefix}{amount}"


def format_date(moment: date | datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else ""


def format_moment(moment: datetime | None) -> str:
    """A time to the minute ('2026-11-01 09:30'); callers say which zone it is in."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""
