"""The directory screen driven with the keyboard through Textual's Pilot, on a real SQLite file."""

from __future__ import annotations

import re

import sqlalchemy as sa

from crm_tui.app import CrmApp
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.screens.filters import FiltersScreen
from crm_tui.screens.help import HelpScreen
from crm_tui.screens.profile import ProfileScreen as CustomerScreen
from crm_tui.widgets.directory_table import DirectoryTable
from tests.ui.conftest import BASE_COUNT, HOSTILE_NAMES, make_app, wait_for_rows

TOTAL = BASE_COUNT + 1 + len(HOSTILE_NAMES)
ALL_NAMES = [f"Customer {n:03d}" for n in range(BASE_COUNT)] + ["Ada Lovelace"]
ALL_NAMES += list(HOSTILE_NAMES.values())
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def nocase(text: str) -> str:
    """SQLite's NOCASE order: ASCII letters folded, everything else by code point."""
    return text.translate(_ASCII_LOWER)


BY_NAME = sorted(ALL_NAMES, key=nocase)


def _table(app: CrmApp) -> DirectoryTable:
    return app.directory.table


def _names(app: CrmApp) -> list[str]:
    return [row.name for row in _table(app).rows]


def _status(app: CrmApp) -> str:
    return str(app.directory.query_one("#status-line").render())


