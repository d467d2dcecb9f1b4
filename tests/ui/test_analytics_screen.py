"""The analytics screen (issue 8): opened from the directory with its search and filters,
the figures of the service on screen, a date range typed at the top, each figure's
definition in `?`, and the charts in snapshots at 80x24 and 160x50."""

from __future__ import annotations

from datetime import date
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from crm_tui.app import CrmApp
from crm_tui.formatting import format_money
from crm_tui.screens.analytics import AnalyticsScreen, default_start, month_ticks, short_money
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.screens.help import HelpScreen
from crm_tui.services.analytics import DEFINITIONS, compute_analytics
from crm_tui.services.database import create_db_engine
from crm_tui.services.directory import DirectoryQuery
from tests.ui.conftest import make_app, screen_text, until, wait_for_rows

TODAY = date(2026, 11, 1)  # the demo's data is seeded as of a fixed day too


def _expected(url: str, search: str = "", start: date | None = None, end: date = TODAY) -> Any:
    engine = create_db_engine(url)
    try:
        return compute_analytics(engine, start=start, end=end, search=search, today=TODAY)
    finally:
        engine.dispose()


async def _computed(pilot: Pilot[Any], screen: AnalyticsScreen, previous: Any = None) -> None:
    await until(pilot, lambda: screen.figures is not None and screen.figures is not previous)
    await pilot.pause()


async def _open(pilot: Pilot[Any], app: CrmApp) -> AnalyticsScreen:
    """`I` in the directory; the screen's 'today' pinned so the default range is known."""
    await wait_for_rows(pilot)
    await pilot.press("I")
    await until(pilot, lambda: isinstance(app.screen, AnalyticsScreen))
    screen = app.screen
    assert isinstance(screen, AnalyticsScreen)
    return screen


async def test_the_figures_on_screen_are_the_services(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open(pilot, app)
        await _computed(pilot, screen)
        figures = screen.figures
        assert figures is not None
        text = screen_text(app)
        assert "analytics · all customers" in text
        assert f"Customers          {figures.total_customers:,}" in text
        assert f"{figures.active_customers:,} / {figures.inactive_customers:,}" in text
        for mrr in figures.mrr:
            assert format_money(mrr.amount_minor, mrr.currency) in text
        for value in figures.lifetime_value:
            assert (
                f"{format_money(value.average_minor, value.currency)} ({value.customers:,}" in text
            )
        assert "New customers per month" in text
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)


async def test_the_directorys_search_and_a_typed_range_select_what_is_counted(
    demo_url: str,
) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"davis", "enter")
        await wait_for_rows(pilot)
        shown = app.directory.match_count
        screen = await _open(pilot, app)
        await _computed(pilot, screen)
        assert "search “davis”" in screen_text(app)
        assert screen.figures is not None and shown is not None
        assert screen.figures.total_customers == shown.value
        expected = _expected(demo_url, search="davis", start=date(2025, 1, 1), end=TODAY)

        before = screen.figures
        await pilot.press("r")
        assert isinstance(screen.focused, Input) and screen.focused.id == "from"
        await pilot.press(*("backspace",) * 10, *"2025-01-01", "tab")
        await pilot.press(*("backspace",) * 10, *TODAY.isoformat(), "enter")
        await _computed(pilot, screen, previous=before)
        assert screen.figures.acquisition == expected.acquisition
        assert screen.figures.churn == expected.churn
        assert screen.figures.payment_failures == expected.payment_failures


