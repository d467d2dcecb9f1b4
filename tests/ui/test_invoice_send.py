"""The invoice dialog at 80x24: `s` emails it (real SMTP), `w` saves the PDF."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from textual.widgets import Input, Static

from crm_tui.screens.invoice_dialog import InvoiceDialog
from crm_tui.services.database import create_db_engine
from crm_tui.services.demo_seed import SHOWCASE
from crm_tui.widgets.record_list import RecordList
from tests.support.smtp_server import SENDER, SmtpServer
from tests.ui.conftest import make_app, open_profile, screen_text

BUSINESS = SHOWCASE["business_account"]  # Nordlicht Analytics GmbH, invoices on Net 30
RECIPIENT = "katrin.mueller@nordlicht-analytics.example"
SIZE = (80, 24)


def _smtp(server: SmtpServer) -> dict[str, Any]:
    return {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_starttls": False,
        "smtp_sender": SENDER,
    }


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(sa.text(sql))]
    engine.dispose()
    return rows


async def _open_invoice(pilot: Any) -> InvoiceDialog:
    screen = await open_profile(pilot, BUSINESS)
    await pilot.press("3")
    payments = screen.query_one("#payments-list", RecordList)
    invoiced = next(i for i, r in enumerate(payments.records) if r.cells[-1] != "—")
    payments.move(invoiced - payments.cursor)
    await pilot.press("enter")
    for _ in range(100):
        await pilot.pause(0.05)
        if isinstance(pilot.app.screen, InvoiceDialog):
            return pilot.app.screen
    raise AssertionError("the invoice did not open")


async def _wait_idle(pilot: Any, dialog: InvoiceDialog) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if not dialog.busy:
            await pilot.pause()
            return
    raise AssertionError("the dialog stayed busy")


async def test_send_the_invoice_and_see_where_it_went(
    demo_url: str, smtp_server: SmtpServer
) -> None:
    app = make_app(demo_url, **_smtp(smtp_server))
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_invoice(pilot)
        text = screen_text(app)
        assert "Invoice INV-" in text and "Total" in text
        assert "s send to customer · w save PDF · escape close" in text

        await pilot.press("s")
        await _wait_idle(pilot, dialog)
        assert f"Sent to {RECIPIENT}." in screen_text(app)
        assert app.screen is dialog

    [message] = smtp_server.messages
    number = dialog.invoice.number
    assert message["Subject"] == f"Your invoice {number}"
    assert smtp_server.envelopes[0][1] == [RECIPIENT]
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == f"{number}.pdf" and pdf.get_content().startswith(b"%PDF-")
    assert _rows(
        demo_url,
        f"SELECT summary FROM activity_event WHERE customer_id = {BUSINESS} "
        "AND summary LIKE 'Emailed%'",
    ) == [(f"Emailed 'Your invoice {number}' to {RECIPIENT}",)]


async def test_a_refusal_is_shown_and_s_retries_the_same_message(
    demo_url: str, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse_data = "451 4.3.0 Mail server temporarily rejected message"
    app = make_app(demo_url, **_smtp(smtp_server))
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_invoice(pilot)
        await pilot.press("s")
        await _wait_idle(pilot, dialog)
        text = screen_text(app)
        assert "Not sent: the mail server refused the message" in text
        assert "s retry sending" in text

        smtp_server.accept_all()
        await pilot.press("s")
        await _wait_idle(pilot, dialog)
        assert f"Sent to {RECIPIENT}." in screen_text(app)
    assert len(smtp_server.messages) == 1
    assert _rows(demo_url, "SELECT status FROM email_message") == [("sent",)]


async def test_without_smtp_settings_the_dialog_says_what_to_set(demo_url: str) -> None:
    app = make_app(demo_url)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_invoice(pilot)
        await pilot.press("s")
        await _wait_idle(pilot, dialog)
        text = screen_text(app)
        assert "Email is not set up" in text and "CRM_SMTP_HOST" in text
    assert _rows(demo_url, "SELECT count(*) FROM email_message") == [(0,)]


async def test_read_only_mode_does_not_send(demo_url: str, smtp_server: SmtpServer) -> None:
    app = make_app(demo_url, readonly=True, **_smtp(smtp_server))
    async with app.run_test(size=SIZE) as pilot:
        await _open_invoice(pilot)
        assert "s send" not in screen_text(app)
        await pilot.press("s")
        await pilot.pause(0.2)
        assert "Sending is off here (read-only mode)." in screen_text(app)
    assert smtp_server.messages == []


async def test_save_the_pdf_where_the_agent_says(
    demo_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    app = make_app(demo_url, **_smtp(smtp_server))
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_invoice(pilot)
        await pilot.press("w")
        await pilot.pause()
        field = dialog.query_one("#invoice-path Input", Input)
        assert dialog.focused is field
        assert field.value == f"~/{dialog.invoice.number}.pdf"
        assert "enter save PDF · escape back" in screen_text(app)
        await pilot.press("escape")  # leaves the path field, not the invoice
        assert app.screen is dialog and not dialog.query_one("#invoice-path").has_class("-shown")
        await pilot.press("w")
        await pilot.pause()

        # Letters typed into the path are text, not keys: no send, no close.
        field.value = str(tmp_path / "missing" / "inv")
        field.cursor_position = len(field.value)
        await pilot.press("q", "s", "w", ".", "p", "d", "f", "enter")
        await _wait_idle(pilot, dialog)
        assert app.screen is dialog and smtp_server.messages == []
        assert "Not saved: the folder" in screen_text(app) and "does not exist" in screen_text(app)

        field.value = str(tmp_path / "inv")
        field.cursor_position = len(field.value)
        await pilot.press("q", "s", ".", "p", "d", "f", "enter")
        await _wait_idle(pilot, dialog)
        assert "Saved to" in screen_text(app)
        status = str(dialog.query_one("#invoice-status", Static).render())
        assert status == f"Saved to {tmp_path / 'invqs.pdf'} (readable by you only)."
        assert not dialog.query_one("#invoice-path").has_class("-shown")

        await pilot.press("escape")
        assert not isinstance(app.screen, InvoiceDialog)
    saved = tmp_path / "invqs.pdf"
    assert saved.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
