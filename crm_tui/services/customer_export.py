"""Exporting customers to a CSV file (issue 5): the `e` key and `crm-tui export customers`.

The customers arrive as one SQL selection of ids (`DirectoryService.marked_ids`):
"every match of this search" is never a list in Python. The file has `COLUMNS`:

- Company, Company ID, Company Email are the customer's `company_name`,
  `company_reg_no` and `company_email`.
- **Tax ID and VAT Number both hold `vat_id`.** The model has one tax number per
  customer, and the importer (customer_import.py) stores either column in it, so
  writing it to both keeps the two files symmetrical; a spreadsheet user finds
  the number under whichever name they look for.
- Address, City, State, Zip/Postal Code, Country come from the customer's current
  default address (`valid_to IS NULL`): the billing one, else the shipping one,
  else none. Address is line 1, then ", " and line 2 when there is one. Country
  falls back to the customer's own country.
- Lifetime Value is exact, in major units, with the currency code and no
  thousands separator: "1234.56 USD", "1500 JPY" (yen have no minor unit).
- Erased customers are written as stored: their personal fields are already
  anonymised, and an empty cell is as good as any other.

How it is written:

- **Streamed.** The selection is copied once into a temporary table inside the
  database (INSERT … SELECT: the search runs once), then read back by keyset in
  chunks of ids: one query per chunk, which joins the address too and reads every
  table through the chunk's id range, so the last chunk costs what the first did.
  At most one chunk of rows is in Python at a time, and on SQLite the temporary
  table and the statement journal go to a file, not memory (see
  `temporary_storage_on_disk`): a million rows take flat memory (benchmarks/
  export_csv.py: 85 MB peak at 1,000,000 customers, 82 MB at 100,000). The reads
  share one transaction, so the file is a snapshot of one moment (on PostgreSQL
  through REPEATABLE READ; SQLite's WAL gives it to any transaction).
- **Safely** (services/private_files.py). Rows go to a temporary file beside the
  target, made by `tempfile.mkstemp` (O_CREAT|O_EXCL, mode 0600: the file holds personal data),
  synced to disk, then renamed onto the target in one step (`os.replace`). An
  existing file is refused unless `replace=True`. A stop (`should_stop()` is asked
  between chunks) or any error removes the temporary file and leaves an existing
  target untouched: nothing is written, and the exception says so.
- **Spreadsheet-safe.** A cell that starts with =, +, -, @, a tab or a carriage
  return would be run as a formula by Excel or LibreOffice (OWASP "CSV
  injection"), so it gets a leading single quote. Phone numbers such as
  +44 20 7946 0958 therefore appear as '+44 20 7946 0958, and a negative lifetime
  value as '-12.00 USD. Everything else is written exactly as stored: commas,
  quotes, newlines, emoji and right-to-left text round-trip through any CSV reader.
- **UTF-8 with a BOM** (`utf-8-sig`): Excel opens a double-clicked CSV in the
  machine's legacy code page unless the file starts with a BOM, which would garble
  every accented name. Python (`encoding="utf-8-sig"`), LibreOffice, pandas and
  our own importer read the BOM as what it is. Standard CSV otherwise: commas,
  minimal quoting, CRLF line ends (RFC 4180).

The file is for people and spreadsheets; it is not an import file as it stands:
`crm-tui import customers` knows no Lifetime Value column, and reads a guarded
'+44… as written.

What it records: after the file is complete and before it is renamed into place,
ONE transaction writes an activity event on every exported customer (one set-based
INSERT … SELECT over the temporary table) and one audit entry for the whole export
(`customers.export`: count, file name, whether a file was replaced, and what was
selected; never the folder, which can name someone's home). If that transaction
fails, the temporary file is removed. If the rename itself then fails (very rare:
the folder vanished), the trail overstates rather than hides: it records an export
that did not land, never one that did without a record. Once the rows are written
a stop is no longer heard: at a million customers, recording takes a few seconds
after the progress has reached the end.

Who may export: any agent, **read-only agents included** — an export is a read,
and a read-only agent may already see every one of these fields on screen. It is
still recorded on each customer and in the audit trail, as every export is. The
system (scripts, the command line) may too. A customer (self-service) may not, nor
an agent whose account is inactive.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.formatting import minor_exponent
from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, AddressKind
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_import import COLUMNS as IMPORT_COLUMNS
from crm_tui.services.database import temporary_storage_on_disk
from crm_tui.services.permissions import Permission, authorize
from crm_tui.services.private_files import (
    ExportError,
    destination,
    folder_problem,
    move_into_place,
    refuse_destination,
    sync_and_close,
    temporary_file,
)
from crm_tui.services.validation import NAME_MAX
from crm_tui.text import safe_text

# The importer's columns, in its order, and the lifetime value.
COLUMNS = (*IMPORT_COLUMNS, "Lifetime Value")
CHUNK = 5_000  # customers per query: a stop is heard within one chunk
EXAMPLES = 2  # rows shown by the preview
ENCODING = "utf-8-sig"  # UTF-8 with a BOM, for Excel (see the module docstring)
# First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = frozenset("=+-@\t\r")

Progress = Callable[[int, int], None]  # done, total
StopCheck = Callable[[], bool]

_T = tables.SQLModel.metadata.tables
_customer, _address, _event = _T["customer"], _T["address"], _T["activity_event"]

# The selected ids, copied once per export (a temporary table: each connection has
# its own, and it is gone with the connection).
_target = sa.Table(
    "crm_export_target",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    prefixes=["TEMPORARY"],
)


# ------------------------------------------------------------------- answers


class ExportStopped(ExportError):
    """The agent stopped the export: the temporary file was removed."""


@dataclass(frozen=True)
class ExportPreview:
    customers: int
    path: Path
    exists: bool  # True: the file is there, and writing replaces it
    problem: str  # why the file cannot be written there; "" when it can
    examples: tuple[tuple[str, ...], ...]  # the first rows, exactly as they will be written

    @property
    def header(self) -> tuple[str, ...]:
        return COLUMNS

    def lines(self) -> list[str]:
        """The dry run in words, safe to put on a terminal."""
        where = safe_text(self.path)
        if self.problem:
            return [f"Cannot write {where}: {self.problem}."]
        lines = [f"{self.customers:,} customers will be written to {where}."]
        if self.exists:
            lines.append("That file exists: it will be replaced.")
        for row in self.examples:
            lines.append("  " + safe_text(" · ".join(cell for cell in row[:3] if cell)))
        lines.append("Stopping part-way writes nothing.")
        return lines


@dataclass(frozen=True)
class ExportReport:
    rows: int
    path: Path
    seconds: float
    audit_seq: int

    def summary(self) -> str:
        noun = "customer" if self.rows == 1 else "customers"
        return (
            f"Exported {self.rows:,} {noun} to {safe_text(self.path)} "
            f"in {self.seconds:.1f} s. Audit entry #{self.audit_seq}."
        )


# ------------------------------------------------------------------- service


class CustomerExport:
    """Thread-safe: every call opens its own connection."""

    def __init__(
        self,
        engine: Engine,
        *,
        chunk_size: int = CHUNK,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.chunk_size = chunk_size
        self.now = clock or (lambda: datetime.now(UTC))

    def preview(self, selection: sa.Select[Any], path: str | os.PathLike[str]) -> ExportPreview:
        """How many customers, whether the file exists, the first rows. Writes nothing."""
        target = destination(path)
        marked = _existing(selection).subquery()
        # On disk too: counting a million ids builds a million-entry temporary index.
        with self.engine.connect() as connection, temporary_storage_on_disk(connection):
            count = connection.execute(sa.select(sa.func.count()).select_from(marked)).scalar_one()
            first = sa.select(marked.c.id).order_by(marked.c.id).limit(EXAMPLES)
            # One customer per query: the first two ids may lie far apart.
            examples = tuple(
                tuple(csv_row(row))
                for customer_id in connection.execute(first).scalars().all()
                for row in connection.execute(_rows_between(marked, customer_id - 1, customer_id))
            )
        return ExportPreview(
            customers=int(count),
            path=target,
            exists=os.path.lexists(target),
            problem=folder_problem(target),
            examples=examples,
        )

    def write(
        self,
        selection: sa.Select[Any],
        path: str | os.PathLike[str],
        actor: Actor,
        *,
        should_stop: StopCheck = lambda: False,
        progress: Progress = lambda _done, _total: None,
        replace: bool = False,
        describe: str = "",
    ) -> ExportReport:
        """Write every selected customer to `path`, all or nothing, and record it.

        `describe` says what was selected ("every match of search 'smith'"), for
        the audit entry. Raises `ExportRefused` / `TargetExists` before anything is
        read, `ExportStopped` when stopped, `ExportError` when the file or the
        database fails; in every case nothing was written."""
        target = destination(path)
        refuse_destination(target, replace)
        started, timer = self.now(), time.perf_counter()
        with self.engine.connect() as connection, temporary_storage_on_disk(connection):
            _require_exporter(connection, actor)
            try:
                as_csv = temporary_file(target, "w", encoding=ENCODING, newline="")
                with as_csv as (file, temp_path):
                    rows = self._write_rows(connection, selection, file, should_stop, progress)
                    sync_and_close(file)
                    connection.commit()  # end the read snapshot: the records need a fresh one
                    refuse_destination(target, replace)  # did it appear while we wrote?
                    replaced = os.path.lexists(target)
                    entry = self._record(
                        connection, actor, target, rows, replaced, describe, started
                    )
                    move_into_place(temp_path, target)
            except sa.exc.DBAPIError as error:
                reason = str(error.orig).strip().splitlines()[0]
                raise ExportError(f"the database failed ({reason}): nothing was written") from error
            finally:
                _discard_target(connection)
        return ExportReport(rows, target, time.perf_counter() - timer, entry.seq)

    def _write_rows(
        self,
        connection: Connection,
        selection: sa.Select[Any],
        file: IO[str],
        should_stop: StopCheck,
        progress: Progress,
    ) -> int:
        """The header and every selected customer, a chunk at a time; the row count."""
        _discard_target(connection)  # a pooled connection's leftover
        if connection.dialect.name == "postgresql":
            # The transaction's first statement: every chunk reads the same snapshot.
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        total = _fill_target(connection, selection)
        writer = csv.writer(file)  # QUOTE_MINIMAL, "\r\n" line ends
        writer.writerow(COLUMNS)
        done = 0
        for chunk in self._chunks(connection, total, should_stop, progress):
            writer.writerows(csv_row(row) for row in chunk)
            done += len(chunk)
        return done

    def _chunks(
        self, connection: Connection, total: int, should_stop: StopCheck, progress: Progress
    ) -> Iterator[Sequence[Any]]:
        """The export rows, `chunk_size` customers at a time in id order (keyset paging
        on the temporary table); raises `ExportStopped` when asked to stop between two."""
        low, done = 0, 0
        progress(0, total)
        while True:
            if should_stop():
                raise ExportStopped(
                    f"Stopped after {done:,} of {total:,} customers: nothing was written."
                )
            high = _chunk_end(connection, low, self.chunk_size)
            if high is None:
                return
            rows = connection.execute(_rows_between(_target, low, high)).all()
            yield rows
            low, done = high, done + len(rows)
            progress(done, total)

    def _record(
        self,
        connection: Connection,
        actor: Actor,
        target: Path,
        rows: int,
        replaced: bool,
        describe: str,
        when: datetime,
    ) -> audit.AuditRecord:
        """One activity event per exported customer and one audit entry, one transaction."""
        name = safe_text(target.name)[:NAME_MAX]
        with connection.begin():
            _record_events(connection, actor, name, when)
            return audit.append(
                connection,
                actor,
                "customers.export",
                details={"count": rows, "file": name, "replaced": replaced, "selection": describe},
                at=when,
            )


# -------------------------------------------------------------- the rows


def lifetime_value(minor: int, currency: str) -> str:
    """Exact, for a spreadsheet: 123456 USD → '1234.56 USD'; 1500 JPY → '1500 JPY'."""
    code = (currency or "").upper()
    if minor_exponent(code) == 0:
        amount = str(minor)
    else:
        whole, cents = divmod(abs(minor), 100)
        amount = f"{'-' if minor < 0 else ''}{whole}.{cents:02d}"
    return f"{amount} {code}".rstrip()


def guard_cell(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made text by a leading quote."""
    return "'" + cell if cell[:1] in FORMULA_STARTS else cell


