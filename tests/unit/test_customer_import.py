"""Importing customers from CSV, on a real SQLite file and a real PostgreSQL server.

The rule under test: a file with bad rows is refused with line-numbered reasons
and the database is left exactly as it was (unless skip_invalid is given).
"""

from __future__ import annotations

import codecs
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui import cli
from crm_tui.models.enums import ActorType
from crm_tui.models.tables import ActivityEvent, Address, Agent, Customer
from crm_tui.services import customer_import as ci
from crm_tui.services.actor import Actor
from crm_tui.services.customer_import import ImportReport, import_customers
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from tests.factories import T0, add_customer

DATA = Path(__file__).resolve().parent.parent / "data"
GOOD = DATA / "customers_good.csv"
BAD = DATA / "customers_bad.csv"
SYSTEM = Actor.system()
HEADER = (
    "Name,Email,Company,Company ID,Company Email,Tax ID,Phone,Address,City,State,"
    "Zip/Postal Code,Country,VAT Number"
)
ALL_COLUMNS = (
    "line 1: the columns are: Name, Email, Company, Company ID, Company Email, Tax ID, Phone, "
    "Address, City, State, Zip/Postal Code, Country, VAT Number"
)
SAFETY_ADVICE = "remove it (text fields must not hold terminal escapes or hidden characters)"
PHONE_LETTERS = "contains letters; a phone number has only digits, spaces and + - . ( )"

CUSTOMER = Customer.__table__  # type: ignore[attr-defined]
ADDRESS = Address.__table__  # type: ignore[attr-defined]
EVENT = ActivityEvent.__table__  # type: ignore[attr-defined]
TABLES = {"customer": CUSTOMER, "address": ADDRESS, "activity_event": EVENT}


# ------------------------------------------------------------------------ helpers


def write(tmp_path: Path, content: str | bytes, name: str = "customers.csv") -> Path:
    """A file holding exactly `content` (str as UTF-8, line endings untouched)."""
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def rows_csv(*rows: str, header: str = HEADER) -> str:
    return "".join(f"{line}\n" for line in (header, *rows))


def row(name: str, email: str, **cells: str) -> str:
    """One CSV line with the full header: Name and Email, the other columns by keyword."""
    keys = [
        "company",
        "company_id",
        "company_email",
        "tax_id",
        "phone",
        "address",
        "city",
        "state",
        "postal",
        "country",
        "vat",
    ]
    unknown = set(cells) - set(keys)
    assert not unknown, unknown
    return ",".join([name, email, *(cells.get(key, "") for key in keys)])


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in TABLES.items()
        }


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables an import writes, and of the search index they feed."""
    with engine.connect() as connection:
        tables = {
            name: [tuple(r) for r in connection.execute(sa.select(table).order_by(table.c.id))]
            for name, table in TABLES.items()
        }
        index = (
            "SELECT rowid, doc FROM customer_fts ORDER BY rowid"
            if engine.dialect.name == "sqlite"
            else "SELECT customer_id, doc FROM customer_search ORDER BY customer_id"
        )
        tables["search index"] = [tuple(r) for r in connection.exec_driver_sql(index)]
    return tables


def customers(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(CUSTOMER).order_by(CUSTOMER.c.id)
        return [dict(r._mapping) for r in connection.execute(query)]


def addresses(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(ADDRESS).order_by(ADDRESS.c.id)
        return [dict(r._mapping) for r in connection.execute(query)]


def events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(EVENT).order_by(EVENT.c.id)
        return [dict(r._mapping) for r in connection.execute(query)]


def emails(engine: Engine) -> list[str]:
    return [c["email"] for c in customers(engine)]


def utc(value: datetime) -> datetime:
    """A stored datetime as aware UTC (SQLite hands it back without its offset)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)
    return value


def found(engine: Engine, search: str) -> list[str]:
    rows = DirectoryService(engine).window(DirectoryQuery(search=search), SYSTEM)
    return [r.name for r in rows]


@pytest.fixture
def existing(engine: Engine) -> int:
    """A customer already in the database, with an address and an activity event."""
    with engine.begin() as connection:
        customer_id = add_customer(
            connection, name="Returning Customer", email="existing@example.com"
        )
        connection.execute(
            sa.insert(ADDRESS).values(
                customer_id=customer_id,
                kind="billing",
                is_default=True,
                line1="1 Old Road",
                line2="",
                city="Leeds",
                state="",
                postal_code="LS1 1AA",
                country="GB",
                valid_from=T0,
            )
        )
        connection.execute(
            sa.insert(EVENT).values(
                customer_id=customer_id,
                occurred_at=T0,
                kind="profile",
                actor_type="system",
                summary="Signed up",
                details={"source": "web"},
            )
        )
    return customer_id


