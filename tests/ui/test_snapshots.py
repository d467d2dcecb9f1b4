"""SVG snapshots of the directory at 80x24 and 160x50 (pytest-textual-snapshot).

Update them after an intended change with `pytest tests/ui --snapshot-update`,
then look at the SVGs in tests/ui/__snapshots__ before committing.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from crm_tui.services.demo_seed import SHOWCASE
from tests.ui.conftest import (
    make_app,
    open_profile,
    screen_text,
    views_at_a_fixed_time,
    wait_for_profile,
    wait_for_rows,
)


@pytest.fixture(autouse=True)
def _views_at_a_fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    views_at_a_fixed_time(monkeypatch)  # (make_app's agent is "tester")


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_directory(snap_compare: Any, sqlite_directory_url: str, size: tuple[int, int]) -> None:
    async def loaded(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        await pilot.press("j", "j")

    assert snap_compare(make_app(sqlite_directory_url), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_directory_search_sorted(
    snap_compare: Any, sqlite_directory_url: str, size: tuple[int, int]
) -> None:
    async def searched(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        pilot.app.directory.search_input.value = "hostile"  # type: ignore[attr-defined]
        await wait_for_rows(pilot)
        await pilot.press("S")
        await wait_for_rows(pilot)

    assert snap_compare(make_app(sqlite_directory_url), terminal_size=size, run_before=searched)


def test_directory_no_match(snap_compare: Any, sqlite_directory_url: str) -> None:
    async def searched(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        pilot.app.directory.search_input.value = "nobody-at-all"  # type: ignore[attr-defined]
        await wait_for_rows(pilot)

    assert snap_compare(make_app(sqlite_directory_url), terminal_size=(80, 24), run_before=searched)


def test_filters_dialog(snap_compare: Any, sqlite_directory_url: str) -> None:
    async def opened(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        await pilot.press("f")
        await pilot.pause(0.5)

    assert snap_compare(make_app(sqlite_directory_url), terminal_size=(80, 24), run_before=opened)


def test_overview(snap_compare: Any, sqlite_directory_url: str) -> None:
    async def opened(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        pilot.app.directory.search_input.value = "ada@"  # type: ignore[attr-defined]
        await wait_for_rows(pilot)
        await pilot.press("enter", "enter")
        await wait_for_profile(pilot)

    assert snap_compare(make_app(sqlite_directory_url), terminal_size=(80, 24), run_before=opened)


# Each tab of the profile at 80x24, on the demo's showcase customers (a fixed seed and
# day, so the same rows every run).
PROFILE_TABS = [
    ("overview", SHOWCASE["business_account"], ()),
    ("subscriptions", SHOWCASE["business_account"], ("2",)),
    ("payments", SHOWCASE["partial_refund"], ("3",)),
    ("activity", SHOWCASE["loyal_upgrader"], ("4", "j", "enter")),
    ("notes", SHOWCASE["blocked_account"], ("5",)),
    ("status-history", SHOWCASE["blocked_account"], ("G",)),
]


@pytest.mark.parametrize(
    ("customer", "keys"),
    [pytest.param(customer, keys, id=name) for name, customer, keys in PROFILE_TABS],
)
def test_profile_tab(
    snap_compare: Any, sqlite_demo_url: str, customer: int, keys: tuple[str, ...]
) -> None:
    async def opened(pilot: Pilot[Any]) -> None:
        await open_profile(pilot, customer)
        await pilot.press(*keys)
        await pilot.pause(0.2)

    assert snap_compare(make_app(sqlite_demo_url), terminal_size=(80, 24), run_before=opened)


async def _steady_cursor(pilot: Pilot[Any]) -> None:
    """The focused field's cursor blinks every half second: hold it shown, so the
    picture does not depend on when it is taken."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause(0.2)


def test_new_customer_form(snap_compare: Any, sqlite_directory_url: str) -> None:
    async def opened(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        await pilot.press("N")
        await pilot.pause(0.3)
        await pilot.press("ctrl+s")  # nothing filled in: the messages beside the fields
        for _ in range(100):  # the save is checked in a worker: wait for its answer
            await pilot.pause(0.05)
            if "Nothing was saved" in screen_text(pilot.app):
                break
        # The form scrolls to the first bad field (at once); let the frame settle.
        await pilot.wait_for_scheduled_animations()
        await _steady_cursor(pilot)

    assert snap_compare(make_app(sqlite_directory_url), terminal_size=(80, 24), run_before=opened)


def test_help(snap_compare: Any, sqlite_directory_url: str) -> None:
    async def opened(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(sqlite_directory_url), terminal_size=(80, 24), run_before=opened)
