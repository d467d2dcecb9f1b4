"""e in the directory: the marked customers to a CSV file, with the keyboard alone."""

from __future__ import annotations

import csv
import stat
from pathlib import Path
from typing import Any

from textual.widgets import Button

from crm_tui.app import CrmApp
from crm_tui.screens.bulk_dialog import BulkDialog
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.services.customer_export import COLUMNS
from tests.ui.conftest import make_app, screen_text, until, wait_for_rows


async def _export(pilot: Any, app: CrmApp, target: Path) -> BulkDialog:
    await pilot.press("e")
    await until(pilot, lambda: isinstance(app.screen, BulkDialog))
    dialog = app.screen
    assert isinstance(dialog, BulkDialog)
    assert dialog.value.endswith(".csv")  # a default file name is offered
    await pilot.press("ctrl+u", *str(target), "enter")
    await until(pilot, lambda: dialog.previewed == str(target))
    return dialog


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file))


async def test_export_the_marked_customers(directory_url: str, tmp_path: Path) -> None:
    target = tmp_path / "marked.csv"
    app = make_app(directory_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"customer00", "enter")
        await wait_for_rows(pilot)
        await pilot.press("space", "space", "space")
        dialog = await _export(pilot, app, target)
        assert "3 customers will be written to" in screen_text(app)
        assert not target.exists()  # the preview wrote nothing
        await pilot.press("enter")
        assert dialog.focused is dialog.query_one("#bulk-apply", Button)
        await pilot.press("enter")
        await until(pilot, lambda: dialog.result is not None)
        assert "Exported 3 customers" in (dialog.result or "")
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)
    rows = _rows(target)
    assert tuple(rows[0]) == COLUMNS
    assert [row[0] for row in rows[1:]] == ["Customer 000", "Customer 001", "Customer 002"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


async def test_an_existing_file_is_replaced_only_when_the_preview_said_so(
    directory_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "old.csv"
    target.write_text("keep me\n")
    app = make_app(directory_url, readonly=True)  # exporting is a read
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"customer01", "enter")
        await wait_for_rows(pilot)
        await pilot.press("ctrl+a")
        dialog = await _export(pilot, app, target)
        text = screen_text(app)
        assert "10 customers will be written to" in text
        assert "That file exists: it will be replaced." in text
        assert target.read_text() == "keep me\n"
        await pilot.press("enter", "enter")
        await until(pilot, lambda: dialog.result is not None)
        assert "Exported 10 customers" in (dialog.result or "")
    assert len(_rows(target)) == 11


async def test_a_missing_folder_is_refused_beside_the_field(
    directory_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "no-such-folder" / "x.csv"
    app = make_app(directory_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("space")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, BulkDialog))
        dialog = app.screen
        assert isinstance(dialog, BulkDialog)
        await pilot.press("ctrl+u", *str(target), "enter")
        await until(pilot, lambda: "Cannot write" in screen_text(app))
        assert dialog.query_one("#bulk-apply", Button).disabled
    assert not target.parent.exists()
