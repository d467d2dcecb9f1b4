"""Everything stored about one customer, as one zip archive (GDPR art. 15 and 20).

A customer may ask for a copy of their data (right of access) in a form a machine
can read (portability). The archive holds `customer.json`, one JSON document with
every section, and one CSV per section for people with a spreadsheet. A section is
one table about the customer, every column as stored: times as ISO 8601 in UTC,
money as its integer minor units beside the ISO currency code (never a float).
Invoices carry their lines and payments their refunds (nested in the JSON, a JSON
cell in the CSV), so each section's rows are exactly its table's rows.

`access_log` is who looked at or changed the customer (the audit trail's entries
about them): sequence, time, agent, action and details. Never the before/after
values nor the chain's salts and hashes: those protect the trail, and are not data
about the person.

How it is written, as customer_export.py writes its files (services/private_files.py):
- One read transaction for every section, so the archive is one moment's snapshot
  (PostgreSQL: REPEATABLE READ; SQLite: an explicit BEGIN, since its driver starts
  no transaction for reads, and in WAL a read transaction sees one snapshot).
- An existing file is refused unless `replace=True`; a missing or read-only folder
  is refused with a clear message, before anything is read.
- The archive goes to a temporary file in the target's folder (mode 0600: it is
  all personal data), is synced to disk, and is renamed onto the target in one
  step: a crash leaves the old file or the whole new one, never a torn one.
- CSV cells that a spreadsheet would run as a formula get a leading quote
  (`guard_cell`); integers are written as they are, so money stays a number.

What it records: before the rename, one short transaction writes an activity event
on the customer and ONE audit entry, `customer.privacy_export`, with the file name
and the row count per section: no personal data. (The event is inserted directly
rather than through `intents.record_activity`, which would add a second audit entry
of its own.) As in customer_export.py, if the rename then fails the trail overstates
rather than hides.

Who may export: an agent, read-only ones included (it is a read, and they may see
all of this on screen), or the system. Not a customer (self-service): they ask, an
agent answers. Not an agent whose account is inactive.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_export import ENCODING, _require_exporter, guard_cell
from crm_tui.services.database import as_utc
from crm_tui.services.intents import insert_event
from crm_tui.services.private_files import (
    ExportError,
    destination,
    move_into_place,
    refuse_destination,
    sync_and_close,
    temporary_file,
)
from crm_tui.services.profile import customer_row
from crm_tui.services.validation import NAME_MAX
from crm_tui.text import safe_text

_T = tables.SQLModel.metadata.tables
_customer, _address, _consent = _T["customer"], _T["address"], _T["consent"]
_state_change, _preference, _external_id = (
    _T["account_state_change"],
    _T["preference"],
    _T["external_id"],
)
_tag, _customer_tag = _T["tag"], _T["customer_tag"]
_subscription, _plan, _usage = _T["subscription"], _T["plan"], _T["usage"]
_order, _invoice, _invoice_line = _T["customer_order"], _T["invoice"], _T["invoice_line"]
_payment, _refund, _credit = _T["payment"], _T["refund"], _T["credit"]
_note, _ticket, _escalation = _T["note"], _T["ticket"], _T["escalation"]
_email, _event, _audit = _T["email_message"], _T["activity_event"], _T["audit_entry"]
_segment, _member = _T["segment"], _T["customer_segment"]

ACTION = "customer.privacy_export"
JSON_NAME = "customer.json"
FORMAT = "crm-tui privacy export"
CONVENTIONS = (
    "Times are ISO 8601 in UTC. Money is an integer count of the currency's minor "
    "units beside its ISO 4217 code: 1999 USD is 19.99 USD, 1500 JPY is 1500 JPY."
)
# Nested rows: the parent section, the key they go under, their table and the
# column that points at the parent.
_CHILDREN = {
    "invoices": ("lines", _invoice_line, "invoice_id"),
    "payments": ("refunds", _refund, "payment_id"),
}


@dataclass(frozen=True)
class Section:
    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]  # JSON-ready values (see `_plain`)


@dataclass(frozen=True)
class PrivacyExportReport:
    path: Path
    customer_id: int
    sections: Mapping[str, int]  # section name: rows
    bytes: int
    audit_seq: int

    def summary(self) -> str:
        rows = sum(self.sections.values())
        return (
            f"Privacy export of customer #{self.customer_id}: {len(self.sections)} sections, "
            f"{rows:,} rows, {self.bytes:,} bytes in {safe_text(self.path)}. "
            f"Audit entry #{self.audit_seq}."
        )


def write_privacy_export(
    engine: Engine,
    customer_id: int,
    path: str | os.PathLike[str],
    actor: Actor,
    *,
    replace: bool = False,
    now: datetime | None = None,
    reason: str = "",
) -> PrivacyExportReport:
    """Write everything about the customer to the zip archive `path`, and record it.

    Raises `ExportRefused` / `TargetExists` before anything is read, `NotAllowed`
    for a customer or an inactive agent, `CustomerNotFound`, and `ExportError` when
    the file or the database fails; in every case no file was written."""
    target = destination(path)
    refuse_destination(target, replace)
    when = as_utc(now or datetime.now(UTC))
    try:
        owner, sections = _read(engine, customer_id, actor)
        counts = {section.name: len(section.rows) for section in sections}
        with temporary_file(target) as (file, temp_path):
            _write_archive(file, _document(owner, sections, when), sections, when)
            sync_and_close(file)
            size = temp_path.stat().st_size
            refuse_destination(target, replace)  # did it appear while we wrote?
            replaced = os.path.lexists(target)
            details: dict[str, Any] = {
                "file": safe_text(target.name)[:NAME_MAX],
                "sections": counts,
            }
            details |= {"replaced": replaced} | ({"reason": reason} if reason else {})
            entry = _record(engine, actor, owner, details, when)
            move_into_place(temp_path, target)
    except sa.exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0]
        raise ExportError(f"the database failed ({reason}): nothing was written") from error
    return PrivacyExportReport(target, owner, counts, size, entry.seq)


# ------------------------------------------------------------------- reading


def _read(engine: Engine, customer_id: int, actor: Actor) -> tuple[int, list[Section]]:
    """The customer's id (a merged-away id gives the survivor) and every section."""
    with _snapshot(engine) as connection:
        _require_exporter(connection, actor)
        owner = int(customer_row(connection, customer_id).id)
        sections = [_section(connection, name, select) for name, select in _selects(owner).items()]
        return owner, sections


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one moment; nothing it does is committed."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN")
        else:
            connection.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield connection
        finally:
            connection.rollback()


