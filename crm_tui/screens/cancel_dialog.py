"""`c` on the profile: cancel a subscription — after offering to keep the customer.

The dialog first shows the retention offers: a pause instead (opens the pause
dialog for this subscription) or a discount, credit of 20% of one billing cycle
(opens the credit dialog prefilled). Then the choice: at the period's end (its
date stated: the customer keeps the service until then) or now, and a reason.
A subscription with a payment in progress is refused by the service; the
message is shown here and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Select, Static

from crm_tui.models.enums import SubscriptionStatus
from crm_tui.models.profile import CustomerProfile, SubscriptionDetail
from crm_tui.screens.account_dialog import (
    AccountActionDialog,
    customer_line,
    period_end_text,
    stated_money,
    subscription_line,
    validated,
)
from crm_tui.screens.form import FormField, choice
from crm_tui.services.account_actions import PAUSABLE, AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.text import safe_text

RETENTION_PERCENT = 20


def retention_credit(sub: SubscriptionDetail) -> int:
    """20% of one billing cycle's price, rounded half up to the minor unit."""
    return (sub.amount_minor * RETENTION_PERCENT + 50) // 100


class CancelDialog(AccountActionDialog):
    TITLE_TEXT = "Cancel a subscription"
    ACTION_LABEL = "Cancel subscription"
    CANCEL_LABEL = "Keep subscription"
    DEFAULT_CSS = """
    CancelDialog #offers-title { height: 1; text-style: bold; }
    CancelDialog #offers { height: auto; margin-bottom: 1; }
    CancelDialog #offers Button { margin: 0 1 0 0; }
    CancelDialog #cancel-effect { height: auto; margin-bottom: 1; }
    """

    def __init__(
        self,
        actions: AccountActions,
        actor: Actor,
        profile: CustomerProfile,
        subscription: SubscriptionDetail,
    ) -> None:
        super().__init__(actions, actor, profile)
        self.subscription = subscription
        self.provider = subscription.provider
        self.credit_minor = retention_credit(subscription)
        # "pause" or "credit": the offer the agent chose instead; the profile opens its
        # dialog once this one has closed.
        self.chosen_offer: str | None = None

    def statement(self) -> Text:
        return Text("\n".join([customer_line(self.profile), subscription_line(self.subscription)]))

    def inputs(self) -> ComposeResult:
        sub = self.subscription
        credit = stated_money(self.credit_minor, sub.currency)
        pausable = SubscriptionStatus(sub.status) in PAUSABLE
        yield Static(Text("First offer to keep the customer:"), id="offers-title")
        with Horizontal(id="offers"):
            yield Button(
                Text("Pause instead" if pausable else f"Pause: not while {sub.status}"),
                id="offer-pause",
                compact=True,
                disabled=not pausable,
            )
            yield Button(
                Text(f"{RETENTION_PERCENT}% credit: {credit}"),
                id="offer-credit",
                compact=True,
                disabled=self.credit_minor <= 0,
            )
        yield FormField(
            "when",
            "When",
            choice(
                [
                    (f"at the period's end ({period_end_text(sub)})", "period_end"),
                    ("now", "now"),
                ],
                "period_end",
            ),
        )
        yield Static(self._effect("period_end"), id="cancel-effect")

    def _effect(self, when: str) -> Text:
        sub = self.subscription
        at = f"{sub.provider} {safe_text(sub.provider_id)}" if sub.provider_id else sub.provider
        if when == "now":
            text = (
                f"Cancels it at {at} now: the service ends today and nothing more is "
                "collected. Nothing is refunded (r refunds a payment)."
            )
        else:
            text = (
                f"Cancels it at {at} at the period's end ({period_end_text(sub)}): "
                "the customer keeps the service until then; it is not renewed."
            )
        return Text(text)

    @on(Select.Changed, "#field-when Select")
    def _when_changed(self, event: Select.Changed) -> None:
        value = "now" if event.value == "now" else "period_end"
        self.query_one("#cancel-effect", Static).update(self._effect(value))

    @on(Button.Pressed, "#offer-pause")
    def _offer_pause(self) -> None:
        self._offer("pause")

    @on(Button.Pressed, "#offer-credit")
    def _offer_credit(self) -> None:
        self._offer("credit")

    def _offer(self, kind: str) -> None:
        if self.saving:
            return
        self.chosen_offer = kind
        self.dismiss(None)

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        at_period_end, sub_id = self.value("when") != "now", self.subscription.id

        def cancel() -> ActionDone:
            text, _ = validated(reason)
            return self.actions.cancel(sub_id, at_period_end, text, self.actor)

        return cancel
