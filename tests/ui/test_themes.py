"""The four themes: snapshots of the directory and a profile in each at 80x24, status
colours that follow the theme, the choice saved in config.toml, and NO_COLOR.

Update the snapshots after an intended change with
`pytest -n 0 tests/ui/test_themes.py --snapshot-update`, then look at the SVGs in
tests/ui/__snapshots__/test_themes before committing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.color import Color as RichColor
from rich.color import ColorType
from rich.segment import Segment
from textual.color import Color
from textual.command import CommandList
from textual.pilot import Pilot

from crm_tui.services.demo_seed import SHOWCASE
from crm_tui.themes import THEMES
from tests.ui.conftest import make_app, open_profile, until, views_at_a_fixed_time, wait_for_rows

THEME_NAMES = [theme.name for theme in THEMES]


@pytest.fixture(autouse=True)
def _views_at_a_fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    views_at_a_fixed_time(monkeypatch)  # (make_app's agent is "tester")


@pytest.fixture
def showcase_url(demo_template: Path, tmp_path: Path) -> str:
    """The demo's customers on SQLite, the showcase ones at fixed ids."""
    path = tmp_path / "showcase.sqlite3"
    shutil.copyfile(demo_template, path)
    return f"sqlite:///{path}"


def _segments(app: Any) -> list[Segment]:
    """What the screen draws, as the terminal gets it (after Textual's line filters)."""
    return [segment for strip in app.screen._compositor.render_strips() for segment in strip]


def _drawn_in(app: Any, text: str, variable: str) -> bool:
    """Whether some drawn segment reading `text` has the theme's colour `variable`
    (some: the same word may also be drawn plain, on the cursor's row say)."""
    expected = Color.parse(app.theme_variables[variable]).rich_color
    return any(
        _same(segment.style.color, expected)
        for segment in _segments(app)
        if text in segment.text and segment.style is not None
    )


def _same(drawn: RichColor | None, expected: RichColor) -> bool:
    # An ANSI colour stays a number (the terminal picks its shade): compare those as
    # numbers, the others by their red, green and blue.
    if drawn is None:
        return False
    if expected.type == ColorType.STANDARD:
        return drawn.number == expected.number
    return drawn.get_truecolor() == expected.get_truecolor()


# ------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("theme", THEME_NAMES)
def test_directory_in_theme(snap_compare: Any, sqlite_directory_url: str, theme: str) -> None:
    async def loaded(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        await pilot.press("j", "j")

    app = make_app(sqlite_directory_url, theme=theme)
    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)


@pytest.mark.parametrize("theme", THEME_NAMES)
def test_profile_in_theme(snap_compare: Any, showcase_url: str, theme: str) -> None:
    """A blocked customer's overview: the account state and lifecycle in their colours."""

    async def opened(pilot: Pilot[Any]) -> None:
        await open_profile(pilot, SHOWCASE["blocked_account"])
        await pilot.pause(0.2)

    app = make_app(showcase_url, theme=theme)
    assert snap_compare(app, terminal_size=(80, 24), run_before=opened)


# ------------------------------------------------------------ status colours


