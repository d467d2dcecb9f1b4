"""An invoice as a PDF, saved to a file or emailed to the customer.

The PDF is written with fpdf2 (pure Python). Its built-in Helvetica needs no font
file on the machine — a jump host has none to offer — but it can only draw
Windows-1252 characters: every other character becomes its nearest Latin form
(ő → o) or "?", so an unusual name never stops an invoice from being made.
Control characters and bidi overrides are shown escaped (`‹U+202E›`), as on
screen: what the customer sees on paper cannot be spoofed either.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.formatting import format_date, format_money
from crm_tui.models import tables
from crm_tui.models.enums import AddressKind, InvoiceStatus
from crm_tui.models.profile import CustomerProfile, InvoiceView, address_line
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.email_channel import EmailChannel, SentEmail
from crm_tui.services.profile import InvoiceNotFound, ProfileService
from crm_tui.text import safe_text

if TYPE_CHECKING:
    from fpdf import FPDF

_invoice = tables.SQLModel.metadata.tables["invoice"]

PDF_MIME = "application/pdf"
INVOICE_TEMPLATE = "invoice"  # email_message.template of invoice emails
_PDF_ENCODING = "windows-1252"  # what fpdf2's core fonts can draw (WinAnsiEncoding)
_FONT = "Helvetica"


def pdf_safe(value: object) -> str:
    """`value` as one line the core font can draw: escapes for controls, nearest
    Latin letters for the rest, "?" where there is none."""
    text = safe_text(" ".join(str(value or "").splitlines()))
    return "".join(_drawable(char) for char in text)


def _drawable(char: str) -> str:
    try:
        char.encode(_PDF_ENCODING)
        return char
    except UnicodeEncodeError:
        pass
    # "ő" decomposes to "o" + a combining accent: keep the letter.
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    try:
        base.encode(_PDF_ENCODING)
        return base or "?"
    except UnicodeEncodeError:
        return "?"


def pdf_filename(invoice: InvoiceView) -> str:
    """INV-0042.pdf; anything but letters, digits, - and _ in the number becomes _."""
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in invoice.number)
    return f"{stem or 'invoice'}.pdf"


def invoice_pdf(
    invoice: InvoiceView,
    customer_name: str,
    *,
    company_name: str = "",
    vat_id: str = "",
    company_reg_no: str = "",
    email: str = "",
    address: str = "",
) -> bytes:
    """The invoice as PDF bytes: number, dates, status, who it is for, lines, total."""
    # Imported here: fpdf2 takes ~0.3 s to import, which opening a profile must not pay.
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = _PDF_ENCODING
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.set_creator("crm-tui")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    pdf.set_font(_FONT, style="B", size=18)
    _line(pdf, f"Invoice {invoice.number}", height=10)
    pdf.set_font(_FONT, size=10)
    _line(pdf, f"Issued: {format_date(invoice.issued_at)}")
    if invoice.due_at:
        _line(pdf, f"Due: {format_date(invoice.due_at)}")
    _line(pdf, f"Status: {invoice.status}")
    pdf.ln(4)

    pdf.set_font(_FONT, style="B", size=10)
    _line(pdf, "Bill to")
    pdf.set_font(_FONT, size=10)
    for label, value in (
        ("", company_name),
        ("", customer_name),
        ("", address),
        ("", email),
        ("VAT id: ", vat_id),
        ("Registration no.: ", company_reg_no),
    ):
        if value:
            _line(pdf, f"{label}{value}")
    pdf.ln(4)

    _lines_table(pdf, invoice)
    return bytes(pdf.output())


def _line(pdf: FPDF, text: str, *, height: float = 6) -> None:
    pdf.multi_cell(0, height, pdf_safe(text), new_x="LMARGIN", new_y="NEXT")


def _lines_table(pdf: FPDF, invoice: InvoiceView) -> None:
    money = invoice.currency
    with pdf.table(
        col_widths=(95, 20, 35, 35),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        first_row_as_headings=True,
        line_height=6,
    ) as table:
        table.row(["Description", "Qty", "Unit", "Amount"])
        for item in invoice.lines:
            table.row(
                [
                    pdf_safe(item.description),
                    str(item.quantity),
                    pdf_safe(format_money(item.unit_amount_minor, money)),
                    pdf_safe(format_money(item.amount_minor, money)),
                ]
            )
        if not invoice.lines:
            table.row(["(no lines recorded)", "", "", ""])
    pdf.ln(2)
    pdf.set_font(_FONT, style="B", size=12)
    total = pdf_safe(f"Total: {format_money(invoice.total_minor, money)}")
    pdf.cell(0, 8, total, align="R", new_x="LMARGIN", new_y="NEXT")


# ------------------------------------------------------------------ from the store


@dataclass(frozen=True)
class InvoiceDocument:
    """An invoice with the customer it is for: what the PDF and the email are made of."""

    invoice: InvoiceView
    customer: CustomerProfile

    @property
    def billing_address(self) -> str:
        current = [a for a in self.customer.addresses if a.current]
        billing = [a for a in current if a.kind == AddressKind.BILLING.value]
        chosen = next((a for a in billing if a.is_default), billing[0] if billing else None)
        return address_line(chosen) if chosen else ""

    def pdf(self) -> bytes:
        customer = self.customer
        return invoice_pdf(
            self.invoice,
            customer.name,
            company_name=customer.company_name,
            vat_id=customer.vat_id,
            company_reg_no=customer.company_reg_no,
            email=customer.email or customer.company_email,
            address=self.billing_address,
        )


def read_invoice_document(engine: Engine, invoice_id: int, actor: Actor) -> InvoiceDocument:
    with engine.connect() as connection:
        customer_id = connection.execute(
            sa.select(_invoice.c.customer_id).where(_invoice.c.id == invoice_id)
        ).scalar()
    if customer_id is None:
        raise InvoiceNotFound(invoice_id)
    profiles = ProfileService(engine)
    return InvoiceDocument(
        profiles.invoice(invoice_id, actor), profiles.overview(customer_id, actor)
    )


def save_invoice_pdf(
    engine: Engine, invoice_id: int, path: str | Path, *, actor: Actor | None = None
) -> Path:
    """Write the invoice's PDF to `path` (replacing a file there), readable by its owner
    only. A folder that does not exist is an error, not created: a typo in the path
    should not scatter invoices over the disk."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise InvalidInput({"path": f"{target} is a folder: add a file name"})
    if not target.parent.is_dir():
        raise InvalidInput({"path": f"the folder {target.parent} does not exist"})
    data = read_invoice_document(engine, invoice_id, actor or Actor.system()).pdf()
    try:
        _write_private(target, data)
    except OSError as error:
        raise InvalidInput({"path": f"cannot write {target}: {error.strerror}"}) from None
    return target.absolute()


