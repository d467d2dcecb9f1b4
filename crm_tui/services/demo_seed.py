"""Deterministic, realistic demo data: `crm-tui demo seed --customers N`.

What it writes
- Reference rows, created once and reused by later seeds: agents, plans (USD, EUR and
  GBP; monthly, quarterly and yearly; a hardware plan with an asset cost) and tags.
- Customers, individual and business, with subscriptions in every status, payments
  in every status (with refunds), addresses, provider ids, activity events by agents,
  the system and the customers themselves, notes, tags and account-state history.
  The summary columns of `customer` come from `customer_summary.summarise`, so they
  always agree with the subscription and payment rows written beside them.
- Four showcase customers at fixed ids (`SHOWCASE`) when the database has no
  customers yet: the tour and the tests find them there.

Deterministic: the rows depend only on the seed, the count, `as_of` and the ids the
seed starts from. Customers are made in batches of `BATCH_SIZE`, each with its own
`random.Random` seeded from (seed, the batch's first customer id), so the same
arguments on an empty database always give the same data; a second seed into the
same database starts at other ids and so makes other (non-colliding) customers.

Fast (a million customers in under two minutes on SQLite, two cores):
- rows are plain tuples of plain values, written with the driver's executemany: no
  ORM objects and no per-value type processing in Python;
- times travel as epoch seconds and the database formats them, in exactly the text
  SQLAlchemy writes on SQLite (and as timestamptz on PostgreSQL);
- on SQLite, a seed of more than one batch is built by a worker process, batch by
  batch, into scratch SQLite files that this process copies in with one
  INSERT … SELECT per table: Python on one core, the database on the other;
- on SQLite, seeds of `BULK_LOAD_THRESHOLD` customers or more drop the secondary
  indexes and the search triggers first, write the search documents batch by
  batch, and build the indexes once at the end.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import sqlite3
import string
import subprocess
import sys
import tempfile
import time as clock
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from random import Random
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from crm_tui.formatting import format_money
from crm_tui.models.enums import (
    CYCLE_MONTHS,
    AccountState,
    ActivityKind,
    ActorType,
    AddressKind,
    AgentRole,
    BillingCycle,
    CustomerKind,
    InvoiceStatus,
    NoteType,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    PaymentTerms,
    PlanKind,
    Provider,
    RefundStatus,
    SubscriptionStatus,
)
from crm_tui.services.customer_summary import PaymentFacts, SubscriptionFacts, summarise

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

_T = TypeVar("_T")

# The day the data is relative to, unless the caller names one: fixed, so that the
# same seed gives the same data whenever it runs.
DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
BATCH_SIZE = 10_000
# From this many customers on, SQLite loads without indexes and search triggers.
BULK_LOAD_THRESHOLD = 50_000

# Showcase customers, at fixed ids on an empty database (what each one shows):
SHOWCASE = {
    # Zoë Hartmann: LTV exactly 12 × $89 + 6 × $129 + $300 = $2,142.00 (an upgrade,
    # a failed payment that was retried, a one-off order).
    "loyal_upgrader": 1,
    # Nordlicht Analytics GmbH: business, VAT id, Net 30, billing group, invoices,
    # an active Team Bundle and a hardware subscription with an asset cost.
    "business_account": 2,
    # Darius Kowalski: blocked, after a deactivation and a reactivation (who, when, why).
    "blocked_account": 3,
    # José García: a partially refunded PayPal payment and its refund.
    "partial_refund": 4,
}

DAY = 86_400
_MONTHS_BACK = 96  # how far back the calendar reaches (subscription histories fit in it)
_MONTHS_AHEAD = 36  # renewals, contract ends and follow-ups lie ahead

# Short names for the two enumerations on nearly every line of the generator.
S = SubscriptionStatus
P = PaymentStatus


# ================================================================== the report


@dataclass(frozen=True)
class SeedReport:
    customers: int
    subscriptions: int
    payments: int
    refunds: int
    activity_events: int
    notes: int
    seconds: float

    def as_dict(self) -> dict[str, int | float]:
        values = asdict(self)
        values["seconds"] = round(self.seconds, 2)
        return values


# ============================================================ reference data


class _City(NamedTuple):
    name: str
    state: str
    timezone: str
    postcodes: tuple[str, ...]


class _Country(NamedTuple):
    code: str
    region: str
    currency: str
    phone_prefix: str
    phone_range: tuple[int, int]  # national numbers, as integers
    cities: tuple[_City, ...]
    streets: tuple[str, ...]
    number_first: bool  # "12 High Street" rather than "Hauptstraße 12"
    company_suffix: str
    vat_pattern: str  # "#": a digit, "@": a capital letter; "" where there is no VAT
    reg_pattern: str
    weight: int


_COUNTRIES = (
    _Country(
        "US", "North America", "USD", "+1", (2_012_000_000, 9_899_999_999),
        (
            _City("New York", "NY", "America/New_York", ("10001", "10011", "10027")),
            _City("Austin", "TX", "America/Chicago", ("78701", "78704", "78745")),
            _City("San Francisco", "CA", "America/Los_Angeles", ("94103", "94110", "94117")),
            _City("Chicago", "IL", "America/Chicago", ("60601", "60614", "60657")),
        ),
        ("Main Street", "Oak Avenue", "Maple Drive", "Market Street", "Cedar Lane"),
        True, "Inc.", "", "EIN ##-#######", 30,
    ),
    _Country(
        "CA", "North America", "USD", "+1", (2_042_000_000, 9_059_999_999),
        (
            _City("Toronto", "ON", "America/Toronto", ("M5V 2T6", "M4C 1B5")),
            _City("Vancouver", "BC", "America/Vancouver", ("V6B 1A1", "V5K 0A1")),
        ),
        ("King Street West", "Granville Street", "Queen Street East"),
        True, "Inc.", "", "BN #########", 5,
    ),
    _Country(
        "GB", "United Kingdom", "GBP", "+44", (7_400_000_000, 7_999_999_999),
        (
            _City("London", "", "Europe/London", ("EC1A 1BB", "SW1A 2AA", "N1 9GU")),
            _City("Manchester", "", "Europe/London", ("M1 1AE", "M4 5JD")),
            _City("Edinburgh", "", "Europe/London", ("EH1 1YZ", "EH8 9YL")),
        ),
        ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane"),
        True, "Ltd", "GB#########", "0#######", 15,
    ),
    _Country(
        "IE", "Europe", "EUR", "+353", (830_000_000, 899_999_999),
        (
            _City("Dublin", "", "Europe/Dublin", ("D02 X285", "D08 VF8H")),
            _City("Cork", "", "Europe/Dublin", ("T12 W8F2",)),
        ),
        ("Grafton Street", "Harcourt Road", "Patrick Street"),
        True, "Limited", "IE#######@", "######", 3,
    ),
    _Country(
        "DE", "Europe", "EUR", "+49", (15_100_000_000, 17_999_999_999),
        (
            _City("Berlin", "", "Europe/Berlin", ("10115", "10245", "10997")),
            _City("München", "", "Europe/Berlin", ("80331", "80469")),
            _City("Hamburg", "", "Europe/Berlin", ("20095", "22767")),
        ),
        ("Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenweg", "Lindenallee"),
        False, "GmbH", "DE#########", "HRB ######", 14,
    ),
    _Country(
        "FR", "Europe", "EUR", "+33", (600_000_000, 799_999_999),
        (
            _City("Paris", "", "Europe/Paris", ("75001", "75011", "75015")),
            _City("Lyon", "", "Europe/Paris", ("69001", "69003")),
            _City("Bordeaux", "", "Europe/Paris", ("33000",)),
        ),
        ("rue de la République", "avenue Victor Hugo", "boulevard Voltaire", "rue des Lilas"),
        True, "SAS", "FR###########", "### ### ###", 9,
    ),
    _Country(
        "ES", "Europe", "EUR", "+34", (600_000_000, 699_999_999),
        (
            _City("Madrid", "", "Europe/Madrid", ("28001", "28013")),
            _City("Barcelona", "", "Europe/Madrid", ("08001", "08013")),
            _City("Valencia", "", "Europe/Madrid", ("46001",)),
        ),
        ("Calle Mayor", "Calle de Alcalá", "Avinguda Diagonal", "Calle de la Paz"),
        False, "S.L.", "ESB########", "B########", 6,
    ),
    _Country(
        "NL", "Europe", "EUR", "+31", (600_000_000, 699_999_999),
        (
            _City("Amsterdam", "", "Europe/Amsterdam", ("1012 AB", "1017 CE")),
            _City("Rotterdam", "", "Europe/Amsterdam", ("3011 AD",)),
            _City("Utrecht", "", "Europe/Amsterdam", ("3511 LX",)),
        ),
        ("Keizersgracht", "Prinsengracht", "Stationsplein", "Dorpsstraat"),
        False, "B.V.", "NL#########B01", "########", 5,
    ),
    _Country(
        "AU", "Asia Pacific", "USD", "+61", (400_000_000, 499_999_999),
        (
            _City("Sydney", "NSW", "Australia/Sydney", ("2000", "2010")),
            _City("Melbourne", "VIC", "Australia/Melbourne", ("3000", "3121")),
        ),
        ("George Street", "Collins Street", "Queen Street", "Beach Road"),
        True, "Pty Ltd", "", "ACN ### ### ###", 7,
    ),
    _Country(
        "SG", "Asia Pacific", "USD", "+65", (80_000_000, 99_999_999),
        (_City("Singapore", "", "Asia/Singapore", ("018956", "238859", "049315")),),
        ("Orchard Road", "Robinson Road", "Marina Boulevard"),
        True, "Pte. Ltd.", "", "20########@", 3,
    ),
    _Country(
        "JP", "Asia Pacific", "USD", "+81", (9_000_000_000, 9_099_999_999),
        (
            _City("Tokyo", "", "Asia/Tokyo", ("100-0005", "150-0002")),
            _City("Osaka", "", "Asia/Tokyo", ("530-0001",)),
        ),
        ("Chiyoda 1-chome", "Shibuya 2-chome", "Umeda 3-chome"),
        True, "K.K.", "", "#############", 3,
    ),
)  # fmt: skip
_COUNTRY_BY_CODE = {country.code: country for country in _COUNTRIES}

# (shown, as in an email address). A few non-ASCII names, as real customer bases have.
_FIRST_NAMES = (
    ("Olivia", "olivia"), ("Liam", "liam"), ("Emma", "emma"), ("Noah", "noah"),
    ("Amelia", "amelia"), ("Oliver", "oliver"), ("Sophia", "sophia"), ("Elijah", "elijah"),
    ("Mia", "mia"), ("Lucas", "lucas"), ("Charlotte", "charlotte"), ("Mateo", "mateo"),
    ("Isabella", "isabella"), ("Leon", "leon"), ("Hannah", "hannah"), ("Finn", "finn"),
    ("Clara", "clara"), ("Jonas", "jonas"), ("Léa", "lea"), ("Hugo", "hugo"),
    ("Chloé", "chloe"), ("Louis", "louis"), ("Zoë", "zoe"), ("José", "jose"),
    ("Lucía", "lucia"), ("Martín", "martin"), ("Sofía", "sofia"), ("Ingrid", "ingrid"),
    ("Björn", "bjorn"), ("Søren", "soren"), ("Astrid", "astrid"), ("Łukasz", "lukasz"),
    ("Agnieszka", "agnieszka"), ("Siobhán", "siobhan"), ("Niamh", "niamh"), ("Seán", "sean"),
    ("François", "francois"), ("Renée", "renee"), ("Jürgen", "jurgen"), ("Ava", "ava"),
    ("Ethan", "ethan"), ("Priya", "priya"), ("Arjun", "arjun"), ("Aisha", "aisha"),
    ("Omar", "omar"), ("Fatima", "fatima"), ("Kwame", "kwame"), ("Amara", "amara"),
    ("Chidi", "chidi"), ("Yuki", "yuki"), ("Haruto", "haruto"), ("Mei", "mei"),
    ("Minh", "minh"), ("Linh", "linh"), ("João", "joao"), ("Ana", "ana"),
    ("Maximilian", "maximilian"), ("Emil", "emil"), ("Freya", "freya"), ("Oscar", "oscar"),
)  # fmt: skip
_LAST_NAMES = (
    ("Smith", "smith"), ("Johnson", "johnson"), ("Williams", "williams"), ("Brown", "brown"),
    ("Jones", "jones"), ("Miller", "miller"), ("Davis", "davis"), ("García", "garcia"),
    ("Rodríguez", "rodriguez"), ("Martínez", "martinez"), ("Müller", "mueller"),
    ("Schmidt", "schmidt"), ("Schneider", "schneider"), ("Fischer", "fischer"),
    ("Weber", "weber"), ("Becker", "becker"), ("Wagner", "wagner"), ("Dubois", "dubois"),
    ("Lefèvre", "lefevre"), ("Moreau", "moreau"), ("Rossi", "rossi"), ("Bianchi", "bianchi"),
    ("Jansen", "jansen"), ("de Vries", "devries"), ("van Dijk", "vandijk"),
    ("Bakker", "bakker"), ("Andersson", "andersson"), ("Johansson", "johansson"),
    ("Nielsen", "nielsen"), ("Kowalski", "kowalski"), ("Nowak", "nowak"),
    ("Dvořák", "dvorak"), ("O'Brien", "obrien"), ("Murphy", "murphy"), ("Kelly", "kelly"),
    ("Walsh", "walsh"), ("Öztürk", "ozturk"), ("Yılmaz", "yilmaz"), ("Nguyễn", "nguyen"),
    ("Tran", "tran"), ("Patel", "patel"), ("Sharma", "sharma"), ("Okafor", "okafor"),
    ("Mensah", "mensah"), ("Tanaka", "tanaka"), ("Sato", "sato"), ("Kim", "kim"),
    ("Chen", "chen"), ("Silva", "silva"), ("Santos", "santos"), ("Núñez", "nunez"),
    ("Fernández", "fernandez"), ("Svensson", "svensson"), ("Hansen", "hansen"),
    ("Taylor", "taylor"), ("Wilson", "wilson"), ("Clarke", "clarke"), ("Evans", "evans"),
)  # fmt: skip
# Names written family name first, without a space, as their owners write them.
_WHOLE_NAMES = (
    ("王芳", "wang.fang"), ("李娜", "li.na"), ("张伟", "zhang.wei"), ("刘洋", "liu.yang"),
    ("佐藤美咲", "sato.misaki"), ("鈴木一郎", "suzuki.ichiro"), ("김민준", "kim.minjun"),
    ("이서연", "lee.seoyeon"),
)  # fmt: skip
_WHOLE_NAME_SHARE = 0.03
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")

_COMPANY_STEMS = (
    "Nordlicht", "Bluewater", "Atlas", "Kestrel", "Meridian", "Copperleaf", "Harbour",
    "Lumen", "Foxglove", "Granite", "Pinecrest", "Vantage", "Silverline", "Orchard",
    "Beacon", "Cobalt", "Sunfield", "Tidewater",
)  # fmt: skip
_COMPANY_TRADES = (
    "Analytics", "Logistics", "Dental", "Studios", "Consulting", "Robotics", "Foods",
    "Architects", "Software", "Health", "Media", "Energy",
)  # fmt: skip
_BILLING_GROUPS = ("Enterprise", "SMB", "Public sector", "Education", "Partners")
_BUSINESS_SHARE = 0.08

_AGENTS = (
    # username, shown name, role, timezone
    ("amara.okafor", "Amara Okafor", AgentRole.ADMIN, "Europe/London"),
    ("lukas.becker", "Lukas Becker", AgentRole.MANAGER, "Europe/Berlin"),
    ("sofia.lindqvist", "Sofia Lindqvist", AgentRole.AGENT, "Europe/Stockholm"),
    ("kenji.watanabe", "Kenji Watanabe", AgentRole.AGENT, "Asia/Tokyo"),
    ("priya.raman", "Priya Raman", AgentRole.AGENT, "America/New_York"),
    ("tomas.ortega", "Tomás Ortega", AgentRole.AGENT, "Europe/Madrid"),
)
_TAGS = (
    "vip", "at-risk", "beta-tester", "reseller", "press", "needs-follow-up", "high-usage",
    "price-sensitive",
)  # fmt: skip


class _PlanSpec(NamedTuple):
    key: str
    name: str
    kind: PlanKind
    cycle: BillingCycle
    usage_metric: str
    weight_individual: int
    weight_business: int


_MONTHLY, _QUARTERLY, _YEARLY = BillingCycle.MONTHLY, BillingCycle.QUARTERLY, BillingCycle.YEARLY
_PLANS = (
    _PlanSpec("basic", "Basic", PlanKind.SERVICE, _MONTHLY, "logins", 30, 5),
    _PlanSpec("pro", "Pro", PlanKind.SERVICE, _MONTHLY, "api_calls", 28, 20),
    _PlanSpec("premium", "Premium", PlanKind.SERVICE, _MONTHLY, "api_calls", 12, 20),
    _PlanSpec("pro-annual", "Pro Annual", PlanKind.SERVICE, _YEARLY, "api_calls", 12, 20),
    _PlanSpec("home-hub", "Home Hub", PlanKind.HARDWARE, _MONTHLY, "devices", 12, 10),
    _PlanSpec("team", "Team Bundle", PlanKind.BUNDLE, _QUARTERLY, "seats", 2, 25),
)  # fmt: skip
# Prices per currency, in minor units: (amount, asset cost of a hardware plan).
_PRICES: dict[str, dict[str, tuple[int, int | None]]] = {
    "USD": {"basic": (1900, None), "pro": (8900, None), "premium": (12900, None),
            "pro-annual": (89000, None), "home-hub": (2900, 24900), "team": (45000, None)},
    "EUR": {"basic": (1700, None), "pro": (7900, None), "premium": (11900, None),
            "pro-annual": (79000, None), "home-hub": (2700, 22900), "team": (42000, None)},
    "GBP": {"basic": (1500, None), "pro": (6900, None), "premium": (9900, None),
            "pro-annual": (69000, None), "home-hub": (2300, 19900), "team": (36000, None)},
}  # fmt: skip

_STOREFRONTS = {
    "Web": 45,
    "iOS app": 15,
    "Android app": 14,
    "Retail": 10,
    "Partner": 8,
    "Telesales": 8,
}
_SELF_SERVICE_STOREFRONTS = frozenset({"Web", "iOS app", "Android app"})
_AFFILIATES = ("partner:northwind-telecom", "partner:bright-retail", "partner:skyline-isp")

# How many subscriptions a customer has (about 1.3 on average).
_SUBSCRIPTION_COUNTS = {0: 10, 1: 58, 2: 29, 3: 3}
# The status of a customer's newest subscription, and of the older ones.
_NEWEST_STATUSES = {
    S.ACTIVE: 55,
    S.TRIAL: 8,
    S.GRACE: 4,
    S.PAUSED: 5,
    S.CANCELLED: 18,
    S.EXPIRED: 10,
}
_OLDER_STATUSES = {S.CANCELLED: 50, S.EXPIRED: 30, S.ACTIVE: 20}
# At most this many cycles paid per subscription: enough history, a bounded row count.
_MAX_PAID_CYCLES = {1: 4, 3: 3, 12: 2}

_FAILURES = {
    Provider.STRIPE: ("card_declined", "insufficient_funds", "expired_card",
                      "authentication_required"),
    Provider.PAYPAL: ("INSTRUMENT_DECLINED", "PAYER_CANNOT_PAY"),
    Provider.MANUAL: ("not received by the due date",),
}  # fmt: skip
_REFUND_REASONS = (
    "Requested by customer", "Duplicate charge", "Service outage credit", "Goodwill gesture",
    "Cancelled within the 14-day cooling-off period",
)  # fmt: skip
_BLOCK_REASONS = (
    "Chargeback fraud suspected", "Abusive behaviour towards support",
    "Payment fraud confirmed by the provider", "Account shared beyond the plan's limits",
)  # fmt: skip
_DEACTIVATE_REASONS = (
    "Customer asked to close the account",
    "Duplicate account",
    "Company dissolved",
)
_REACTIVATE_REASONS = ("Identity verified by phone", "Chargeback withdrawn by the bank")

_NOTES = (
    (NoteType.PHONE, "Called about a double charge",
     "Two charges on the statement; one was a pending authorisation that will drop off."),
    (NoteType.EMAIL, "Asked for an invoice copy",
     "Sent the invoice PDF again to the billing address on file."),
    (NoteType.MEETING, "Quarterly business review",
     "Discussed seat growth and a move to annual billing."),
    (NoteType.OTHER, "Prefers contact by email", "Do not call during working hours."),
    (NoteType.PHONE, "Wants to downgrade",
     "Considering a cheaper plan after the price change; offered one month at half price."),
    (NoteType.EMAIL, "Shipping address change",
     "New shipping address for the Home Hub replacement."),
    (NoteType.PHONE, "Card expired", "Walked the customer through updating the card in the app."),
)  # fmt: skip
# Occasional events beside those of subscriptions and payments: (kind, actor, summary).
_EXTRA_EVENTS = (
    (ActivityKind.SUPPORT, ActorType.AGENT, "Answered a billing question by phone"),
    (ActivityKind.SUPPORT, ActorType.AGENT, "Helped reset two-factor authentication"),
    (ActivityKind.SUPPORT, ActorType.AGENT, "Explained the price change"),
    (ActivityKind.CAMPAIGN, ActorType.SYSTEM, "Sent campaign email: Spring offer"),
    (ActivityKind.CAMPAIGN, ActorType.SYSTEM, "Sent campaign email: Product update"),
    (ActivityKind.PROFILE, ActorType.CUSTOMER, "Updated email preferences"),
    (ActivityKind.PROFILE, ActorType.CUSTOMER, "Updated the payment card"),
)


def _weighted(weights: dict[Any, int]) -> tuple[Any, ...]:
    """A tuple in which each value appears `weight` times: `rng.choice` on it is a
    weighted pick at the cost of an unweighted one."""
    return tuple(value for value, weight in weights.items() for _ in range(weight))


_COUNTRY_POOL: tuple[_Country, ...] = _weighted({c: c.weight for c in _COUNTRIES})
_STOREFRONT_POOL: tuple[str, ...] = _weighted(_STOREFRONTS)
_SUBSCRIPTION_COUNT_POOL: tuple[int, ...] = _weighted(_SUBSCRIPTION_COUNTS)
_NEWEST_STATUS_POOL: tuple[S, ...] = _weighted(_NEWEST_STATUSES)
_OLDER_STATUS_POOL: tuple[S, ...] = _weighted(_OLDER_STATUSES)

# Provider ids: random bytes mapped onto the characters the providers use.
_BASE62 = string.digits + string.ascii_letters
_UPPER36 = string.digits + string.ascii_uppercase
_TO_BASE62 = bytes(ord(_BASE62[b % 62]) for b in range(256))
_TO_UPPER36 = bytes(ord(_UPPER36[b % 36]) for b in range(256))


def _token(rng: Random, length: int, table: bytes = _TO_BASE62) -> str:
    return rng.randbytes(length).translate(table).decode("ascii")


def _fill(rng: Random, pattern: str) -> str:
    """'DE#########' → 'DE287456913': '#' becomes a digit, '@' a capital letter."""
    out = []
    for char in pattern:
        if char == "#":
            out.append(string.digits[rng.randrange(10)])
        elif char == "@":
            out.append(string.ascii_uppercase[rng.randrange(26)])
        else:
            out.append(char)
    return "".join(out)


def _details(**values: int | str) -> str:
    """An activity event's details, as the JSON text the column stores. Built by hand
    (the keys are identifiers, the strings go through json.dumps): a whole json.dumps
    costs twenty times more, and a million customers have three events each."""
    fields = (
        f'"{key}": {json.dumps(value) if isinstance(value, str) else value}'
        for key, value in values.items()
    )
    return "{" + ", ".join(fields) + "}"


class _FastRandom(Random):
    """`random.Random` with cheaper `choice` and `randrange`: scaled `random()` in
    place of rejection sampling. Still deterministic; the bias is far below what
    demo data can show, and the generator calls them a few dozen times per customer."""

    def choice(self, seq: SupportsLenAndGetItem[_T]) -> _T:
        return seq[int(self.random() * len(seq))]

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if step != 1:
            return super().randrange(start, stop, step)
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))


# ====================================================================== tables


class _Table(NamedTuple):
    """A table the seeder writes: its columns in the order of the row tuples.

    A column may carry a kind after a colon: `ts` (epoch seconds, stored as a UTC
    datetime), `date` (epoch seconds, stored as its UTC date), `json` (JSON text).
    """

    name: str
    columns: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [column.partition(":")[0] for column in self.columns]

    def insert_sql(self, dialect: str) -> str:
        """INSERT of one row of parameters, each turned into its stored form."""
        parameter = "?" if dialect == "sqlite" else "%s"
        values = [_STORED_AS[dialect][kind].format(parameter) for kind in self._kinds()]
        return (
            f"INSERT INTO {self.name} ({', '.join(self.column_names)}) VALUES ({', '.join(values)})"
        )

    def staging_insert_sql(self) -> str:
        """INSERT into a staging table (SQLite), which keeps the values as they come."""
        return f"INSERT INTO {self.name} VALUES ({', '.join('?' for _ in self.columns)})"

    def copy_sql(self, source: str) -> str:
        """INSERT … SELECT from the staging table in the attached database `source`."""
        names = self.column_names
        values = [
            _STORED_AS["sqlite"][k].format(n) for n, k in zip(names, self._kinds(), strict=True)
        ]
        return (
            f"INSERT INTO main.{self.name} ({', '.join(names)})"
            f" SELECT {', '.join(values)} FROM {source}.{self.name}"
        )

    def _kinds(self) -> list[str]:
        return [column.partition(":")[2] for column in self.columns]


# How each kind of value is stored, from an expression `{}` that gives it. On
# SQLite, datetimes become the exact text SQLAlchemy's DateTime writes
# ('2026-11-01 09:30:00.000000', UTC), and dates ISO text.
_STORED_AS = {
    "sqlite": {
        "": "{}",
        "json": "{}",
        "ts": "datetime({}, 'unixepoch') || '.000000'",
        "date": "date({}, 'unixepoch')",
    },
    "postgresql": {
        "": "{}",
        "json": "CAST({} AS json)",
        "ts": "to_timestamp(CAST({} AS bigint))",
        "date": "CAST(to_timestamp(CAST({} AS bigint)) AT TIME ZONE 'UTC' AS date)",
    },
}


def _table(name: str, columns: str) -> _Table:
    return _Table(name, tuple(columns.split()))


_AGENT = _table("agent", "username display_name role active readonly timezone created_at:ts")
_PLAN = _table(
    "plan", "code name kind amount_minor currency cycle usage_metric asset_cost_minor active"
)
_TAG = _table("tag", "name")
_CUSTOMER = _table(
    "customer",
    "id kind name email phone company_name company_reg_no company_email vat_id payment_terms"
    " billing_group billing_contact storefront region country timezone registered_at:ts"
    " account_state assigned_agent_id lifecycle_status current_plan has_active_subscription"
    " currency mrr_minor ltv_minor version updated_at:ts",
)
_SUBSCRIPTION = _table(
    "subscription",
    "id customer_id plan_id variant status started_at:ts trial_end:ts current_period_end:ts"
    " cancel_at_period_end cancelled_at:ts ended_at:ts paused_until:ts amount_minor currency"
    " cycle payment_method contract_end:date provider provider_id asset_serial"
    " asset_cost_minor version",
)
_ORDER = _table(
    "customer_order", "id customer_id number placed_at:ts status items:json total_minor currency"
)
_INVOICE = _table(
    "invoice",
    "id customer_id subscription_id order_id number status issued_at:ts due_at:ts total_minor"
    " currency provider provider_id",
)
_PAYMENT = _table(
    "payment",
    "id customer_id subscription_id order_id invoice_id amount_minor currency refunded_minor"
    " status method provider provider_id failure_reason description affiliate"
    " commission_minor created_at:ts",
)
_REFUND = _table(
    "refund", "payment_id amount_minor currency status reason provider_id created_at:ts agent_id"
)
_EVENT = _table(
    "activity_event", "customer_id occurred_at:ts kind actor_type agent_id summary details:json"
)
_NOTE = _table("note", "customer_id type summary body follow_up_on:date created_at:ts agent_id")
_CUSTOMER_TAG = _table("customer_tag", "customer_id tag_id added_at:ts added_by_agent_id")
_ADDRESS = _table(
    "address",
    "customer_id kind is_default line1 line2 city state postal_code country"
    " valid_from:ts valid_to:ts",
)
_EXTERNAL_ID = _table("external_id", "customer_id provider external_id")
_STATE_CHANGE = _table(
    "account_state_change", "customer_id from_state to_state reason changed_at:ts agent_id"
)
_INVOICE_LINE = _table(
    "invoice_line", "invoice_id description quantity unit_amount_minor amount_minor"
)
_USAGE = _table("usage", "subscription_id period_start:date metric quantity")
_PREFERENCE = _table(
    "preference",
    "customer_id contract_length_months payment_method billing_frequency communication",
)
# The tables a batch fills, parents before children (foreign keys).
_BATCH_TABLES = (
    _CUSTOMER, _SUBSCRIPTION, _ORDER, _INVOICE, _PAYMENT, _REFUND, _EVENT, _NOTE, _CUSTOMER_TAG,
    _ADDRESS, _EXTERNAL_ID, _STATE_CHANGE, _USAGE, _PREFERENCE, _INVOICE_LINE,
)  # fmt: skip
# Tables given explicit ids (children refer to them): PostgreSQL's sequences move past them.
_EXPLICIT_ID_TABLES = ("customer", "subscription", "customer_order", "invoice", "payment")


# =================================================================== the rows


class _Batch:
    """The rows of one batch of customers, table by table.

    Rows hold plain `str` values, never enum members: sqlite3 binds an exact `str`
    three times faster than a subclass of it. `str(member)` makes one (and costs a
    fifth of `member.value`): a million customers notice both.
    """

    def __init__(self, customer_ids: range) -> None:
        self.customer_ids = customer_ids
        self.customers: list[tuple[Any, ...]] = []
        self.subscriptions: list[tuple[Any, ...]] = []
        self.orders: list[tuple[Any, ...]] = []
        self.invoices: list[tuple[Any, ...]] = []
        self.payments: list[tuple[Any, ...]] = []
        self.refunds: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.notes: list[tuple[Any, ...]] = []
        self.customer_tags: list[tuple[Any, ...]] = []
        self.addresses: list[tuple[Any, ...]] = []
        self.external_ids: list[tuple[Any, ...]] = []
        self.state_changes: list[tuple[Any, ...]] = []
        self.usage: list[tuple[Any, ...]] = []  # showcase customers only
        self.preferences: list[tuple[Any, ...]] = []  # showcase customers only
        self.invoice_lines: list[tuple[Any, ...]] = []  # showcase customers only

    def tables(self) -> list[tuple[_Table, list[tuple[Any, ...]]]]:
        """Each table with its rows, parents before children (foreign keys)."""
        return list(zip(_BATCH_TABLES, self._rows(), strict=True))

    def _rows(self) -> list[list[tuple[Any, ...]]]:
        return [
            self.customers, self.subscriptions, self.orders, self.invoices, self.payments,
            self.refunds, self.events, self.notes, self.customer_tags, self.addresses,
            self.external_ids, self.state_changes, self.usage, self.preferences,
            self.invoice_lines,
        ]  # fmt: skip

    @property
    def counts(self) -> dict[str, int]:
        return {table.name: len(rows) for table, rows in self.tables()}

    @contextmanager
    def attached(self, connection: Connection) -> Iterator[None]:
        yield  # the rows are here already

    def write(self, connection: Connection) -> None:
        for table, rows in self.tables():
            _insert(connection, table, rows)


@dataclass
class _NextIds:
    """The next free id of each table whose ids the seeder chooses."""

    customer: int
    subscription: int
    order: int
    invoice: int
    payment: int


@dataclass(frozen=True)
class _Plan:
    id: int
    key: str  # "pro": the same plan in every currency
    name: str
    kind: str
    amount_minor: int
    currency: str
    cycle: str
    cycle_months: int
    asset_cost_minor: int | None
    price_text: str  # "$89.00", for event summaries
    payment_description: str  # "Pro (monthly)"


@dataclass(frozen=True)
class _References:
    """Ids of the shared rows (agents, plans, tags) the customers point at."""

    agent_ids: tuple[int, ...]  # agents and managers, who handle customers
    manager_ids: tuple[int, ...]
    tag_ids: dict[str, int]
    plans: dict[tuple[str, str], _Plan]  # (currency, plan key) → plan
    # (currency, business?) → plans, repeated by weight for `rng.choice`
    plan_pools: dict[tuple[str, bool], tuple[_Plan, ...]]


class _Calendar:
    """Epoch-second arithmetic around `as_of`, in whole months: a renewal keeps its day."""

    def __init__(self, as_of: datetime) -> None:
        self.now = int(as_of.timestamp())
        self.current = _MONTHS_BACK  # the index of as_of's month in `month_starts`
        first = as_of.year * 12 + as_of.month - 1 - _MONTHS_BACK
        self.month_starts = [
            int(datetime(m // 12, m % 12 + 1, 1, tzinfo=UTC).timestamp())
            for m in range(first, first + _MONTHS_BACK + _MONTHS_AHEAD + 1)
        ]

    def latest_index(self, anchor: int) -> int:
        """The newest month whose moment `anchor` (seconds into the month) is not after now."""
        current = self.current
        return current if self.month_starts[current] + anchor <= self.now else current - 1


class _Channel(NamedTuple):
    """How a customer pays: through which provider, by which method."""

    provider: Provider
    method: PaymentMethod


class _Person(NamedTuple):
    name: str  # "Zoë Müller"
    first: str  # "zoe", as email addresses spell it
    last: str  # "mueller"

    def email_local_part(self, customer_id: int, style: float) -> str:
        """'zoe.mueller.42', 'zoe42' or 'zmueller42', by `style` (0 to 1). The id ends
        every address: it keeps a million of them unique without a lookup."""
        if style < 0.6:
            return f"{self.first}.{self.last}.{customer_id}"
        if style < 0.8:
            return f"{self.first}{customer_id}"
        return f"{self.first[0]}{self.last}{customer_id}"


class _Profile(NamedTuple):
    """A customer's own columns: who they are, how they bill, where they came from."""

    kind: CustomerKind
    name: str
    email: str
    phone: str
    storefront: str
    country: _Country
    city: _City
    company_name: str = ""
    company_reg_no: str = ""
    company_email: str = ""
    vat_id: str = ""
    payment_terms: PaymentTerms | None = None
    billing_group: str = ""
    billing_contact: str = ""


