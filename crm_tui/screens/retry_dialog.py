"""`y` on a failed payment (Payments tab): collect it again through its provider.

The dialog states the customer, the amount and currency, the provider and its id,
and why the payment failed. The outcome: collected (a new payment in the Payments
tab, an event in Activity), or "Declined: <reason>" in the dialog with nothing
else changed (the decline itself is recorded in Activity).
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


class RetryPaymentDialog(AccountActionDialog):
    TITLE_TEXT = "Retry a failed payment"
    ACTION_LABEL = "Retry payment"

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
        money = stated_money(p.amount_minor, p.currency)
        at = f"{p.provider} {safe_text(p.provider_id)}" if p.provider_id else p.provider
        return Text(
            "\n".join(
                [
                    customer_line(self.profile),
                    f"Payment #{p.id}: {money} on {format_date(p.created_at)} · {p.method} · {at}",
                    f"It failed: {safe_text(p.failure_reason) or 'no reason given'}",
                    f"Charges {money} again through {p.provider}, now.",
                ]
            )
        )

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        payment_id = self.payment.id

        def retry() -> ActionDone:
            text, _ = validated(reason)
            return self.actions.retry_payment(payment_id, text, self.actor)

        return retry

    def refusal_text(self, message: str) -> str:
        if message.startswith("declined: "):
            why = message.removeprefix("declined: ").rstrip(". ")
            return f"Declined: {why}. Nothing was collected."
        return super().refusal_text(message)
