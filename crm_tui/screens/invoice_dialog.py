"""`enter` on a payment with an invoice: the invoice and its lines; send it or save it.

`s` emails the invoice to the customer with its PDF attached (in a thread worker;
the outcome, or why it failed, is shown here; after a failure `s` retries the same
message). `w` asks where to save the PDF, prefilled with ~/INV-….pdf, and says
where it went. Both need the services handed in by the profile; without them
(read-only mode) the dialog only shows the invoice.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import HorizontalGroup, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from crm_tui.formatting import format_date, format_money
from crm_tui.models.profile import InvoiceView
from crm_tui.screens.form import text_input
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.email_channel import EmailChannel, EmailFailed, EmailNotConfigured
from crm_tui.services.invoice_document import pdf_filename, resend_invoice, save_invoice_pdf
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


def _refusal(error: InvalidInput) -> str:
    return " · ".join(error.errors.values())


class InvoiceDialog(ModalScreen[None]):
    # `s`, `w`, `q` and `enter` are ordinary bindings: while the path field has focus
    # they are typed into it (and enter saves). Escape always works.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", priority=True),
        Binding("enter,q", "close", "Close", show=False),
        Binding("s", "send", "Send to customer"),
        Binding("w", "save_pdf", "Save PDF"),
    ]
    DEFAULT_CSS = """
    InvoiceDialog { align: center middle; }
    InvoiceDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    InvoiceDialog #invoice-lines { height: auto; max-height: 60vh; }  /* room below at 80x24 */
    InvoiceDialog #invoice-status { height: auto; display: none; }
    InvoiceDialog #invoice-status.-shown { display: block; }
    InvoiceDialog #invoice-status.-error { color: $error; }
    InvoiceDialog #invoice-path { display: none; }
    InvoiceDialog #invoice-path.-shown { display: block; }
    InvoiceDialog #invoice-path Label { width: 9; color: $text-muted; }
    InvoiceDialog #invoice-path Input {
        border: none; height: 1; width: 1fr; padding: 0 1; background: $boost;
    }
    InvoiceDialog #invoice-keys { color: $text-muted; }
    """

    def __init__(
        self,
        invoice: InvoiceView,
        *,
        engine: Engine | None = None,
        actor: Actor | None = None,
        channel: EmailChannel | None = None,
    ) -> None:
        super().__init__()
        self.invoice = invoice
        self.engine, self.actor, self.channel = engine, actor or Actor.system(), channel
        self.busy = False  # a send or a save is running
        self.failed_email_id: int | None = None  # `s` retries this one
        self.sent = False  # once sent, `s` sends another copy (and says so)

    def compose(self) -> ComposeResult:
        invoice = self.invoice
        due = f" · due {format_date(invoice.due_at)}" if invoice.due_at else ""
        heading = (
            f"Invoice {safe_text(invoice.number)} · {invoice.status} · "
            f"issued {format_date(invoice.issued_at)}{due}"
        )
        with Vertical():
            yield Static(Text(heading, style="bold"))
            with VerticalScroll(id="invoice-lines"):
                yield Static(invoice_table(invoice))
            yield Static("", id="invoice-status")
            with HorizontalGroup(id="invoice-path"):
                yield Label("Save to")
                yield text_input(f"~/{pdf_filename(invoice)}", max_length=4096)
            yield Static("", id="invoice-keys")

    def on_mount(self) -> None:
        self._show_keys()

    def _show_keys(self) -> None:
        self.query_one("#invoice-keys", Static).update(Text(self._keys()))

    def _keys(self) -> str:
        if self.query_one("#invoice-path").has_class("-shown"):
            return "enter save PDF · escape back"
        keys = []
        if self.channel is not None:
            if self.failed_email_id:
                keys.append("s retry sending")
            else:
                keys.append("s send again" if self.sent else "s send to customer")
        if self.engine is not None:
            keys.append("w save PDF")
        return " · ".join([*keys, "escape close"])

    def _show(self, message: str, *, error: bool = False) -> None:
        """The outcome in the dialog; a notification if the dialog was closed meanwhile."""
        if not self.is_attached:
            self.app.notify(message, severity="error" if error else "information", markup=False)
            return
        status = self.query_one("#invoice-status", Static)
        status.update(Text(safe_text(message)))
        status.set_class(bool(message), "-shown")
        status.set_class(error, "-error")
        self._show_keys()

    # -------------------------------------------------------------------- close

    def action_close(self) -> None:
        path = self.query_one("#invoice-path")
        if path.has_class("-shown"):  # escape leaves the path field, not the invoice
            self._hide_path()
            return
        self.dismiss(None)

    # --------------------------------------------------------------------- send

    def action_send(self) -> None:
        if self.channel is None or self.engine is None:
            self._show("Sending is off here (read-only mode).", error=True)
            return
        if self.busy:
            return
        self.busy = True
        self._show(f"Sending {self.invoice.number} to the customer…")
        self._send(self.failed_email_id)

    @work(thread=True, exclusive=True, group="invoice-send", exit_on_error=False)
    def _send(self, retry_email_id: int | None) -> None:
        assert self.channel is not None and self.engine is not None
        failed_id = retry_email_id
        try:
            sent = resend_invoice(
                self.channel, self.engine, self.invoice.id, self.actor, retry_email_id=failed_id
            )
        except EmailFailed as failure:  # recorded; the same message can be sent again
            failed_id = failure.email_id
            message = f"Not sent: {failure.message}. Press s to try again."
        except EmailNotConfigured as missing:
            message = missing.message
        except InvalidInput as refusal:
            message = f"Not sent: {_refusal(refusal)}"
        except Exception as error:  # the database, the PDF: say what, keep the dialog
            message = f"Not sent: {type(error).__name__}: {error}".splitlines()[0]
        else:
            self.app.call_from_thread(self._send_done, None, f"Sent to {sent.to_address}.", False)
            return
        self.app.call_from_thread(self._send_done, failed_id, message, True)

    def _send_done(self, failed_email_id: int | None, message: str, error: bool) -> None:
        self.busy = False
        self.failed_email_id = failed_email_id
        self.sent = self.sent or not error
        self._show(message, error=error)

    # --------------------------------------------------------------------- save

    def action_save_pdf(self) -> None:
        if self.engine is None:
            self._show("Saving is not available here.", error=True)
            return
        self.query_one("#invoice-path").add_class("-shown")
        self._show_keys()
        field = self.query_one("#invoice-path Input", Input)
        field.cursor_position = len(field.value)
        self.set_focus(field)

    def _hide_path(self) -> None:
        self.query_one("#invoice-path").remove_class("-shown")
        self._show_keys()
        self.set_focus(self.query_one("#invoice-lines"))

    @on(Input.Submitted, "#invoice-path Input")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        if not event.value.strip():
            self._show("Type where to save the PDF.", error=True)
            return
        self.busy = True
        self._show("Saving…")
        self._save(event.value.strip())

    @work(thread=True, exclusive=True, group="invoice-save", exit_on_error=False)
    def _save(self, path: str) -> None:
        assert self.engine is not None
        try:
            saved = save_invoice_pdf(self.engine, self.invoice.id, path, actor=self.actor)
        except InvalidInput as refusal:
            self.app.call_from_thread(self._save_done, f"Not saved: {_refusal(refusal)}", True)
            return
        except Exception as error:
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            self.app.call_from_thread(self._save_done, f"Not saved: {reason}", True)
            return
        message = f"Saved to {saved} (readable by you only)."
        self.app.call_from_thread(self._save_done, message, False)

    def _save_done(self, message: str, error: bool) -> None:
        self.busy = False
        if not error and self.is_attached:
            self._hide_path()
        self._show(message, error=error)
