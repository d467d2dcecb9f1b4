"""`enter` on a payment with an invoice: the invoice and its lines (read only)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from crm_tui.formatting import format_date, format_money
from crm_tui.models.profile import InvoiceView
from crm_tui.text import safe_text


def invoice_table(invoice: InvoiceView) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True)
    table.add_column("Description", ratio=1, overflow="fold")
    table.add_column("Qty", justify="right", no_wrap=True)
    table.add_column("Unit", justify="right", no_wrap=True)
    table.add_column("Amount", justify="right", no_wrap=True)
    for line in invoice.lines:
        table.add_row(
            Text(safe_text(line.description)),
            Text(str(line.quantity)),
            Text(format_money(line.unit_amount_minor, invoice.currency)),
            Text(format_money(line.amount_minor, invoice.currency)),
        )
    if not invoice.lines:
        table.add_row(Text("(no lines recorded)"), Text(""), Text(""), Text(""))
    table.add_row(
        Text("Total", style="bold"),
        Text(""),
        Text(""),
        Text(format_money(invoice.total_minor, invoice.currency), style="bold"),
    )
    return table


class InvoiceDialog(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", priority=True),
    ]
    DEFAULT_CSS = """
    InvoiceDialog { align: center middle; }
    InvoiceDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    InvoiceDialog #invoice-keys { color: $text-muted; }
    """

    def __init__(self, invoice: InvoiceView) -> None:
        super().__init__()
        self.invoice = invoice

    def compose(self) -> ComposeResult:
        invoice = self.invoice
        due = f" · due {format_date(invoice.due_at)}" if invoice.due_at else ""
        heading = (
            f"Invoice {safe_text(invoice.number)} · {invoice.status} · "
            f"issued {format_date(invoice.issued_at)}{due}"
        )
        with Vertical():
            yield Static(Text(heading, style="bold"))
            with VerticalScroll():
                yield Static(invoice_table(invoice))
            yield Static(Text("escape close"), id="invoice-keys")

    def action_close(self) -> None:
        self.dismiss(None)
