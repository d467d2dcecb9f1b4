"""= in the directory: merge two marked duplicates, keyboard only, through Pilot on
a real SQLite file: preview, reason, merge; the old id then finds the survivor."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from textual.widgets import Button, Input

from crm_tui.models.enums import AgentRole
from crm_tui.screens.bulk_dialog import BulkDialog
from crm_tui.screens.directory import DirectoryScreen
from tests.ui.conftest import make_app, screen_text, wait_for_rows


async def _until(pilot: Any, check: Any) -> None:
    for _ in range(300):
        await pilot.pause(0.03)
        if check():
            return
    raise AssertionError("timed out")


async def test_merge_two_marked_customers_keeping_the_one_typed(directory_url: str) -> None:
    app = make_app(directory_url, approvals_merges=False)  # [approvals] merges = false
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"customer00", "enter")
        await wait_for_rows(pilot)
        keep, gone = (row.id for row in app.directory.table.rows[:2])
        await pilot.press("space", "space", "equals_sign")
        await _until(pilot, lambda: isinstance(app.screen, BulkDialog))
        dialog = app.screen
        assert isinstance(dialog, BulkDialog)
        await pilot.press(*"12345", "enter")  # neither of the two
        await _until(pilot, lambda: f"type the id to keep: {keep} or {gone}" in screen_text(app))
        dialog.query_one("#bulk-value", Input).value = ""
        await pilot.press(*str(keep), "enter")
        await _until(pilot, lambda: dialog.previewed == str(keep))
        assert f"Keeps #{keep} Customer 000" in screen_text(app)
        await pilot.press("enter")  # on to the reason
        await pilot.press(*"Same person, two sign-ups", "enter")
        assert dialog.focused is dialog.query_one("#bulk-apply", Button)
        await pilot.press("enter")
        await _until(pilot, lambda: dialog.result is not None)
        assert dialog.result == f"Merged #{gone} into #{keep}. Searching #{gone} now finds #{keep}."
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)
        await pilot.press("slash", "ctrl+u", *f"#{gone}", "enter")
        await wait_for_rows(pilot)
        assert [row.id for row in app.directory.table.rows] == [keep]
    engine = sa.create_engine(directory_url)
    with engine.connect() as c:
        assert (
            c.execute(sa.text("SELECT count(*) FROM customer WHERE id = :i"), {"i": gone}).scalar()
            == 0
        )
        assert c.execute(sa.text("SELECT survivor_id FROM merged_customer")).scalar() == keep
    engine.dispose()


async def test_merge_needs_exactly_two_marked(directory_url: str) -> None:
    app = make_app(directory_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("space", "equals_sign")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DirectoryScreen)
        assert any("Mark exactly two" in str(n.message) for n in app._notifications)


async def test_a_merge_is_asked_for_and_made_by_the_manager_who_approves(
    directory_url: str,
) -> None:
    agent = make_app(directory_url, login="sofia", role=AgentRole.AGENT)
    async with agent.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"customer00", "enter")
        await wait_for_rows(pilot)
        keep, gone = (row.id for row in agent.directory.table.rows[:2])
        await pilot.press("space", "space", "equals_sign")
        await _until(pilot, lambda: isinstance(agent.screen, BulkDialog))
        dialog = agent.screen
        assert isinstance(dialog, BulkDialog)
        await pilot.press(*str(keep), "enter")
        await _until(pilot, lambda: dialog.previewed == str(keep))
        await pilot.press("enter", *"Same person, two sign-ups", "enter", "enter")
        await _until(pilot, lambda: dialog.result is not None)
        assert dialog.result is not None and dialog.result.startswith("Merge asked for (request #")
    engine = sa.create_engine(directory_url)
    with engine.connect() as c:  # nothing merged yet
        assert c.execute(sa.text("SELECT count(*) FROM merged_customer")).scalar() == 0

    manager = make_app(directory_url, login="lukas", role=AgentRole.MANAGER)
    async with manager.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("A")
        await _until(pilot, lambda: "1 waiting" in screen_text(manager))
        assert f"merge #{gone} into #{keep}" in screen_text(manager)
        await pilot.press("y")
        await _until(pilot, lambda: "Approve request" in screen_text(manager))
        await pilot.press("shift+tab", *"Checked both accounts", "tab", "tab", "enter")
        await _until(pilot, lambda: "nothing waiting" in screen_text(manager))
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT survivor_id FROM merged_customer")).scalar() == keep
        row = c.execute(sa.text("SELECT status FROM approval_request")).one()
        assert row.status == "executed"
    engine.dispose()
