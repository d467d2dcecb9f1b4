"""M in the directory: an email campaign to the marked customers — previewed, then
sent to a real SMTP server (aiosmtpd), with the keyboard alone through Pilot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button

from crm_tui.app import CrmApp
from crm_tui.screens.bulk_dialog import BulkDialog
from crm_tui.screens.directory import DirectoryScreen
from tests.support.smtp_server import SmtpServer
from tests.ui.conftest import make_app, screen_text, wait_for_rows


def _app(url: str, smtp: SmtpServer) -> CrmApp:
    return make_app(
        url,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_sender="support@example.com",
    )


async def _open(pilot: Any, app: CrmApp) -> BulkDialog:
    await pilot.press("M")
    for _ in range(100):
        await pilot.pause(0.03)
        if isinstance(app.screen, BulkDialog):
            return app.screen
    raise AssertionError("M opened no dialog")


async def _until(pilot: Any, check: Any) -> None:
    for _ in range(300):
        await pilot.pause(0.03)
        if check():
            return
    raise AssertionError("timed out")


@pytest.fixture(autouse=True)
def _templates_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_CONFIG_DIR", str(tmp_path))
    (tmp_path / "templates").mkdir()
    return tmp_path / "templates"


async def test_preview_then_send_to_the_marked_customers(
    directory_url: str, smtp_server: SmtpServer
) -> None:
    app = _app(directory_url, smtp_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("slash", *"customer00", "enter")
        await wait_for_rows(pilot)
        await pilot.press("space", "space")
        dialog = await _open(pilot, app)
        assert "2 marked" in screen_text(app)
        await pilot.press(*"welcome", "enter")
        await _until(pilot, lambda: dialog.previewed == "welcome")
        assert "Sends “welcome” to 2 customers." in screen_text(app)
        assert smtp_server.messages == []  # the preview sent nothing
        await pilot.press("enter")  # on to the button
        assert dialog.focused is dialog.query_one("#bulk-apply", Button)
        await pilot.press("enter")
        await _until(pilot, lambda: dialog.result is not None)
        assert "2 sent" in (dialog.result or "")
        await pilot.press("escape")
        assert isinstance(app.screen, DirectoryScreen)
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "customer000@example.com",
        "customer001@example.com",
    ]
    assert smtp_server.messages[0]["Subject"] == "Welcome, Customer"


async def test_a_bad_template_is_shown_and_nothing_can_be_sent(
    directory_url: str, smtp_server: SmtpServer, _templates_folder: Path
) -> None:
    (_templates_folder / "oops.txt").write_text("Subject: Hi {{ frist_name }}\n\nbody\n")
    app = _app(directory_url, smtp_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("ctrl+a")
        dialog = await _open(pilot, app)
        await pilot.press(*"oops", "enter")
        await _until(pilot, lambda: "unknown field" in screen_text(app))
        assert "frist_name" in screen_text(app)
        assert dialog.query_one("#bulk-apply", Button).disabled
    assert smtp_server.messages == []


async def test_without_marks_it_says_how_to_mark(
    directory_url: str, smtp_server: SmtpServer
) -> None:
    app = _app(directory_url, smtp_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("M")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DirectoryScreen)
        assert any("Mark customers first" in str(n.message) for n in app._notifications)
