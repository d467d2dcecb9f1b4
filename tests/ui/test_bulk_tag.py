"""t and a in the directory over 100,000 customers, with the keyboard alone: open a
queue, mark every match (ctrl+a), preview, tag them all in one transaction; and a
stop midway that leaves nothing half-applied."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from textual.widgets import Button

from crm_tui.app import CrmApp
from crm_tui.models import tables as t
from crm_tui.screens.bulk_dialog import BulkDialog
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.screens.queue_picker import QueuePicker
from crm_tui.services import bulk_edit
from crm_tui.services.audit import AuditLog
from crm_tui.services.database import create_db_engine
from tests.conftest import PostgresTemplates
from tests.ui.conftest import make_app, screen_text, until, wait_for_rows

MEMBERS = 100_000
# One worker fills the members once (per engine) for all three tests.
pytestmark = pytest.mark.xdist_group("members")
T = t.SQLModel.metadata.tables

# {number} is the six-digit form of i: printf on SQLite, lpad on PostgreSQL.
_FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO customer (kind, name, email, phone, company_name, company_reg_no,
    company_email, vat_id, billing_group, billing_contact, storefront, region, country,
    timezone, registered_at, account_state, lifecycle_status, current_plan,
    has_active_subscription, currency, mrr_minor, ltv_minor, version, updated_at)
SELECT 'individual', :prefix || ' ' || {number}, lower(:prefix) || i || '@example.com',
    '', '', '', '', '', '', '', 'web', 'EU', 'GB', 'UTC', '2026-01-15 09:30:00', 'active',
    'active', '', false, 'USD', 0, i, 1, '2026-01-15 09:30:00'
FROM n
"""
_NUMBER = {"sqlite": "printf('%06d', i)", "postgresql": "lpad(i::text, 6, '0')"}


def _fill(url: str) -> None:
    """100,000 "Member" customers and 50 "Other" ones (set-based: a few seconds)."""
    engine = create_db_engine(url)
    fill = sa.text(_FILL.format(number=_NUMBER[engine.dialect.name]))
    with engine.begin() as connection:
        connection.execute(fill, {"count": MEMBERS, "prefix": "Member"})
        connection.execute(fill, {"count": 50, "prefix": "Other"})
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


@pytest.fixture(scope="session")
def members_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("members") / "members.sqlite3"
    shutil.copyfile(sqlite_template, path)
    _fill(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def members_url(request: pytest.FixtureRequest, members_template: Path, tmp_path: Path) -> str:
    """The members on SQLite (a copy of the session's file), then on PostgreSQL."""
    if request.param == "postgres":
        templates: PostgresTemplates = request.getfixturevalue("postgres_templates")
        return templates.copy("members", _fill)
    path = tmp_path / "members.sqlite3"
    shutil.copyfile(members_template, path)
    return f"sqlite:///{path}"


def _count(url: str, table: str, *where: Any) -> int:
    engine = create_db_engine(url)
    try:
        with engine.connect() as c:
            query = sa.select(sa.func.count()).select_from(T[table]).where(*where)
            return int(c.execute(query).scalar_one())
    finally:
        engine.dispose()


def _tagged(url: str, tag: str) -> int:
    return _count(
        url,
        "customer_tag",
        T["customer_tag"].c.tag_id.in_(sa.select(T["tag"].c.id).where(T["tag"].c.name == tag)),
    )


async def _open_dialog(pilot: Any, app: CrmApp, key: str) -> BulkDialog:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, BulkDialog), timeout=5)
    assert isinstance(app.screen, BulkDialog)
    return app.screen


async def _mark_every_member(pilot: Any, app: CrmApp) -> None:
    """Search, save the view as a queue, clear it, open the queue again, ctrl+a."""
    await wait_for_rows(pilot)
    await pilot.press("slash", *"member", "enter")
    await wait_for_rows(pilot)
    await pilot.press("colon")
    await until(pilot, lambda: isinstance(app.screen, QueuePicker), timeout=5)
    await pilot.press(*"save Members", "enter")
    await until(pilot, lambda: isinstance(app.screen, DirectoryScreen), timeout=5)
    await pilot.press("escape")  # clears the search: every customer again
    await wait_for_rows(pilot)
    await pilot.press("colon")
    await until(pilot, lambda: isinstance(app.screen, QueuePicker), timeout=5)
    await pilot.press(*"members", "enter")
    await wait_for_rows(pilot)
    assert app.directory.search_input.value == "member"
    await until(pilot, lambda: app.directory.match_count is not None)
    await pilot.press("ctrl+a")
    assert "queue: Members" in screen_text(app)


