"""`r` on a payment: refund it, fully or in part.

The dialog states exactly what will happen (customer, amount and currency, the
provider and its payment id, what was refunded already) and starts with focus on
Cancel. The refund runs through RefundService (an intent stored before the
provider is called); the outcome — done, refused with the provider's reason, or
pending — is shown here before the dialog closes.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static, TextArea

from crm_tui.formatting import format_date, format_major, format_money
from crm_tui.models.enums import ApprovalKind
from crm_tui.models.profile import CustomerProfile, PaymentView
from crm_tui.screens.form import FormField, FormScreen, text_input
from crm_tui.services.actor import Actor
from crm_tui.services.approvals import ApprovalService, ApprovalView, NeedsApproval
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.directory import parse_amount_minor
from crm_tui.services.permissions import NotAllowed
from crm_tui.services.refunds import RefundDone, RefundFailed, RefundPending, RefundService
from crm_tui.text import safe_text


def refund_statement(profile: CustomerProfile, payment: PaymentView, remaining: int) -> str:
    money = payment.currency
    lines = [
        f"Customer: {safe_text(profile.name)} (#{profile.id})",
        f"Payment: {format_money(payment.amount_minor, money)} on "
        f"{format_date(payment.created_at)} · {payment.method} · {payment.provider}"
        + (f" {safe_text(payment.provider_id)}" if payment.provider_id else ""),
    ]
    if payment.refunded_minor:
        lines.append(f"Already refunded: {format_money(payment.refunded_minor, money)}")
    lines.append(f"The money goes back through {payment.provider}, now.")
    lines.append(f"At most {format_money(remaining, money)} can be refunded.")
    return "\n".join(lines)


class RefundDialog(FormScreen[RefundDone]):
    """Dismisses with the RefundDone, or None (cancelled, refused or pending)."""

    TITLE_TEXT = "Refund a payment"
    SAVE_HINT = "tab to Refund, enter · escape cancel"

    def __init__(
        self,
        service: RefundService,
        actor: Actor,
        profile: CustomerProfile,
        payment: PaymentView,
        remaining_minor: int,
    ) -> None:
        super().__init__()
        self.service, self.actor = service, actor
        self.profile, self.payment, self.remaining = profile, payment, remaining_minor

    def fields(self) -> ComposeResult:
        statement = refund_statement(self.profile, self.payment, self.remaining)
        limit = self.service.approval_limit(self.payment.currency)
        if limit is not None and self.remaining > limit:
            statement += (
                f"\nAbove {format_money(limit, self.payment.currency)}, a manager must approve "
                "it: the refund is then asked for, not made."
            )
        yield Static(Text(statement))
        yield FormField(
            "amount",
            f"Amount ({self.payment.currency})",
            text_input(format_major(self.remaining).replace(",", ""), max_length=20),
        )
        yield FormField("reason", "Reason", TextArea(id="refund-reason"))
        with Horizontal(id="refund-buttons"):
            yield Button("Cancel", id="cancel", variant="default")
            yield Button("Refund", id="refund", variant="error")

    DEFAULT_CSS = """
    RefundDialog #refund-buttons { height: auto; align-horizontal: right; }
    RefundDialog Button { margin: 0 1; }
    """

    def on_mount(self) -> None:
        # Money leaves the business: nothing happens unless the agent moves to Refund.
        self.set_focus(self.query_one("#cancel", Button))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#refund")
    def _refund(self) -> None:
        self.action_save()

    def save(self) -> None:
        amount_text, reason = self.value("amount"), self.value("reason")
        payment_id, currency = self.payment.id, self.payment.currency

        def refund() -> RefundDone | ApprovalView:
            try:
                amount = parse_amount_minor(amount_text, currency)
            except ValueError as error:
                raise InvalidInput({"amount": str(error)}) from None
            try:
                return self.service.refund(payment_id, amount, reason, self.actor)
            except NeedsApproval:  # above the limit: ask a manager instead (nothing moved)
                return ApprovalService(self.service.engine).request(
                    ApprovalKind.REFUND,
                    self.profile.id,
                    {"payment_id": payment_id, "amount_minor": amount, "currency": currency},
                    reason,
                    self.actor,
                )

        self.run_save(refund, self._done)

    def _done(self, done: RefundDone | ApprovalView) -> None:
        if isinstance(done, ApprovalView):
            self.app.notify(
                f"Refund asked for (request #{done.id}): {done.description}; "
                "a manager must approve it.",
                title="Refund",
                timeout=8,
                markup=False,
            )
            self.dismiss(None)
            return
        self.app.notify(
            f"Refunded {format_money(done.amount_minor, done.currency)} "
            f"({done.provider_refund_id}).",
            title="Refund",
            timeout=6,
            markup=False,
        )
        self.dismiss(done)

    def handle_error(self, error: Exception) -> str | None:
        if isinstance(error, RefundFailed):
            return f"Refused by {self.payment.provider}: {error.message}. Nothing was refunded."
        if isinstance(error, RefundPending):
            return f"Pending: {error.message}"
        if isinstance(error, NotAllowed):
            return f"Not allowed: {error.message}"
        return None
