"""Importing customers from a CSV file: every row is validated before anything is written.

The file has the columns of `COLUMNS` (Name and Email required; header matching
ignores case and surrounding spaces). It is read whole and strictly: UTF-8 with
or without a BOM, comma-separated, standard quoting. Problems are reported as
`line N: <Column>: <reason>`, N being the physical line where the row starts (the
header is line 1; a quoted value spanning lines does not shift the numbers).

Any invalid row refuses the whole import, leaving the database untouched, unless
`skip_invalid` is given, in which case the valid rows are imported and the others
reported. All inserts run in one transaction, with SQLAlchemy Core executemany
(100,000 rows take seconds, not minutes), so a failure midway leaves nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models.enums import (
    AccountState,
    ActivityKind,
    AddressKind,
    CustomerKind,
    LifecycleStatus,
)
from crm_tui.models.tables import ActivityEvent, Address, Customer
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.permissions import Permission, authorize
from crm_tui.services.validation import (
    NAME_MAX,
    ValidationError,
    currency_for_country,
    email_key,
    validate_company_id,
    validate_country,
    validate_email,
    validate_name,
    validate_phone,
    validate_postal_code,
    validate_tax_id,
    validate_text,
    validate_vat_number,
)
from crm_tui.text import safe_text

COLUMNS = (
    "Name",
    "Email",
    "Company",
    "Company ID",
    "Company Email",
    "Tax ID",
    "Phone",
    "Address",
    "City",
    "State",
    "Zip/Postal Code",
    "Country",
    "VAT Number",
)
REQUIRED_COLUMNS = ("Name", "Email")
# The parts of an address that need a street (Address) to be stored with.
ADDRESS_DETAIL_COLUMNS = ("City", "State", "Zip/Postal Code")
STOREFRONT = "import"
# Rows per `email IN (...)` query when looking for customers that already exist.
EMAIL_LOOKUP_BATCH = 500

_CUSTOMERS = Customer.metadata.tables["customer"]
_ADDRESSES = Address.metadata.tables["address"]
_EVENTS = ActivityEvent.metadata.tables["activity_event"]


# ------------------------------------------------------------------- the report


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: int = 0  # invalid rows left out under skip_invalid
    invalid_rows: int = 0
    valid_rows: int = 0
    # Why nothing at all could be imported, when the file or the database refused.
    refused: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing was refused: every row of the file was imported."""
        return not self.errors

    def summary(self) -> str:
        if self.refused:
            return f"nothing imported: {self.refused}"
        if self.skipped:
            if not self.imported:
                return f"nothing imported: all {_count(self.skipped, 'row')} are invalid"
            return (
                f"imported {_count(self.imported, 'customer')}, "
                f"skipped {_count(self.skipped, 'invalid row')}"
            )
        if self.invalid_rows:
            invalid = _count(self.invalid_rows, "invalid row")
            if not self.valid_rows:
                return f"nothing imported: {invalid} (fix them and import again)"
            return (
                f"nothing imported: {invalid} (fix them, or use --skip-invalid to import "
                f"the {_count(self.valid_rows, 'valid row')})"
            )
        return f"imported {_count(self.imported, 'customer')}"


# ------------------------------------------------------------- reading the file


class FileRefused(Exception):
    """The file as a whole cannot be imported; each message is one line of the report."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = list(messages)


@dataclass(frozen=True)
class CsvRow:
    line: int  # physical line the row starts on; the header is line 1
    cells: tuple[str, ...]


@dataclass(frozen=True)
class CsvFile:
    columns: tuple[str, ...]  # canonical column names, in the file's order
    rows: list[CsvRow]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileRefused(f"cannot read {safe_text(path)}: there is no such file") from None
    except IsADirectoryError:
        raise FileRefused(f"cannot read {safe_text(path)}: it is a folder, not a file") from None
    except OSError as error:
        raise FileRefused(f"cannot read {safe_text(path)}: {error.strerror}") from None


def _decode(data: bytes) -> str:
    """UTF-8, with or without a BOM. Anything else is refused: guessing corrupts names."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused(
            'the file is UTF-16 (Excel\'s "Unicode Text"); re-save it as CSV UTF-8 and import again'
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start]
        raise FileRefused(
            f"line {line}: the file is not valid UTF-8 (byte 0x{byte:02X} at byte offset "
            f'{error.start:,}); re-save it as UTF-8 (in Excel: Save As, "CSV UTF-8") '
            "and import again"
        ) from None


