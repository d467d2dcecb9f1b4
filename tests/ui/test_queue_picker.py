"""`:` in the directory: open a queue, complete a name, save and delete your own —
driven with the keyboard through Pilot, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from crm_tui.app import CrmApp
from crm_tui.models import tables as t
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.screens.queue_picker import QueuePicker
from tests.ui.conftest import make_app, screen_text, wait_for_rows


def _escalate(url: str, name: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        customer = connection.execute(
            sa.text("SELECT id FROM customer WHERE name = :name"), {"name": name}
        ).scalar_one()
        connection.execute(
            sa.insert(t.Escalation.__table__),  # type: ignore[attr-defined]
            {
                "customer_id": customer,
                "reason": "Threatens a chargeback",
                "status": "open",
                "raised_at": datetime.now(UTC),
            },
        )
    engine.dispose()


def _names(app: CrmApp) -> list[str]:
    return [row.name for row in app.directory.table.rows]


def _status(app: CrmApp) -> str:
    return str(app.directory.query_one("#status-line").render())


async def _picker(pilot: object, app: CrmApp) -> QueuePicker:
    await pilot.press("colon")  # type: ignore[attr-defined]
    for _ in range(100):
        await pilot.pause(0.05)  # type: ignore[attr-defined]
        screen = app.screen
        if isinstance(screen, QueuePicker) and screen.all:
            return screen
    raise AssertionError("the queue picker did not open")


async def test_open_a_built_in_queue_by_typing_part_of_its_name(directory_url: str) -> None:
    _escalate(directory_url, "Customer 007")
    app = make_app(directory_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        picker = await _picker(pilot, app)
        await pilot.press(*"escal")
        assert [q.name for q in picker.shown] == ["Escalated"]
        await pilot.press("enter")
        await wait_for_rows(pilot)
        assert isinstance(app.screen, DirectoryScreen)
        assert _names(app) == ["Customer 007"]
        assert _status(app).startswith("queue: Escalated · 1 of 1 customer")
        await pilot.press("escape")  # clears the queue's filters like any others
        await wait_for_rows(pilot)
        assert "queue:" not in _status(app)


async def test_tab_completes_and_counts_show(directory_url: str) -> None:
    app = make_app(directory_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        picker = await _picker(pilot, app)
        await pilot.press(*"follow")
        await pilot.pause(0.3)  # the suggester answers in a worker
        await pilot.press("tab")
        assert picker.command.value == "Follow-ups due"
        for _ in range(100):
            if len(picker.counts) == len(picker.all):
                break
            await pilot.pause(0.05)
        assert str(picker.counts["Follow-ups due"]) == "0"
        assert "Follow-ups due  0" in screen_text(app)


async def test_save_the_current_view_and_find_it_after_a_restart(directory_url: str) -> None:
    app = make_app(directory_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"customer01", "enter")
        await wait_for_rows(pilot)
        await _picker(pilot, app)
        await pilot.press(*"save Tens", "enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, DirectoryScreen)
        assert _status(app).startswith("queue: Tens")

    again = make_app(directory_url)  # a new session of the same agent
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        picker = await _picker(pilot, again)
        assert "Tens (yours)" in screen_text(again)
        await pilot.press(*"tens", "enter")
        await wait_for_rows(pilot)
        assert again.directory.search_input.value == "customer01"
        assert _names(again) == [f"Customer {n:03d}" for n in range(10, 20)]

        picker = await _picker(pilot, again)
        await pilot.press(*"delete Tens", "enter")
        await pilot.pause(0.5)
        assert "Deleted the queue “Tens”." in screen_text(again)
        assert "Tens" not in [q.name for q in picker.all]


async def test_a_name_that_matches_nothing_says_so_and_stays_open(directory_url: str) -> None:
    app = make_app(directory_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        picker = await _picker(pilot, app)
        await pilot.press(*"zzz", "enter")
        assert app.screen is picker
        assert "No queue matches “zzz”" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)