def csv_row(row: Any) -> list[str]:
    """One export row (see `_rows_between`) as the cells of `COLUMNS`, guarded."""
    street = row.line1 or ""
    if row.line2:
        street = f"{street}, {row.line2}"
    cells = (
        row.name,
        row.email,
        row.company_name,
        row.company_reg_no,
        row.company_email,
        row.vat_id,  # Tax ID
        row.phone,
        street,
        row.city or "",
        row.state or "",
        row.postal_code or "",
        row.address_country or row.country,
        row.vat_id,  # VAT Number
        lifetime_value(row.ltv_minor, row.currency),
    )
    return [guard_cell(cell or "") for cell in cells]


def _current_address_id() -> sa.ScalarSelect[Any]:
    """The id of the customer's current default address: billing first, else shipping."""
    candidate = _address.alias("candidate")
    return (
        sa.select(candidate.c.id)
        .where(
            candidate.c.customer_id == _customer.c.id,
            candidate.c.valid_to.is_(None),
            candidate.c.is_default.is_(True),
            candidate.c.kind.in_((AddressKind.BILLING.value, AddressKind.SHIPPING.value)),
        )
        .order_by(
            sa.case((candidate.c.kind == AddressKind.BILLING.value, 0), else_=1),
            candidate.c.id.desc(),  # two current defaults of a kind: the newest
        )
        .limit(1)
        .correlate(_customer)
        .scalar_subquery()
    )


