"""Privacy export (right of access): the archive is checked against the database
section by section (row counts, every column, exact values), written safely (never
over an existing file unasked, owner-only, nothing left behind), spreadsheet-safe,
refused to a customer, and recorded once in the audit trail without personal data."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services.actor import Actor
from crm_tui.services.audit import AuditLog
from crm_tui.services.demo_seed import SHOWCASE, seed_demo
from crm_tui.services.privacy_export import ACTION, JSON_NAME, write_privacy_export
from crm_tui.services.private_files import ExportRefused, TargetExists
from crm_tui.services.profile import CustomerNotFound, ProfileService
from crm_tui.services.tickets import NotAllowed
from tests.factories import (
    T0,
    add_agent,
    add_consent,
    add_credit,
    add_email,
    add_escalation,
    add_invoice,
    add_invoice_line,
    add_note,
    add_refund,
    add_segment_member,
    add_state_change,
    add_ticket,
)

T = t.SQLModel.metadata.tables
HOSTILE = "=cmd|' /C calc'!A0"
NOTE_TEXT = 'Asked for a copy of "all my data", 🙂, line one\nline two'
CUSTOMER = SHOWCASE["loyal_upgrader"]

# Each section and the rows of the database it must hold, for one customer id.
SECTION_ROWS: dict[str, Any] = {
    "profile": lambda cid: sa.select(T["customer"]).where(T["customer"].c.id == cid),
    "status_history": "account_state_change",
    "addresses": "address",
    "preferences": "preference",
    "external_ids": "external_id",
    "tags": "customer_tag",
    "consent": "consent",
    "subscriptions": "subscription",
    "usage": lambda cid: (
        sa.select(T["usage"]).join(T["subscription"]).where(T["subscription"].c.customer_id == cid)
    ),
    "orders": "customer_order",
    "invoices": "invoice",
    "payments": "payment",
    "credits": "credit",
    "notes": "note",
    "tickets": "ticket",
    "escalations": "escalation",
    "emails": "email_message",
    "activity": "activity_event",
    "segments": "customer_segment",
    "access_log": "audit_entry",
}


def _db_count(engine: Engine, section: str, customer_id: int) -> int:
    spec = SECTION_ROWS[section]
    if isinstance(spec, str):
        select = sa.select(T[spec]).where(T[spec].c.customer_id == customer_id)
    else:
        select = spec(customer_id)
    with engine.connect() as c:
        return int(
            c.execute(sa.select(sa.func.count()).select_from(select.subquery())).scalar_one()
        )


def _csv(archive: zipfile.ZipFile, section: str) -> list[dict[str, str]]:
    text = archive.read(f"{section}.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _json(archive: zipfile.ZipFile) -> dict[str, Any]:
    return json.loads(archive.read(JSON_NAME).decode("utf-8"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    exports = tmp_path / "exports"
    exports.mkdir()
    return exports


@pytest.fixture
def ana(engine: Engine) -> Actor:
    with engine.begin() as c:
        agent_id = add_agent(c, "ana", display_name="Ana Ruiz")
    return Actor.agent("ana", agent_id=agent_id, display_name="Ana Ruiz")


@pytest.fixture
def seeded(engine: Engine, ana: Actor) -> dict[str, int]:
    """Demo data, and on the showcase customer a row in every table the seed left empty;
    then a profile view by Ana (an access_log entry). The ids to look for."""
    seed_demo(engine, 12, seed=3)
    cid = CUSTOMER
    payments = T["payment"]
    with engine.begin() as c:
        c.execute(sa.update(T["customer"]).where(T["customer"].c.id == cid).values(name=HOSTILE))
        payment_id = (
            c.execute(
                sa.select(payments.c.id)
                .where(payments.c.customer_id == cid)
                .order_by(payments.c.id)
            )
            .scalars()
            .first()
        )
        refund_id = add_refund(c, payment_id, 1234, reason="goodwill")
        invoice_id = add_invoice(c, cid, "PRIV-0001", total_minor=8900)
        add_invoice_line(c, invoice_id, amount_minor=8900, unit_amount_minor=8900)
        add_credit(c, cid, amount_minor=-500)
        note_id = add_note(c, cid, summary=NOTE_TEXT, agent_id=ana.agent_id)
        add_ticket(c, cid, subject="Where is my data?")
        add_escalation(c, cid)
        add_email(c, cid, to_address="zoe.hartmann@example.com")
        add_consent(c, cid, "marketing_email", True)
        add_consent(c, cid, "marketing_email", False, recorded_at=T0 + timedelta(days=3))
        add_segment_member(c, cid, "loyal")
        add_state_change(c, cid, from_state="active", to_state="deactivated")
    ProfileService(engine).profile(cid, ana)
    return {"payment": payment_id, "refund": refund_id, "note": note_id}


# ------------------------------------------------------------ against the database


def test_every_section_matches_the_database(
    engine: Engine, seeded: dict[str, int], ana: Actor, folder: Path
) -> None:
    expected = {section: _db_count(engine, section, CUSTOMER) for section in SECTION_ROWS}
    assert all(expected[s] > 0 for s in SECTION_ROWS), expected  # nothing checked on empty

    report = write_privacy_export(engine, CUSTOMER, folder / "zoe.zip", ana)

    with zipfile.ZipFile(report.path) as archive:
        assert sorted(archive.namelist()) == sorted(
            [JSON_NAME, *(f"{section}.csv" for section in SECTION_ROWS)]
        )
        document = _json(archive)
        assert document["customer_id"] == CUSTOMER
        assert set(document["sections"]) == set(SECTION_ROWS)
        for section, count in expected.items():
            rows = _csv(archive, section)
            assert len(document["sections"][section]) == count, section
            assert len(rows) == count, section
            assert report.sections[section] == count, section
    assert report.bytes == report.path.stat().st_size


def test_every_column_of_each_table_is_there(
    engine: Engine, seeded: dict[str, int], ana: Actor, folder: Path
) -> None:
    report = write_privacy_export(engine, CUSTOMER, folder / "zoe.zip", ana)
    with zipfile.ZipFile(report.path) as archive:
        sections = _json(archive)["sections"]
        for section, spec in SECTION_ROWS.items():
            if section == "access_log":
                continue  # chosen columns only: see the next test
            table = (
                T["customer"]
                if section == "profile"
                else T[spec]
                if isinstance(spec, str)
                else T["usage"]
            )
            header = next(
                csv.reader(io.StringIO(archive.read(f"{section}.csv").decode("utf-8-sig")))
            )
            assert set(table.c.keys()) <= set(header), section
            assert set(sections[section][0]) == set(header), section


def test_values_match_exactly(
    engine: Engine, seeded: dict[str, int], ana: Actor, folder: Path
) -> None:
    report = write_privacy_export(engine, CUSTOMER, folder / "zoe.zip", ana)
    with engine.connect() as c:
        customer = c.execute(sa.select(T["customer"]).where(T["customer"].c.id == CUSTOMER)).one()
        payment = c.execute(
            sa.select(T["payment"]).where(T["payment"].c.id == seeded["payment"])
        ).one()
    with zipfile.ZipFile(report.path) as archive:
        sections = _json(archive)["sections"]
        assert sections["profile"][0]["email"] == customer.email
        assert _csv(archive, "profile")[0]["email"] == customer.email

        exported = next(p for p in sections["payments"] if p["id"] == seeded["payment"])
        assert exported["amount_minor"] == payment.amount_minor
        assert exported["currency"] == payment.currency
        assert exported["created_at"].endswith("+00:00")  # ISO 8601, UTC
        assert [r["amount_minor"] for r in exported["refunds"]] == [1234]
        row = next(p for p in _csv(archive, "payments") if p["id"] == str(seeded["payment"]))
        assert row["amount_minor"] == str(payment.amount_minor)
        assert json.loads(row["refunds"])[0]["id"] == seeded["refund"]

        note = next(n for n in sections["notes"] if n["id"] == seeded["note"])
        assert note["summary"] == NOTE_TEXT
        assert (
            next(n for n in _csv(archive, "notes") if n["id"] == str(seeded["note"]))["summary"]
            == NOTE_TEXT
        )

        views = [e for e in sections["access_log"] if e["action"] == "customer.view"]
        assert [(e["agent_username"], e["at"][-6:]) for e in views] == [("ana", "+00:00")]
        assert set(sections["access_log"][0]) == {
            "seq",
            "at",
            "agent_username",
            "action",
            "details",
        }
        assert [c["granted"] for c in sections["consent"]] == [True, False]  # whole history


def test_a_hostile_name_is_guarded_in_csv_and_exact_in_json(
    engine: Engine, seeded: dict[str, int], ana: Actor, folder: Path
) -> None:
    report = write_privacy_export(engine, CUSTOMER, folder / "zoe.zip", ana)
    with zipfile.ZipFile(report.path) as archive:
        assert _csv(archive, "profile")[0]["name"] == "'" + HOSTILE
        assert _json(archive)["sections"]["profile"][0]["name"] == HOSTILE
        # Integers are numbers, not formulas: a negative credit stays a number.
        assert _csv(archive, "credits")[0]["amount_minor"] == "-500"


# --------------------------------------------------------------------- the file


def test_an_existing_file_is_refused_unless_replace(
    engine: Engine, seeded: dict[str, int], ana: Actor, folder: Path
) -> None:
    target = folder / "zoe.zip"
    target.write_bytes(b"keep me")
    with pytest.raises(TargetExists):
        write_privacy_export(engine, CUSTOMER, target, ana)
    assert target.read_bytes() == b"keep me"
    assert AuditLog(engine).entries(action=ACTION) == []

    write_privacy_export(engine, CUSTOMER, target, ana, replace=True)
    assert zipfile.is_zipfile(target)
    assert AuditLog(engine).entries(action=ACTION)[0].details["replaced"] is True


def test_the_file_is_owner_only_and_nothing_is_left_behind(
    engine: Engine, seeded: dict[str, int], ana: Actor, folder: Path
) -> None:
    report = write_privacy_export(engine, CUSTOMER, folder / "zoe.zip", ana)
    assert stat.S_IMODE(os.stat(report.path).st_mode) == 0o600
    assert os.listdir(folder) == ["zoe.zip"]


def test_a_missing_folder_is_refused(
    engine: Engine, seeded: dict[str, int], ana: Actor, folder: Path
) -> None:
    with pytest.raises(ExportRefused, match="there is no folder"):
        write_privacy_export(engine, CUSTOMER, folder / "nope" / "zoe.zip", ana)
    assert AuditLog(engine).entries(action=ACTION) == []


def test_an_unknown_customer_writes_nothing(engine: Engine, ana: Actor, folder: Path) -> None:
    with pytest.raises(CustomerNotFound):
        write_privacy_export(engine, 999, folder / "x.zip", ana)
    assert os.listdir(folder) == []


# ---------------------------------------------------------- who, and the record


def test_a_customer_is_refused_and_a_read_only_agent_may_export(
    engine: Engine, seeded: dict[str, int], folder: Path
) -> None:
    with pytest.raises(NotAllowed):
        write_privacy_export(engine, CUSTOMER, folder / "self.zip", Actor.customer())
    assert os.listdir(folder) == []

    with engine.begin() as c:
        reader_id = add_agent(c, "rita", readonly=True)
    report = write_privacy_export(
        engine, CUSTOMER, folder / "rita.zip", Actor.agent("rita", agent_id=reader_id)
    )
    assert report.path.exists()


def test_one_audit_entry_without_personal_data_and_an_activity_event(
    engine: Engine, seeded: dict[str, int], ana: Actor, folder: Path
) -> None:
    before = len(AuditLog(engine).entries())
    report = write_privacy_export(engine, CUSTOMER, folder / "zoe.zip", ana)

    entries = AuditLog(engine).entries()
    assert len(entries) == before + 1  # one entry, no other
    entry = entries[0]
    assert (entry.action, entry.customer_id, entry.agent_username) == (ACTION, CUSTOMER, "ana")
    assert entry.seq == report.audit_seq
    assert entry.details["file"] == "zoe.zip"
    assert entry.details["sections"] == dict(report.sections)
    text = json.dumps(entry.details)
    assert "zoe.hartmann" not in text and HOSTILE not in text
    assert AuditLog(engine).verify().ok

    events = T["activity_event"]
    with engine.connect() as c:
        event = c.execute(
            sa.select(events).where(events.c.customer_id == CUSTOMER).order_by(events.c.id.desc())
        ).first()
    assert event is not None
    assert event.details == {"export": "zoe.zip", "privacy": True}
    assert event.agent_id == ana.agent_id