def _header_key(cell: str) -> str:
    return " ".join(cell.split()).casefold()


_COLUMN_BY_KEY = {_header_key(column): column for column in COLUMNS}


def _check_delimiter(header: Sequence[str], line: int) -> None:
    """A one-column header holding ; or a tab is a file saved with another separator."""
    if len(header) != 1:
        return
    for separator, label in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
        if separator in header[0]:
            raise FileRefused(
                f"line {line}: the columns are separated by {label}, not commas; save the file "
                "as comma-separated CSV and import again"
            )


def _match_header(header: Sequence[str], line: int) -> tuple[str, ...]:
    """The canonical column of each header cell; a missing, unknown or repeated one refuses."""
    _check_delimiter(header, line)
    columns: list[str] = []
    problems: list[str] = []
    for position, cell in enumerate(header, start=1):
        column = _COLUMN_BY_KEY.get(_header_key(cell))
        if column is None and not cell.strip():
            problems.append(f"line {line}: column {position} has no name")
        elif column is None:
            problems.append(f"line {line}: unknown column '{safe_text(cell)[:60]}'")
        elif column in columns:
            problems.append(f"line {line}: the column {column} appears twice")
        else:
            columns.append(column)
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        problems.append(f"line {line}: missing required column(s): {', '.join(missing)}")
    if problems:
        problems.append(f"line {line}: the columns are: {', '.join(COLUMNS)}")
        raise FileRefused(*problems)
    return tuple(columns)


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of each CSV record, blank lines included as []."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous_end = 0
    while True:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FileRefused(f"line {start}: {_explain_csv_error(error)}") from None
        previous_end = reader.line_num
        yield start, cells


def _explain_csv_error(error: csv.Error) -> str:
    message = str(error)
    if "field larger than field limit" in message:
        return (
            f"a value is longer than {csv.field_size_limit():,} characters; usually a "
            'double quote (") opened on this line is never closed'
        )
    if "unexpected end of data" in message:
        return 'a double quote (") opened on this line is never closed'
    if "expected after" in message:
        return (
            "a quoted value is followed by more text before the next comma; inside quotes, "
            'write a double quote as ""'
        )
    return f"the file is not valid CSV ({message})"