async def test_directory_statuses_follow_the_theme(sqlite_directory_url: str) -> None:
    app = make_app(sqlite_directory_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_rows(pilot)
        for theme in THEME_NAMES:
            app.theme = theme
            await pilot.pause(0.1)
            for status in ("active", "inactive", "churned"):
                assert _drawn_in(app, status, f"status-{status}"), (theme, status)


async def test_profile_statuses_follow_the_theme(showcase_url: str) -> None:
    """The overview (Rich renderables) and the payments list (CSS) both change colour."""
    app = make_app(showcase_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_profile(pilot, SHOWCASE["loyal_upgrader"])
        for theme in THEME_NAMES:
            app.theme = theme
            await pilot.pause(0.1)
            assert _drawn_in(app, "active", "status-active"), theme
        await pilot.press("3")  # Payments: one failed payment, retried
        await pilot.pause(0.2)
        assert _drawn_in(app, "failed", "status-failed")


@pytest.mark.parametrize("builtin", ["textual-light", "nord", "ansi-dark"])
async def test_textual_themes_get_status_colours_too(
    sqlite_directory_url: str, builtin: str
) -> None:
    """Textual's own themes do not define $status-*: the CSS still parses, and active
    customers are drawn in the theme's own success colour for text."""
    app = make_app(sqlite_directory_url, theme=builtin)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_rows(pilot)
        assert app.theme == builtin
        assert _drawn_in(app, "active", "text-success")


async def test_an_unknown_theme_starts_in_crm_dark(sqlite_directory_url: str) -> None:
    app = make_app(sqlite_directory_url, theme="no-such-theme")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        assert app.theme == "crm-dark"
        said = [n.message for n in app._notifications if n.title == "Theme"]
        assert said and said[0].startswith("There is no theme 'no-such-theme'; using crm-dark.")


# ------------------------------------------------------- remembered in config


async def _choose(pilot: Pilot[Any], typed: str, hit: str) -> None:
    """Type into the command palette, wait until `hit` is the highlighted answer
    (answers arrive in their own time), and take it."""

    def highlighted() -> str:
        for answers in pilot.app.screen.query(CommandList):
            option = answers.highlighted_option
            return str(option.prompt) if option is not None else ""
        return ""

    await pilot.press(*typed)
    await until(pilot, lambda: highlighted().startswith(hit), 10)
    await pilot.press("enter")


CONFIG = """\
# my settings
database_url = "sqlite:///x.sqlite3"   # the team's
theme = "crm-dark"

[keymap]
"directory.filters" = "ctrl+l"
"""


async def test_a_chosen_theme_is_saved_in_config_toml(
    sqlite_directory_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    app = make_app(sqlite_directory_url, config_path=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        assert config.read_text(encoding="utf-8") == CONFIG  # starting saves nothing
        await pilot.press("ctrl+p")
        await _choose(pilot, "theme", "Theme")  # Textual's command: the list of themes
        await _choose(pilot, "crm-light", "crm-light")
        await until(pilot, lambda: "crm-light" in config.read_text(encoding="utf-8"), 10)
        assert app.theme == "crm-light"
    assert config.read_text(encoding="utf-8") == CONFIG.replace('"crm-dark"', '"crm-light"')


async def test_a_config_that_is_not_toml_is_left_alone(
    sqlite_directory_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    broken = b'theme = "crm-dark\n[keymap\n'
    config.write_bytes(broken)
    app = make_app(sqlite_directory_url, config_path=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        app.theme = "crm-high-contrast"
        await until(
            pilot, lambda: any(n.title == "Theme not saved" for n in app._notifications), 10
        )
    assert config.read_bytes() == broken


# -------------------------------------------------------------------- NO_COLOR


def _colours(app: Any) -> set[RichColor]:
    found: set[RichColor] = set()
    for segment in _segments(app):
        if segment.style is not None:
            found.update(c for c in (segment.style.color, segment.style.bgcolor) if c)
    return found


DEFAULT = RichColor.default()


def _has_hue(colour: RichColor) -> bool:
    """Anything but the terminal's default colour or a grey (red = green = blue)."""
    if colour.type == ColorType.DEFAULT:
        return False
    if colour.type != ColorType.TRUECOLOR or colour.triplet is None:
        return True  # an ANSI or 256-colour number: the terminal colours it
    return len(set(colour.triplet)) > 1


@pytest.mark.parametrize("theme", THEME_NAMES)
async def test_no_color_draws_no_colour(
    showcase_url: str, theme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(showcase_url, theme=theme)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_rows(pilot)
        # Not even greys: only the terminal's own colours (no-color.org).
        assert _colours(app) <= {DEFAULT}, "directory"
        assert _reversed(app), "the cursor row shows without colour"
        await open_profile(pilot, SHOWCASE["blocked_account"])
        assert _colours(app) <= {DEFAULT}, "profile"
        assert _reversed(app), "the blocked state shows without colour"


def _reversed(app: Any) -> list[str]:
    return [
        s.text for s in _segments(app) if s.style is not None and s.style.reverse and s.text.strip()
    ]


async def test_without_no_color_there_is_colour(
    showcase_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can see colour: the same screen without NO_COLOR has some."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_app(showcase_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_rows(pilot)
        assert [c for c in _colours(app) if _has_hue(c)]