def _selects(customer_id: int) -> dict[str, sa.Select[Any]]:
    """One query per section, in the archive's order."""

    def owned(table: sa.Table, *order: sa.ColumnElement[Any]) -> sa.Select[Any]:
        ordering = order or tuple(table.primary_key.columns)
        return sa.select(table).where(table.c.customer_id == customer_id).order_by(*ordering)

    return {
        "profile": sa.select(_customer).where(_customer.c.id == customer_id),
        "status_history": owned(_state_change),
        "addresses": owned(_address),
        "preferences": owned(_preference),
        "external_ids": owned(_external_id),
        "tags": sa.select(_customer_tag, _tag.c.name.label("tag"))
        .join_from(_customer_tag, _tag)
        .where(_customer_tag.c.customer_id == customer_id)
        .order_by(_tag.c.name),
        "consent": owned(_consent, _consent.c.recorded_at, _consent.c.id),
        "subscriptions": sa.select(
            _subscription, _plan.c.code.label("plan_code"), _plan.c.name.label("plan_name")
        )
        .join_from(_subscription, _plan)
        .where(_subscription.c.customer_id == customer_id)
        .order_by(_subscription.c.id),
        "usage": sa.select(_usage)
        .join_from(_usage, _subscription)
        .where(_subscription.c.customer_id == customer_id)
        .order_by(_usage.c.id),
        "orders": owned(_order),
        "invoices": owned(_invoice),
        "payments": owned(_payment),
        "credits": owned(_credit),
        "notes": owned(_note),
        "tickets": owned(_ticket),
        "escalations": owned(_escalation),
        "emails": owned(_email),
        "activity": owned(_event),
        "segments": sa.select(_member, _segment.c.code, _segment.c.name)
        .join_from(_member, _segment)
        .where(_member.c.customer_id == customer_id)
        .order_by(_segment.c.code),
        # Named columns only: the salts, digests and hashes never leave the trail.
        "access_log": sa.select(
            _audit.c.seq, _audit.c.at, _audit.c.agent_username, _audit.c.action, _audit.c.details
        )
        .where(_audit.c.customer_id == customer_id)
        .order_by(_audit.c.seq),
    }