# ================================================================= generation


class _Generator:
    """Builds batches of customers with everything that belongs to them.

    Batches must be built in order (each continues the id counters of the one
    before); a batch's random choices depend only on the seed and its first id.
    """

    def __init__(
        self, seed: int, as_of: datetime, refs: _References, ids: _NextIds, showcase: bool
    ) -> None:
        self.seed = seed
        self.calendar = _Calendar(as_of)
        self.refs = refs
        self.ids = ids
        self.showcase = showcase
        self.rng: Random = _FastRandom()
        self.batch = _Batch(range(0))
        # The facts of the customer being built, for its summary columns.
        self._subscription_facts: list[SubscriptionFacts] = []
        self._payment_facts: list[PaymentFacts] = []

    def build(self, first_customer_id: int, count: int) -> _Batch:
        customer_ids = range(first_customer_id, first_customer_id + count)
        self.rng = _FastRandom(f"demo:{self.seed}:{first_customer_id}")
        self.batch = _Batch(customer_ids)
        builders = _SHOWCASE_BUILDERS if self.showcase else {}
        for customer_id in customer_ids:
            self._subscription_facts = []
            self._payment_facts = []
            builder = builders.get(customer_id)
            if builder is not None:
                builder(self, customer_id)
            else:
                self._bulk_customer(customer_id)
        self.ids.customer = customer_ids.stop
        return self.batch

    # ------------------------------------------------------------ row primitives
    # Shared by the bulk customers and the showcase: each appends one row.

    def add_subscription(
        self,
        customer_id: int,
        plan: _Plan,
        status: SubscriptionStatus,
        started: int,
        channel: _Channel,
        *,
        trial_end: int | None = None,
        period_end: int | None = None,
        cancel_at_period_end: bool = False,
        cancelled: int | None = None,
        ended: int | None = None,
        paused_until: int | None = None,
        contract_end: int | None = None,
        variant: str = "",
    ) -> int:
        subscription_id = self.ids.subscription
        self.ids.subscription += 1
        hardware = plan.kind == PlanKind.HARDWARE
        serial = f"HH2-{_token(self.rng, 10, _TO_UPPER36)}" if hardware else ""
        self.batch.subscriptions.append(
            (
                subscription_id, customer_id, plan.id, variant, str(status), started,
                trial_end, period_end, cancel_at_period_end, cancelled, ended, paused_until,
                plan.amount_minor, plan.currency, plan.cycle, str(channel.method),
                contract_end, str(channel.provider),
                self._subscription_provider_id(channel.provider), serial,
                plan.asset_cost_minor if hardware else None, 1,
            )
        )  # fmt: skip
        started_at = datetime.fromtimestamp(started, UTC)
        self._subscription_facts.append(
            SubscriptionFacts(status, plan.name, plan.amount_minor, plan.cycle, started_at)
        )
        return subscription_id

    def add_payment(
        self,
        customer_id: int,
        amount: int,
        currency: str,
        status: PaymentStatus,
        created: int,
        channel: _Channel,
        *,
        subscription_id: int | None = None,
        order_id: int | None = None,
        invoice_id: int | None = None,
        refunded: int = 0,
        failure: str = "",
        description: str = "",
        affiliate: str = "",
    ) -> int:
        payment_id = self.ids.payment
        self.ids.payment += 1
        commission = amount // 10 if affiliate and status != P.FAILED else 0
        self.batch.payments.append(
            (
                payment_id, customer_id, subscription_id, order_id, invoice_id, amount,
                currency, refunded, str(status), str(channel.method), str(channel.provider),
                self._payment_provider_id(channel.provider), failure, description, affiliate,
                commission, created,
            )
        )  # fmt: skip
        self._payment_facts.append(PaymentFacts(status, amount, refunded))
        return payment_id

    def add_refund(
        self,
        payment_id: int,
        amount: int,
        currency: str,
        created: int,
        provider: Provider,
        reason: str,
        agent_id: int | None,
    ) -> None:
        if provider == Provider.STRIPE:
            provider_id = f"re_3{_token(self.rng, 23)}"
        elif provider == Provider.PAYPAL:
            provider_id = _token(self.rng, 17, _TO_UPPER36)
        else:
            provider_id = ""
        succeeded = str(RefundStatus.SUCCEEDED)
        self.batch.refunds.append(
            (payment_id, amount, currency, succeeded, reason, provider_id, created, agent_id)
        )

    def add_event(
        self,
        customer_id: int,
        occurred: int,
        kind: ActivityKind,
        actor: ActorType,
        summary: str,
        *,
        agent_id: int | None = None,
        details: str = "{}",
    ) -> None:
        """An activity event; `agent_id` is kept only when an agent is the actor."""
        agent_id = agent_id if actor == ActorType.AGENT else None
        self.batch.events.append(
            (customer_id, occurred, str(kind), str(actor), agent_id, summary, details)
        )

    def add_address(
        self,
        customer_id: int,
        profile: _Profile,
        kind: AddressKind,
        valid_from: int,
        *,
        default: bool = False,
        valid_to: int | None = None,
    ) -> None:
        rng, country, city = self.rng, profile.country, profile.city
        street, number = rng.choice(country.streets), rng.randrange(1, 240)
        line1 = f"{number} {street}" if country.number_first else f"{street} {number}"
        line2 = f"Apartment {rng.randrange(1, 60)}" if rng.random() < 0.2 else ""
        self.batch.addresses.append(
            (customer_id, str(kind), default, line1, line2, city.name, city.state,
             rng.choice(city.postcodes), country.code, valid_from, valid_to)
        )  # fmt: skip

    def add_external_id(self, customer_id: int, provider: Provider) -> None:
        """The customer's id at the provider: Stripe `cus_…`, or a PayPal payer id."""
        if provider == Provider.STRIPE:
            external_id = f"cus_{_token(self.rng, 14)}"
        else:
            external_id = _token(self.rng, 13, _TO_UPPER36)
        self.batch.external_ids.append((customer_id, str(provider), external_id))

    def add_state_change(
        self,
        customer_id: int,
        before: AccountState,
        after: AccountState,
        reason: str,
        changed: int,
        agent_id: int,
    ) -> None:
        """A change of account state, in the history and in the activity log."""
        self.batch.state_changes.append(
            (customer_id, str(before), str(after), reason, changed, agent_id)
        )
        self.add_event(
            customer_id, changed, ActivityKind.PROFILE, ActorType.AGENT,
            f"Account {after}: {reason}", agent_id=agent_id,
            details=_details(from_state=str(before), to_state=str(after)),
        )  # fmt: skip

    def add_note(
        self,
        customer_id: int,
        note_type: NoteType,
        summary: str,
        body: str,
        written: int,
        agent_id: int,
        follow_up: int | None = None,
    ) -> None:
        self.batch.notes.append(
            (customer_id, str(note_type), summary, body, follow_up, written, agent_id)
        )

    def add_usage(self, subscription_id: int, month_start: int, metric: str, quantity: int) -> None:
        self.batch.usage.append((subscription_id, month_start, metric, quantity))

    def add_preference(
        self,
        customer_id: int,
        contract_months: int | None,
        method: str,
        frequency: str,
        channel: str,
    ) -> None:
        self.batch.preferences.append((customer_id, contract_months, method, frequency, channel))

    def add_tag(self, customer_id: int, tag: str, added: int, agent_id: int) -> None:
        self.batch.customer_tags.append((customer_id, self.refs.tag_ids[tag], added, agent_id))

    def add_customer(
        self,
        customer_id: int,
        profile: _Profile,
        registered: int,
        updated: int,
        *,
        account_state: AccountState = AccountState.ACTIVE,
        assigned_agent_id: int | None = None,
    ) -> None:
        """The customer row, last: its summary columns sum up the rows added before."""
        summary = summarise(self._subscription_facts, self._payment_facts)
        p, country = profile, profile.country
        terms = str(p.payment_terms) if p.payment_terms else None
        self.batch.customers.append(
            (
                customer_id, str(p.kind), p.name, p.email, p.phone, p.company_name,
                p.company_reg_no, p.company_email, p.vat_id, terms, p.billing_group,
                p.billing_contact, p.storefront, country.region, country.code,
                p.city.timezone, registered, str(account_state), assigned_agent_id,
                str(summary.lifecycle_status), summary.current_plan,
                summary.has_active_subscription, country.currency, summary.mrr_minor,
                summary.ltv_minor, 1, updated,
            )
        )  # fmt: skip

    def _subscription_provider_id(self, provider: Provider) -> str:
        if provider == Provider.STRIPE:
            return f"sub_1{_token(self.rng, 23)}"
        if provider == Provider.PAYPAL:
            return f"I-{_token(self.rng, 12, _TO_UPPER36)}"
        return ""

    def _payment_provider_id(self, provider: Provider) -> str:
        if provider == Provider.STRIPE:
            # Older integrations created charges (ch_), newer ones payment intents (pi_).
            prefix = "ch_3" if self.rng.random() < 0.2 else "pi_3"
            return prefix + _token(self.rng, 23)
        if provider == Provider.PAYPAL:
            return _token(self.rng, 17, _TO_UPPER36)  # a capture id
        return ""

    # --------------------------------------------------------- bulk customers

    def _bulk_customer(self, customer_id: int) -> None:
        rng, now = self.rng, self.calendar.now
        profile = self._profile(customer_id)
        channel = self._payment_channel(profile)
        business = profile.kind == CustomerKind.BUSINESS
        plans = self.refs.plan_pools[(profile.country.currency, business)]
        count = rng.choice(_SUBSCRIPTION_COUNT_POOL)
        # Without subscriptions, a customer signed up any time in the last six years.
        first_start = latest = now - rng.randrange(DAY, 6 * 365 * DAY)
        for number in range(count):
            pool = _NEWEST_STATUS_POOL if number == count - 1 else _OLDER_STATUS_POOL
            started, moment = self._bulk_subscription(
                customer_id, rng.choice(plans), rng.choice(pool), channel, profile.storefront
            )
            first_start = started if number == 0 else min(first_start, started)
            latest = max(latest, moment)
        registered = first_start - rng.randrange(0, 60 * DAY) if count else first_start

        # Who opened the account, unless the customer did and then subscribed at once
        # (the subscription's event says as much, and the registration date is shown).
        if not count or profile.storefront not in _SELF_SERVICE_STOREFRONTS:
            self._signup(customer_id, registered, profile.storefront)
        state, state_changed = self._account_history(customer_id, registered)
        self._addresses(customer_id, profile, registered)
        if count and channel.provider != Provider.MANUAL:
            self.add_external_id(customer_id, channel.provider)
        elif rng.random() < 0.1:  # a card saved at signup, never charged
            self.add_external_id(customer_id, Provider.STRIPE)
        self._support_history(customer_id, registered)
        assigned = rng.choice(self.refs.agent_ids) if rng.random() < 0.2 else None
        self.add_customer(
            customer_id, profile, registered, max(latest, state_changed),
            account_state=state, assigned_agent_id=assigned,
        )  # fmt: skip

    def _profile(self, customer_id: int) -> _Profile:
        rng = self.rng
        country = rng.choice(_COUNTRY_POOL)
        person = self._person()
        domain = _EMAIL_DOMAINS[customer_id % len(_EMAIL_DOMAINS)]
        email = f"{person.email_local_part(customer_id, rng.random())}@{domain}"
        phone = ""
        if rng.random() < 0.7:
            phone = f"{country.phone_prefix}{rng.randrange(*country.phone_range)}"
        profile = _Profile(
            CustomerKind.INDIVIDUAL, person.name, email, phone, rng.choice(_STOREFRONT_POOL),
            country, rng.choice(country.cities),
        )  # fmt: skip
        if rng.random() < _BUSINESS_SHARE:
            return self._business(customer_id, profile)
        return profile

    def _business(self, customer_id: int, person: _Profile) -> _Profile:
        rng, country = self.rng, person.country
        stem, trade = rng.choice(_COMPANY_STEMS), rng.choice(_COMPANY_TRADES)
        domain = f"{stem}-{trade}.example".lower()
        contact = self._person()
        return person._replace(
            kind=CustomerKind.BUSINESS,
            company_name=f"{stem} {trade} {country.company_suffix}",
            company_reg_no=_fill(rng, country.reg_pattern),
            company_email=f"billing.{customer_id}@{domain}",
            vat_id=_fill(rng, country.vat_pattern),
            payment_terms=rng.choice(_PAYMENT_TERMS),
            billing_group=rng.choice(_BILLING_GROUPS),
            billing_contact=f"{contact.name} <{contact.first}.{contact.last}@{domain}>",
        )

    def _person(self) -> _Person:
        rng = self.rng
        if rng.random() < _WHOLE_NAME_SHARE:
            name, slug = rng.choice(_WHOLE_NAMES)
            return _Person(name, *slug.split("."))
        first, first_slug = rng.choice(_FIRST_NAMES)
        last, last_slug = rng.choice(_LAST_NAMES)
        return _Person(f"{first} {last}", first_slug, last_slug)

    def _payment_channel(self, profile: _Profile) -> _Channel:
        """Businesses mostly pay invoices by bank transfer; people by card or PayPal."""
        roll = self.rng.random()
        if profile.kind == CustomerKind.BUSINESS:
            return _PAY_BY_INVOICE if roll < 0.6 else _PAY_BY_CARD
        if roll < 0.62:
            sepa = profile.country.currency == "EUR" and roll < 0.15
            return _PAY_BY_SEPA if sepa else _PAY_BY_CARD
        return _PAY_BY_PAYPAL if roll < 0.95 else _PAY_BY_TRANSFER

    def _bulk_subscription(
        self,
        customer_id: int,
        plan: _Plan,
        status: SubscriptionStatus,
        channel: _Channel,
        storefront: str,
    ) -> tuple[int, int]:
        """One subscription with its payments and events; returns (started, latest moment)."""
        rng, calendar = self.rng, self.calendar
        starts, now = calendar.month_starts, calendar.now
        agent_id = rng.choice(self.refs.agent_ids)
        if status == S.TRIAL:
            started = now - rng.randrange(DAY, 13 * DAY)
            trial_end = started + 14 * DAY
            subscription_id = self.add_subscription(
                customer_id, plan, status, started, channel,
                trial_end=trial_end, period_end=trial_end,
            )  # fmt: skip
            summary = f"Started a {plan.name} trial"
            self._subscription_event(customer_id, started, summary, storefront, subscription_id)
            return started, started

        # Renewals fall on the same day and time of the month (`anchor`), every cycle.
        cycle = plan.cycle_months
        anchor = rng.randrange(28) * DAY + rng.randrange(DAY)
        latest = calendar.latest_index(anchor)
        paid_cycles = rng.randint(1, _MAX_PAID_CYCLES[cycle])
        if status in (S.ACTIVE, S.GRACE):
            last = latest - rng.randrange(cycle)
        elif status == S.PAUSED:
            last = latest - cycle * rng.randint(1, 3)
        else:  # cancelled or expired: ended at the end of the last paid cycle
            last = latest - rng.randrange(36) - cycle
        first = last - (paid_cycles - 1) * cycle
        started = starts[first] + anchor
        period_end = starts[last + cycle] + anchor
        ended = period_end if status in (S.CANCELLED, S.EXPIRED) else None
        paused_until = now + rng.randrange(7, 90) * DAY if status == S.PAUSED else None
        subscription_id = self.add_subscription(
            customer_id, plan, status, started, channel,
            period_end=paused_until or period_end,
            cancel_at_period_end=status == S.CANCELLED or rng.random() < 0.03,
            cancelled=period_end - rng.randrange(1, 20) * DAY if status == S.CANCELLED else None,
            ended=ended,
            paused_until=paused_until,
            contract_end=period_end if cycle == 12 or status == S.EXPIRED else None,
        )  # fmt: skip
        summary = f"Started {plan.name}"
        self._subscription_event(customer_id, started, summary, storefront, subscription_id)
        affiliate = rng.choice(_AFFILIATES) if storefront == "Partner" else ""
        for number in range(paid_cycles):
            self._bulk_payment(
                customer_id, subscription_id, plan, status, starts[first + number * cycle] + anchor,
                channel, affiliate, final=number == paid_cycles - 1,
            )  # fmt: skip
        self._end_event(customer_id, subscription_id, plan, status, ended, agent_id)
        return started, ended or starts[last] + anchor

    def _bulk_payment(
        self,
        customer_id: int,
        subscription_id: int,
        plan: _Plan,
        subscription_status: SubscriptionStatus,
        created: int,
        channel: _Channel,
        affiliate: str,
        final: bool,
    ) -> None:
        """One renewal: mostly collected; sometimes failed (and retried), refunded, pending."""
        rng, now = self.rng, self.calendar.now

        def pay(status: PaymentStatus, at: int, refunded: int = 0, failure: str = "") -> int:
            return self.add_payment(
                customer_id, plan.amount_minor, plan.currency, status, at, channel,
                subscription_id=subscription_id, refunded=refunded, failure=failure,
                description=plan.payment_description, affiliate=affiliate,
            )  # fmt: skip

        roll = rng.random()
        grace_renewal = final and subscription_status == S.GRACE
        if final and subscription_status == S.ACTIVE and roll < 0.03:
            pay(P.PENDING, created)  # the newest renewal is still with the provider
        elif grace_renewal or roll < 0.03:
            reason = rng.choice(_FAILURES[channel.provider])
            payment_id = pay(P.FAILED, created, failure=reason)
            self.add_event(
                customer_id, created, ActivityKind.PAYMENT, ActorType.SYSTEM,
                f"Payment of {plan.price_text} failed: {reason}",
                details=_details(payment_id=payment_id, failure_reason=reason),
            )  # fmt: skip
            # Retried two days later; a subscription in grace is still waiting for that.
            if not grace_renewal and created + 2 * DAY <= now:
                pay(P.SUCCEEDED, created + 2 * DAY)
        elif roll < 0.06:
            full = roll < 0.045
            amount = plan.amount_minor
            refunded = amount if full else amount * rng.randrange(10, 60) // 100
            payment_id = pay(P.REFUNDED if full else P.PARTIALLY_REFUNDED, created, refunded)
            refunded_at = min(created + rng.randrange(1, 20) * DAY, now)
            agent_id, reason = rng.choice(self.refs.agent_ids), rng.choice(_REFUND_REASONS)
            self.add_refund(
                payment_id, refunded, plan.currency, refunded_at, channel.provider, reason,
                agent_id,
            )  # fmt: skip
            self.add_event(
                customer_id, refunded_at, ActivityKind.PAYMENT, ActorType.AGENT,
                f"Refunded {format_money(refunded, plan.currency)}: {reason}", agent_id=agent_id,
                details=_details(payment_id=payment_id, amount_minor=refunded),
            )  # fmt: skip
        else:
            pay(P.SUCCEEDED, created)

    def _subscription_event(
        self, customer_id: int, occurred: int, summary: str, storefront: str, subscription_id: int
    ) -> None:
        """Self-service storefronts subscribe customers themselves; others through an agent."""
        by_customer = storefront in _SELF_SERVICE_STOREFRONTS
        self.add_event(
            customer_id, occurred, ActivityKind.SUBSCRIPTION,
            ActorType.CUSTOMER if by_customer else ActorType.AGENT, summary,
            agent_id=self.rng.choice(self.refs.agent_ids),
            details=_details(subscription_id=subscription_id),
        )  # fmt: skip

    def _end_event(
        self,
        customer_id: int,
        subscription_id: int,
        plan: _Plan,
        status: SubscriptionStatus,
        ended: int | None,
        agent_id: int,
    ) -> None:
        details = _details(subscription_id=subscription_id)
        if status == S.CANCELLED and ended is not None:
            actor = ActorType.AGENT if self.rng.random() < 0.4 else ActorType.CUSTOMER
            self.add_event(
                customer_id, ended - DAY, ActivityKind.SUBSCRIPTION, actor,
                f"Cancelled {plan.name} at the end of the period", agent_id=agent_id,
                details=details,
            )  # fmt: skip
        elif status == S.EXPIRED and ended is not None:
            self.add_event(
                customer_id, ended, ActivityKind.SUBSCRIPTION, ActorType.SYSTEM,
                f"{plan.name} expired at the end of its contract", details=details,
            )  # fmt: skip
        elif status == S.PAUSED:
            paused = self.calendar.now - self.rng.randrange(1, 20) * DAY
            self.add_event(
                customer_id, paused, ActivityKind.SUBSCRIPTION, ActorType.CUSTOMER,
                f"Paused {plan.name}", details=details,
            )  # fmt: skip

    def _signup(self, customer_id: int, registered: int, storefront: str) -> None:
        if storefront in _SELF_SERVICE_STOREFRONTS:
            actor = ActorType.CUSTOMER
        elif storefront == "Partner":
            actor = ActorType.SYSTEM  # created through the partner's API
        else:
            actor = ActorType.AGENT  # in a shop or on the phone
        self.add_event(
            customer_id, registered, ActivityKind.PROFILE, actor, f"Signed up via {storefront}",
            agent_id=self.rng.choice(self.refs.agent_ids),
            details=_details(storefront=storefront),
        )  # fmt: skip

    def _account_history(self, customer_id: int, registered: int) -> tuple[AccountState, int]:
        """Most accounts were never touched; a few were blocked or deactivated, with
        a reason and the manager who did it. Returns the state and when it last changed."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.015:
            path = [(AccountState.BLOCKED, rng.choice(_BLOCK_REASONS))]
        elif roll < 0.035:
            path = [(AccountState.DEACTIVATED, rng.choice(_DEACTIVATE_REASONS))]
        elif roll < 0.045:  # blocked once, then let back in
            path = [
                (AccountState.BLOCKED, rng.choice(_BLOCK_REASONS)),
                (AccountState.ACTIVE, rng.choice(_REACTIVATE_REASONS)),
            ]
        else:
            return AccountState.ACTIVE, registered
        state, moment = AccountState.ACTIVE, registered
        for new_state, reason in path:
            moment += rng.randrange(DAY, max(2 * DAY, (self.calendar.now - moment) // 2))
            manager_id = rng.choice(self.refs.manager_ids)
            self.add_state_change(customer_id, state, new_state, reason, moment, manager_id)
            state = new_state
        return state, moment

    def _addresses(self, customer_id: int, profile: _Profile, registered: int) -> None:
        """A default billing address; an older, closed one for people who moved; some
        shipping addresses."""
        rng = self.rng
        if rng.random() < 0.1:
            moved = registered + (self.calendar.now - registered) // 2
            self.add_address(customer_id, profile, AddressKind.BILLING, registered, valid_to=moved)
            registered = moved
        self.add_address(customer_id, profile, AddressKind.BILLING, registered, default=True)
        if rng.random() < 0.2:
            self.add_address(customer_id, profile, AddressKind.SHIPPING, registered)

    def _support_history(self, customer_id: int, registered: int) -> None:
        """For some customers: a note, tags, a support or campaign event."""
        rng, refs, now = self.rng, self.refs, self.calendar.now
        if rng.random() < 0.08:
            note_type, summary, body = rng.choice(_NOTES)
            follow_up = now + rng.randrange(1, 30) * DAY if rng.random() < 0.3 else None
            self.add_note(
                customer_id, note_type, summary, body, rng.randrange(registered, now),
                rng.choice(refs.agent_ids), follow_up,
            )  # fmt: skip
        if rng.random() < 0.15:
            for tag in rng.sample(_TAGS, rng.randint(1, 2)):
                self.add_tag(
                    customer_id, tag, rng.randrange(registered, now), rng.choice(refs.agent_ids)
                )
        if rng.random() < 0.15:
            kind, actor, summary = rng.choice(_EXTRA_EVENTS)
            self.add_event(
                customer_id, rng.randrange(registered, now), kind, actor, summary,
                agent_id=rng.choice(refs.agent_ids),
            )  # fmt: skip


_PAYMENT_TERMS = (PaymentTerms.NET_7, PaymentTerms.NET_14, PaymentTerms.NET_30)
_PAY_BY_CARD = _Channel(Provider.STRIPE, PaymentMethod.CARD)
_PAY_BY_SEPA = _Channel(Provider.STRIPE, PaymentMethod.SEPA_DEBIT)
_PAY_BY_PAYPAL = _Channel(Provider.PAYPAL, PaymentMethod.PAYPAL)
_PAY_BY_INVOICE = _Channel(Provider.MANUAL, PaymentMethod.INVOICE)
_PAY_BY_TRANSFER = _Channel(Provider.MANUAL, PaymentMethod.BANK_TRANSFER)


# ============================================================ showcase customers
# Hand-made, so the tour and the tests can point at a known story. Each has events
# by an agent, by the system and by the customer.

_PROFILE, _SUBSCRIPTION_KIND, _PAYMENT_KIND, _SUPPORT = (
    ActivityKind.PROFILE, ActivityKind.SUBSCRIPTION, ActivityKind.PAYMENT, ActivityKind.SUPPORT,
)  # fmt: skip
_BY_AGENT, _BY_SYSTEM, _BY_CUSTOMER = ActorType.AGENT, ActorType.SYSTEM, ActorType.CUSTOMER


def _showcase_loyal_upgrader(g: _Generator, customer_id: int) -> None:
    """12 × $89 (Pro), then 6 × $129 (Premium), and a $300 order: LTV $2,142.00."""
    refs, calendar = g.refs, g.calendar
    starts = calendar.month_starts
    country = _COUNTRY_BY_CODE["US"]
    profile = _Profile(
        CustomerKind.INDIVIDUAL, "Zoë Hartmann", "zoe.hartmann@example.com", "+12125550147",
        "Web", country, country.cities[0],
    )  # fmt: skip
    agent_id = refs.agent_ids[0]
    pro, premium = refs.plans[("USD", "pro")], refs.plans[("USD", "premium")]

    anchor = 2 * DAY + 10 * 3600 + 15 * 60  # renewals on the 3rd, 10:15 UTC
    last = calendar.latest_index(anchor)
    upgrade = last - 5  # six Premium payments, the newest the latest renewal
    first = upgrade - 12  # twelve Pro payments before that
    registered = starts[first] + anchor - 3 * DAY
    upgraded = starts[upgrade] + anchor

    pro_id = g.add_subscription(
        customer_id, pro, S.CANCELLED, starts[first] + anchor, _PAY_BY_CARD,
        period_end=upgraded, cancelled=upgraded, ended=upgraded,
    )  # fmt: skip
    for month in range(first, upgrade):
        paid = starts[month] + anchor
        if month == first + 7:  # the card was declined once; the retry went through
            g.add_payment(
                customer_id, 8900, "USD", P.FAILED, paid, _PAY_BY_CARD, subscription_id=pro_id,
                failure="insufficient_funds", description=pro.payment_description,
            )  # fmt: skip
            g.add_event(customer_id, paid, _PAYMENT_KIND, _BY_SYSTEM,
                        "Payment of $89.00 failed: insufficient_funds")  # fmt: skip
            paid += 2 * DAY
        g.add_payment(customer_id, 8900, "USD", P.SUCCEEDED, paid, _PAY_BY_CARD,
                      subscription_id=pro_id, description=pro.payment_description)  # fmt: skip
    premium_id = g.add_subscription(
        customer_id, premium, S.ACTIVE, upgraded, _PAY_BY_CARD,
        period_end=starts[last + 1] + anchor,
    )  # fmt: skip
    for month in range(upgrade, last + 1):
        g.add_payment(customer_id, 12900, "USD", P.SUCCEEDED, starts[month] + anchor,
                      _PAY_BY_CARD, subscription_id=premium_id,
                      description=premium.payment_description)  # fmt: skip

    ordered = starts[upgrade + 2] + 5 * DAY
    order_id, number = g.ids.order, f"ORD-{g.ids.order:07d}"
    g.ids.order += 1
    items = [
        {"sku": "SENSOR-2", "description": "Room sensor", "quantity": 2,
         "unit_amount_minor": 10000},
        {"sku": "INSTALL", "description": "Installation visit", "quantity": 1,
         "unit_amount_minor": 10000},
    ]  # fmt: skip
    g.batch.orders.append(
        (order_id, customer_id, number, ordered, OrderStatus.DELIVERED.value, json.dumps(items),
         30000, "USD")
    )  # fmt: skip
    g.add_payment(customer_id, 30000, "USD", P.SUCCEEDED, ordered, _PAY_BY_CARD,
                  order_id=order_id, description=f"Order {number}")  # fmt: skip

    for moment, kind, actor, summary, details in (
        (registered, _PROFILE, _BY_CUSTOMER, "Signed up via Web", {}),
        (starts[first] + anchor, _SUBSCRIPTION_KIND, _BY_CUSTOMER, "Started Pro",
         {"subscription_id": pro_id}),
        (upgraded, _SUBSCRIPTION_KIND, _BY_AGENT,
         "Upgraded from Pro to Premium at the customer's request by phone",
         {"subscription_id": premium_id}),
        (ordered, _PROFILE, _BY_CUSTOMER, f"Placed order {number} for $300.00",
         {"order_id": order_id}),
        (ordered + 2 * DAY, _PROFILE, _BY_SYSTEM, f"Order {number} shipped",
         {"order_id": order_id}),
    ):  # fmt: skip
        g.add_event(customer_id, moment, kind, actor, summary, agent_id=agent_id,
                    details=_details(**details))  # fmt: skip
    g.add_note(customer_id, NoteType.PHONE, "Upgrade to Premium",
               "Wanted more API calls for the home office; upgraded, explained the proration.",
               upgraded, agent_id)  # fmt: skip
    g.add_tag(customer_id, "vip", upgraded, agent_id)
    growth = (3200, 3500, 3900, 4100, 4600, 5200)
    for month, calls in zip(range(last - 5, last + 1), growth, strict=True):
        g.add_usage(premium_id, starts[month], "api_calls", calls)  # growing: trend up
    g.add_preference(customer_id, None, "card", "monthly", "email")
    g.add_address(customer_id, profile, AddressKind.BILLING, registered, default=True)
    g.add_address(customer_id, profile, AddressKind.SHIPPING, ordered)
    g.add_external_id(customer_id, Provider.STRIPE)
    g.add_customer(customer_id, profile, registered, starts[last] + anchor,
                   assigned_agent_id=agent_id)  # fmt: skip


def _showcase_business_account(g: _Generator, customer_id: int) -> None:
    """A German company on Net 30 invoices: a hardware subscription, then a Team Bundle
    (its current plan)."""
    refs, calendar = g.refs, g.calendar
    starts, now = calendar.month_starts, calendar.now
    country = _COUNTRY_BY_CODE["DE"]
    profile = _Profile(
        CustomerKind.BUSINESS, "Katrin Müller", "katrin.mueller@nordlicht-analytics.example",
        "+4930901820", "Telesales", country, country.cities[0],
        company_name="Nordlicht Analytics GmbH", company_reg_no="HRB 204519 B",
        company_email="billing@nordlicht-analytics.example", vat_id="DE287456913",
        payment_terms=PaymentTerms.NET_30, billing_group="Enterprise",
        billing_contact="Jonas Weber <ap@nordlicht-analytics.example>",
    )  # fmt: skip
    manager_id = refs.manager_ids[-1]  # their account manager
    team, hub = refs.plans[("EUR", "team")], refs.plans[("EUR", "home-hub")]

    anchor = 9 * 3600  # the 1st of the month, 09:00 UTC
    last = calendar.latest_index(anchor)
    last -= (last - calendar.current) % 3  # quarters
    first = last - 15  # six quarters
    hub_first = first - 3  # a Home Hub first; the Team Bundle a quarter later
    registered = starts[hub_first] + anchor - 10 * DAY
    team_id = g.add_subscription(
        customer_id, team, S.ACTIVE, starts[first] + anchor, _PAY_BY_INVOICE,
        period_end=starts[last + 3] + anchor, contract_end=starts[first + 24] + anchor,
        variant="25 seats",
    )  # fmt: skip
    for month in range(first, last + 1, 3):
        issued, newest = starts[month] + anchor, month == last
        invoice_id, number = g.ids.invoice, f"INV-{g.ids.invoice:07d}"
        g.ids.invoice += 1
        status = InvoiceStatus.OPEN if newest else InvoiceStatus.PAID
        g.batch.invoices.append(
            (invoice_id, customer_id, team_id, None, number, status.value, issued,
             issued + 30 * DAY, team.amount_minor, "EUR", Provider.MANUAL.value, "")
        )  # fmt: skip
        seats = 25  # the bundle is priced per seat
        g.batch.invoice_lines.append(
            (invoice_id, f"Team Bundle, one quarter ({seats} seats)", seats,
             team.amount_minor // seats, team.amount_minor)
        )  # fmt: skip
        # Net 30: paid by bank transfer a few weeks after the invoice; the newest is due.
        g.add_payment(
            customer_id, team.amount_minor, "EUR", P.PENDING if newest else P.SUCCEEDED,
            issued if newest else issued + 24 * DAY, _PAY_BY_INVOICE, subscription_id=team_id,
            invoice_id=invoice_id, description=f"Invoice {number}",
        )  # fmt: skip
        g.add_event(customer_id, issued, _PAYMENT_KIND, _BY_SYSTEM,
                    f"Issued invoice {number} for {team.price_text}, due in 30 days",
                    details=_details(invoice_id=invoice_id))  # fmt: skip
    hub_started = starts[hub_first] + anchor
    hub_id = g.add_subscription(
        customer_id, hub, S.ACTIVE, hub_started, _PAY_BY_INVOICE, variant="graphite",
        period_end=starts[last + 1] + anchor, contract_end=starts[hub_first + 24] + anchor,
    )  # fmt: skip
    for month in range(hub_first, last + 1):
        g.add_payment(customer_id, hub.amount_minor, "EUR", P.SUCCEEDED,
                      starts[month] + anchor + 20 * DAY, _PAY_BY_INVOICE,
                      subscription_id=hub_id, description=hub.payment_description)  # fmt: skip

    for moment, kind, actor, summary, details in (
        (registered, _PROFILE, _BY_AGENT,
         "Created the business account after a sales call; payment terms Net 30", {}),
        (starts[first] + anchor, _SUBSCRIPTION_KIND, _BY_AGENT, "Started Team Bundle (25 seats)",
         {"subscription_id": team_id}),
        (hub_started, _SUBSCRIPTION_KIND, _BY_CUSTOMER,
         "Ordered a Home Hub through the self-service portal", {"subscription_id": hub_id}),
    ):  # fmt: skip
        g.add_event(customer_id, moment, kind, actor, summary, agent_id=manager_id,
                    details=_details(**details))  # fmt: skip
    review = min(starts[last] + 14 * DAY, now)
    g.add_note(customer_id, NoteType.MEETING, "Quarterly business review",
               "Katrin expects 10 more seats next quarter; send a quote for annual billing.",
               review, manager_id, follow_up=now + 14 * DAY)  # fmt: skip
    g.add_address(customer_id, profile, AddressKind.BILLING, registered, default=True)
    g.add_address(customer_id, profile, AddressKind.SHIPPING, hub_started)
    for month, seats in zip(range(last - 5, last + 1), (20, 22, 25, 25, 25, 25), strict=True):
        g.add_usage(team_id, starts[month], "seats", seats)  # flat at 25 of 25 seats
    g.add_preference(customer_id, 24, "invoice", "quarterly", "email")
    g.add_customer(customer_id, profile, registered, review, assigned_agent_id=manager_id)


def _showcase_blocked_account(g: _Generator, customer_id: int) -> None:
    """Deactivated, reactivated, then blocked after a chargeback: the history says why."""
    refs, calendar = g.refs, g.calendar
    starts = calendar.month_starts
    country = _COUNTRY_BY_CODE["GB"]
    profile = _Profile(
        CustomerKind.INDIVIDUAL, "Darius Kowalski", "darius.kowalski@example.org",
        "+447700900123", "Android app", country, country.cities[0],
    )  # fmt: skip
    pro = refs.plans[("GBP", "pro")]
    manager_id, agent_id = refs.manager_ids[0], refs.agent_ids[-1]

    anchor = 14 * DAY + 18 * 3600
    last = calendar.latest_index(anchor) - 1
    first = last - 8
    registered = starts[first] + anchor - 2 * DAY
    subscription_id = g.add_subscription(
        customer_id, pro, S.PAUSED, starts[first] + anchor, _PAY_BY_PAYPAL,
        period_end=starts[last + 4] + anchor, paused_until=starts[last + 4] + anchor,
    )  # fmt: skip
    disputed_id = 0
    for month in range(first, last + 1):
        disputed = month == last - 1
        payment_id = g.add_payment(
            customer_id, pro.amount_minor, "GBP", P.REFUNDED if disputed else P.SUCCEEDED,
            starts[month] + anchor, _PAY_BY_PAYPAL, subscription_id=subscription_id,
            refunded=pro.amount_minor if disputed else 0, description=pro.payment_description,
        )  # fmt: skip
        disputed_id = payment_id if disputed else disputed_id
    disputed_at = starts[last] + anchor + 2 * DAY
    g.add_refund(disputed_id, pro.amount_minor, "GBP", disputed_at, Provider.PAYPAL,
                 "Chargeback lost: unauthorised transaction", None)  # fmt: skip

    reopened = starts[first + 2] + anchor
    blocked = starts[last] + anchor + 5 * DAY
    for before, after, reason, changed, by in (
        (AccountState.ACTIVE, AccountState.DEACTIVATED, "Customer asked to close the account",
         reopened - 6 * DAY, agent_id),
        (AccountState.DEACTIVATED, AccountState.ACTIVE, "Customer returned; identity verified",
         reopened, agent_id),
        (AccountState.ACTIVE, AccountState.BLOCKED,
         "Chargeback fraud suspected: the disputed payment was refunded by PayPal", blocked,
         manager_id),
    ):  # fmt: skip
        g.add_state_change(customer_id, before, after, reason, changed, by)
    for moment, kind, actor, summary, details in (
        (registered, _PROFILE, _BY_CUSTOMER, "Signed up via Android app", {}),
        (disputed_at, _PAYMENT_KIND, _BY_SYSTEM,
         "PayPal opened a dispute: unauthorised transaction (£69.00)",
         {"payment_id": disputed_id}),
        (blocked + DAY, _SUPPORT, _BY_CUSTOMER, "Asked by email why the account is blocked", {}),
    ):  # fmt: skip
        g.add_event(customer_id, moment, kind, actor, summary, details=_details(**details))
    g.add_note(customer_id, NoteType.EMAIL, "Blocked: chargeback",
               "Do not reactivate without a manager; the customer denies the dispute.", blocked,
               manager_id)  # fmt: skip
    g.add_tag(customer_id, "at-risk", blocked, manager_id)
    moved = starts[first + 4]
    g.add_address(customer_id, profile, AddressKind.BILLING, registered, valid_to=moved)
    g.add_address(customer_id, profile, AddressKind.BILLING, moved, default=True)
    g.add_external_id(customer_id, Provider.PAYPAL)
    g.add_customer(customer_id, profile, registered, blocked + DAY,
                   account_state=AccountState.BLOCKED)  # fmt: skip


def _showcase_partial_refund(g: _Generator, customer_id: int) -> None:
    """A Premium subscriber in Madrid, half a month refunded after an outage."""
    refs, calendar = g.refs, g.calendar
    starts = calendar.month_starts
    country = _COUNTRY_BY_CODE["ES"]
    profile = _Profile(
        CustomerKind.INDIVIDUAL, "José García", "jose.garcia@example.net", "+34612345678",
        "iOS app", country, country.cities[0],
    )  # fmt: skip
    premium = refs.plans[("EUR", "premium")]
    agent_id = refs.agent_ids[-1]

    anchor = 6 * DAY + 8 * 3600
    last = calendar.latest_index(anchor)
    first = last - 4
    registered = starts[first] + anchor - DAY
    subscription_id = g.add_subscription(
        customer_id, premium, S.ACTIVE, starts[first] + anchor, _PAY_BY_PAYPAL,
        period_end=starts[last + 1] + anchor,
    )  # fmt: skip
    outage_month, refunded = last - 1, premium.amount_minor // 2
    refunded_at = starts[outage_month] + anchor + 18 * DAY
    for month in range(first, last + 1):
        partial = month == outage_month
        payment_id = g.add_payment(
            customer_id, premium.amount_minor, "EUR",
            P.PARTIALLY_REFUNDED if partial else P.SUCCEEDED, starts[month] + anchor,
            _PAY_BY_PAYPAL, subscription_id=subscription_id, refunded=refunded if partial else 0,
            description=premium.payment_description,
        )  # fmt: skip
        if partial:
            g.add_refund(payment_id, refunded, "EUR", refunded_at, Provider.PAYPAL,
                         "Service outage credit: 15 days", agent_id)  # fmt: skip
            g.add_event(customer_id, refunded_at, _PAYMENT_KIND, _BY_AGENT,
                        "Refunded €59.50 of €119.00: service outage credit", agent_id=agent_id,
                        details=_details(payment_id=payment_id, amount_minor=refunded))  # fmt: skip
    for moment, kind, actor, summary in (
        (registered, _PROFILE, _BY_CUSTOMER, "Signed up via iOS app"),
        (refunded_at - DAY, _SUPPORT, _BY_CUSTOMER,
         "Reported in the app that the service was down for two weeks"),
        (starts[last] + anchor, _PAYMENT_KIND, _BY_SYSTEM, "PayPal captured €119.00 for Premium"),
    ):  # fmt: skip
        g.add_event(customer_id, moment, kind, actor, summary)
    g.add_note(customer_id, NoteType.PHONE, "Outage credit",
               "Refunded half of the month; the customer is satisfied.", refunded_at,
               agent_id)  # fmt: skip
    g.add_address(customer_id, profile, AddressKind.BILLING, registered, default=True)
    for month in range(first, last + 1):  # the outage month shows as a dip
        calls = 900 if month == outage_month else 4000 + 100 * (month - first)
        g.add_usage(subscription_id, starts[month], "api_calls", calls)
    g.add_preference(customer_id, 12, "paypal", "monthly", "phone")
    g.add_external_id(customer_id, Provider.PAYPAL)
    g.add_customer(customer_id, profile, registered, starts[last] + anchor)


_SHOWCASE_BUILDERS: dict[int, Callable[[_Generator, int], None]] = {
    SHOWCASE["loyal_upgrader"]: _showcase_loyal_upgrader,
    SHOWCASE["business_account"]: _showcase_business_account,
    SHOWCASE["blocked_account"]: _showcase_blocked_account,
    SHOWCASE["partial_refund"]: _showcase_partial_refund,
}


# ==================================================================== database


def _insert(connection: Connection, table: _Table, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        connection.exec_driver_sql(table.insert_sql(connection.dialect.name), list(rows))


def _ensure_references(connection: Connection, now: int) -> _References:
    """Agents, plans and tags: inserted when missing, then read back with their ids."""

    def missing(table: str, key: str, wanted: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        have = {row[0] for row in connection.exec_driver_sql(f"SELECT {key} FROM {table}")}
        return [row for row in wanted if row[0] not in have]

    def ids(table: str, key: str) -> dict[str, int]:
        return {k: i for i, k in connection.exec_driver_sql(f"SELECT id, {key} FROM {table}")}

    agents = [(u, name, role.value, True, False, tz, now) for u, name, role, tz in _AGENTS]
    plans = {
        (currency, spec.key): (
            f"{spec.key}-{currency.lower()}-{spec.cycle.value}", spec.name, spec.kind.value,
            amount, currency, spec.cycle.value, spec.usage_metric, asset_cost, True,
        )
        for currency, prices in _PRICES.items()
        for spec in _PLANS
        for amount, asset_cost in [prices[spec.key]]
    }  # fmt: skip
    _insert(connection, _AGENT, missing("agent", "username", agents))
    _insert(connection, _PLAN, missing("plan", "code", list(plans.values())))
    _insert(connection, _TAG, missing("tag", "name", [(name,) for name in _TAGS]))

    agent_ids, plan_ids = ids("agent", "username"), ids("plan", "code")
    by_key = {
        (currency, key): _Plan(
            plan_ids[code], key, name, kind, amount, currency, cycle,
            CYCLE_MONTHS[BillingCycle(cycle)], asset_cost, format_money(amount, currency),
            f"{name} ({cycle})",
        )
        for (currency, key), (code, name, kind, amount, _, cycle, _, asset_cost, _) in plans.items()
    }  # fmt: skip
    weights = {spec.key: (spec.weight_individual, spec.weight_business) for spec in _PLANS}
    return _References(
        agent_ids=tuple(agent_ids[u] for u, _, role, _ in _AGENTS if role != AgentRole.ADMIN),
        manager_ids=tuple(agent_ids[u] for u, _, role, _ in _AGENTS if role != AgentRole.AGENT),
        tag_ids=ids("tag", "name"),
        plans=by_key,
        plan_pools={
            (currency, business): _weighted(
                {
                    plan: weights[plan.key][business]
                    for plan in by_key.values()
                    if plan.currency == currency
                }
            )
            for currency in _PRICES
            for business in (False, True)
        },
    )


def _next_ids(connection: Connection) -> _NextIds:
    def after_max(table: str) -> int:
        found = connection.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar()
        return int(found or 0) + 1

    return _NextIds(
        customer=after_max("customer"),
        subscription=after_max("subscription"),
        order=after_max("customer_order"),
        invoice=after_max("invoice"),
        payment=after_max("payment"),
    )


def _pragma(connection: Connection, statement: str) -> Any:
    """Run a PRAGMA between transactions (some refuse to run inside one)."""
    result = connection.exec_driver_sql(statement)
    value = result.scalar() if result.returns_rows else None
    connection.commit()
    return value


@contextmanager
def _sqlite_fast_writes(connection: Connection) -> Iterator[None]:
    """Settings for this connection only, restored afterwards: a demo seed that dies
    half-way is simply run again, so it need not wait for the disk after each batch."""
    synchronous = _pragma(connection, "PRAGMA synchronous")
    temp_store = _pragma(connection, "PRAGMA temp_store")
    _pragma(connection, "PRAGMA synchronous=OFF")
    _pragma(connection, "PRAGMA threads=2")  # CREATE INDEX may sort on both cores
    # Sorts for CREATE INDEX spill to files beyond the page cache, not to memory.
    _pragma(connection, "PRAGMA temp_store=FILE")
    try:
        yield
    finally:
        connection.rollback()
        _pragma(connection, f"PRAGMA synchronous={int(synchronous)}")
        _pragma(connection, f"PRAGMA temp_store={int(temp_store)}")
        _pragma(connection, "PRAGMA threads=0")


class _SqliteBulkLoad:
    """Load a large seed without the costly indexes and without the search triggers.

    An index whose leading column takes its values in random order (names, emails,
    dates, amounts, provider ids) would have each new row land on a random page:
    those are dropped and built once at the end, which costs several times less.
    The others lead with a column of few values, or one that grows with the load
    (customer_id): each row lands at the end of its group, on a page in memory.
    Each batch writes its customers' search documents itself, with the expression
    the triggers use (so a failure leaves every committed customer searchable).
    At the end the indexes and triggers come back exactly as the schema has them.
    Foreign keys go unchecked meanwhile: the rows are made consistent, and a test
    runs SQLite's foreign_key_check on them.
    """

    RANDOM_ORDER_COLUMNS = frozenset(
        {"name", "email", "registered_at", "mrr_minor", "ltv_minor", "provider_id",
         "follow_up_on"}
    )  # fmt: skip

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.indexes: list[tuple[str, str]] = []
        self.triggers: list[tuple[str, str]] = []
        self.foreign_keys = 1
        self.automerge = 4

    def __enter__(self) -> _SqliteBulkLoad:
        connection = self.connection
        tables = ", ".join(f"'{table.name}'" for table in _BATCH_TABLES)
        self.indexes = [
            (name, sql)
            for name, sql in connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master"
                f" WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({tables})"
            ).all()
            if self._first_column(name) in self.RANDOM_ORDER_COLUMNS
        ]
        self.triggers = [
            (name, sql)
            for name, sql in connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'trigger' AND sql LIKE '%customer_fts%'"
            )
        ]
        for name, _sql in self.indexes:
            connection.exec_driver_sql(f'DROP INDEX "{name}"')
        for name, _sql in self.triggers:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        connection.commit()
        self.foreign_keys = int(_pragma(connection, "PRAGMA foreign_keys"))
        _pragma(connection, "PRAGMA foreign_keys=OFF")
        # FTS5 merges the segments of its index four at a time; eight at a time, the
        # load rewrites the index fewer times (a fifth less work at a million
        # customers), and a search reads a few more segments (well under 1 ms more).
        saved = connection.exec_driver_sql(
            "SELECT v FROM customer_fts_config WHERE k = 'automerge'"
        ).scalar()
        self.automerge = 4 if saved is None else int(saved)  # 4: FTS5's default
        self._set_automerge(8)
        return self

    def __exit__(self, *_exc: object) -> None:
        connection = self.connection
        connection.rollback()  # the rows of a batch that failed half-way
        _pragma(connection, f"PRAGMA foreign_keys={self.foreign_keys}")
        self._set_automerge(self.automerge)
        for _name, sql in self.indexes:
            connection.exec_driver_sql(sql)
        for _name, sql in self.triggers:
            connection.exec_driver_sql(sql)
        connection.commit()

    def write_search_documents(self, customer_ids: range) -> None:
        """The search documents of a batch's customers, as the triggers would write them."""
        self.connection.exec_driver_sql(
            f"INSERT INTO customer_fts(rowid, doc) SELECT id, {_sqlite_doc('customer.id')}"
            " FROM customer WHERE id >= ? AND id < ?",
            (customer_ids.start, customer_ids.stop),
        )

    def _set_automerge(self, segments: int) -> None:
        self.connection.exec_driver_sql(
            "INSERT INTO customer_fts(customer_fts, rank) VALUES ('automerge', ?)", (segments,)
        )
        self.connection.commit()

    def _first_column(self, index: str) -> str:
        columns = self.connection.exec_driver_sql(f"PRAGMA index_info('{index}')").all()
        return str(columns[0][2]) if columns else ""


