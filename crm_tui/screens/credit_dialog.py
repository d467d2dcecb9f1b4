"""`$` on the profile: give the customer account credit, used up by their next invoices.

The dialog states the customer, the currency (the customer's), and where the credit
is held: the Stripe customer balance when the customer has a Stripe account, or
locally in crm-tui (money owed by hand) otherwise. Also opened from the cancel
dialog's retention offer, prefilled with 20% of one billing cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult

from crm_tui.formatting import format_major
from crm_tui.models.profile import CustomerProfile
from crm_tui.screens.account_dialog import (
    AccountActionDialog,
    customer_line,
    parse_money,
    validated,
)
from crm_tui.screens.form import FormField, text_input
from crm_tui.services.account_actions import AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.text import safe_text


class CreditDialog(AccountActionDialog):
    TITLE_TEXT = "Apply account credit"
    ACTION_LABEL = "Apply credit"

    def __init__(
        self,
        actions: AccountActions,
        actor: Actor,
        profile: CustomerProfile,
        *,
        currency: str | None = None,
        amount_minor: int | None = None,
        offer: str = "",
    ) -> None:
        super().__init__(actions, actor, profile)
        self.currency = (currency or profile.currency).upper()
        self.amount_minor = amount_minor
        self.offer = offer  # why it is prefilled (a retention offer)
        self.held: tuple[str, str] | None = None  # (provider, the customer's id there)

    def statement(self) -> Text:
        lines = [customer_line(self.profile)]
        if self.offer:
            lines.append(self.offer)
        lines.append(
            f"Adds credit in {self.currency}; the customer's next invoices use it up. "
            "Nothing is charged or paid out."
        )
        if self.held is None:
            lines.append("Held: looking up the customer's provider account…")
        elif self.held[0] == "stripe":
            lines.append(f"Held: on the Stripe customer balance of {safe_text(self.held[1])}.")
        else:
            lines.append("Held: locally in crm-tui (no provider account); settled by hand.")
        return Text("\n".join(lines))

    def inputs(self) -> ComposeResult:
        amount = format_major(self.amount_minor).replace(",", "") if self.amount_minor else ""
        yield FormField(
            "amount",
            f"Amount ({self.currency})",
            text_input(amount, placeholder="like 25.00", max_length=20),
            hint="the credit, like 25.00: more than zero, at most two decimals",
        )

    def on_mount(self) -> None:
        super().on_mount()
        self._find_holder()

    @work(thread=True, exclusive=True, group="credit-holder", exit_on_error=False)
    def _find_holder(self) -> None:
        try:
            held = self.actions.credit_provider(self.profile.id)
        except Exception as error:
            self.app.call_from_thread(self.show_banner, f"Could not read the provider: {error}")
            return
        self.app.call_from_thread(self._show_holder, held)

    def _show_holder(self, held: tuple[str, str]) -> None:
        self.held = held
        self.provider = held[0]
        self.update_statement()

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        amount_text, currency, customer_id = self.value("amount"), self.currency, self.profile.id

        def credit() -> ActionDone:
            text, values = validated(reason, amount=lambda: parse_money(amount_text, currency))
            return self.actions.apply_credit(
                customer_id, values["amount"], currency, text, self.actor
            )

        return credit
