"""Customer CSV export: the columns and their mapping, spreadsheet-safe cells that
round-trip through a CSV reader, a private file that appears whole or not at all,
a stop or a failure that leaves nothing behind, and one activity event per
customer plus one audit entry per export."""

from __future__ import annotations

import codecs
import csv
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services import customer_export
from crm_tui.services.actor import Actor
from crm_tui.services.audit import AuditLog
from crm_tui.services.customer_export import (
    COLUMNS,
    CustomerExport,
    ExportStopped,
    lifetime_value,
)
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from crm_tui.services.private_files import ExportError, ExportRefused, TargetExists
from crm_tui.services.tickets import NotAllowed
from tests.factories import T0, add_address, add_agent, add_customer

T = t.SQLModel.metadata.tables


def _count(engine: Engine, table: str, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as c:
        query = sa.select(sa.func.count()).select_from(T[table]).where(*where)
        return int(c.execute(query).scalar_one())


def _all(engine: Engine) -> sa.Select[Any]:
    return DirectoryService(engine).marked_ids(DirectoryQuery(), set())


def _read(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file))


def _nothing_recorded(engine: Engine) -> bool:
    return _count(engine, "activity_event") == 0 and _count(engine, "audit_entry") == 0


def _files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the files go: a folder of their own (the SQLite database is in tmp_path)."""
    exports = tmp_path / "exports"
    exports.mkdir()
    return exports


@pytest.fixture
def ana(engine: Engine) -> Actor:
    with engine.begin() as c:
        agent_id = add_agent(c, "ana", display_name="Ana Ruiz")
    return Actor.agent("ana", agent_id=agent_id, display_name="Ana Ruiz")


# ------------------------------------------------------------------ columns


@pytest.fixture
def mapped(engine: Engine) -> dict[str, int]:
    """A business with company fields and four addresses (only the current default
    billing one counts); an individual without an address; a shipping-only customer
    paying in yen; an erased customer."""
    with engine.begin() as c:
        business = add_customer(
            c,
            kind="business",
            name="Katrin Müller",
            email="katrin@nordlicht.example",
            phone="+49 30 901820",
            company_name="Nordlicht Analytics GmbH",
            company_reg_no="HRB 204519 B",
            company_email="billing@nordlicht.example",
            vat_id="DE287456913",
            country="DE",
            currency="EUR",
            ltv_minor=123456,
        )
        # Replaced: the old default billing address.
        add_address(
            c,
            business,
            line1="Alte Straße 1",
            city="Hamburg",
            country="DE",
            valid_to=T0 + timedelta(days=3),
        )
        add_address(
            c,
            business,
            line1="Hauptstraße 15",
            line2="Hinterhaus, 3. OG",
            city="Berlin",
            state="BE",
            postal_code="10245",
            country="DE",
            valid_from=T0 + timedelta(days=3),
        )
        add_address(c, business, kind="shipping", is_default=False, line1="Lager 9", country="AT")
        add_address(c, business, kind="billing", is_default=False, line1="Nebenan 2")
        individual = add_customer(c, name="Ada Lovelace", email="ada@example.com", country="GB")
        shipping_only = add_customer(
            c, name="Sato Yuki", email="yuki@example.jp", country="JP", currency="JPY",
            ltv_minor=1500,
        )  # fmt: skip
        add_address(
            c, shipping_only, kind="shipping", line1="1-2-3 Shibuya", city="Tokyo", country=""
        )
        erased = add_customer(
            c, name="Erased customer", email="", phone="", country="", erased_at=T0
        )
    return {"business": business, "individual": individual, "yen": shipping_only, "erased": erased}


def test_header_and_column_mapping(
    engine: Engine, mapped: dict[str, int], ana: Actor, folder: Path
) -> None:
    path = folder / "customers.csv"
    report = CustomerExport(engine).write(_all(engine), path, ana)
    assert report.rows == 4 and report.path == path
    assert path.read_bytes().startswith(codecs.BOM_UTF8)  # for Excel
    header, *rows = _read(path)
    assert tuple(header) == COLUMNS
    by_name = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows}
    assert by_name["Katrin Müller"] == {
        "Name": "Katrin Müller",
        "Email": "katrin@nordlicht.example",
        "Company": "Nordlicht Analytics GmbH",
        "Company ID": "HRB 204519 B",
        "Company Email": "billing@nordlicht.example",
        "Tax ID": "DE287456913",
        "Phone": "'+49 30 901820",  # the formula guard (see the module docstring)
        "Address": "Hauptstraße 15, Hinterhaus, 3. OG",
        "City": "Berlin",
        "State": "BE",
        "Zip/Postal Code": "10245",
        "Country": "DE",
        "VAT Number": "DE287456913",
        "Lifetime Value": "1234.56 EUR",
    }
    assert by_name["Ada Lovelace"] == dict.fromkeys(COLUMNS, "") | {
        "Name": "Ada Lovelace",
        "Email": "ada@example.com",
        "Country": "GB",  # no address: the customer's own country
        "Lifetime Value": "0.00 USD",
    }
    yen = by_name["Sato Yuki"]
    assert (yen["Address"], yen["City"], yen["Country"]) == ("1-2-3 Shibuya", "Tokyo", "JP")
    assert yen["Lifetime Value"] == "1500 JPY"
    assert by_name["Erased customer"]["Email"] == ""
    assert [row[0] for row in rows] == [
        "Katrin Müller",
        "Ada Lovelace",
        "Sato Yuki",
        "Erased customer",
    ]  # in customer id order


@pytest.mark.parametrize(
    ("minor", "currency", "cell"),
    [
        (123456, "USD", "1234.56 USD"),
        (5, "eur", "0.05 EUR"),
        (-1234, "GBP", "-12.34 GBP"),
        (0, "USD", "0.00 USD"),
        (1500, "JPY", "1500 JPY"),
        (123456789012345, "USD", "1234567890123.45 USD"),
    ],
)
def test_lifetime_value_is_exact(minor: int, currency: str, cell: str) -> None:
    assert lifetime_value(minor, currency) == cell


# ------------------------------------------------------------ hostile values

HOSTILE = [
    # (stored name, as it reads back)
    ('=HYPERLINK("http://x.example","y")', '\'=HYPERLINK("http://x.example","y")'),
    ("+1+2", "'+1+2"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\tTabbed", "'\tTabbed"),
    ("\rReturned", "'\rReturned"),
    ('Smith, "Jr."', 'Smith, "Jr."'),
    ("Line one\nline two", "Line one\nline two"),
    ("Zoë 🚀 O'Brien", "Zoë 🚀 O'Brien"),
    ("محمد الأحمد", "محمد الأحمد"),
    ("a=b", "a=b"),  # only the first character counts
]


def test_hostile_values_round_trip(engine: Engine, ana: Actor, folder: Path) -> None:
    with engine.begin() as c:
        for n, (name, _) in enumerate(HOSTILE):
            customer = add_customer(
                c, name=name, email=f"h{n}@example.com", company_name="=cmd|' /C calc'!A0"
            )
            add_address(c, customer, line1='1 "Quoted", Street', line2="\r\nBack")
    path = folder / "hostile.csv"
    CustomerExport(engine).write(_all(engine), path, ana)
    _, *rows = _read(path)
    assert [row[0] for row in rows] == [expected for _, expected in HOSTILE]
    assert {row[2] for row in rows} == {"'=cmd|' /C calc'!A0"}
    assert {row[7] for row in rows} == {'1 "Quoted", Street, \r\nBack'}


# ------------------------------------------------------------------- files


def test_the_file_is_private_and_no_temporary_file_is_left(
    engine: Engine, mapped: dict[str, int], ana: Actor, folder: Path
) -> None:
    path = folder / "out.csv"
    umask = os.umask(0)  # the most permissive: the file is private all the same
    try:
        CustomerExport(engine).write(_all(engine), path, ana)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _files(folder) == ["out.csv"]


def test_an_existing_file_is_refused(
    engine: Engine, mapped: dict[str, int], ana: Actor, folder: Path
) -> None:
    path = folder / "out.csv"
    path.write_text("keep me")
    with pytest.raises(TargetExists, match="nothing was written"):
        CustomerExport(engine).write(_all(engine), path, ana)
    assert path.read_text() == "keep me"
    assert _files(folder) == ["out.csv"]
    assert _nothing_recorded(engine)


def test_replace_swaps_the_whole_file_at_once(
    engine: Engine, mapped: dict[str, int], ana: Actor, folder: Path
) -> None:
    path = folder / "out.csv"
    path.write_text("old")
    path.chmod(0o644)
    old_inode = path.stat().st_ino
    CustomerExport(engine).write(_all(engine), path, ana, replace=True)
    # A new file renamed over the old one (never the old one rewritten in place).
    assert path.stat().st_ino != old_inode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(_read(path)) == 5
    assert _files(folder) == ["out.csv"]
    [entry] = AuditLog(engine).entries(action="customers.export")
    assert entry.details["replaced"] is True


def test_a_missing_or_unwritable_folder_is_refused(
    engine: Engine, mapped: dict[str, int], ana: Actor, folder: Path
) -> None:
    service = CustomerExport(engine)
    with pytest.raises(ExportRefused, match="there is no folder"):
        service.write(_all(engine), folder / "nowhere" / "out.csv", ana)
    with pytest.raises(ExportRefused, match="it is a folder"):
        service.write(_all(engine), folder, ana, replace=True)
    if os.geteuid() != 0:  # root writes anywhere
        locked = folder / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ExportRefused, match="not writable"):
            service.write(_all(engine), locked / "out.csv", ana)
    assert _nothing_recorded(engine)


# ------------------------------------------------------------ stop and fail


@pytest.fixture
def seven(engine: Engine) -> list[int]:
    with engine.begin() as c:
        return [add_customer(c, name=f"Smith {n}", email=f"s{n}@example.com") for n in range(7)]


def test_a_stop_midway_writes_nothing(
    engine: Engine, seven: list[int], ana: Actor, folder: Path
) -> None:
    path = folder / "out.csv"
    path.write_text("keep me")
    asked: list[int] = []
    seen: list[tuple[int, int]] = []

    def stop_after_two_chunks() -> bool:
        asked.append(1)
        return len(asked) > 2

    service = CustomerExport(engine, chunk_size=3)
    with pytest.raises(ExportStopped, match="after 6 of 7 customers: nothing was written"):
        service.write(
            _all(engine),
            path,
            ana,
            should_stop=stop_after_two_chunks,
            progress=lambda done, total: seen.append((done, total)),
            replace=True,
        )
    assert seen == [(0, 7), (3, 7), (6, 7)]
    assert path.read_text() == "keep me"
    assert _files(folder) == ["out.csv"]
    assert _nothing_recorded(engine)
    # Without a file before it, there is none after it.
    with pytest.raises(ExportStopped):
        service.write(_all(engine), folder / "new.csv", ana, should_stop=lambda: True)
    assert _files(folder) == ["out.csv"]


def test_every_chunk_is_written(engine: Engine, seven: list[int], ana: Actor, folder: Path) -> None:
    seen: list[tuple[int, int]] = []
    path = folder / "out.csv"
    report = CustomerExport(engine, chunk_size=3).write(
        _all(engine), path, ana, progress=lambda done, total: seen.append((done, total))
    )
    assert report.rows == 7
    assert seen == [(0, 7), (3, 7), (6, 7), (7, 7)]
    assert [row[0] for row in _read(path)[1:]] == [f"Smith {n}" for n in range(7)]


def test_the_file_is_one_snapshot_and_others_may_write_meanwhile(
    engine: Engine, seven: list[int], ana: Actor, folder: Path
) -> None:
    """A change committed by someone else between two chunks is not in the file
    (the reads share one snapshot), and does not stop the export being recorded."""
    customer = T["customer"]

    def rename_the_last_after_the_first_chunk(done: int, _total: int) -> None:
        if done == 3:
            with engine.begin() as other:
                other.execute(
                    sa.update(customer).where(customer.c.id == seven[-1]).values(name="Renamed")
                )

    path = folder / "out.csv"
    CustomerExport(engine, chunk_size=3).write(
        _all(engine), path, ana, progress=rename_the_last_after_the_first_chunk
    )
    assert _read(path)[-1][0] == "Smith 6"
    assert _count(engine, "customer", customer.c.name == "Renamed") == 1
    assert _count(engine, "activity_event") == 7


def test_sqlite_connections_get_their_memory_setting_back(
    engine: Engine, seven: list[int], ana: Actor, folder: Path
) -> None:
    """The export moves SQLite's temporary storage to a file (a million ids and the
    journal of a million events would take over 100 MB); the pooled connection
    returns to the app as it was, temporary table gone."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's temp_store")
    CustomerExport(engine).write(_all(engine), folder / "out.csv", ana)
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
        temp_tables = c.exec_driver_sql("SELECT name FROM sqlite_temp_master").all()
    assert temp_tables == []