def bad_file_errors(existing_id: int) -> list[str]:
    return [
        "line 3: Email: 'not-an-email' is not an email address (it needs exactly one @)",
        "line 4: Name: is required",
        "line 5: VAT Number: 'XX' is not a VAT country prefix (EU member states, XI or GB)",
        f"line 6: Phone: {PHONE_LETTERS}",
        "line 7: has 2 values but the header has 13 columns (a missing or extra comma? put "
        "values that contain commas in double quotes)",
        "line 8: Email: same email as line 2",
        f"line 9: Email: a customer with this email exists: id {existing_id}",
        "line 12: Email: the domain 'example' needs a dot, as in example.com",
        "line 13: Country: 'Narnia' is not a country we know; use its two-letter ISO code "
        "(DE, US, GB, ...)",
        f"line 13: Phone: {PHONE_LETTERS}",
    ]


# ------------------------------------------------------------------ a good file


def test_good_file_imports_every_row(engine: Engine) -> None:
    before = datetime.now(UTC)
    report = import_customers(engine, GOOD, SYSTEM)
    after = datetime.now(UTC)

    assert report == ImportReport(imported=5, errors=[], skipped=0, invalid_rows=0, valid_rows=5)
    assert report.ok
    assert report.summary() == "imported 5 customers"
    assert counts(engine) == {"customer": 5, "address": 3, "activity_event": 5}

    stored = customers(engine)
    fields = [
        "kind",
        "name",
        "email",
        "phone",
        "company_name",
        "company_reg_no",
        "company_email",
        "vat_id",
        "country",
        "currency",
    ]
    assert [tuple(c[f] for f in fields) for c in stored] == [
        (
            "individual",
            "Ada Lovelace",
            "ada@example.com",
            "+442079460018",
            "",
            "",
            "",
            "",
            "GB",
            "GBP",
        ),
        (
            "business",
            "Zoë Müller",
            "Zoe@beispiel.de",
            "+49301234567",
            "Müller Maschinenbau GmbH",
            "HRB 12345",
            "info@mueller.de",
            "DE123456789",
            "DE",
            "EUR",
        ),
        (
            "individual",
            "Grace Hopper",
            "grace@navy.mil",
            "+12025550147",
            "",
            "",
            "",
            "",
            "US",
            "USD",
        ),
        (
            "business",
            "[@click=app.quit]x[/]",
            "markup@example.com",
            "",
            'Acme [/ltd], "Rich" & Co',
            "",
            "",
            "",
            "FR",
            "EUR",
        ),
        ("individual", "大塚 愛", "ai@example.jp", "", "", "", "", "", "JP", "USD"),
    ]
    for customer in stored:
        assert customer["storefront"] == "import"
        assert customer["lifecycle_status"] == "inactive"
        assert customer["account_state"] == "active"
        assert customer["version"] == 1
        assert customer["timezone"] == "UTC"
        assert customer["payment_terms"] is None
        assert customer["current_plan"] == ""
        assert customer["has_active_subscription"] is False
        assert (customer["mrr_minor"], customer["ltv_minor"]) == (0, 0)
        assert customer["updated_by_agent_id"] is None
        assert customer["erased_at"] is None
        registered = utc(customer["registered_at"])
        assert before <= registered <= after
        assert utc(customer["updated_at"]) == registered

    ids = {c["email"]: c["id"] for c in stored}
    stored_addresses = addresses(engine)
    address_fields = [
        "customer_id",
        "kind",
        "is_default",
        "line1",
        "line2",
        "city",
        "state",
        "postal_code",
        "country",
        "valid_to",
    ]
    assert [tuple(a[f] for f in address_fields) for a in stored_addresses] == [
        (
            ids["ada@example.com"],
            "billing",
            True,
            "12 St James's Square",
            "",
            "London",
            "",
            "SW1Y 4JH",
            "GB",
            None,
        ),
        (
            ids["Zoe@beispiel.de"],
            "billing",
            True,
            "Hauptstraße 5",
            "Hinterhaus",
            "Berlin",
            "Berlin",
            "10115",
            "DE",
            None,
        ),
        (
            ids["ai@example.jp"],
            "billing",
            True,
            "1-2-3 Shibuya, Tokyo",
            "",
            "",
            "",
            "150-0002",
            "JP",
            None,
        ),
    ]
    for address in stored_addresses:
        assert before <= utc(address["valid_from"]) <= after

    stored_events = events(engine)
    assert [(e["customer_id"], e["details"]["line"]) for e in stored_events] == [
        (c["id"], line) for c, line in zip(stored, [2, 3, 5, 6, 7], strict=True)
    ]
    for event in stored_events:
        assert event["kind"] == "profile"
        assert event["actor_type"] == "system"
        assert event["agent_id"] is None
        assert event["summary"] == "Imported from customers_good.csv"
        assert event["details"]["source"] == "csv import"
        assert event["details"]["file"] == "customers_good.csv"
        assert before <= utc(event["occurred_at"]) <= after


