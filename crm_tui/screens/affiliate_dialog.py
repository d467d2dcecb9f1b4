"""`A` on a payment (Payments tab): the affiliate who made the sale and their commission.

Local bookkeeping only: nothing is charged or paid out. The dialog states the
customer and the sale (amount and currency, provider and its id); the previous
affiliate and commission are kept in the activity event the change records.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult

from crm_tui.formatting import format_date
from crm_tui.models.profile import CustomerProfile, PaymentView
from crm_tui.screens.account_dialog import (
    AccountActionDialog,
    customer_line,
    stated_money,
    validated,
)
from crm_tui.screens.form import FormField, text_input
from crm_tui.services.account_actions import AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.services.directory import parse_amount_minor
from crm_tui.text import safe_text


def parse_commission(text: str, currency: str) -> int:
    """Empty means no commission."""
    return parse_amount_minor(text, currency) if text.strip() else 0


class AffiliateDialog(AccountActionDialog):
    TITLE_TEXT = "Affiliate and commission"
    ACTION_LABEL = "Save"

    def __init__(
        self,
        actions: AccountActions,
        actor: Actor,
        profile: CustomerProfile,
        payment: PaymentView,
    ) -> None:
        super().__init__(actions, actor, profile)
        self.payment = payment
        self.provider = "crm-tui"

    def statement(self) -> Text:
        p = self.payment
        at = f"{p.provider} {safe_text(p.provider_id)}" if p.provider_id else p.provider
        lines = [
            customer_line(self.profile),
            f"Sale: payment #{p.id}, {stated_money(p.amount_minor, p.currency)} on "
            f"{format_date(p.created_at)} · {at}",
            "Sets who made the sale and their commission, replacing what is recorded now "
            "(the old values go to Activity). Nothing is charged or paid out.",
        ]
        return Text("\n".join(lines))

    def inputs(self) -> ComposeResult:
        yield FormField(
            "affiliate",
            "Affiliate",
            text_input(placeholder="empty: no affiliate", max_length=120),
        )
        yield FormField(
            "commission",
            f"Commission ({self.payment.currency})",
            text_input(placeholder="0.00", max_length=20),
            hint="the affiliate's commission, at most the sale's amount",
        )

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        affiliate, commission_text = self.value("affiliate"), self.value("commission")
        payment_id, currency = self.payment.id, self.payment.currency

        def save() -> ActionDone:
            text, values = validated(
                reason, commission=lambda: parse_commission(commission_text, currency)
            )
            return self.actions.set_affiliate(
                payment_id, affiliate, values["commission"], text, self.actor
            )

        return save