def _chunk_end(connection: Connection, low: int, size: int) -> int | None:
    """The id that ends the next chunk of `size` targets after `low`; None: no more."""
    chunk = _target.select().where(_target.c.id > low).order_by(_target.c.id).limit(size)
    return connection.execute(sa.select(sa.func.max(chunk.subquery().c.id))).scalar()


def _rows_between(ids: sa.FromClause, low: int, high: int) -> sa.Select[Any]:
    """The rows of the file for the customers `low < id <= high` that `ids` holds, in
    id order. Every table is read through that id range, so a query costs one chunk
    whatever plan the database picks (without the range on `address`, PostgreSQL
    hashed the whole address table for each chunk)."""

    def in_range(column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        return sa.and_(column > low, column <= high)

    members = sa.select(ids.c.id).where(in_range(ids.c.id))
    current_address = sa.and_(
        _address.c.customer_id == _customer.c.id,
        in_range(_address.c.customer_id),
        _address.c.id == _current_address_id(),
    )
    return (
        sa.select(
            _customer.c.id,
            _customer.c.name,
            _customer.c.email,
            _customer.c.company_name,
            _customer.c.company_reg_no,
            _customer.c.company_email,
            _customer.c.vat_id,
            _customer.c.phone,
            _customer.c.country,
            _customer.c.currency,
            _customer.c.ltv_minor,
            _address.c.line1,
            _address.c.line2,
            _address.c.city,
            _address.c.state,
            _address.c.postal_code,
            _address.c.country.label("address_country"),
        )
        .select_from(_customer.outerjoin(_address, current_address))
        .where(in_range(_customer.c.id), _customer.c.id.in_(members))
        .order_by(_customer.c.id)
    )


def _existing(selection: sa.Select[Any]) -> sa.Select[Any]:
    """The selected ids that are customers: one merged away since it was marked is not."""
    marked = selection.subquery()
    column = next(iter(marked.c))
    return sa.select(_customer.c.id).where(_customer.c.id.in_(sa.select(column)))


def _fill_target(connection: Connection, selection: sa.Select[Any]) -> int:
    """Copy the selection (existing customers only) into the temporary table."""
    _target.create(connection)
    connection.execute(sa.insert(_target).from_select(["id"], _existing(selection)))
    if connection.dialect.name == "postgresql":
        # A new table has no statistics: the planner would guess its size per chunk.
        connection.exec_driver_sql(f"ANALYZE {_target.name}")
    return int(connection.execute(sa.select(sa.func.count()).select_from(_target)).scalar_one())


def _discard_target(connection: Connection) -> None:
    """Drop the temporary table: a pooled connection would otherwise keep its ids
    until it is closed, and a later export on it would find the table there."""
    try:
        connection.rollback()
        _target.drop(connection, checkfirst=True)
        connection.commit()
    except sa.exc.DBAPIError:
        connection.invalidate()  # a broken connection is not handed out again


# ---------------------------------------------------------------- recording


def _require_exporter(connection: Connection, actor: Actor) -> None:
    """Refuse a customer, or an agent whose account is unknown or inactive. Read-only
    agents may export: it is a read (see the module docstring)."""
    authorize(connection, actor, Permission.EXPORT, "export customers")


def _record_events(connection: Connection, actor: Actor, file_name: str, when: datetime) -> None:
    """One activity event on every exported customer, in one statement."""
    exported = sa.select(_target.c.id).where(
        _target.c.id.in_(sa.select(_customer.c.id))  # one merged away meanwhile has no row
    )
    summary = f"Exported to CSV by {actor.label or 'system'}"
    connection.execute(
        sa.insert(_event).from_select(
            ["customer_id", "occurred_at", "kind", "actor_type", "agent_id", "summary", "details"],
            sa.select(
                exported.subquery().c.id,
                sa.literal(when, _event.c.occurred_at.type),
                # The profile's data is what left the system.
                sa.literal(ActivityKind.PROFILE.value),
                sa.literal(actor.type.value),
                sa.literal(actor.agent_id, sa.Integer),
                sa.literal(summary[:400]),
                sa.literal({"export": file_name, "bulk": True}, _event.c.details.type),
            ),
        )
    )


# -------------------------------------------------------------------- files