def _screen_text(app: CrmApp) -> str:
    """Every character on the screen, as the terminal would show it."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def test_opens_on_all_customers_sorted_by_name(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        assert isinstance(app.screen, DirectoryScreen)
        assert _names(app) == BY_NAME[:200]  # the first window
        assert BY_NAME[0] == HOSTILE_NAMES["markup_click"]
        assert _status(app).startswith(f"1 of {TOTAL} customers · sort: Name ▲")
        assert _table(app).has_focus


async def test_search_as_you_type_narrows_and_counts(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"customer01")
        await wait_for_rows(pilot)
        assert _names(app) == [f"Customer {n:03d}" for n in range(10, 20)]
        assert "10 customers" in _status(app)
        # Email fragment, company, subscription id, phone digits and #id all find customers.
        for query, expected in (
            ("ada@analy", "Ada Lovelace"),
            ("company 030", "Customer 030"),
            ("sub_t00123", "Customer 123"),
            ("555 010042", "Customer 042"),
        ):
            app.directory.search_input.value = query
            await wait_for_rows(pilot)
            assert _names(app) == [expected], query


async def test_short_search_uses_prefix_and_escape_clears(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", "a", "d")
        await wait_for_rows(pilot)
        assert _names(app) == ["Ada Lovelace"]
        await pilot.press("enter")  # back to the table
        assert _table(app).has_focus
        await pilot.press("escape")  # clears the search
        await wait_for_rows(pilot)
        assert app.directory.search_input.value == ""
        assert f"{TOTAL} customers" in _status(app)


async def test_search_text_with_sql_and_fts_syntax_is_text(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        for query in ('"', "a*", "NEAR(", "100%", "_x_", "\\", "'); DROP TABLE customer; --"):
            app.directory.search_input.value = query
            await wait_for_rows(pilot)
            assert not _table(app).rows, query
            assert "No customer matches" in _screen_text(app)
        app.directory.search_input.value = "[/ltd]"
        await wait_for_rows(pilot)
        assert _names(app) == [HOSTILE_NAMES["markup_close"]]


async def test_letter_keys_type_into_the_search_box(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", "f", "s", "S", "j", "question_mark")
        await wait_for_rows(pilot)
        assert app.directory.search_input.value == "fsSj?"
        assert isinstance(app.screen, DirectoryScreen)  # no filters dialog, no help
        assert app.directory.directory_query.sort.column == "name"


async def test_cursor_and_paging_keys(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        table = _table(app)
        page = table.size.height - 1
        await pilot.press("j", "j", "down")
        assert table.cursor_position == 3
        await pilot.press("k")
        assert table.cursor_position == 2
        await pilot.press("pagedown")
        await wait_for_rows(pilot)
        assert table.cursor_position == 2 + page
        await pilot.press("pageup", "pageup")
        assert table.cursor_position == 0
        await pilot.press("G")
        await wait_for_rows(pilot)
        assert table.current_row is not None
        assert table.current_row.name == HOSTILE_NAMES["cjk"]  # last by name
        assert f"{TOTAL} of {TOTAL}" in _status(app)
        await pilot.press("g")
        await wait_for_rows(pilot)
        assert table.cursor_position == 0


async def test_paging_beyond_the_buffer_fetches_windows(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        table = _table(app)
        page = table.size.height - 1
        for _ in range(12):  # 12 pages of 19 rows: past the first window of 200
            await pilot.press("pagedown")
            await wait_for_rows(pilot)
        assert table.cursor_position == 12 * page
        assert table.current_row is not None
        assert table.current_row.name == BY_NAME[12 * page]
        names = [row.name for row in table.rows]
        start = BY_NAME.index(names[0])
        assert names == BY_NAME[start : start + len(names)]  # one consecutive window
        await pilot.press("G")
        await wait_for_rows(pilot)
        last = table.current_row
        for _ in range(TOTAL // 19 + 2):  # page back to the top, across the window's start
            await pilot.press("pageup")
            await wait_for_rows(pilot)
        await pilot.press("k")
        assert table.cursor_position == 0
        assert table.current_row is not None and table.current_row.name == BY_NAME[0]
        assert last is not None and last.name == BY_NAME[-1]


async def test_sort_cycles_columns_and_reverses(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("s")  # email
        await wait_for_rows(pilot)
        assert app.directory.directory_query.sort.column == "email"
        emails = [row.email for row in _table(app).rows]
        assert emails == sorted(emails, key=nocase)
        await pilot.press("s", "s", "s")  # status, plan, mrr
        await wait_for_rows(pilot)
        await pilot.press("S")
        await wait_for_rows(pilot)
        assert "sort: MRR ▼" in _status(app)
        mrr = [row.mrr_minor for row in _table(app).rows]
        assert mrr == sorted(mrr, reverse=True)
        assert _table(app).rows[0].name == "Ada Lovelace"
        assert "MRR ▼" in _table(app).render_line(0).text


async def test_filters_dialog_applies_and_refuses_bad_values(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("f")
        await pilot.pause(0.3)
        dialog = app.screen
        assert isinstance(dialog, FiltersScreen)
        await pilot.press("space")  # tick "active" in Status
        dialog.query_one("#filter-ltv-min").value = "12,34.5"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        assert app.screen is dialog  # refused, still open
        error = str(dialog.query_one("#filters-error").render())
        assert "Lifetime value at least" in error and "not an amount" in error
        dialog.query_one("#filter-ltv-min").value = "100"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for_rows(pilot)
        assert isinstance(app.screen, DirectoryScreen)
        rows = _table(app).rows
        assert rows and all(row.status == "active" and row.ltv_minor >= 10000 for row in rows)
        assert "status: active" in _status(app) and "LTV: 100.00–…" in _status(app)
        await pilot.press("escape")  # no search: clears the filters
        await wait_for_rows(pilot)
        assert f"{TOTAL} customers" in _status(app)


async def test_filters_dialog_cancel_keeps_filters(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("f")
        await pilot.pause(0.3)
        await pilot.press("space", "escape")
        await wait_for_rows(pilot)
        assert isinstance(app.screen, DirectoryScreen)
        assert not app.directory.directory_query.filters.active


async def test_enter_opens_overview_and_escape_returns_intact(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        app.directory.search_input.value = "ada"
        await wait_for_rows(pilot)
        await pilot.press("enter")  # from the search box: to the table
        await pilot.press("enter")
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, CustomerScreen)
        overview = _screen_text(app)
        assert "Ada Lovelace" in overview and "· business" in overview
        assert "Analytical Engines" in overview and "GB123456789" in overview
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)
        assert app.directory.search_input.value == "ada"
        assert _names(app) == ["Ada Lovelace"]


async def test_what_changed_in_a_profile_shows_on_return(app: CrmApp, directory_url: str) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        app.directory.search_input.value = "customer00"
        await wait_for_rows(pilot)
        await pilot.press("down", "down")  # the third row
        chosen = _table(app).current_row
        assert chosen is not None and chosen.name == "Customer 002"
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, CustomerScreen)
        engine = sa.create_engine(directory_url)
        with engine.begin() as connection:  # as an edit made from the profile would
            connection.execute(
                sa.text("UPDATE customer SET current_plan = 'Renamed Plan' WHERE id = :id"),
                {"id": chosen.id},
            )
        engine.dispose()
        await pilot.press("escape")
        await pilot.pause(0.5)
        await wait_for_rows(pilot)
        current = _table(app).current_row
        assert current is not None and current.id == chosen.id  # the cursor stayed
        assert current.plan == "Renamed Plan"


async def test_help_lists_the_directory_keys(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = _screen_text(app)
        for label in ("Search", "Filters", "Sort", "Reverse sort", "Open", "Quit", "Down"):
            assert label in text
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)


async def test_palette_jumps_to_a_customer(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"customer 042")
        await pilot.pause(1.0)
        await pilot.press("down", "enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, CustomerScreen)
        assert "Customer 042" in _screen_text(app)


async def test_remapped_key_from_the_keymap(directory_url: str) -> None:
    app = make_app(directory_url, keymap={"directory.filters": "ctrl+l"})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, DirectoryScreen)
        await pilot.press("ctrl+l")
        await pilot.pause(0.2)
        assert isinstance(app.screen, FiltersScreen)
        await pilot.press("escape")
        await pilot.pause(0.2)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = {row.description: row.keys for row in app.screen.rows}
        assert rows["Filters"] == "^l"  # the agent's key, not f
        await pilot.press(*"filters")
        await pilot.pause()
        assert re.search(r"\^l\s+Filters", _screen_text(app))


async def test_help_filters_the_keys_as_you_type(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press(*"sort")
        await pilot.pause()
        text = _screen_text(app)
        assert "Reverse sort" in text and "Filters" not in text and "Quit" not in text
        await pilot.press(*" zzz")
        await pilot.pause()
        assert "No key or note matches “sort zzz”." in _screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)


async def test_empty_database_says_what_to_do(db_url: str) -> None:
    app = make_app(db_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        assert "No customers in this database yet" in _screen_text(app)
        assert "0 customers" in _status(app)


async def test_unopenable_database_is_reported_not_raised(tmp_path: object) -> None:
    app = make_app("sqlite:////proc/no-such-place/crm.sqlite3")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.0)
        assert isinstance(app.screen, DirectoryScreen)
        assert "cannot open" in _screen_text(app)


async def test_space_marks_rows_and_the_status_line_counts_them(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        first, second = _table(app).rows[0], _table(app).rows[1]
        await pilot.press("space", "space")  # marks a run: the cursor moves down
        assert app.directory.marks.ids == {first.id, second.id}
        assert _status(app).startswith("2 marked · ")
        assert "✓ " in _screen_text(app)
        await pilot.press("up", "space")  # unmarks the second again
        assert app.directory.marks.ids == {first.id}
        await pilot.press("slash", *"customer01", "enter")  # id marks survive a search
        await wait_for_rows(pilot)
        assert _status(app).startswith("1 marked · ")


async def test_ctrl_a_marks_every_match_across_pages_then_none(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"customer", "enter")
        await wait_for_rows(pilot)
        matches = app.directory.match_count
        assert matches is not None and matches.value == BASE_COUNT
        await pilot.press("ctrl+a")
        assert _status(app).startswith(f"{BASE_COUNT:,} marked · ")
        assert app.directory.marks.all_of == app.directory.directory_query
        assert app.directory.marks.ids == set()  # nothing loaded: the query is the selection
        await pilot.press("space")  # unmark one of them
        assert _status(app).startswith(f"{BASE_COUNT - 1:,} marked · ")
        await pilot.press("ctrl+a", "ctrl+a")  # all again, then none
        assert not app.directory.marks
        await pilot.press("ctrl+a")
        await pilot.press("slash", *"zz")  # another search: "all" cannot follow it
        await wait_for_rows(pilot)
        assert not app.directory.marks and "marked" not in _status(app)


async def test_space_and_ctrl_a_type_into_the_search_box(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"ada", "space", *"love")
        assert app.directory.search_input.value == "ada love"
        assert not app.directory.marks


async def test_copy_the_selected_customers_email_or_id(app: CrmApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        app.directory.set_focus(app.directory.table)
        row = app.directory.table.current_row
        assert row is not None
        await pilot.press("c")
        assert app.clipboard == row.email
        await pilot.press("i")
        assert app.clipboard == str(row.id)
        assert any(f"Copied id {row.id}" in str(n.message) for n in app._notifications)


async def test_the_last_search_filters_sort_and_queue_come_back(directory_url: str) -> None:
    from crm_tui.config import data_dir
    from crm_tui.services.directory import DirectoryFilters

    first = make_app(directory_url)
    async with first.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        directory = first.directory
        directory.search_input.value = "customer0"
        await wait_for_rows(pilot)
        directory.set_filters(DirectoryFilters(statuses=("active",)))
        directory.set_sort("email", True)
        await wait_for_rows(pilot)
        left = directory.directory_query
        shown = [row.id for row in directory.table.rows[:5]]
    saved = data_dir() / "last-view.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert directory_url not in saved.read_text()  # a digest, never the URL

    again = make_app(directory_url)
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        assert again.directory.directory_query == left
        assert again.directory.search_input.value == "customer0"
        assert [row.id for row in again.directory.table.rows[:5]] == shown