def test_a_failed_record_removes_the_file(
    engine: Engine,
    seven: list[int],
    ana: Actor,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise sa.exc.OperationalError("INSERT INTO audit_entry", {}, Exception("disk I/O error"))

    monkeypatch.setattr(customer_export.audit, "append", refuse)
    path = folder / "out.csv"
    with pytest.raises(ExportError, match=r"disk I/O error\): nothing was written"):
        CustomerExport(engine).write(_all(engine), path, ana)
    assert _files(folder) == []
    assert _nothing_recorded(engine)  # the events went with the transaction


def test_a_write_error_removes_the_file(
    engine: Engine,
    seven: list[int],
    ana: Actor,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def disk_full(_file: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(customer_export, "sync_and_close", disk_full)
    with pytest.raises(ExportError, match="No space left on device; nothing was written"):
        CustomerExport(engine).write(_all(engine), folder / "out.csv", ana)
    assert _files(folder) == []
    assert _nothing_recorded(engine)


# ---------------------------------------------------------------- records


def test_one_event_per_customer_and_one_audit_entry(
    engine: Engine, seven: list[int], ana: Actor, folder: Path
) -> None:
    path = folder / "q3 smiths.csv"
    CustomerExport(engine, chunk_size=3).write(
        _all(engine), path, ana, describe="every match of search 'smith'"
    )
    events = T["activity_event"]
    with engine.connect() as c:
        rows = c.execute(sa.select(events).order_by(events.c.customer_id)).all()
    assert [row.customer_id for row in rows] == seven
    assert {row.summary for row in rows} == {"Exported to CSV by Ana Ruiz"}
    assert {row.kind for row in rows} == {"profile"}
    assert {row.agent_id for row in rows} == {ana.agent_id}
    assert rows[0].details == {"export": "q3 smiths.csv", "bulk": True}
    [entry] = AuditLog(engine).entries(action="customers.export")
    assert entry.agent_username == "ana"
    assert entry.details == {
        "count": 7,
        "file": "q3 smiths.csv",  # the name only: never the folder
        "replaced": False,
        "selection": "every match of search 'smith'",
    }
    assert str(folder) not in str(entry.details)
    assert AuditLog(engine).verify().ok


def test_a_read_only_agent_may_export_and_is_recorded(
    engine: Engine, seven: list[int], folder: Path
) -> None:
    with engine.begin() as c:
        rita = add_agent(c, "rita", display_name="Rita Reader", readonly=True)
        gone = add_agent(c, "olga", active=False)
    reader = Actor.agent("rita", agent_id=rita, display_name="Rita Reader")
    CustomerExport(engine).write(_all(engine), folder / "out.csv", reader)
    assert _count(engine, "activity_event") == 7
    assert AuditLog(engine).entries(action="customers.export")[0].agent_username == "rita"
    with pytest.raises(NotAllowed, match="inactive"):
        CustomerExport(engine).write(
            _all(engine), folder / "b.csv", Actor.agent("olga", agent_id=gone)
        )
    with pytest.raises(NotAllowed, match="only an agent"):
        CustomerExport(engine).write(_all(engine), folder / "c.csv", Actor.customer())
    assert _files(folder) == ["out.csv"]


# -------------------------------------------------------------- selections


def test_every_match_of_a_search_less_unmarked_ones(
    engine: Engine, seven: list[int], ana: Actor, folder: Path
) -> None:
    with engine.begin() as c:
        for n in range(3):
            add_customer(c, name=f"Jones {n}", email=f"j{n}@example.com")
    directory = DirectoryService(engine)
    selection = directory.marked_ids(DirectoryQuery(search="smith"), {seven[0]})
    path = folder / "smiths.csv"
    report = CustomerExport(engine, chunk_size=2).write(selection, path, ana)
    assert report.rows == 6
    assert [row[0] for row in _read(path)[1:]] == [f"Smith {n}" for n in range(1, 7)]
    by_hand = directory.marked_ids(None, {seven[2], seven[4], 999_999})
    report = CustomerExport(engine).write(by_hand, folder / "two.csv", ana)
    assert [row[0] for row in _read(folder / "two.csv")[1:]] == ["Smith 2", "Smith 4"]
    assert _count(engine, "activity_event") == 8


def test_preview_counts_and_shows_the_first_rows_writing_nothing(
    engine: Engine, mapped: dict[str, int], ana: Actor, folder: Path
) -> None:
    path = folder / "out.csv"
    preview = CustomerExport(engine).preview(_all(engine), path)
    assert (preview.customers, preview.exists, preview.problem) == (4, False, "")
    assert preview.header == COLUMNS
    assert [row[0] for row in preview.examples] == ["Katrin Müller", "Ada Lovelace"]
    assert preview.lines()[0] == f"4 customers will be written to {path}."
    assert _files(folder) == [] and _nothing_recorded(engine)
    # The rows shown are the rows written.
    CustomerExport(engine).write(_all(engine), path, ana)
    assert [tuple(row) for row in _read(path)[1:3]] == list(preview.examples)
    again = CustomerExport(engine).preview(_all(engine), path)
    assert again.exists and "will be replaced" in " ".join(again.lines())
    nowhere = CustomerExport(engine).preview(_all(engine), folder / "no" / "x.csv")
    assert nowhere.problem.startswith("there is no folder")