def _header(records: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    """The first non-blank record (blank lines before the header are tolerated)."""
    for line, cells in records:
        if cells:
            return line, cells
    return 1, []


def read_customer_csv(path: Path) -> CsvFile:
    """The header and the non-blank rows of a customer CSV; `FileRefused` if unreadable."""
    text = _decode(_read_bytes(path))
    if not text.strip():
        raise FileRefused(
            f"the file is empty; the first line must name the columns: {', '.join(COLUMNS)}"
        )
    records = _records(text)
    header_line, header = _header(records)
    columns = _match_header(header, header_line)
    rows = [CsvRow(line, tuple(cells)) for line, cells in records if any(c.strip() for c in cells)]
    if not rows:
        raise FileRefused("the file has a header line but no customers below it")
    return CsvFile(columns, rows)


# ------------------------------------------------------------ validating rows


@dataclass(frozen=True)
class ImportedAddress:
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class ImportedCustomer:
    """One valid row, normalised, ready to be inserted."""

    line: int
    name: str
    email: str
    phone: str
    company_name: str
    company_reg_no: str
    company_email: str
    vat_id: str
    country: str
    address: ImportedAddress | None

    @property
    def is_business(self) -> bool:
        return bool(self.company_name or self.company_reg_no or self.vat_id)


class _RowChecker:
    """Validates one row's cells column by column, collecting every problem found."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.problems: list[str] = []

    def check(self, column: str, validator: Any, **options: Any) -> str:
        try:
            return str(validator(self.values.get(column, ""), column, **options))
        except ValidationError as error:
            self.problems.append(str(error))
            return ""

    def refuse(self, column: str, message: str) -> None:
        self.problems.append(f"{column}: {message}")

    def given(self, column: str) -> bool:
        return bool(self.values.get(column, "").strip())


def _vat_id(row: _RowChecker) -> str:
    """Tax ID and VAT Number both fill the customer's VAT id; they must agree."""
    tax_id = row.check("Tax ID", validate_tax_id)
    vat_number = row.check("VAT Number", validate_vat_number)
    if tax_id and vat_number and tax_id.replace("-", "") != vat_number:
        row.refuse(
            "Tax ID",
            f"differs from the VAT Number ({vat_number}); both are stored as the customer's "
            "VAT id, so give one of them, or the same number in both",
        )
    return vat_number or tax_id


def _address(row: _RowChecker, country: str) -> ImportedAddress | None:
    street = row.check("Address", validate_text, multiline=True)
    city = row.check("City", validate_text, max_length=NAME_MAX)
    state = row.check("State", validate_text, max_length=NAME_MAX)
    postal_code = row.check("Zip/Postal Code", validate_postal_code)
    if not street:
        details = [column for column in ADDRESS_DETAIL_COLUMNS if row.given(column)]
        if details and not row.given("Address"):
            # Stored without a street, they would be an address nobody can post to;
            # dropped, they would be lost silently. So the agent decides.
            row.refuse(
                "Address",
                f"is empty but {', '.join(details)} given; add the street, or leave them empty",
            )
        return None
    first, *rest = [line for line in street.split("\n") if line]
    return ImportedAddress(first, ", ".join(rest), city, state, postal_code, country)


def validate_row(line: int, values: dict[str, str]) -> tuple[ImportedCustomer | None, list[str]]:
    """The normalised customer of one row, or None and the problems (`Column: reason`)."""
    row = _RowChecker(values)
    name = row.check("Name", validate_name)
    email = row.check("Email", validate_email)
    country = row.check("Country", validate_country)
    customer = ImportedCustomer(
        line=line,
        name=name,
        email=email,
        phone=row.check("Phone", validate_phone, country=country),
        company_name=row.check("Company", validate_name, required=False),
        company_reg_no=row.check("Company ID", validate_company_id),
        company_email=row.check("Company Email", validate_email, required=False),
        vat_id=_vat_id(row),
        country=country,
        address=_address(row, country),
    )
    return (None, row.problems) if row.problems else (customer, [])


@dataclass
class _Validation:
    customers: list[ImportedCustomer] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)

    def refuse(self, line: int, message: str) -> None:
        self.problems.append((line, message))

    @property
    def invalid_lines(self) -> set[int]:
        return {line for line, _ in self.problems}


def _validate_rows(csv_file: CsvFile) -> _Validation:
    result = _Validation()
    first_line_of_email: dict[str, int] = {}
    width = len(csv_file.columns)
    for row in csv_file.rows:
        if len(row.cells) != width:
            result.refuse(
                row.line,
                f"has {len(row.cells)} values but the header has {width} columns (a missing "
                "or extra comma? put values that contain commas in double quotes)",
            )
            continue
        customer, problems = validate_row(
            row.line, dict(zip(csv_file.columns, row.cells, strict=True))
        )
        for problem in problems:
            result.refuse(row.line, problem)
        email = customer.email if customer else _email_or_blank(row, csv_file.columns)
        if email:
            key = email_key(email)
            if key in first_line_of_email:
                result.refuse(row.line, f"Email: same email as line {first_line_of_email[key]}")
                continue
            first_line_of_email[key] = row.line
        if customer:
            result.customers.append(customer)
    return result