def _sqlite_doc(customer_id: str) -> str:
    # The migration's module name starts with a digit: it can only be imported this way.
    migration = importlib.import_module("crm_tui.migrations.versions.0002_customer_search")
    return str(migration.sqlite_customer_doc(customer_id))


def _finish(connection: Connection) -> None:
    """Move PostgreSQL's id sequences past the explicit ids; refresh planner statistics."""
    if connection.dialect.name == "postgresql":
        for table in _EXPLICIT_ID_TABLES:
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        connection.commit()
        connection.exec_driver_sql("ANALYZE")
    else:
        # A full ANALYZE (3 s at a million customers): a sampled one (analysis_limit)
        # misjudges the columns with few values, and the planner then answers a
        # two-letter search with a scan of every customer.
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
        # Leave a small write-ahead log behind, not the seed's.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.commit()


# =============================================================== the pipeline


def _batches(
    generator: _Generator, first_id: int, total: int, staging_dir: str | None
) -> Iterator[_Batch | _StagedBatch]:
    """The batches, in order: built here, or (given a staging folder) by a worker.

    The worker builds each batch into a SQLite file of its own while this process
    copies the previous one into the database: building and formatting rows is
    Python, and each gets a core of its own (a thread would fight the writer for
    the GIL on every row). The copy itself is one INSERT … SELECT per table.
    """
    end = first_id + total
    sizes = [(start, min(BATCH_SIZE, end - start)) for start in range(first_id, end, BATCH_SIZE)]
    if staging_dir is None:
        for start, count in sizes:
            yield generator.build(start, count)
        return
    with _Worker(generator, staging_dir) as worker:
        for start, count in sizes[:_BATCHES_AHEAD]:
            worker.ask(start, count)
        for number in range(len(sizes)):
            staged = worker.receive()
            if number + _BATCHES_AHEAD < len(sizes):
                worker.ask(*sizes[number + _BATCHES_AHEAD])
            yield staged