def _write_private(target: Path, data: bytes) -> None:
    # A new file (mode 0600 from mkstemp) renamed over the target: never a half-written
    # invoice, never a world-readable moment, and a symlink at `target` is replaced,
    # not followed.
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".crm-tui-", suffix=".pdf")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------- by email


def invoice_email(document: InvoiceDocument) -> tuple[str, str]:
    """(subject, plain-text body) of an invoice sent to its customer."""
    invoice = document.invoice
    money = format_money(invoice.total_minor, invoice.currency)
    lines = [
        f"Hello {safe_text(document.customer.name)},",
        "",
        f"please find attached invoice {invoice.number} of {format_date(invoice.issued_at)}.",
        "",
        f"Total: {money}",
    ]
    if invoice.status == InvoiceStatus.PAID.value:
        lines.append("Status: paid — thank you, nothing is due.")
    else:
        if invoice.due_at:
            lines.append(f"Due: {format_date(invoice.due_at)}")
        lines.append(f"Status: {invoice.status}")
    lines += ["", "Kind regards"]
    return f"Your invoice {invoice.number}", "\n".join(lines) + "\n"


def resend_invoice(
    channel: EmailChannel,
    engine: Engine,
    invoice_id: int,
    actor: Actor,
    *,
    retry_email_id: int | None = None,
) -> SentEmail:
    """Email the invoice to its customer with the PDF attached (INV-….pdf).

    `retry_email_id`: send that failed invoice email again (the same row), with the
    PDF made anew. Raises what EmailChannel raises (EmailFailed after recording)."""
    document = read_invoice_document(engine, invoice_id, actor)
    subject, body = invoice_email(document)
    attachments: Sequence[tuple[str, bytes, str]] = [
        (pdf_filename(document.invoice), document.pdf(), PDF_MIME)
    ]
    details = {"invoice_id": invoice_id, "invoice_number": document.invoice.number}
    if retry_email_id is not None:
        return channel.retry(retry_email_id, actor, attachments=attachments, details=details)
    return channel.send(
        document.customer.id,
        subject,
        body,
        actor,
        attachments=attachments,
        template=INVOICE_TEMPLATE,
        details=details,
    )
