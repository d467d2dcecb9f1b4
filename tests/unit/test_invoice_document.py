"""Invoice PDFs (fpdf2), saved privately or emailed to the customer through real SMTP."""

from __future__ import annotations

import re
import stat
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models.profile import InvoiceLineView, InvoiceView
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.email_channel import EmailChannel, EmailFailed
from crm_tui.services.invoice_document import invoice_pdf, resend_invoice, save_invoice_pdf
from crm_tui.services.profile import InvoiceNotFound
from crm_tui.services.secrets import Secrets
from tests.factories import (
    T0,
    add_address,
    add_agent,
    add_customer,
    add_invoice,
    add_invoice_line,
)
from tests.support.smtp_server import SmtpServer


def pdf_text(data: bytes) -> str:
    """The text drawn in a PDF written by fpdf2 with its core fonts: every content
    stream inflated, read as Windows-1252 (the fonts' WinAnsiEncoding), with the
    string escapes \\( \\) \\\\ undone."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S)
    raw = b"".join(zlib.decompress(s) if s[:1] == b"x" else s for s in streams)
    return re.sub(r"\\([()\\])", r"\1", raw.decode("cp1252", "replace"))


def _invoice(engine: Engine, **customer: Any) -> tuple[int, int, Actor]:
    with engine.begin() as connection:
        agent_id = add_agent(connection, "maria")
        customer_id = add_customer(connection, **customer)
        add_address(connection, customer_id)
        invoice_id = add_invoice(
            connection,
            customer_id,
            "INV-0042",
            total_minor=17800,
            currency="EUR",
            due_at=T0 + timedelta(days=30),
        )
        add_invoice_line(
            connection,
            invoice_id,
            description="Premium plan — Jan",
            quantity=2,
            unit_amount_minor=8900,
            amount_minor=17800,
        )
    return customer_id, invoice_id, Actor.agent("maria", agent_id)


def test_the_pdf_has_the_invoice_and_survives_any_name() -> None:
    invoice = InvoiceView(
        id=1,
        number="INV-0042",
        status="open",
        issued_at=datetime(2026, 1, 15, tzinfo=UTC),
        due_at=datetime(2026, 2, 14, tzinfo=UTC),
        total_minor=8900,
        currency="EUR",
        lines=(InvoiceLineView("Team Bundle 👩‍💻 (25 seats)", 1, 8900, 8900),),
    )
    data = invoice_pdf(
        invoice,
        "王芳 Zoë Őrsi \u202egnp.exe \x1b[2J",
        company_name="Nordlicht Analytics GmbH",
        vat_id="DE287456913",
    )
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for expected in (
        "Invoice INV-0042",
        "Issued: 2026-01-15",
        "Due: 2026-02-14",
        "Status: open",
        "Nordlicht Analytics GmbH",
        "VAT id: DE287456913",
        "Zoë Orsi",  # ő has no Windows-1252 form: its letter is kept
        "‹U+202E›gnp.exe ‹U+001B›[2J",  # controls are shown, never obeyed
        "Team Bundle ?‹U+200D›? (25 seats)",  # an emoji sequence: no font here has it
        "Total: €89.00",
    ):
        assert expected in text, expected


def test_save_writes_a_private_file(engine: Engine, tmp_path: Path) -> None:
    _, invoice_id, maria = _invoice(engine, kind="business", company_name="Analytical Engines")
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "INV-0042.pdf"
    target.write_text("an older file, readable by all")
    target.chmod(0o644)

    saved = save_invoice_pdf(engine, invoice_id, target, actor=maria)
    assert saved == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = pdf_text(target.read_bytes())
    assert "Invoice INV-0042" in text and "Analytical Engines" in text
    assert "12 Analytical Row, London, N1 9GU, GB" in text
    assert "Premium plan — Jan" in text and "€178.00" in text
    assert [p.name for p in folder.iterdir()] == ["INV-0042.pdf"]  # no temporary left


def test_save_refuses_a_missing_folder_and_a_folder(engine: Engine, tmp_path: Path) -> None:
    _, invoice_id, _ = _invoice(engine)
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(InvalidInput, match="does not exist") as refused:
        save_invoice_pdf(engine, invoice_id, folder / "no-such-folder" / "x.pdf")
    assert set(refused.value.errors) == {"path"}
    with pytest.raises(InvalidInput, match="is a folder"):
        save_invoice_pdf(engine, invoice_id, folder)
    with pytest.raises(InvoiceNotFound):
        save_invoice_pdf(engine, invoice_id + 100, folder / "x.pdf")
    assert list(folder.iterdir()) == []


def _channel(engine: Engine, smtp: SmtpServer) -> EmailChannel:
    return EmailChannel(engine, smtp.settings(), Secrets(environ={}))


def test_resend_emails_the_pdf_to_the_customer(engine: Engine, smtp_server: SmtpServer) -> None:
    customer_id, invoice_id, maria = _invoice(engine, name="Zoë Hartmann", email="zoe@example.com")
    sent = resend_invoice(_channel(engine, smtp_server), engine, invoice_id, maria)

    assert sent.status == "sent" and sent.template == "invoice"
    [message] = smtp_server.messages
    assert smtp_server.envelopes[0][1] == ["zoe@example.com"]
    assert message["Subject"] == "Your invoice INV-0042"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Hello Zoë Hartmann," in text
    assert "Total: €178.00" in text and "Due: 2026-02-14" in text
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == "INV-0042.pdf"
    assert pdf.get_content_type() == "application/pdf"
    data = pdf.get_content()
    assert data.startswith(b"%PDF-") and "Invoice INV-0042" in pdf_text(data)

    with engine.connect() as connection:
        event = connection.execute(
            sa.text("SELECT summary, details, agent_id FROM activity_event WHERE customer_id = :c"),
            {"c": customer_id},
        ).one()
    assert event.summary == "Emailed 'Your invoice INV-0042' to zoe@example.com"
    assert event.agent_id == maria.agent_id
    assert '"invoice_number": "INV-0042"' in str(event.details).replace("'", '"')


def test_a_refused_invoice_email_is_retried_with_its_pdf(
    engine: Engine, smtp_server: SmtpServer
) -> None:
    _, invoice_id, maria = _invoice(engine)
    channel = _channel(engine, smtp_server)
    smtp_server.refuse_recipient = "550 5.1.1 Mailbox unavailable"
    with pytest.raises(EmailFailed, match=r"refused the recipient ada@example\.com") as failed:
        resend_invoice(channel, engine, invoice_id, maria)

    smtp_server.accept_all()
    # A new channel, as after a restart: the PDF is made again, the same row is sent.
    again = resend_invoice(
        _channel(engine, smtp_server),
        engine,
        invoice_id,
        maria,
        retry_email_id=failed.value.email_id,
    )
    assert again.id == failed.value.email_id and again.status == "sent"
    [message] = smtp_server.messages
    assert [p.get_filename() for p in message.iter_attachments()] == ["INV-0042.pdf"]
