"""Customer values that look like markup, escape sequences or bidi tricks display literally."""

from __future__ import annotations

import pytest

from crm_tui.app import CrmApp
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.screens.profile import ProfileScreen as CustomerScreen
from tests.ui.conftest import HOSTILE_NAMES, wait_for_rows

# What the agent sees for each hostile name: the text itself, unsafe characters made visible.
SHOWN = {
    "markup_click": "[@click=app.quit]x[/]",
    "markup_close": "Acme [/ltd] [b]bold[/b]",
    "ansi": "Eve ‹U+001B›[31mred‹U+001B›[0m ‹U+001B›[2J",
    "osc": "Mallory ‹U+001B›]52;c;cm0gLXJmIH4=‹U+0007› clip",
    "c1": "C1 ‹U+009B›31m control",
    "bidi": "Bidi ‹U+202E›gnp.exe‹U+202C› ok",
    "zero_width": "Zero‹U+200B›width‹U+2060›joiner",
    "cjk": "王芳王芳王芳",
    "emoji": "Emoji 👩",
    "long": "Looooooooo",
}


def _lines(app: CrmApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def _segments(app: CrmApp) -> list[tuple[str, object]]:
    return [
        (segment.text, segment.style)
        for strip in app.screen._compositor.render_strips()
        for segment in strip
    ]


@pytest.mark.parametrize("key", sorted(HOSTILE_NAMES))
async def test_hostile_name_in_the_table_is_literal_text(app: CrmApp, key: str) -> None:
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for_rows(pilot)
        app.directory.search_input.value = f"{key}@hostile"
        await wait_for_rows(pilot)
        assert [row.email for row in app.directory.table.rows] == [f"{key}@hostile.example"]
        screen_text = "\n".join(_lines(app))
        assert SHOWN[key][:36] in screen_text  # the Name column is at most 40 cells
        for text, style in _segments(app):
            assert not any(0x00 <= ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text), key
            assert "\u202e" not in text and "\u200b" not in text
            meta = getattr(style, "meta", None) or {}
            assert "@click" not in meta, key
        width = app.size.width
        assert all(strip.cell_length == width for strip in app.screen._compositor.render_strips())


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_every_hostile_row_keeps_the_table_aligned(
    app: CrmApp, size: tuple[int, int]
) -> None:
    async with app.run_test(size=size) as pilot:
        await wait_for_rows(pilot)
        app.directory.search_input.value = "hostile"
        await wait_for_rows(pilot)
        assert len(app.directory.table.rows) == len(HOSTILE_NAMES)
        table = app.directory.table
        for y in range(table.size.height):
            assert table.render_line(y).cell_length == table.size.width


async def test_pressing_keys_on_a_markup_name_triggers_nothing(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        app.directory.search_input.value = "markup_click@"
        await wait_for_rows(pilot)
        await pilot.press("enter", "enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, CustomerScreen)
        text = "\n".join(_lines(app))
        assert "[@click=app.quit]x[/]" in text
        await pilot.click(offset=(10, 2))  # on the name: a click must not quit the app
        await pilot.pause()
        assert app.is_running
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)


@pytest.mark.parametrize("key", ["ansi", "osc", "bidi", "long"])
async def test_hostile_overview_is_literal(app: CrmApp, key: str) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        app.directory.search_input.value = f"{key}@hostile"
        await wait_for_rows(pilot)
        await pilot.press("enter", "enter")
        await pilot.pause(0.5)
        text = "\n".join(_lines(app))
        assert SHOWN[key][:30] in text.replace("\n", "") or SHOWN[key][:20] in text
        assert "\x1b" not in text and "\u202e" not in text