def test_imported_customers_are_found_in_the_directory(engine: Engine) -> None:
    import_customers(engine, GOOD, SYSTEM)
    assert found(engine, "Lovelace") == ["Ada Lovelace"]
    assert found(engine, "ada@example.com") == ["Ada Lovelace"]
    assert found(engine, "Maschinenbau") == ["Zoë Müller"]
    assert found(engine, "grace@navy") == ["Grace Hopper"]
    assert found(engine, "app.quit") == ["[@click=app.quit]x[/]"]
    assert found(engine, "[/ltd]") == ["[@click=app.quit]x[/]"]
    assert found(engine, "大塚") == ["大塚 愛"]
    rows = DirectoryService(engine).window(DirectoryQuery(search="markup@example"), SYSTEM)
    assert [(r.name, r.company_name, r.kind, r.currency, r.storefront) for r in rows] == [
        ("[@click=app.quit]x[/]", 'Acme [/ltd], "Rich" & Co', "business", "EUR", "import")
    ]


def test_an_agents_import_is_recorded_as_theirs(engine: Engine) -> None:
    with engine.begin() as connection:
        agent_id: int = connection.execute(
            sa.insert(Agent.__table__)  # type: ignore[attr-defined]
            .values(
                username="alice",
                display_name="Alice",
                role="agent",
                active=True,
                readonly=False,
                timezone="UTC",
                created_at=T0,
            )
            .returning(sa.column("id"))
        ).scalar_one()
    report = import_customers(engine, GOOD, Actor.agent("alice", agent_id=agent_id))
    assert report.imported == 5
    assert {c["updated_by_agent_id"] for c in customers(engine)} == {agent_id}
    assert {(e["actor_type"], e["agent_id"]) for e in events(engine)} == {
        (ActorType.AGENT.value, agent_id)
    }