def _section(connection: Connection, name: str, select: sa.Select[Any]) -> Section:
    columns = tuple(select.selected_columns.keys())
    rows = _rows(connection, select)
    if name in _CHILDREN:
        key, table, parent = _CHILDREN[name]
        children = _children(connection, select, table, parent)
        for row in rows:
            row[key] = children.get(row["id"], [])
        columns = (*columns, key)
    return Section(name, columns, rows)


def _children(
    connection: Connection, parents: sa.Select[Any], table: sa.Table, parent: str
) -> dict[int, list[dict[str, Any]]]:
    """`table`'s rows grouped by their parent's id, for the parents `parents` selects."""
    parent_ids = parents.with_only_columns(parents.selected_columns.id).order_by(None)
    select = sa.select(table).where(table.c[parent].in_(parent_ids)).order_by(table.c.id)
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows(connection, select):
        grouped[row[parent]].append(row)
    return grouped


def _rows(connection: Connection, select: sa.Select[Any]) -> list[dict[str, Any]]:
    return [
        {key: _plain(value) for key, value in row._mapping.items()}
        for row in connection.execute(select)
    ]


def _plain(value: Any) -> Any:
    """A stored value as JSON can hold it: times in UTC ISO 8601, dates ISO."""
    if isinstance(value, datetime):
        return as_utc(value).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value  # str, int, bool, None, or a JSON column's dict / list


# ------------------------------------------------------------------- writing


def _document(customer_id: int, sections: list[Section], when: datetime) -> bytes:
    document = {
        "format": FORMAT,
        "version": 1,
        "customer_id": customer_id,
        "generated_at": _plain(when),
        "conventions": CONVENTIONS,
        "sections": {section.name: section.rows for section in sections},
    }
    # Plain UTF-8 (JSON allows no BOM); non-ASCII names stay readable.
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")


def csv_bytes(section: Section) -> bytes:
    """The section as CSV text: a header, then one guarded row per row."""
    text = io.StringIO()
    writer = csv.writer(text)  # QUOTE_MINIMAL, "\r\n" line ends (RFC 4180)
    writer.writerow(section.columns)
    writer.writerows(
        [csv_cell(row.get(column)) for column in section.columns] for row in section.rows
    )
    # UTF-8 with a BOM, as customer_export.py writes it: Excel then reads it as UTF-8.
    return text.getvalue().encode(ENCODING)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # only digits and a sign: no formula, and money stays a number
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return guard_cell(str(value))


def _write_archive(
    file: IO[bytes], document: bytes, sections: list[Section], when: datetime
) -> None:
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add(archive, JSON_NAME, document, when)
        for section in sections:
            _add(archive, f"{section.name}.csv", csv_bytes(section), when)


def _add(archive: zipfile.ZipFile, name: str, data: bytes, when: datetime) -> None:
    """One member, dated `when` (not the clock: the same data gives the same bytes),
    owner-only once unpacked (unzip applies these Unix permissions)."""
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o600) << 16
    archive.writestr(info, data)


# ----------------------------------------------------------------- recording


def _record(
    engine: Engine,
    actor: Actor,
    customer_id: int,
    details: dict[str, Any],
    when: datetime,
) -> audit.AuditRecord:
    """The activity event and the one audit entry, in a short transaction of their own."""
    name = details["file"]
    with engine.begin() as connection:
        summary = f"Privacy export (right of access) by {actor.label or 'system'}"
        # The profile's data is what left; the event alone (the one audit entry follows).
        insert_event(
            connection,
            customer_id,
            ActivityKind.PROFILE,
            actor,
            summary,
            {"export": name, "privacy": True},
            when,
        )
        return audit.append(
            connection,
            actor,
            ACTION,
            customer_id=customer_id,
            details=details,
            at=when,
        )
