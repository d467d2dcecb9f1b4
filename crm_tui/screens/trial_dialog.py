"""`x` on the profile: extend a subscription's trial by 1–365 days.

The dialog states the customer, the subscription (plan, price, provider and its
id), the current trial end and the new one, computed as the agent types the
number of days (the service's rule: from the later of the trial end and today).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Input

from crm_tui.formatting import format_date
from crm_tui.models.profile import CustomerProfile, SubscriptionDetail
from crm_tui.screens.account_dialog import (
    AccountActionDialog,
    customer_line,
    subscription_line,
    validated,
)
from crm_tui.screens.form import FormField, text_input
from crm_tui.services.account_actions import (
    MAX_TRIAL_EXTENSION_DAYS,
    AccountActions,
    ActionDone,
)
from crm_tui.services.actor import Actor

DEFAULT_DAYS = 14


def parse_days(text: str) -> int:
    cleaned = text.strip()
    if not cleaned.isdigit() or not 1 <= int(cleaned) <= MAX_TRIAL_EXTENSION_DAYS:
        raise ValueError(f"a whole number of days from 1 to {MAX_TRIAL_EXTENSION_DAYS}")
    return int(cleaned)


class ExtendTrialDialog(AccountActionDialog):
    TITLE_TEXT = "Extend a trial"
    ACTION_LABEL = "Extend trial"

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
        self.days_text = str(DEFAULT_DAYS)

    def statement(self) -> Text:
        sub = self.subscription
        now = self.actions.now()
        current = format_date(sub.trial_end) if sub.trial_end else "not set"
        lines = [customer_line(self.profile), subscription_line(sub), f"Trial ends: {current}"]
        try:
            days = parse_days(self.days_text)
        except ValueError:
            lines.append("New trial end: type a number of days from 1 to 365.")
        else:
            running = sub.trial_end is not None and sub.trial_end > now
            start = sub.trial_end if running and sub.trial_end else now
            new_end = format_date(start + timedelta(days=days))
            since = "after the current end" if running else "from today: it had ended"
            lines.append(
                f"New trial end: {new_end} ({days} days {since}), at {sub.provider}; "
                "the first payment moves to that day."
            )
        return Text("\n".join(lines))

    def inputs(self) -> ComposeResult:
        yield FormField(
            "days",
            "Days to add",
            text_input(self.days_text, max_length=3),
            hint=f"1 to {MAX_TRIAL_EXTENSION_DAYS}",
        )

    @on(Input.Changed, "#field-days Input")
    def _days_changed(self, event: Input.Changed) -> None:
        self.days_text = event.value
        self.update_statement()

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        days_text, sub_id = self.value("days"), self.subscription.id

        def extend() -> ActionDone:
            text, values = validated(reason, days=lambda: parse_days(days_text))
            return self.actions.extend_trial(sub_id, values["days"], text, self.actor)

        return extend
