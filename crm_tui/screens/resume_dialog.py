"""`u` on the profile: resume a paused subscription now.

The dialog states the customer, the subscription (plan, price, provider and its
id), how long it was paused for, and that collecting starts again.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from crm_tui.formatting import format_date
from crm_tui.models.profile import CustomerProfile, SubscriptionDetail
from crm_tui.screens.account_dialog import (
    AccountActionDialog,
    customer_line,
    subscription_line,
    validated,
)
from crm_tui.services.account_actions import AccountActions, ActionDone
from crm_tui.services.actor import Actor


class ResumeDialog(AccountActionDialog):
    TITLE_TEXT = "Resume a paused subscription"
    ACTION_LABEL = "Resume"

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

    def statement(self) -> Text:
        sub = self.subscription
        paused = (
            f"paused until {format_date(sub.paused_until)}"
            if sub.paused_until
            else "paused until resumed"
        )
        return Text(
            "\n".join(
                [
                    customer_line(self.profile),
                    subscription_line(sub) + f" ({paused})",
                    f"Resumes it at {sub.provider} now: payments are collected again "
                    "from its next renewal.",
                ]
            )
        )

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        sub_id = self.subscription.id

        def resume() -> ActionDone:
            text, _ = validated(reason)
            return self.actions.resume(sub_id, text, self.actor)

        return resume