def _email_or_blank(row: CsvRow, columns: Sequence[str]) -> str:
    """The row's email if it is valid (its other cells are not), so duplicates are found too."""
    try:
        return validate_email(row.cells[columns.index("Email")])
    except ValidationError:
        return ""


def _existing_customers(connection: Connection, emails: Sequence[str]) -> dict[str, int]:
    """email_key → id of the (oldest) customer already stored with each email."""
    found: dict[str, int] = {}
    keys = {email_key(email) for email in emails}
    if connection.dialect.name == "postgresql":
        _find_customers(connection, sa.func.lower(_CUSTOMERS.c.email), keys, found)
        return found
    # SQLite's NOCASE folds ASCII letters only: each address is looked up as given and
    # lower-cased (through the index), then the rare non-ASCII ones not found that way
    # (ÅSA@x.se stored, åsa@x.se imported) by a scan comparing Python's email_key.
    _find_customers(connection, _CUSTOMERS.c.email, keys | set(emails), found)
    non_ascii = {key for key in keys if not key.isascii() and key not in found}
    if non_ascii:
        dbapi_connection = connection.connection.driver_connection
        dbapi_connection.create_function("crm_email_key", 1, email_key, deterministic=True)  # type: ignore[union-attr]
        _find_customers(connection, sa.func.crm_email_key(_CUSTOMERS.c.email), non_ascii, found)
    return found


def _find_customers(
    connection: Connection, column: sa.ColumnElement[str], values: set[str], found: dict[str, int]
) -> None:
    """Add to `found` the customers whose `column` is one of `values`, by email_key."""
    ordered = sorted(values)
    for start in range(0, len(ordered), EMAIL_LOOKUP_BATCH):
        batch = ordered[start : start + EMAIL_LOOKUP_BATCH]
        query = sa.select(_CUSTOMERS.c.id, _CUSTOMERS.c.email).where(column.in_(batch))
        for customer_id, email in connection.execute(query):
            key = email_key(email)
            found[key] = min(customer_id, found.get(key, customer_id))


def _refuse_existing(connection: Connection, validation: _Validation) -> None:
    existing = _existing_customers(connection, [c.email for c in validation.customers])
    for customer in validation.customers:
        customer_id = existing.get(email_key(customer.email))
        if customer_id is not None:
            validation.refuse(
                customer.line, f"Email: a customer with this email exists: id {customer_id}"
            )


# --------------------------------------------------------------------- writing


def _customer_values(customer: ImportedCustomer, now: datetime, actor: Actor) -> dict[str, Any]:
    # Every column is given explicitly: executemany needs the same keys in every row,
    # and an import should not depend on Python-side defaults it cannot see.
    kind = CustomerKind.BUSINESS if customer.is_business else CustomerKind.INDIVIDUAL
    return {
        "kind": kind.value,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "company_name": customer.company_name,
        "company_reg_no": customer.company_reg_no,
        "company_email": customer.company_email,
        "vat_id": customer.vat_id,
        "payment_terms": None,
        "billing_group": "",
        "billing_contact": "",
        "storefront": STOREFRONT,
        "region": "",
        "country": customer.country,
        "timezone": "UTC",
        "registered_at": now,
        "account_state": AccountState.ACTIVE.value,
        "assigned_agent_id": None,
        "lifecycle_status": LifecycleStatus.INACTIVE.value,
        "current_plan": "",
        "has_active_subscription": False,
        "currency": currency_for_country(customer.country),
        "mrr_minor": 0,
        "ltv_minor": 0,
        "version": 1,
        "updated_at": now,
        "updated_by_agent_id": actor.agent_id,
        "erased_at": None,
    }


def _address_values(customer_id: int, address: ImportedAddress, now: datetime) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "kind": AddressKind.BILLING.value,
        "is_default": True,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "state": address.state,
        "postal_code": address.postal_code,
        "country": address.country,
        "valid_from": now,
        "valid_to": None,
    }


def _event_values(
    customer_id: int, customer: ImportedCustomer, source: str, now: datetime, actor: Actor
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "occurred_at": now,
        "kind": ActivityKind.PROFILE.value,
        "actor_type": actor.type.value,
        "agent_id": actor.agent_id,
        "summary": f"Imported from {source}",
        "details": {"source": "csv import", "file": source, "line": customer.line},
    }


