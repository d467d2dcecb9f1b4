"""Hostile input, property-based (hypothesis): search text with FTS and SQL syntax is
always text, and a CSV file of any bytes is imported or refused with a message —
neither ever crashes the service layer, and a refused import writes nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services.actor import Actor
from crm_tui.services.customer_import import import_customers
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from tests.factories import add_customer

SYSTEM = Actor.system()
HEADER = (
    "Name,Email,Company,Company ID,Company Email,Tax ID,Phone,Address,City,State,"
    "Zip/Postal Code,Country,VAT Number"
)
# What people paste into a search box, and what FTS5 and SQL would read as syntax.
SYNTAX = [
    *('"', "'", "*", "-", "NEAR", "NEAR(", "%", "_", "\\", "(", ")", "[", "]", "OR", "AND"),
    *("NOT", ":", "^", "{", "}", ";", "--", "/*", "\x00", "\x1b[2J", "#", "@", "ß", "王"),
    "👩\u200d💻",
]
search_text = st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=6)), max_size=8).map(
    " ".join
)
fixtures_reused = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _people(engine: Engine) -> None:
    with engine.begin() as c:
        add_customer(c, name='Ada "The Count" Lovelace', email="ada@example.com")
        add_customer(c, name="100% Real_Name\\Co", email="o'brien@example.com")


@fixtures_reused
@given(text=search_text)
def test_any_search_text_is_searched_as_text(engine: Engine, text: str) -> None:
    if not _count(engine, "customer"):
        _people(engine)
    service = DirectoryService(engine)
    query = DirectoryQuery(search=text[:200])  # the search box holds 200 characters
    rows = service.window(query, SYSTEM, limit=20)
    count = service.count(query, SYSTEM)
    assert len(rows) <= max(count.value, 0) or count.capped


@fixtures_reused
@given(body=st.binary(max_size=400), with_header=st.booleans())
def test_any_csv_bytes_import_or_are_refused_with_a_message(
    engine: Engine, tmp_path_factory: object, body: bytes, with_header: bool
) -> None:
    folder = Path(tmp_path_factory.mktemp("csv"))  # type: ignore[attr-defined]
    path = folder / "customers.csv"
    path.write_bytes((HEADER.encode() + b"\r\n" if with_header else b"") + body)
    before = _count(engine, "customer")
    report = import_customers(engine, path, SYSTEM)
    after = _count(engine, "customer")
    if report.refused or report.errors:
        assert after == before and (report.refused or report.errors[0])
    else:
        assert after == before + report.imported


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as c:
        query = sa.select(sa.func.count()).select_from(t.SQLModel.metadata.tables[table])
        return int(c.execute(query).scalar_one())