def test_header_matching_ignores_case_spaces_and_order(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  eMail ,NAME,zip/postal  code, country ,ADDRESS,vat number\n"
        "ada@example.com,Ada Lovelace,sw1a 1aa,uk,10 Downing Street,GB123456789\n",
    )
    report = import_customers(engine, path, SYSTEM)
    assert report.errors == []
    assert report.imported == 1
    [customer] = customers(engine)
    assert (customer["name"], customer["email"], customer["country"], customer["vat_id"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "GB",
        "GB123456789",
    )
    assert customer["kind"] == "business"
    [address] = addresses(engine)
    assert (address["line1"], address["postal_code"], address["country"]) == (
        "10 Downing Street",
        "SW1A 1AA",
        "GB",
    )


def test_only_the_required_columns(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "Name,Email\nAda Lovelace,ada@example.com\n")
    assert import_customers(engine, path, SYSTEM).imported == 1
    [customer] = customers(engine)
    assert (customer["kind"], customer["phone"], customer["country"], customer["currency"]) == (
        "individual",
        "",
        "",
        "USD",
    )
    assert counts(engine) == {"customer": 1, "address": 0, "activity_event": 1}


def test_utf8_bom_is_accepted(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, codecs.BOM_UTF8 + "Name,Email\nZoë,zoe@example.de\n".encode())
    report = import_customers(engine, path, SYSTEM)
    assert (report.errors, report.imported) == ([], 1)
    assert [(c["name"], c["email"]) for c in customers(engine)] == [("Zoë", "zoe@example.de")]


def test_crlf_line_endings_and_blank_lines(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\r\n"  # line 1: blank lines before the header are tolerated
        "Name,Email,Address\r\n"  # line 2
        'Ada,ada@example.com,"1 Way\r\nSuite 2"\r\n'  # lines 3-4
        "\r\n"  # line 5
        ",,\r\n"  # line 6: only empty cells, skipped like a blank line
        "Bob,bob@example,\r\n",  # line 7
    )
    report = import_customers(engine, path, SYSTEM)
    assert report.errors == ["line 7: Email: the domain 'example' needs a dot, as in example.com"]
    assert report.summary() == (
        "nothing imported: 1 invalid row (fix them, or use --skip-invalid to import "
        "the 1 valid row)"
    )
    report = import_customers(engine, path, SYSTEM, skip_invalid=True)
    assert (report.imported, report.skipped) == (1, 1)
    [address] = addresses(engine)
    assert (address["line1"], address["line2"]) == ("1 Way", "Suite 2")
    assert [e["details"]["line"] for e in events(engine)] == [3]


def test_multiline_address_keeps_later_line_numbers_right(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        rows_csv(
            row("Ada", "ada@example.com", address='"Flat 3\n\n  12 High Street  \nBack door"'),
            row("Bob", "bob@example.com", address='"1 Way\nSuite 2"', city="Leeds"),
            row("Carol", "carol@example.com", phone="phone"),
        ),
    )
    report = import_customers(engine, path, SYSTEM)
    assert report.errors == [f"line 8: Phone: {PHONE_LETTERS}"]
    report = import_customers(engine, path, SYSTEM, skip_invalid=True)
    assert report.imported == 2
    assert [(a["line1"], a["line2"], a["city"]) for a in addresses(engine)] == [
        ("Flat 3", "12 High Street, Back door", ""),
        ("1 Way", "Suite 2", "Leeds"),
    ]
    assert [e["details"]["line"] for e in events(engine)] == [2, 6]


def test_kind_is_business_when_a_company_is_given(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        rows_csv(
            row("Plain", "plain@example.com"),
            row("Company", "company@example.com", company="Acme Ltd"),
            row("Company ID", "companyid@example.com", company_id="SC123456"),
            row("VAT", "vat@example.com", vat="FR12345678901"),
            row("Tax ID", "taxid@example.com", tax_id="12-3456789"),
            row("Both", "both@example.com", tax_id="de 123.456.789", vat="DE-123456789"),
            row("Company Email only", "ce@example.com", company_email="billing@acme.com"),
        ),
    )
    report = import_customers(engine, path, SYSTEM)
    assert report.errors == []
    assert [(c["name"], c["kind"], c["vat_id"]) for c in customers(engine)] == [
        ("Plain", "individual", ""),
        ("Company", "business", ""),
        ("Company ID", "business", ""),
        ("VAT", "business", "FR12345678901"),
        ("Tax ID", "business", "12-3456789"),
        ("Both", "business", "DE123456789"),
        ("Company Email only", "individual", ""),
    ]


@pytest.mark.parametrize(
    ("country", "code", "currency"),
    [
        ("Germany", "DE", "EUR"),
        ("at", "AT", "EUR"),
        ("United Kingdom", "GB", "GBP"),
        ("USA", "US", "USD"),
        ("Japan", "JP", "USD"),
        ("", "", "USD"),
    ],
)
def test_currency_follows_the_country(
    engine: Engine, tmp_path: Path, country: str, code: str, currency: str
) -> None:
    path = write(tmp_path, rows_csv(row("Ada", "ada@example.com", country=country)))
    assert import_customers(engine, path, SYSTEM).errors == []
    [customer] = customers(engine)
    assert (customer["country"], customer["currency"]) == (code, currency)


def test_hostile_but_valid_values_are_stored_literally(engine: Engine, tmp_path: Path) -> None:
    values = [
        ("[@click=app.quit]x[/]", "Acme [/ltd]"),
        ("[bold red]Bob[/bold red]", "[link=https://evil.example]Click[/link]"),
        ("Robert'); DROP TABLE customer;--", "100% \\ _ Co"),
        ('=HYPERLINK("http://x")', "@SUM(1+1)"),
    ]
    path = write(
        tmp_path,
        rows_csv(
            *(
                row(f'"{name.replace(chr(34), chr(34) * 2)}"', f"h{i}@example.com", company=company)
                for i, (name, company) in enumerate(values)
            )
        ),
    )
    report = import_customers(engine, path, SYSTEM)
    assert report.errors == []
    assert [(c["name"], c["company_name"]) for c in customers(engine)] == values
    assert found(engine, "click=app") == ["[@click=app.quit]x[/]"]
    assert found(engine, "DROP TABLE") == ["Robert'); DROP TABLE customer;--"]
    assert found(engine, "100%") == ["Robert'); DROP TABLE customer;--"]


def test_the_file_name_is_stored_safely(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "Name,Email\nAda,ada@example.com\n", name="new\x1b[2Jcustomers.csv")
    assert import_customers(engine, path, SYSTEM).imported == 1
    [event] = events(engine)
    assert event["summary"] == "Imported from new‹U+001B›[2Jcustomers.csv"
    assert event["details"]["file"] == "new‹U+001B›[2Jcustomers.csv"


# ------------------------------------------------------------------- bad rows


def test_bad_rows_refuse_the_whole_file_and_change_nothing(engine: Engine, existing: int) -> None:
    before = snapshot(engine)
    assert counts(engine) == {"customer": 1, "address": 1, "activity_event": 1}

    report = import_customers(engine, BAD, SYSTEM)

    assert report.errors == bad_file_errors(existing)
    assert (report.imported, report.skipped, report.invalid_rows, report.valid_rows) == (
        0,
        0,
        9,
        2,
    )
    assert report.refused == ""
    assert not report.ok
    assert report.summary() == (
        "nothing imported: 9 invalid rows (fix them, or use --skip-invalid to import "
        "the 2 valid rows)"
    )
    assert counts(engine) == {"customer": 1, "address": 1, "activity_event": 1}
    assert snapshot(engine) == before


def test_skip_invalid_imports_only_the_valid_rows(engine: Engine, existing: int) -> None:
    before = snapshot(engine)

    report = import_customers(engine, BAD, SYSTEM, skip_invalid=True)

    assert report.errors == bad_file_errors(existing)
    assert (report.imported, report.skipped, report.invalid_rows, report.valid_rows) == (
        2,
        9,
        9,
        2,
    )
    assert not report.ok
    assert report.summary() == "imported 2 customers, skipped 9 invalid rows"
    assert counts(engine) == {"customer": 3, "address": 2, "activity_event": 3}
    after = snapshot(engine)
    for table in ("customer", "address", "activity_event"):
        assert after[table][:1] == before[table]  # the existing rows are untouched
    assert emails(engine) == ["existing@example.com", "ada@example.com", "grace@navy.mil"]
    new_address = addresses(engine)[1]
    assert (new_address["line1"], new_address["line2"], new_address["city"]) == (
        "1 Navy Way",
        "Suite 2",
        "Arlington",
    )
    assert (new_address["state"], new_address["postal_code"], new_address["country"]) == (
        "VA",
        "22202",
        "US",
    )
    assert [e["details"].get("line") for e in events(engine)] == [None, 2, 10]


def test_skip_invalid_with_nothing_valid(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, rows_csv(row("", "a@example.com"), row("B", "b@")))
    errors = ["line 2: Name: is required", "line 3: Email: has nothing after the @"]
    report = import_customers(engine, path, SYSTEM)
    assert (report.errors, report.imported) == (errors, 0)
    assert report.summary() == "nothing imported: 2 invalid rows (fix them and import again)"
    report = import_customers(engine, path, SYSTEM, skip_invalid=True)
    assert (report.errors, report.imported, report.skipped) == (errors, 0, 2)
    assert report.summary() == "nothing imported: all 2 rows are invalid"
    assert counts(engine) == {"customer": 0, "address": 0, "activity_event": 0}


@pytest.mark.parametrize(
    ("cells", "error"),
    [
        (
            row("Bel\x07l", "x@example.com"),
            "Name: contains the invisible or control character U+0007 (BEL) at position 4; "
            + SAFETY_ADVICE,
        ),
        (
            row("\x1b]8;;http://evil\x1b\\Ada", "x@example.com"),
            "Name: contains the invisible or control character U+001B (ESC) at position 1; "
            + SAFETY_ADVICE,
        ),
        (
            row("Evil\u202etxt.exe", "x@example.com"),
            "Name: contains the invisible or control character U+202E (RIGHT-TO-LEFT "
            "OVERRIDE) at position 5; " + SAFETY_ADVICE,
        ),
        (
            row("Ada", "x@example.com", company="Acme\u2067Ltd"),
            "Company: contains the invisible or control character U+2067 (RIGHT-TO-LEFT "
            "ISOLATE) at position 5; " + SAFETY_ADVICE,
        ),
        (
            row("Ada", "x@example.com", city="Lon\u200bdon", address="1 Way"),
            "City: contains the invisible or control character U+200B (ZERO WIDTH SPACE) at "
            "position 4; " + SAFETY_ADVICE,
        ),
        (
            row('"Ada\nLovelace"', "x@example.com"),
            "Name: must be on one line (it contains a line break)",
        ),
        (
            row("Ada", "x@example.com", address='"1 Way\tRear"'),
            "Address: contains the invisible or control character U+0009 (TAB) at position 6; "
            + SAFETY_ADVICE,
        ),
        (
            row("Ada", "x@example.com", vat="GR123456789"),
            "VAT Number: Greek VAT numbers start with EL, not GR",
        ),
        (
            row("Ada", "x@example.com", tax_id="DE111111111", vat="DE222222222"),
            "Tax ID: differs from the VAT Number (DE222222222); both are stored as the "
            "customer's VAT id, so give one of them, or the same number in both",
        ),
        (
            row("Ada", "x@example.com", city="Paris", postal="75001"),
            "Address: is empty but City, Zip/Postal Code given; add the street, or leave them "
            "empty",
        ),
        (
            row("Ada", "x@example.com", company_email="billing@"),
            "Company Email: has nothing after the @",
        ),
        (
            row("Ada", "x@example.com", postal="75/001", address="1 Rue"),
            "Zip/Postal Code: may hold only letters, digits, spaces and dashes",
        ),
        (
            row("x" * 201, "x@example.com"),
            "Name: is 201 characters long; at most 200 are allowed",
        ),
    ],
)
def test_each_kind_of_bad_value_refuses_the_file(
    engine: Engine, existing: int, tmp_path: Path, cells: str, error: str
) -> None:
    before = snapshot(engine)
    path = write(tmp_path, rows_csv(row("Fine", "fine@example.com"), cells))
    report = import_customers(engine, path, SYSTEM)
    assert report.errors == [f"line 3: {error}"]
    assert report.imported == 0
    assert snapshot(engine) == before


def test_every_problem_of_a_row_is_reported(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        rows_csv(
            row("", "nope", phone="abc", country="Atlantis", vat="ZZ12", postal="#1", city="X")
        ),
    )
    assert import_customers(engine, path, SYSTEM).errors == [
        "line 2: Name: is required",
        "line 2: Email: 'nope' is not an email address (it needs exactly one @)",
        "line 2: Country: 'Atlantis' is not a country we know; use its two-letter ISO code "
        "(DE, US, GB, ...)",
        f"line 2: Phone: {PHONE_LETTERS}",
        "line 2: VAT Number: 'ZZ' is not a VAT country prefix (EU member states, XI or GB)",
        "line 2: Zip/Postal Code: may hold only letters, digits, spaces and dashes",
        "line 2: Address: is empty but City, Zip/Postal Code given; add the street, or leave "
        "them empty",
    ]


def test_wrong_number_of_cells(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "Name,Email,Phone\nAda,ada@example.com\nBob,bob@example.com,1,2\n")
    assert import_customers(engine, path, SYSTEM).errors == [
        "line 2: has 2 values but the header has 3 columns (a missing or extra comma? put "
        "values that contain commas in double quotes)",
        "line 3: has 4 values but the header has 3 columns (a missing or extra comma? put "
        "values that contain commas in double quotes)",
    ]
    assert counts(engine) == {"customer": 0, "address": 0, "activity_event": 0}


def test_duplicate_emails_within_the_file(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        rows_csv(
            row("Ada", "ada@example.com"),
            row("Bad Phone", "dup@example.com", phone="abc"),
            row("Ada Again", " ADA@Example.com "),
            row("Dup", "DUP@example.com"),
            row("Ada Thrice", "ada@EXAMPLE.COM", phone="xyz"),
            row("Straße", "straße@example.de"),
            row("Strasse", "strasse@example.de"),  # another mailbox, not a duplicate
        ),
    )
    report = import_customers(engine, path, SYSTEM, skip_invalid=True)
    assert report.errors == [
        f"line 3: Phone: {PHONE_LETTERS}",
        "line 4: Email: same email as line 2",
        "line 5: Email: same email as line 3",
        f"line 6: Phone: {PHONE_LETTERS}",
        "line 6: Email: same email as line 2",
    ]
    assert emails(engine) == ["ada@example.com", "straße@example.de", "strasse@example.de"]


def test_emails_already_in_the_database_in_any_case(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as connection:
        ids = [
            add_customer(connection, email=email)
            for email in (
                "Bob@Example.com",
                "straße@example.de",
                "ÅSA@example.se",
                "zoë@beispiel.de",
            )
        ]
        add_customer(connection, email="bob@example.com")  # a newer customer, same email
    before = snapshot(engine)
    path = write(
        tmp_path,
        rows_csv(
            row("A", "bob@example.com"),
            row("B", "straße@example.de"),
            row("C", "åsa@example.se"),
            row("D", "ZOË@beispiel.de"),
            row("E", "strasse@example.de"),
        ),
    )
    report = import_customers(engine, path, SYSTEM)
    assert report.errors == [
        f"line 2: Email: a customer with this email exists: id {ids[0]}",
        f"line 3: Email: a customer with this email exists: id {ids[1]}",
        f"line 4: Email: a customer with this email exists: id {ids[2]}",
        f"line 5: Email: a customer with this email exists: id {ids[3]}",
    ]
    assert snapshot(engine) == before


def test_many_rows_are_checked_against_the_database(engine: Engine, tmp_path: Path) -> None:
    total = 1_200  # more than one EMAIL_LOOKUP_BATCH
    with engine.begin() as connection:
        taken = add_customer(connection, email="Customer1100@Example.com")
    path = write(
        tmp_path,
        rows_csv(*(row(f"Customer {i}", f"customer{i}@example.com") for i in range(total))),
    )
    report = import_customers(engine, path, SYSTEM)
    assert report.errors == [f"line 1102: Email: a customer with this email exists: id {taken}"]
    assert counts(engine) == {"customer": 1, "address": 0, "activity_event": 0}

    report = import_customers(engine, path, SYSTEM, skip_invalid=True)
    assert (report.imported, report.skipped) == (total - 1, 1)
    assert counts(engine) == {"customer": total, "address": 0, "activity_event": total - 1}
    assert found(engine, "customer1199@example.com") == ["Customer 1199"]


def test_importing_the_same_file_twice_is_refused(engine: Engine) -> None:
    assert import_customers(engine, GOOD, SYSTEM).imported == 5
    before = snapshot(engine)
    report = import_customers(engine, GOOD, SYSTEM)
    ids = [c["id"] for c in customers(engine)]
    assert report.errors == [
        f"line {line}: Email: a customer with this email exists: id {customer_id}"
        for line, customer_id in zip([2, 3, 5, 6, 7], ids, strict=True)
    ]
    assert snapshot(engine) == before


def test_a_database_failure_midway_writes_nothing(
    engine: Engine, existing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(engine)

    def fail(*args: object) -> None:
        raise sa.exc.OperationalError("INSERT INTO activity_event", {}, Exception("disk full"))

    monkeypatch.setattr(ci, "_insert_events", fail)
    report = import_customers(engine, GOOD, SYSTEM)
    assert report.errors == ["the database refused the import: disk full"]
    assert report.refused == "the database refused the import (nothing was written)"
    assert report.summary() == (
        "nothing imported: the database refused the import (nothing was written)"
    )
    assert report.imported == 0
    assert not report.ok
    assert snapshot(engine) == before


# ------------------------------------------------------------- refused files


UNKNOWN_HEADER = "Name,Email,Shoe Size,,Email Address\nAda,ada@example.com,42,,\n"


@pytest.mark.parametrize(
    ("content", "errors"),
    [
        (
            b"",
            [
                "the file is empty; the first line must name the columns: Name, Email, Company, "
                "Company ID, Company Email, Tax ID, Phone, Address, City, State, Zip/Postal Code, "
                "Country, VAT Number"
            ],
        ),
        (
            b" \r\n\n\t\n",
            [
                "the file is empty; the first line must name the columns: Name, Email, Company, "
                "Company ID, Company Email, Tax ID, Phone, Address, City, State, Zip/Postal Code, "
                "Country, VAT Number"
            ],
        ),
        (
            codecs.BOM_UTF8,
            [
                "the file is empty; the first line must name the columns: Name, Email, Company, "
                "Company ID, Company Email, Tax ID, Phone, Address, City, State, Zip/Postal Code, "
                "Country, VAT Number"
            ],
        ),
        (HEADER.encode() + b"\n", ["the file has a header line but no customers below it"]),
        (b"Name,Email\n\n,\n  ,  \n", ["the file has a header line but no customers below it"]),
        (
            codecs.BOM_UTF16_LE + "Name,Email\nAda,ada@example.com\n".encode("utf-16-le"),
            [
                'the file is UTF-16 (Excel\'s "Unicode Text"); re-save it as CSV UTF-8 and '
                "import again"
            ],
        ),
        (
            codecs.BOM_UTF16_BE + "Name,Email\nAda,ada@example.com\n".encode("utf-16-be"),
            [
                'the file is UTF-16 (Excel\'s "Unicode Text"); re-save it as CSV UTF-8 and '
                "import again"
            ],
        ),
        (
            "Name,Email\nAda,ada@example.com\nZoë Müller,zoe@example.de\n".encode("latin-1"),
            [
                "line 3: the file is not valid UTF-8 (byte 0xEB at byte offset 33); re-save it "
                'as UTF-8 (in Excel: Save As, "CSV UTF-8") and import again'
            ],
        ),
        (
            b"Name;Email;Phone\nAda;ada@example.com;123\n",
            [
                "line 1: the columns are separated by ';', not commas; save the file as "
                "comma-separated CSV and import again"
            ],
        ),
        (
            b"Name\tEmail\nAda\tada@example.com\n",
            [
                "line 1: the columns are separated by tabs, not commas; save the file as "
                "comma-separated CSV and import again"
            ],
        ),
        (
            UNKNOWN_HEADER.encode(),
            [
                "line 1: unknown column 'Shoe Size'",
                "line 1: column 4 has no name",
                "line 1: unknown column 'Email Address'",
                ALL_COLUMNS,
            ],
        ),
        (
            b"\x1b[2JName,Email\nAda,ada@example.com\n",
            [
                "line 1: unknown column '‹U+001B›[2JName'",
                "line 1: missing required column(s): Name",
                ALL_COLUMNS,
            ],
        ),
        (
            b"Email,Company\nada@example.com,Acme\n",
            ["line 1: missing required column(s): Name", ALL_COLUMNS],
        ),
        (
            b"Company,Phone\nAcme,123456\n",
            ["line 1: missing required column(s): Name, Email", ALL_COLUMNS],
        ),
        (
            b"Name,Email,EMAIL\nAda,ada@example.com,ada@example.com\n",
            ["line 1: the column Email appears twice", ALL_COLUMNS],
        ),
        (
            b'Name,Email,Company\nAda,ada@example.com,Acme\nBob,bob@example.com,"Unclosed\n'
            b"Carol,carol@example.com,Co\n",
            ['line 3: a double quote (") opened on this line is never closed'],
        ),
        (
            b'Name,Email,Company\nAda,ada@example.com,"Acme" Ltd\n',
            [
                "line 2: a quoted value is followed by more text before the next comma; inside "
                'quotes, write a double quote as ""'
            ],
        ),
        (
            b'Name,Email,Company\nAda,ada@example.com,"' + b"x" * 140_000 + b"\n",
            [
                'line 2: a value is longer than 131,072 characters; usually a double quote (") '
                "opened on this line is never closed"
            ],
        ),
    ],
    ids=[
        "empty",
        "blank",
        "bom-only",
        "header-only",
        "header-and-blank-rows",
        "utf16-le",
        "utf16-be",
        "latin1",
        "semicolons",
        "tabs",
        "unknown-columns",
        "escape-in-header",
        "missing-name",
        "missing-both",
        "duplicate-column",
        "unclosed-quote",
        "text-after-quote",
        "runaway-quote",
    ],
)
def test_refused_files_write_nothing(
    engine: Engine, existing: int, tmp_path: Path, content: bytes, errors: list[str]
) -> None:
    before = snapshot(engine)
    report = import_customers(engine, write(tmp_path, content), SYSTEM, skip_invalid=True)
    assert report.errors == errors
    assert report.refused == "the file was refused"
    assert report.summary() == "nothing imported: the file was refused"
    assert (report.imported, report.skipped, report.invalid_rows, report.valid_rows) == (0, 0, 0, 0)
    assert not report.ok
    assert snapshot(engine) == before


def test_missing_file_and_folder(engine: Engine, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    report = import_customers(engine, missing, SYSTEM)
    assert report.errors == [f"cannot read {missing}: there is no such file"]
    assert report.summary() == "nothing imported: the file was refused"
    report = import_customers(engine, str(tmp_path), SYSTEM)
    assert report.errors == [f"cannot read {tmp_path}: it is a folder, not a file"]
    assert counts(engine) == {"customer": 0, "address": 0, "activity_event": 0}


# ------------------------------------------------------------------------ the CLI


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def test_cli_imports_a_good_file(
    capsys: pytest.CaptureFixture[str], db_url: str, engine: Engine
) -> None:
    status, out, err = run_cli(capsys, "import", "customers", str(GOOD), "--database-url", db_url)
    assert (status, out, err) == (0, ["imported 5 customers"], [])
    assert counts(engine) == {"customer": 5, "address": 3, "activity_event": 5}
    assert found(engine, "Lovelace") == ["Ada Lovelace"]


def test_cli_refuses_a_bad_file(
    capsys: pytest.CaptureFixture[str], db_url: str, engine: Engine, existing: int
) -> None:
    before = snapshot(engine)
    status, out, err = run_cli(capsys, "import", "customers", str(BAD), "--database-url", db_url)
    assert status == 1
    assert out == [
        "nothing imported: 9 invalid rows (fix them, or use --skip-invalid to import the 2 "
        "valid rows)"
    ]
    assert err == bad_file_errors(existing)
    assert snapshot(engine) == before


def test_cli_skip_invalid(
    capsys: pytest.CaptureFixture[str], db_url: str, engine: Engine, existing: int
) -> None:
    status, out, err = run_cli(
        capsys, "import", "customers", str(BAD), "--skip-invalid", "--database-url", db_url
    )
    assert (status, out, err) == (
        1,
        ["imported 2 customers, skipped 9 invalid rows"],
        bad_file_errors(existing),
    )
    assert emails(engine) == ["existing@example.com", "ada@example.com", "grace@navy.mil"]


def test_cli_refused_file(
    capsys: pytest.CaptureFixture[str], db_url: str, engine: Engine, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.csv"
    status, out, err = run_cli(
        capsys, "import", "customers", str(missing), "--database-url", db_url
    )
    assert (status, out, err) == (
        1,
        ["nothing imported: the file was refused"],
        [f"cannot read {missing}: there is no such file"],
    )
    path = write(tmp_path, b"Name;Email\nAda;ada@example.com\n")
    status, out, err = run_cli(capsys, "import", "customers", str(path), "--database-url", db_url)
    assert (status, out, err) == (
        1,
        ["nothing imported: the file was refused"],
        [
            "line 1: the columns are separated by ';', not commas; save the file as "
            "comma-separated CSV and import again"
        ],
    )
    assert counts(engine) == {"customer": 0, "address": 0, "activity_event": 0}
