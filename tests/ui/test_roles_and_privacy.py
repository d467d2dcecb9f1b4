"""Roles, approvals and privacy requests through the screens (Pilot, 80x24).

- who may not do something sees its key greyed out and, pressing it, is told why;
- an unknown login is refused with what to do, not a crash;
- end to end: an agent asks for an erasure (`D`, typing the email), a different
  manager approves it in the approvals queue (`A`, `y`), and the customer's personal
  data is gone from the database and from search, the payments stay.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crm_tui.models import tables as t
from crm_tui.models.enums import AgentRole
from crm_tui.screens.approvals import ApprovalsScreen
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.screens.profile import ProfileScreen
from crm_tui.services.database import create_db_engine
from crm_tui.services.demo_seed import SHOWCASE
from tests.ui.conftest import make_app, open_profile, screen_text, until, wait_for_rows

T = t.SQLModel.metadata.tables
CUSTOMER = SHOWCASE["loyal_upgrader"]
SIZE = (80, 24)


def notices(app: Any) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def _customer(url: str) -> Any:
    engine = create_db_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(sa.select(T["customer"]).where(T["customer"].c.id == CUSTOMER)).one()
    finally:
        engine.dispose()


async def _type(pilot: Any, text: str) -> None:
    for char in text:
        await pilot.press(char)


async def test_a_read_only_agent_is_told_why_and_sees_read_only(demo_url: str) -> None:
    app = make_app(demo_url, login="rita", role=AgentRole.AGENT, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        assert "READ-ONLY" in screen_text(app).splitlines()[0]
        assert app.screen.check_action("new_customer", ()) is None  # greyed out
        await pilot.press("N")
        await until(pilot, lambda: "Read-only: rita cannot change" in notices(app), 10)
        assert isinstance(app.screen, DirectoryScreen)
        await open_profile(pilot, CUSTOMER)
        assert "READ-ONLY" in screen_text(app).splitlines()[0]
        await pilot.press("n")  # a note
        await until(pilot, lambda: notices(app).count("Read-only: rita") == 2, 10)
        assert isinstance(app.screen, ProfileScreen)


async def test_an_agent_cannot_open_the_approvals_queue(demo_url: str) -> None:
    app = make_app(demo_url, login="sofia", role=AgentRole.AGENT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("A")
        expected = "sofia is an agent: only managers and admins approve requests."
        await until(pilot, lambda: expected in notices(app), 10)
        assert isinstance(app.screen, DirectoryScreen)


async def test_an_unknown_login_is_refused_with_what_to_do(demo_url: str) -> None:
    from crm_tui.app import CrmApp
    from crm_tui.config import Settings
    from crm_tui.services.actor import Actor

    app = CrmApp(Settings(database_url=demo_url), actor=Actor.agent("stranger"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "crm-tui agents add stranger" in notices(app), 10)
        assert "'stranger' is not an agent of this database" in screen_text(app)
        assert app.workspace is None


async def test_erasure_asked_by_an_agent_and_approved_by_another_manager(demo_url: str) -> None:
    before = _customer(demo_url)
    # The agent asks (typing the customer's email to confirm), and exports their data.
    agent = make_app(demo_url, login="sofia", role=AgentRole.AGENT)
    async with agent.run_test(size=SIZE) as pilot:
        await open_profile(pilot, CUSTOMER)
        await pilot.press("D")
        await until(pilot, lambda: "right to erasure" in screen_text(agent), 10)
        await pilot.press("shift+tab", "shift+tab")  # from Cancel to the reason, the email
        await _type(pilot, before.email.upper())  # case does not matter
        await pilot.press("tab")
        await _type(pilot, "Written GDPR request")
        await pilot.press("tab", "tab", "enter")
        await until(pilot, lambda: "AWAITING APPROVAL" in screen_text(agent), 15)
        assert "Sofia" in screen_text(agent) or "sofia" in screen_text(agent)

    # A manager approves it from the queue; it cannot be the one who asked.
    manager = make_app(demo_url, login="lukas", role=AgentRole.MANAGER)
    async with manager.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(manager.screen, ApprovalsScreen), 10)
        await until(pilot, lambda: "1 waiting" in screen_text(manager), 10)
        assert "erase personal data" in screen_text(manager)
        await pilot.press("y")
        await until(pilot, lambda: "ERASES their personal data" in screen_text(manager), 10)
        await pilot.press("shift+tab")
        await _type(pilot, "Identity checked by phone")
        await pilot.press("tab", "tab", "enter")
        await until(pilot, lambda: "nothing waiting" in screen_text(manager), 15)
        await pilot.press("escape")
        directory = manager.directory
        directory.search_input.value = before.name
        await wait_for_rows(pilot)
        assert directory.match_count is not None and directory.match_count.value == 0

    after = _customer(demo_url)
    assert after.erased_at is not None and after.email == "" and before.name not in after.name
    engine = create_db_engine(demo_url)
    with engine.connect() as c:
        payments = c.execute(
            sa.select(sa.func.count())
            .select_from(T["payment"])
            .where(T["payment"].c.customer_id == CUSTOMER)
        ).scalar()
    engine.dispose()
    assert payments and payments > 0


async def test_privacy_export_from_the_profile(demo_url: str, tmp_path: Path) -> None:
    app = make_app(demo_url, login="rita", role=AgentRole.AGENT, readonly=True)
    target = tmp_path / "rita-export.zip"
    async with app.run_test(size=SIZE) as pilot:
        await open_profile(pilot, CUSTOMER)
        await pilot.press("E")
        await until(pilot, lambda: "right of access" in screen_text(app), 10)
        path_input = app.screen.query_one("#export-path")
        path_input.value = str(target)
        await pilot.press("shift+tab")
        await _type(pilot, "Customer asked by email")
        await pilot.press("tab", "tab", "enter")
        await until(pilot, lambda: target.exists(), 15)
    with zipfile.ZipFile(target) as archive:
        assert "customer.json" in archive.namelist() and "access_log.csv" in archive.namelist()
    assert target.stat().st_mode & 0o777 == 0o600


async def test_consent_recorded_from_the_profile_shows_on_the_overview(demo_url: str) -> None:
    from textual.widgets import Input, Select

    app = make_app(demo_url, login="sofia", role=AgentRole.AGENT)
    async with app.run_test(size=SIZE) as pilot:
        await open_profile(pilot, CUSTOMER)
        await pilot.press("C")
        await until(pilot, lambda: "Record consent" in screen_text(app), 10)
        dialog = app.screen
        dialog.query_one("#consent-purpose", Select).value = "analytics"
        dialog.query_one("#consent-state", Select).value = "refused"
        dialog.query_one("#consent-source", Input).value = "phone call"
        await pilot.press("shift+tab")  # back into the form: the source
        await pilot.press("tab", "tab", "enter")  # Cancel, Record
        await until(pilot, lambda: "Consent to analytics withdrawn" in notices(app), 15)
    engine = create_db_engine(demo_url)
    with engine.connect() as c:
        row = c.execute(
            sa.select(T["consent"])
            .where(T["consent"].c.customer_id == CUSTOMER)
            .order_by(T["consent"].c.id.desc())
        ).first()
    engine.dispose()
    assert row is not None and (row.purpose, row.granted, row.source) == (
        "analytics",
        False,
        "phone call",
    )
