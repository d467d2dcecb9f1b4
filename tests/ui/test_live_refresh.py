"""Team mode: what another agent changes appears on an open screen within a second or
two — on SQLite (PRAGMA data_version) and on PostgreSQL (LISTEN/NOTIFY) — without
moving the viewer's cursor or losing what they were typing."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from textual.widgets import Input, TextArea

from crm_tui.models.enums import AgentRole
from crm_tui.screens.details_form import details_of
from crm_tui.services.customer_edit import CustomerEditService
from crm_tui.services.database import create_db_engine
from tests.ui.conftest import (
    ensure_agent,
    make_app,
    open_profile,
    screen_text,
    until,
    wait_for_rows,
)

SIZE = (80, 24)


def _customer_001(url: str) -> Any:
    from crm_tui.services.directory import DirectoryQuery, DirectoryService

    engine = create_db_engine(url)
    try:
        service = DirectoryService(engine)
        (row,) = service.window(
            DirectoryQuery(search="customer001@example.com"), _system(), limit=5
        )
        return row
    finally:
        engine.dispose()


def _system() -> Any:
    from crm_tui.services.actor import Actor

    return Actor.system()


def _rename(url: str, customer_id: int, name: str) -> float:
    """Another agent saves a new name through the services; the moment it committed."""
    from crm_tui.services.profile import ProfileService

    other = ensure_agent(url, "maria", AgentRole.AGENT)
    engine = create_db_engine(url)
    try:
        current = ProfileService(engine).overview(customer_id, other, record_view=False)
        details = replace(details_of(current), name=name)
        CustomerEditService(engine).update_details(customer_id, current.version, details, other)
        return time.monotonic()
    finally:
        engine.dispose()


async def test_a_profile_shows_another_agents_change_and_keeps_the_typed_note(
    directory_url: str,
) -> None:
    cora = _customer_001(directory_url)
    app = make_app(directory_url)
    async with app.run_test(size=SIZE) as pilot:
        profile = await open_profile(pilot, cora.id)
        await pilot.press("n")  # start a note, and type some of it
        await until(pilot, lambda: app.screen is not profile, 10)
        form = app.screen
        summary = form.query(Input).first()
        summary.value = "Half-typed note"
        changed_at = _rename(directory_url, cora.id, "Cora King")
        await until(pilot, lambda: "Cora King" in str(profile.profile and profile.profile.name), 10)
        seen_after = time.monotonic() - changed_at
        assert app.screen is form and summary.value == "Half-typed note"
        assert seen_after < 3.0, seen_after
        await pilot.press("escape")
        await until(pilot, lambda: "Cora King" in screen_text(app).splitlines()[0], 10)


async def test_the_directory_shows_a_rename_with_the_cursor_kept(directory_url: str) -> None:
    cora = _customer_001(directory_url)
    app = make_app(directory_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        directory = app.directory
        directory.search_input.value = "customer00"
        await wait_for_rows(pilot)
        directory.set_focus(directory.table)
        await pilot.press("j")  # onto Customer 001
        assert directory.table.current_row is not None
        assert directory.table.current_row.id == cora.id
        _rename(directory_url, cora.id, "Cora Byron")  # sorts first now
        await until(pilot, lambda: "Cora Byron" in screen_text(app), 10)
        assert directory.table.current_row is not None
        assert directory.table.current_row.id == cora.id  # the cursor followed them
        assert isinstance(app.screen.focused, type(directory.table))
        assert not isinstance(app.screen.focused, (Input, TextArea))