def _insert_customers(
    connection: Connection, customers: Sequence[ImportedCustomer], now: datetime, actor: Actor
) -> list[int]:
    """Insert the customers; their new ids, in the same order."""
    statement = sa.insert(_CUSTOMERS).returning(_CUSTOMERS.c.id, sort_by_parameter_order=True)
    rows = [_customer_values(customer, now, actor) for customer in customers]
    return list(connection.execute(statement, rows).scalars())


def _insert_addresses(
    connection: Connection, ids: Sequence[int], customers: Sequence[ImportedCustomer], now: datetime
) -> None:
    rows = [
        _address_values(customer_id, customer.address, now)
        for customer_id, customer in zip(ids, customers, strict=True)
        if customer.address is not None
    ]
    if rows:
        connection.execute(sa.insert(_ADDRESSES), rows)


def _insert_events(
    connection: Connection,
    ids: Sequence[int],
    customers: Sequence[ImportedCustomer],
    source: str,
    now: datetime,
    actor: Actor,
) -> None:
    rows = [
        _event_values(customer_id, customer, source, now, actor)
        for customer_id, customer in zip(ids, customers, strict=True)
    ]
    connection.execute(sa.insert(_EVENTS), rows)


def _write(
    connection: Connection, customers: Sequence[ImportedCustomer], source: str, actor: Actor
) -> None:
    now = datetime.now(UTC)
    ids = _insert_customers(connection, customers, now, actor)
    _insert_addresses(connection, ids, customers, now)
    _insert_events(connection, ids, customers, source, now, actor)
    audit.append(
        connection,
        actor,
        "customers.import",
        details={"file": source, "imported": len(ids), "first_id": min(ids), "last_id": max(ids)},
        at=now,
    )


# ------------------------------------------------------------------ the use case


def _source_name(path: Path) -> str:
    """The file's name as stored in activity events: one safe line, whatever its bytes."""
    return safe_text(path.name)[:NAME_MAX]


def _report(validation: _Validation, imported: int, skipped: int) -> ImportReport:
    problems = sorted(validation.problems, key=lambda problem: problem[0])  # stable: by column
    invalid = len(validation.invalid_lines)
    return ImportReport(
        imported=imported,
        errors=[f"line {line}: {message}" for line, message in problems],
        skipped=skipped,
        invalid_rows=invalid,
        valid_rows=len(validation.customers),
    )


def import_customers(
    engine: Engine, path: str | os.PathLike[str], actor: Actor, *, skip_invalid: bool = False
) -> ImportReport:
    """Validate every row of the CSV at `path`, then import all of them in one transaction.

    With invalid rows, nothing is imported unless `skip_invalid`, which imports the
    valid rows and reports the others. Bad input never raises: it is in the report.
    """
    path = Path(path)
    try:
        csv_file = read_customer_csv(path)
    except FileRefused as refusal:
        return ImportReport(errors=refusal.messages, refused="the file was refused")
    validation = _validate_rows(csv_file)
    try:
        with engine.begin() as connection:
            authorize(connection, actor, Permission.CHANGE, "import customers")
            # Inside the transaction that writes, so the check and the inserts see the same data.
            _refuse_existing(connection, validation)
            invalid = validation.invalid_lines
            validation.customers = [c for c in validation.customers if c.line not in invalid]
            if invalid and not skip_invalid:
                return _report(validation, imported=0, skipped=0)
            if validation.customers:
                _write(connection, validation.customers, _source_name(path), actor)
    except sa.exc.DBAPIError as error:
        report = _report(validation, imported=0, skipped=0)
        reason = str(error.orig).strip().splitlines()[0]
        report.errors.append(f"the database refused the import: {reason}")
        report.refused = "the database refused the import (nothing was written)"
        return report
    return _report(validation, imported=len(validation.customers), skipped=len(invalid))
