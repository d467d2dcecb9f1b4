"""Field validators shared by the CSV import and (later) the profile edit forms.

Each validator takes the raw text an agent typed (or a CSV cell), and returns the
value to store, normalised — or raises `ValidationError(field, message)` whose
message says, in an agent's words, what is wrong and how to fix it. Blank optional
fields come back as "". The `field` argument is the label the caller shows (a CSV
column, a form label), so the same validator speaks the caller's language.

Customer data is text, never markup: square brackets, emoji and CJK are kept as
typed. What is refused are characters that could steer or spoof a terminal — C0/C1
controls (ESC starts CSI/OSC sequences), bidi overrides and isolates, zero-width and
other invisible format characters — because stored text reaches screens, exports
and other tools. Standard library only.
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 200
TEXT_MAX = 500  # any other free-text field
EMAIL_MAX = 254  # RFC 5321: a path is at most 256 octets, including the <>
EMAIL_LOCAL_MAX = 64
POSTAL_CODE_MAX = 20
COMPANY_ID_MAX = 50
TAX_ID_MAX = 50
PHONE_DIGITS_MIN = 6
PHONE_DIGITS_MAX = 15  # E.164


class ValidationError(ValueError):
    """A value that cannot be stored; `message` is meant for the agent, next to `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _code_set(codes: str) -> frozenset[str]:
    """A set of codes written as one whitespace-separated string, as tables read best."""
    return frozenset(codes.split())


# ------------------------------------------------------------------- plain text

# Unicode categories never allowed in stored text: controls, format characters
# (bidi marks/overrides/isolates, zero-width space/joiners, soft hyphen, BOM),
# surrogates, private use, unassigned, and line/paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# C0 controls have no Unicode names; these are the ones worth naming.
_CONTROL_NAMES = {
    "\x00": "NUL",
    "\x07": "BEL",
    "\x08": "BACKSPACE",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESC",
    "\x7f": "DEL",
    "\x9b": "CSI",
    "\x9d": "OSC",
}


def _unsafe_char(value: str, allow_newlines: bool) -> tuple[int, str] | None:
    """The first character that must not be stored, with its index, or None."""
    if value.isascii():
        # Fast path: in ASCII only the C0 controls and DEL are unsafe.
        if value.isprintable() or (allow_newlines and value.replace("\n", "").isprintable()):
            return None
    elif value.isprintable():
        # isprintable() is False for every unsafe category (and for some harmless
        # spaces such as NBSP), so a printable value needs no closer look.
        return None
    for index, char in enumerate(value):
        if char == "\n" and allow_newlines:
            continue
        if unicodedata.category(char) in _UNSAFE_CATEGORIES:
            return index, char
    return None


def _describe_char(char: str) -> str:
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _check_safe(value: str, field: str, allow_newlines: bool = False) -> None:
    found = _unsafe_char(value, allow_newlines)
    if found is None:
        return
    index, char = found
    if char in "\n\r\u2028\u2029" and not allow_newlines:
        raise ValidationError(field, "must be on one line (it contains a line break)")
    raise ValidationError(
        field,
        f"contains the invisible or control character {_describe_char(char)} at position "
        f"{index + 1}; remove it (text fields must not hold terminal escapes or hidden "
        "characters)",
    )


def _check_length(value: str, field: str, max_length: int) -> None:
    if len(value) > max_length:
        raise ValidationError(
            field, f"is {len(value):,} characters long; at most {max_length:,} are allowed"
        )


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def validate_text(
    value: str | None,
    field: str,
    *,
    required: bool = False,
    max_length: int = TEXT_MAX,
    multiline: bool = False,
) -> str:
    """Free text, trimmed: no control or invisible characters, at most `max_length`."""
    text = (value or "").strip()
    if not text:
        if required:
            raise ValidationError(field, "is required")
        return ""
    # Length first: a huge field gets the short, useful message.
    _check_length(text, field, max_length)
    if multiline:
        text = "\n".join(line.strip() for line in _LINE_BREAK.split(text))
    _check_safe(text, field, allow_newlines=multiline)
    return text


def validate_name(value: str | None, field: str = "name", *, required: bool = True) -> str:
    """A person's or company's name: one line, at most 200 characters."""
    return validate_text(value, field, required=required, max_length=NAME_MAX)


# ------------------------------------------------------------------------ email

# The dot-atom of RFC 5322, plus any non-ASCII character (SMTPUTF8 addresses);
# quoted local parts ("john smith"@x) are refused: valid, but a trap in practice.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_DOMAIN_LABEL_MAX = 63


def _check_domain(domain: str, field: str) -> None:
    if not domain:
        raise ValidationError(field, "has nothing after the @")
    if domain.startswith("["):
        raise ValidationError(field, "uses an IP address as its domain; use a domain name")
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValidationError(field, f"the domain '{domain}' needs a dot, as in example.com")
    for label in labels:
        if not label:
            raise ValidationError(field, f"the domain '{domain}' has an empty part (two dots?)")
        if len(label) > _DOMAIN_LABEL_MAX:
            raise ValidationError(field, f"the domain '{domain}' has a part over 63 characters")
        if label.startswith("-") or label.endswith("-"):
            raise ValidationError(field, f"a part of the domain '{domain}' starts or ends with -")
        if not all(c.isalnum() or c == "-" for c in label):
            raise ValidationError(
                field, f"the domain '{domain}' has characters a domain cannot have"
            )
    top = labels[-1]
    if not (top.isalpha() and len(top) >= 2) and not top.startswith("xn--"):
        raise ValidationError(
            field, f"the domain '{domain}' does not end in a real top-level domain"
        )


def validate_email(value: str | None, field: str = "email", *, required: bool = True) -> str:
    """An address of the form local@domain.tld; the domain is lower-cased."""
    text = (value or "").strip()
    if not text:
        if required:
            raise ValidationError(field, "is required")
        return ""
    _check_length(text, field, EMAIL_MAX)
    _check_safe(text, field)
    if "<" in text or ">" in text:
        raise ValidationError(field, "give the address alone, without a name or <>")
    if any(c.isspace() for c in text):
        raise ValidationError(field, "contains a space")
    if text.count("@") != 1:
        raise ValidationError(field, f"'{text}' is not an email address (it needs exactly one @)")
    local, domain = text.split("@")
    if not local:
        raise ValidationError(field, "has nothing before the @")
    if len(local) > EMAIL_LOCAL_MAX:
        raise ValidationError(field, "has more than 64 characters before the @")
    if not _LOCAL_PART.fullmatch(local):
        raise ValidationError(field, f"the part before the @ ('{local}') is not valid")
    _check_domain(domain.lower(), field)
    return f"{local}@{domain.lower()}"


def email_key(email: str) -> str:
    """The form two addresses are compared in to find duplicates: case-insensitive.

    lower(), not casefold(): it is what PostgreSQL's lower() does (the index stored
    emails are looked up by), and straße@ and strasse@ are different mailboxes.
    """
    return email.lower()


# -------------------------------------------------------------------- countries

# Every officially assigned ISO 3166-1 alpha-2 code, plus XK (Kosovo: user-assigned,
# but used by the EU, banks and payment providers alike).
_ALPHA2 = _code_set(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM
    BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX
    CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG
    GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
    IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV
    LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE
    NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
    RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF
    WS YE YT ZA ZM ZW XK
    """
)

# The countries customers most often come from: alpha-2, alpha-3, calling code,
# national trunk prefix ("-": none; it is dropped when a number gets its +code),
# then the names and spellings agents type, separated by |.
_COUNTRY_TABLE = """
AD AND 376 - Andorra
AE ARE 971 0 United Arab Emirates|UAE|Emirates
AR ARG 54 0 Argentina
AT AUT 43 0 Austria|Österreich
AU AUS 61 0 Australia
BE BEL 32 0 Belgium|Belgique|België|Belgien
BG BGR 359 0 Bulgaria
BR BRA 55 0 Brazil|Brasil
CA CAN 1 1 Canada
CH CHE 41 0 Switzerland|Schweiz|Suisse|Svizzera
CL CHL 56 - Chile
CN CHN 86 0 China|People's Republic of China|PRC
CO COL 57 - Colombia
CY CYP 357 - Cyprus
CZ CZE 420 - Czechia|Czech Republic
DE DEU 49 0 Germany|Deutschland
DK DNK 45 - Denmark|Danmark
EE EST 372 - Estonia
EG EGY 20 0 Egypt
ES ESP 34 - Spain|España
FI FIN 358 0 Finland|Suomi
FR FRA 33 0 France
GB GBR 44 0 United Kingdom|UK|Great Britain|Britain|England|Scotland|Wales|Northern Ireland
GR GRC 30 - Greece|Hellas
HK HKG 852 - Hong Kong
HR HRV 385 0 Croatia|Hrvatska
HU HUN 36 06 Hungary|Magyarország
ID IDN 62 0 Indonesia
IE IRL 353 0 Ireland|Éire|Republic of Ireland
IL ISR 972 0 Israel
IN IND 91 0 India
IS ISL 354 - Iceland
IT ITA 39 - Italy|Italia
JP JPN 81 0 Japan
KR KOR 82 0 South Korea|Korea|Republic of Korea|Korea, Republic of
LI LIE 423 - Liechtenstein
LT LTU 370 8 Lithuania
LU LUX 352 - Luxembourg
LV LVA 371 - Latvia
MC MCO 377 - Monaco
ME MNE 382 0 Montenegro
MT MLT 356 - Malta
MX MEX 52 - Mexico|México
MY MYS 60 0 Malaysia
NG NGA 234 0 Nigeria
NL NLD 31 0 Netherlands|Holland|Nederland
NO NOR 47 - Norway|Norge
NZ NZL 64 0 New Zealand
PH PHL 63 0 Philippines
PK PAK 92 0 Pakistan
PL POL 48 - Poland|Polska
PT PRT 351 - Portugal
RO ROU 40 0 Romania|România
RS SRB 381 0 Serbia
RU RUS 7 8 Russia|Russian Federation
SA SAU 966 0 Saudi Arabia
SE SWE 46 0 Sweden|Sverige
SG SGP 65 - Singapore
SI SVN 386 0 Slovenia
SK SVK 421 0 Slovakia
SM SMR 378 - San Marino
TH THA 66 0 Thailand
TR TUR 90 0 Turkey|Türkiye
TW TWN 886 0 Taiwan
UA UKR 380 0 Ukraine
US USA 1 1 United States|United States of America|US|America
VA VAT 39 - Vatican City|Holy See
VN VNM 84 0 Vietnam|Viet Nam
XK XKX 383 0 Kosovo
ZA ZAF 27 0 South Africa
"""

# Countries whose currency is the euro (the euro area, Bulgaria from 2026, and the
# countries that use it by agreement or unilaterally).
EURO_COUNTRIES = _code_set(
    "AT BE BG CY DE EE ES FI FR GR HR IE IT LT LU LV MT NL PT SI SK AD MC SM VA ME XK"
)


def _country_key(text: str) -> str:
    """How a typed country is compared: case, dots, extra spaces and a leading "the" ignored."""
    key = " ".join(text.replace(".", "").casefold().split())
    return key.removeprefix("the ")


def _parse_country_table() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    by_name: dict[str, str] = {}
    phone: dict[str, tuple[str, str]] = {}
    for line in _COUNTRY_TABLE.strip().splitlines():
        code, alpha3, calling, trunk, names = line.split(maxsplit=4)
        phone[code] = (calling, "" if trunk == "-" else trunk)
        for name in (alpha3, *names.split("|")):
            by_name[_country_key(name)] = code
    return by_name, phone


_COUNTRY_BY_NAME, _PHONE_PLAN = _parse_country_table()


def validate_country(value: str | None, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code, from a code or a common name ("Germany", "UK" → GB)."""
    text = (value or "").strip()
    if not text:
        return ""
    _check_length(text, field, 100)
    _check_safe(text, field)
    if len(text) == 2 and text.upper() in _ALPHA2:
        return text.upper()
    code = _COUNTRY_BY_NAME.get(_country_key(text))
    if code is None:
        raise ValidationError(
            field,
            f"'{text}' is not a country we know; use its two-letter ISO code (DE, US, GB, ...)",
        )
    return code


def currency_for_country(country: str) -> str:
    """The currency a customer from `country` (alpha-2, or "") is billed in by default."""
    if country in EURO_COUNTRIES:
        return "EUR"
    if country == "GB":
        return "GBP"
    return "USD"


# ------------------------------------------------------------------------ phone

_PHONE_ALLOWED = frozenset("0123456789 +-.()")
_TRUNK_IN_BRACKETS = re.compile(r"\(\s*0\s*\)")


def validate_phone(value: str | None, field: str = "phone", *, country: str = "") -> str:
    """A phone number as "+<country code><number>" where the country code is known.

    A leading + or 00 marks an international number; a "(0)" in it (+49 (0)30 ...) is
    the trunk prefix, dialled only at home, and is dropped. Otherwise the country calling
    code of `country` (alpha-2) is put in front, minus the national trunk prefix
    (030 1234567 in DE → +49301234567); without a known country only the digits are
    kept. Spaces, dashes, dots and parentheses are accepted and dropped.
    """
    text = (value or "").strip()
    if not text:
        return ""
    _check_length(text, field, 50)
    _check_safe(text, field)
    if any(c.isalpha() for c in text):
        raise ValidationError(
            field, "contains letters; a phone number has only digits, spaces and + - . ( )"
        )
    odd = sorted(set(text) - _PHONE_ALLOWED)
    if odd:
        raise ValidationError(
            field, f"contains '{odd[0]}'; a phone number has only digits, spaces and + - . ( )"
        )
    if "+" in text[1:]:
        raise ValidationError(field, "a + may only come first, before the country code")
    if text.startswith(("+", "00")):
        # "+49 (0)30 ...": the bracketed trunk prefix is only dialled from inside the country.
        text = _TRUNK_IN_BRACKETS.sub("", text)
    digits = "".join(c for c in text if c.isdigit())
    if text.startswith("+"):
        normalised = f"+{digits}"
    elif digits.startswith("00"):
        normalised = f"+{digits[2:]}"
    else:
        normalised = _with_country_code(digits, country)
    return _check_phone_digits(normalised, field)


def _with_country_code(digits: str, country: str) -> str:
    if country not in _PHONE_PLAN:
        return digits
    calling, trunk = _PHONE_PLAN[country]
    national = digits.removeprefix(trunk) if trunk else digits
    return f"+{calling}{national}"


def _check_phone_digits(normalised: str, field: str) -> str:
    count = len(normalised.lstrip("+"))
    if not PHONE_DIGITS_MIN <= count <= PHONE_DIGITS_MAX:
        raise ValidationError(
            field,
            f"has {count} digits; a phone number has {PHONE_DIGITS_MIN} to {PHONE_DIGITS_MAX} "
            "(country code included)",
        )
    if normalised.startswith("+0"):
        raise ValidationError(field, "a country code never starts with 0")
    return normalised


# ------------------------------------------------------- postal codes and ids

_POSTAL_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 \-]*")


def validate_postal_code(value: str | None, field: str = "postal code") -> str:
    """Letters, digits, spaces and dashes, at most 20; upper-cased (sw1a 1aa → SW1A 1AA)."""
    text = " ".join((value or "").split())
    if not text:
        return ""
    _check_length(text, field, POSTAL_CODE_MAX)
    if not _POSTAL_CODE.fullmatch(text):
        raise ValidationError(field, "may hold only letters, digits, spaces and dashes")
    return text.upper()


# VAT prefixes of the EU member states (Greece is EL, not GR), Northern Ireland (XI)
# and the United Kingdom.
VAT_PREFIXES = _code_set(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI GB"
)
_VAT_NUMBER = re.compile(r"([A-Z]{2})([0-9A-Z]{2,13})")


def validate_vat_number(value: str | None, field: str = "VAT number") -> str:
    """An EU-style VAT number: country prefix + 2–13 letters or digits (DE123456789)."""
    text = (value or "").strip()
    if not text:
        return ""
    _check_length(text, field, TAX_ID_MAX)
    _check_safe(text, field)
    compact = re.sub(r"[\s.\-]", "", text).upper()
    match = _VAT_NUMBER.fullmatch(compact)
    if match is None:
        raise ValidationError(
            field,
            f"'{text}' is not a VAT number: expected a two-letter country prefix and 2 to 13 "
            "letters or digits, as in DE123456789",
        )
    prefix = match.group(1)
    if prefix == "GR":
        raise ValidationError(field, "Greek VAT numbers start with EL, not GR")
    if prefix not in VAT_PREFIXES:
        raise ValidationError(
            field, f"'{prefix}' is not a VAT country prefix (EU member states, XI or GB)"
        )
    return compact


_TAX_ID = re.compile(r"[A-Z0-9][A-Z0-9/\-]*")


def validate_tax_id(value: str | None, field: str = "tax id") -> str:
    """Any national tax number (a VAT number, a US EIN 12-3456789, ...): spaces/dots dropped."""
    text = (value or "").strip()
    if not text:
        return ""
    _check_length(text, field, TAX_ID_MAX)
    _check_safe(text, field)
    compact = re.sub(r"[\s.]", "", text).upper()
    if not _TAX_ID.fullmatch(compact):
        raise ValidationError(field, "may hold only letters, digits, dashes and slashes")
    return compact


def validate_company_id(value: str | None, field: str = "company id") -> str:
    """A company registration number (HRB 12345, SC123456, ...): one line, at most 50."""
    return validate_text(value, field, max_length=COMPANY_ID_MAX)
