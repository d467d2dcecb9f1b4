"""`P` on a manual payment (Payments tab): the money arrived by hand; record it as paid.

Nothing is collected: the dialog states the customer, the payment (amount and
currency, method, when), that it becomes succeeded and its invoice paid.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from crm_tui.formatting import format_date
from crm_tui.models.profile import CustomerProfile, PaymentView
from crm_tui.screens.account_dialog import (
    AccountActionDialog,
    customer_line,
    stated_money,
    validated,
)
from crm_tui.services.account_actions import AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.text import safe_text


class MarkPaidDialog(AccountActionDialog):
    TITLE_TEXT = "Mark a manual payment paid"
    ACTION_LABEL = "Mark paid"

    def __init__(
        self,
        actions: AccountActions,
        actor: Actor,
        profile: CustomerProfile,
        payment: PaymentView,
    ) -> None:
        super().__init__(actions, actor, profile)
        self.payment = payment
        self.provider = payment.provider

    def statement(self) -> Text:
        p = self.payment
        invoice = f" and invoice {safe_text(p.invoice_number)} paid" if p.invoice_number else ""
        lines = [
            customer_line(self.profile),
            f"Payment #{p.id}: {stated_money(p.amount_minor, p.currency)} on "
            f"{format_date(p.created_at)} · {p.method} · {p.provider} · {p.status}",
            f"Records that this money has arrived: the payment becomes succeeded{invoice}. "
            "Nothing is collected from the customer.",
        ]
        return Text("\n".join(lines))

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        payment_id = self.payment.id

        def mark() -> ActionDone:
            text, _ = validated(reason)
            return self.actions.mark_paid(payment_id, text, self.actor)

        return mark