async def test_tag_every_match_of_a_search_over_100000_customers(members_url: str) -> None:
    app = make_app(members_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await _mark_every_member(pilot, app)
        await pilot.press("space")  # unmark the first member: all but one
        dialog = await _open_dialog(pilot, app, "t")
        await pilot.press(*"renewal-call", "enter")
        await until(pilot, lambda: dialog.previewed == "renewal-call")
        text = screen_text(app)
        assert "99,999 of 99,999 marked will be tagged." in text
        assert "Member 000002" in text  # an example; Member 000001 is unmarked
        assert _tagged(members_url, "renewal-call") == 0  # the preview wrote nothing
        await pilot.press("enter")
        assert dialog.focused is dialog.query_one("#bulk-apply", Button)
        await pilot.press("enter")
        await until(pilot, lambda: dialog.result is not None)
        assert "99,999 customers tagged." in (dialog.result or "")
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)
    assert _tagged(members_url, "renewal-call") == MEMBERS - 1
    events = T["activity_event"]
    assert _count(members_url, "activity_event", events.c.summary == "Tagged renewal-call") == (
        MEMBERS - 1
    )
    engine = create_db_engine(members_url)
    entries = AuditLog(engine).entries(action="customers.bulk_tag")
    engine.dispose()
    assert len(entries) == 1
    assert entries[0].details["tagged"] == MEMBERS - 1
    assert "every match of search 'member'" in entries[0].details["selection"]


async def test_a_stop_midway_leaves_nothing_applied(
    members_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks, each a little slow, so the stop lands while the tagging runs.
    monkeypatch.setattr(bulk_edit, "CHUNK", 2_000)
    record_events = bulk_edit._record_events

    def slow_record_events(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.05)
        record_events(*args, **kwargs)

    monkeypatch.setattr(bulk_edit, "_record_events", slow_record_events)
    app = make_app(members_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await _mark_every_member(pilot, app)
        dialog = await _open_dialog(pilot, app, "t")
        await pilot.press(*"half", "enter")
        await until(pilot, lambda: dialog.previewed == "half")
        await pilot.press("enter", "enter")
        await until(pilot, lambda: dialog.query_one("#bulk-progress").progress >= 4_000)
        await pilot.press("escape")  # stop
        await until(pilot, lambda: dialog.result is not None)
        assert "Stopped after" in (dialog.result or "")
        assert "nothing was changed" in (dialog.result or "")
        assert isinstance(app.screen, BulkDialog)  # the first escape only stopped
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)
    assert _tagged(members_url, "half") == 0
    assert _count(members_url, "tag", T["tag"].c.name == "half") == 0
    assert _count(members_url, "activity_event") == 0
    audit = T["audit_entry"]  # (the settled search is recorded: that is a read)
    assert _count(members_url, "audit_entry", audit.c.action == "customers.bulk_tag") == 0


async def test_assign_the_marked_customers(members_url: str) -> None:
    app = make_app(members_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"other", "enter")
        await wait_for_rows(pilot)
        await pilot.press("space", "space", "space")
        assert "3 marked" in screen_text(app)
        dialog = await _open_dialog(pilot, app, "a")
        await pilot.press(*"nobody-here", "enter")
        await until(pilot, lambda: "no agent called" in screen_text(app))
        assert dialog.query_one("#bulk-apply", Button).disabled
        me = app.directory.actor
        assert me is not None
        await pilot.press(*("backspace",) * 11, *me.username, "enter")
        await until(pilot, lambda: dialog.previewed == me.username)
        assert "3 of 3 marked will be assigned." in screen_text(app)
        await pilot.press("enter", "enter")
        await until(pilot, lambda: dialog.result is not None)
        assert "3 customers assigned." in (dialog.result or "")
    customer = T["customer"]
    assert _count(members_url, "customer", customer.c.assigned_agent_id.is_not(None)) == 3