async def test_a_bad_date_is_said_and_the_figures_stay(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open(pilot, app)
        await _computed(pilot, screen)
        before = screen.figures
        await pilot.press("r", *("backspace",) * 10, *"2026-13-01", "enter")
        await pilot.pause(0.3)
        assert "From: '2026-13-01' is not a date (YYYY-MM-DD)" in screen_text(app)
        assert screen.figures is before
        await pilot.press("r", *("backspace",) * 10, *"2026-12-01", "enter")
        await pilot.pause(0.3)
        assert "the range starts (2026-12-01) after it ends" in screen_text(app)
        assert screen.figures is before


async def test_a_search_that_matches_nobody_draws_empty_charts(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"nobody-matches-this", "enter")
        await wait_for_rows(pilot)
        screen = await _open(pilot, app)
        await _computed(pilot, screen)
        assert screen.figures is not None and screen.figures.total_customers == 0
        assert "Customers          0" in screen_text(app)
        await pilot.press("G", "c")  # every chart drawn (plotext raised on zeros)
        await pilot.pause()
        assert "Active vs inactive customers" in screen_text(app)  # the last chart, drawn
        assert isinstance(app.screen, AnalyticsScreen) and app.is_running


async def test_help_gives_each_figures_definition(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open(pilot, app)
        await _computed(pilot, screen)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press(*"churn")
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        churn = next(d for d in DEFINITIONS if d.key == "churn_rate")
        assert churn.title in text
        assert " ".join(churn.text.split()[:8]) in text


async def test_c_moves_the_lifetime_value_chart_to_the_next_currency(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open(pilot, app)
        await _computed(pilot, screen)
        assert screen.figures is not None
        currencies = sorted({b.currency for b in screen.figures.lifetime_value_distribution})
        assert len(currencies) > 1  # the demo bills in several
        titles = []
        for _ in currencies:
            await pilot.pause()
            titles.append(screen_text(app).split("Customers by lifetime value, ")[1][:3])
            await pilot.press("c")
        assert titles == currencies


def test_the_default_range_is_the_last_twelve_months() -> None:
    assert default_start(date(2026, 11, 23)) == date(2025, 12, 1)
    assert default_start(date(2026, 1, 5)) == date(2025, 2, 1)


def test_month_labels_are_few_and_end_with_the_last_month() -> None:
    months = [date(2025 + (m // 12), m % 12 + 1, 1) for m in range(24)]
    positions, labels = month_ticks(months)
    assert len(labels) <= 6 and labels[-1] == "Dec 26" and positions[-1] == 24
    assert month_ticks([]) == ([], [])


def test_bucket_edges_in_whole_units() -> None:
    assert short_money(100_000, "USD") == "$1k"
    assert short_money(500, "EUR") == "€5"
    assert short_money(10_000_000, "JPY") == "¥10M"


# ------------------------------------------------------------------- snapshots


def _analytics_app(url: str) -> CrmApp:
    app = make_app(url)

    async def opened(pilot: Pilot[Any]) -> None:
        await wait_for_rows(pilot)
        assert app.workspace is not None
        screen = AnalyticsScreen(
            app.workspace.engine, DirectoryQuery(), "all customers", today=lambda: TODAY
        )
        app.push_screen(screen)
        await _computed(pilot, screen)
        screen.query_one("#range-message").update("computed")  # (the time taken varies)
        await pilot.pause()

    app.opened = opened  # type: ignore[attr-defined]
    return app


def test_analytics_at_80x24(snap_compare: Any, sqlite_demo_url: str) -> None:
    app = _analytics_app(sqlite_demo_url)
    assert snap_compare(app, terminal_size=(80, 24), run_before=app.opened)  # type: ignore[attr-defined]


def test_analytics_charts_at_80x24(snap_compare: Any, sqlite_demo_url: str) -> None:
    app = _analytics_app(sqlite_demo_url)

    async def scrolled(pilot: Pilot[Any]) -> None:
        await app.opened(pilot)  # type: ignore[attr-defined]
        await pilot.press(*("j",) * 30)  # down to the segments and the active/inactive
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=scrolled)


def test_analytics_at_160x50(snap_compare: Any, sqlite_demo_url: str) -> None:
    app = _analytics_app(sqlite_demo_url)
    assert snap_compare(app, terminal_size=(160, 50), run_before=app.opened)  # type: ignore[attr-defined]