def _use_worker(dialect: str, customers: int) -> bool:
    """A worker builds the batches of SQLite seeds of more than one batch (PostgreSQL
    cannot ATTACH a staging file; its seeds are small: demo databases are SQLite)."""
    return dialect == "sqlite" and customers > BATCH_SIZE


# How many batches the worker may build ahead of the copying: enough to keep it
# busy, few enough that the staging files stay small.
_BATCHES_AHEAD = 2


class _StagedBatch(NamedTuple):
    """A batch the worker wrote into a SQLite file of its own (`path`)."""

    path: str
    customer_ids: range
    counts: dict[str, int]  # rows per table

    @contextmanager
    def attached(self, connection: Connection) -> Iterator[None]:
        """The staging file attached as `staged` (ATTACH refuses to run in a transaction)."""
        connection.exec_driver_sql("ATTACH DATABASE ? AS staged", (self.path,))
        connection.commit()
        try:
            yield
        finally:
            connection.rollback()
            connection.exec_driver_sql("DETACH DATABASE staged")
            connection.commit()
            os.remove(self.path)

    def write(self, connection: Connection) -> None:
        for table in _BATCH_TABLES:
            if self.counts[table.name]:
                connection.exec_driver_sql(table.copy_sql("staged"))


def _stage(batch: _Batch, path: str) -> _StagedBatch:
    """Write a batch into a new SQLite file: untyped tables, so every value stays as
    it comes (the copy turns each into its stored form, on the other core)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")  # a scratch file: nothing to recover
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN")
        for table, rows in batch.tables():
            connection.execute(f"CREATE TABLE {table.name} ({', '.join(table.column_names)})")
            connection.executemany(table.staging_insert_sql(), rows)
        connection.execute("COMMIT")
    finally:
        connection.close()
    return _StagedBatch(path, batch.customer_ids, batch.counts)


class _Worker:
    """A Python process that builds batches into staging files, in order.

    A plain subprocess rather than multiprocessing: nothing of the caller's main
    module runs again in it, and nothing is forked from a process with threads.
    Messages are pickles on its stdin and stdout. It builds the batches one after
    another, so its id counters stay in order.
    """

    def __init__(self, generator: _Generator, staging_dir: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._send((generator, staging_dir))

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def ask(self, first_customer_id: int, count: int) -> None:
        self._send((first_customer_id, count))

    def receive(self) -> _StagedBatch:
        assert self.process.stdout is not None
        try:
            staged: _StagedBatch = pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError("the demo data worker stopped (its error is above)") from None
        return staged

    def _send(self, message: object) -> None:
        assert self.process.stdin is not None
        pickle.dump(message, self.process.stdin)
        self.process.stdin.flush()


def _worker_main() -> None:
    """The worker process: (generator, staging folder), then (first id, count) requests."""
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    generator, staging_dir = pickle.load(requests)
    while True:
        try:
            first_customer_id, count = pickle.load(requests)
        except EOFError:
            return
        batch = generator.build(first_customer_id, count)
        path = os.path.join(staging_dir, f"batch-{first_customer_id}.sqlite3")
        pickle.dump(_stage(batch, path), replies)
        replies.flush()


# ================================================================== the entry


def _as_of_utc(as_of: datetime | date | None) -> datetime:
    if as_of is None:
        return DEFAULT_AS_OF
    if isinstance(as_of, datetime):
        return as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
    return datetime.combine(as_of, time(), UTC)


@dataclass
class _Counts:
    customers: int = 0
    subscriptions: int = 0
    payments: int = 0
    refunds: int = 0
    activity_events: int = 0
    notes: int = 0

    def add(self, rows: dict[str, int]) -> None:
        self.customers += rows["customer"]
        self.subscriptions += rows["subscription"]
        self.payments += rows["payment"]
        self.refunds += rows["refund"]
        self.activity_events += rows["activity_event"]
        self.notes += rows["note"]


def seed_demo(
    engine: Engine,
    customers: int,
    *,
    seed: int = 1,
    as_of: datetime | date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Add `customers` demo customers (and all that belongs to them) to the database.

    The same seed, count and `as_of` on an empty database always give the same rows;
    on a database with customers, the new ones follow the highest ids.
    `progress(done, total)` is called after each batch of `BATCH_SIZE` customers.
    """
    started = clock.perf_counter()
    as_of_utc = _as_of_utc(as_of)
    counts = _Counts()
    with engine.connect() as connection, ExitStack() as stack:
        refs = _ensure_references(connection, int(as_of_utc.timestamp()))
        ids = _next_ids(connection)
        connection.commit()
        generator = _Generator(seed, as_of_utc, refs, ids, showcase=ids.customer == 1)
        sqlite = connection.dialect.name == "sqlite"
        bulk = None
        staging_dir = None
        if sqlite:
            stack.enter_context(_sqlite_fast_writes(connection))
            if customers >= BULK_LOAD_THRESHOLD:
                bulk = stack.enter_context(_SqliteBulkLoad(connection))
        if _use_worker(connection.dialect.name, customers):
            staging_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-seed-"))
        for batch in _batches(generator, ids.customer, customers, staging_dir):
            with batch.attached(connection), connection.begin():
                batch.write(connection)
                if bulk is not None:
                    bulk.write_search_documents(batch.customer_ids)
            counts.add(batch.counts)
            if progress is not None:
                progress(counts.customers, customers)
        stack.close()  # indexes and triggers back before the statistics
        _finish(connection)
    return SeedReport(**asdict(counts), seconds=clock.perf_counter() - started)
