"""The field validators: what they store, and exactly what they say when they refuse."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crm_tui.services import validation as v

SAFETY_ADVICE = "remove it (text fields must not hold terminal escapes or hidden characters)"


def refusal(validator: Callable[..., str], value: str | None, *args: str, **kw: object) -> str:
    """The message of the ValidationError `validator` raises (the test fails if it does not)."""
    with pytest.raises(v.ValidationError) as raised:
        validator(value, *args, **kw)
    return str(raised.value)


# ------------------------------------------------------------------ ValidationError


def test_validation_error_carries_field_and_message() -> None:
    error = v.ValidationError("Email", "is required")
    assert str(error) == "Email: is required"
    assert error.field == "Email"
    assert error.message == "is required"
    assert isinstance(error, ValueError)


# ---------------------------------------------------------------------- plain text


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Ada Lovelace  ", "Ada Lovelace"),
        ("[@click=app.quit]x[/]", "[@click=app.quit]x[/]"),
        ("Acme [/ltd]", "Acme [/ltd]"),
        ("[bold red]Bob[/]", "[bold red]Bob[/]"),
        ("大塚 愛", "大塚 愛"),
        ("Søren 🚀", "Søren 🚀"),
        ("Ada\u00a0Lovelace", "Ada\u00a0Lovelace"),  # NBSP is a space, not a control
        ("O'Brien; DROP TABLE customer;--", "O'Brien; DROP TABLE customer;--"),
    ],
)
def test_text_is_stored_literally_and_trimmed(raw: str, stored: str) -> None:
    assert v.validate_text(raw, "Name") == stored
    assert v.validate_name(raw, "Name") == stored


@pytest.mark.parametrize("raw", [None, "", "   ", "\t \n"])
def test_blank_optional_text_is_empty(raw: str | None) -> None:
    assert v.validate_text(raw, "City") == ""
    assert v.validate_name(raw, "Company", required=False) == ""


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_blank_required_name_is_refused(raw: str | None) -> None:
    assert refusal(v.validate_name, raw, "Name") == "Name: is required"


def test_name_defaults_to_the_label_name() -> None:
    assert refusal(v.validate_name, "") == "name: is required"


@pytest.mark.parametrize(
    ("raw", "description", "position"),
    [
        ("Bel\x07l", "U+0007 (BEL)", 4),
        ("\x1b[31mRed", "U+001B (ESC)", 1),
        ("Evil\u202etxt.exe", "U+202E (RIGHT-TO-LEFT OVERRIDE)", 5),
        ("ab\u2066cd", "U+2066 (LEFT-TO-RIGHT ISOLATE)", 3),
        ("zero\u200bwidth", "U+200B (ZERO WIDTH SPACE)", 5),
        ("Ada\x7f", "U+007F (DEL)", 4),
        ("x\x9b2J", "U+009B (CSI)", 2),
        ("x\x9d8;;", "U+009D (OSC)", 2),
        ("tab\there", "U+0009 (TAB)", 4),
        ("nul\x00", "U+0000 (NUL)", 4),
        ("soft\u00adhyphen", "U+00AD (SOFT HYPHEN)", 5),
        ("bom\ufeff", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)", 4),
        ("private\ue000", "U+E000", 8),
    ],
)
def test_control_and_invisible_characters_are_refused(
    raw: str, description: str, position: int
) -> None:
    assert refusal(v.validate_name, raw, "Name") == (
        f"Name: contains the invisible or control character {description} at position "
        f"{position}; {SAFETY_ADVICE}"
    )


@pytest.mark.parametrize("raw", ["two\nlines", "two\r\nlines", "two\rlines", "two\u2028lines"])
def test_single_line_text_refuses_line_breaks(raw: str) -> None:
    assert refusal(v.validate_text, raw, "City") == (
        "City: must be on one line (it contains a line break)"
    )


def test_multiline_text_keeps_lines_trimmed_with_unix_breaks() -> None:
    raw = "  Hauptstraße 5 \r\n Hinterhaus\rEG  \n"
    assert v.validate_text(raw, "Address", multiline=True) == "Hauptstraße 5\nHinterhaus\nEG"


def test_multiline_text_still_refuses_controls() -> None:
    assert refusal(v.validate_text, "1 Way\nSuite\x1b[2J", "Address", multiline=True) == (
        f"Address: contains the invisible or control character U+001B (ESC) at position 12; "
        f"{SAFETY_ADVICE}"
    )


def test_length_limits() -> None:
    assert v.validate_name("x" * 200, "Name") == "x" * 200
    assert refusal(v.validate_name, "x" * 201, "Name") == (
        "Name: is 201 characters long; at most 200 are allowed"
    )
    assert v.validate_text("x" * 500, "Address") == "x" * 500
    assert refusal(v.validate_text, "x" * 1234, "Address") == (
        "Address: is 1,234 characters long; at most 500 are allowed"
    )
    assert refusal(v.validate_text, "abcd", "Code", max_length=3) == (
        "Code: is 4 characters long; at most 3 are allowed"
    )


def test_length_is_checked_before_characters() -> None:
    assert refusal(v.validate_name, "\x1b" * 300, "Name") == (
        "Name: is 300 characters long; at most 200 are allowed"
    )


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ada@example.com", "ada@example.com"),
        ("  Ada.Lovelace@Example.COM ", "Ada.Lovelace@example.com"),
        ("o'brien+crm@mail.example.co.uk", "o'brien+crm@mail.example.co.uk"),
        ("zoë@beispiel.de", "zoë@beispiel.de"),
        ("ivan@пример.рф", "ivan@пример.рф"),
        ("user@xn--p1ai.xn--p1ai", "user@xn--p1ai.xn--p1ai"),
        ("a_b-c@sub-domain.example.org", "a_b-c@sub-domain.example.org"),
    ],
)
def test_valid_emails(raw: str, stored: str) -> None:
    assert v.validate_email(raw, "Email") == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "is required"),
        ("not-an-email", "'not-an-email' is not an email address (it needs exactly one @)"),
        ("a@b@example.com", "'a@b@example.com' is not an email address (it needs exactly one @)"),
        ("@example.com", "has nothing before the @"),
        ("ada@", "has nothing after the @"),
        ("ada lovelace@example.com", "contains a space"),
        ("Ada <ada@example.com>", "give the address alone, without a name or <>"),
        ("ada@[192.168.0.1]", "uses an IP address as its domain; use a domain name"),
        ("ada@localhost", "the domain 'localhost' needs a dot, as in example.com"),
        ("ada@example..com", "the domain 'example..com' has an empty part (two dots?)"),
        ("ada@example.com.", "the domain 'example.com.' has an empty part (two dots?)"),
        ("ada@-example.com", "a part of the domain '-example.com' starts or ends with -"),
        ("ada@exa_mple.com", "the domain 'exa_mple.com' has characters a domain cannot have"),
        ("ada@example.c0m", "the domain 'example.c0m' does not end in a real top-level domain"),
        ("ada@example.c", "the domain 'example.c' does not end in a real top-level domain"),
        ("ada..love@example.com", "the part before the @ ('ada..love') is not valid"),
        (".ada@example.com", "the part before the @ ('.ada') is not valid"),
        ('"ada love"@example.com', "contains a space"),
        ('"ada"@example.com', "the part before the @ ('\"ada\"') is not valid"),
        ("a(b)@example.com", "the part before the @ ('a(b)') is not valid"),
        ("x" * 65 + "@example.com", "has more than 64 characters before the @"),
        ("ada@" + "x" * 64 + ".com", f"the domain '{'x' * 64}.com' has a part over 63 characters"),
        ("a@" + "x" * 250 + ".com", "is 256 characters long; at most 254 are allowed"),
        (
            "ada\u202e@example.com",
            "contains the invisible or control character U+202E (RIGHT-TO-LEFT OVERRIDE) at "
            f"position 4; {SAFETY_ADVICE}",
        ),
    ],
)
def test_invalid_emails(raw: str, message: str) -> None:
    assert refusal(v.validate_email, raw, "Email") == f"Email: {message}"


def test_optional_email_may_be_blank() -> None:
    assert v.validate_email("  ", "Company Email", required=False) == ""
    assert refusal(v.validate_email, None) == "email: is required"


def test_email_key_ignores_case() -> None:
    assert v.email_key("Ada@Example.com") == v.email_key("ada@example.COM")
    assert v.email_key("ZOË@beispiel.de") == v.email_key("zoë@beispiel.de")


# ----------------------------------------------------------------------- countries


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        (" fr ", "FR"),
        ("XK", "XK"),
        ("Germany", "DE"),
        ("deutschland", "DE"),
        ("DEU", "DE"),
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("England", "GB"),
        ("the Netherlands", "NL"),
        ("The  United   States", "US"),
        ("U.S.", "US"),
        ("USA", "US"),
        ("Österreich", "AT"),
        ("Korea, Republic of", "KR"),
        ("", ""),
        (None, ""),
    ],
)
def test_countries(raw: str | None, code: str) -> None:
    assert v.validate_country(raw, "Country") == code


@pytest.mark.parametrize("raw", ["Narnia", "ZZ", "EL", "Deutschlandd"])
def test_unknown_countries_are_refused(raw: str) -> None:
    assert refusal(v.validate_country, raw, "Country") == (
        f"Country: '{raw}' is not a country we know; use its two-letter ISO code (DE, US, GB, ...)"
    )


def test_country_refuses_long_and_unsafe_text() -> None:
    assert refusal(v.validate_country, "x" * 101, "Country") == (
        "Country: is 101 characters long; at most 100 are allowed"
    )
    assert refusal(v.validate_country, "D\x1bE", "Country") == (
        f"Country: contains the invisible or control character U+001B (ESC) at position 2; "
        f"{SAFETY_ADVICE}"
    )


@pytest.mark.parametrize(
    ("country", "currency"),
    [
        ("DE", "EUR"),
        ("FR", "EUR"),
        ("AT", "EUR"),
        ("HR", "EUR"),
        ("BG", "EUR"),
        ("ME", "EUR"),
        ("GB", "GBP"),
        ("US", "USD"),
        ("JP", "USD"),
        ("CH", "USD"),
        ("", "USD"),
    ],
)
def test_currency_for_country(country: str, currency: str) -> None:
    assert v.currency_for_country(country) == currency


# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("raw", "country", "stored"),
    [
        ("030 1234567", "DE", "+49301234567"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("(202) 555-0147", "US", "+12025550147"),
        ("1 202 555 0147", "US", "+12025550147"),
        ("06 1 234 5678", "HU", "+3612345678"),
        ("612 345 678", "ES", "+34612345678"),  # no trunk prefix in Spain
        ("+1 (202) 555-0147", "", "+12025550147"),
        ("+44 20 7946 0018", "DE", "+442079460018"),  # international wins over the country
        ("0044 20 7946 0018", "", "+442079460018"),
        ("+49 (0)30 1234567", "DE", "+49301234567"),  # the (0) is not dialled from abroad
        ("+44 (0) 20 7946 0018", "", "+442079460018"),
        ("030.123.4567", "", "0301234567"),  # unknown country: only the digits
        ("0301234567", "BR", "+55301234567"),
        ("", "DE", ""),
        (None, "DE", ""),
    ],
)
def test_phones_are_normalised(raw: str | None, country: str, stored: str) -> None:
    assert v.validate_phone(raw, "Phone", country=country) == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("call me", "contains letters; a phone number has only digits, spaces and + - . ( )"),
        (
            "+49 30 123 ext 4",
            "contains letters; a phone number has only digits, spaces and + - . ( )",
        ),
        ("030/1234567", "contains '/'; a phone number has only digits, spaces and + - . ( )"),
        ("030#1234567*", "contains '#'; a phone number has only digits, spaces and + - . ( )"),
        ("49+301234567", "a + may only come first, before the country code"),
        ("+12345", "has 5 digits; a phone number has 6 to 15 (country code included)"),
        ("+1234567890123456", "has 16 digits; a phone number has 6 to 15 (country code included)"),
        ("+", "has 0 digits; a phone number has 6 to 15 (country code included)"),
        ("+0301234567", "a country code never starts with 0"),
        ("000301234567", "a country code never starts with 0"),
        ("1" * 51, "is 51 characters long; at most 50 are allowed"),
        (
            "030\x1b1234567",
            "contains the invisible or control character U+001B (ESC) at position 4; "
            + SAFETY_ADVICE,
        ),
    ],
)
def test_invalid_phones(raw: str, message: str) -> None:
    assert refusal(v.validate_phone, raw, "Phone", country="DE") == f"Phone: {message}"


# --------------------------------------------------------------- postal codes, ids


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("10115", "10115"),
        ("sw1a  1aa", "SW1A 1AA"),
        (" 150-0002 ", "150-0002"),
        ("", ""),
        (None, ""),
    ],
)
def test_postal_codes(raw: str | None, stored: str) -> None:
    assert v.validate_postal_code(raw, "Zip/Postal Code") == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-10115", "may hold only letters, digits, spaces and dashes"),
        ("101/15", "may hold only letters, digits, spaces and dashes"),
        ("1\x1b[2J", "may hold only letters, digits, spaces and dashes"),
        ("1" * 21, "is 21 characters long; at most 20 are allowed"),
    ],
)
def test_invalid_postal_codes(raw: str, message: str) -> None:
    assert refusal(v.validate_postal_code, raw, "Zip") == f"Zip: {message}"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("DE123456789", "DE123456789"),
        ("de 123 456 789", "DE123456789"),
        ("FR-12.345.678.901", "FR12345678901"),
        ("EL123456789", "EL123456789"),
        ("GB123456789", "GB123456789"),
        ("XI123456789", "XI123456789"),
        ("NL123456789B01", "NL123456789B01"),
        ("", ""),
    ],
)
def test_vat_numbers(raw: str, stored: str) -> None:
    assert v.validate_vat_number(raw, "VAT Number") == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("XX123", "'XX' is not a VAT country prefix (EU member states, XI or GB)"),
        ("US123456789", "'US' is not a VAT country prefix (EU member states, XI or GB)"),
        ("GR123456789", "Greek VAT numbers start with EL, not GR"),
        (
            "123456789",
            "'123456789' is not a VAT number: expected a two-letter country prefix and 2 to 13 "
            "letters or digits, as in DE123456789",
        ),
        (
            "DE1",
            "'DE1' is not a VAT number: expected a two-letter country prefix and 2 to 13 "
            "letters or digits, as in DE123456789",
        ),
        (
            "DE12345678901234",
            "'DE12345678901234' is not a VAT number: expected a two-letter country prefix and "
            "2 to 13 letters or digits, as in DE123456789",
        ),
        (
            "DE12345/6789",
            "'DE12345/6789' is not a VAT number: expected a two-letter country prefix and 2 to "
            "13 letters or digits, as in DE123456789",
        ),
        ("DE" + "1" * 49, "is 51 characters long; at most 50 are allowed"),
    ],
)
def test_invalid_vat_numbers(raw: str, message: str) -> None:
    assert refusal(v.validate_vat_number, raw, "VAT Number") == f"VAT Number: {message}"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("12-3456789", "12-3456789"),
        ("de 123.456.789", "DE123456789"),
        ("143/123/45678", "143/123/45678"),
        ("", ""),
    ],
)
def test_tax_ids(raw: str, stored: str) -> None:
    assert v.validate_tax_id(raw, "Tax ID") == stored


@pytest.mark.parametrize("raw", ["#123", "-123", "12_34", "12,34"])
def test_invalid_tax_ids(raw: str) -> None:
    assert refusal(v.validate_tax_id, raw, "Tax ID") == (
        "Tax ID: may hold only letters, digits, dashes and slashes"
    )


def test_company_ids() -> None:
    assert v.validate_company_id("  HRB 12345 ", "Company ID") == "HRB 12345"
    assert v.validate_company_id("", "Company ID") == ""
    assert refusal(v.validate_company_id, "x" * 51, "Company ID") == (
        "Company ID: is 51 characters long; at most 50 are allowed"
    )
    assert refusal(v.validate_company_id, "HRB\n1", "Company ID") == (
        "Company ID: must be on one line (it contains a line break)"
    )
