"""`p` on the profile: pause a subscription until a date, or until it is resumed.

The dialog states the customer, the subscription (plan, price, provider and its
id) and when collecting stops and starts again. An empty date pauses it
indefinitely (`u` resumes it: resume_dialog.py). Also opened from the cancel dialog's retention
offer: a pause instead of a cancellation.
"""

from __future__ import annotations

from collections.abc import Callable

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
from crm_tui.services.account_actions import AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput, parse_day


class PauseDialog(AccountActionDialog):
    TITLE_TEXT = "Pause a subscription"
    ACTION_LABEL = "Pause"

    def __init__(
        self,
        actions: AccountActions,
        actor: Actor,
        profile: CustomerProfile,
        subscription: SubscriptionDetail,
        *,
        offer: str = "",
    ) -> None:
        super().__init__(actions, actor, profile)
        self.subscription = subscription
        self.provider = subscription.provider
        self.offer = offer
        self.until_text = ""

    def statement(self) -> Text:
        sub = self.subscription
        lines = [customer_line(self.profile), subscription_line(sub)]
        if self.offer:
            lines.append(self.offer)
        try:
            until = parse_day(self.until_text, "until")
        except InvalidInput:
            until = None
            when = "until the date below (YYYY-MM-DD)"
        else:
            when = (
                f"until {format_date(until)}, when it resumes by itself"
                if until
                else "indefinitely, until it is resumed (u)"
            )
        lines.append(f"Stops collecting payments at {sub.provider} from now, {when}.")
        return Text("\n".join(lines))

    def inputs(self) -> ComposeResult:
        yield FormField(
            "until",
            "Until (YYYY-MM-DD)",
            text_input(placeholder="empty: until resumed", max_length=10),
            hint="the day it resumes by itself; empty pauses it until resumed",
        )

    @on(Input.Changed, "#field-until Input")
    def _until_changed(self, event: Input.Changed) -> None:
        self.until_text = event.value
        self.update_statement()

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        until_text, sub_id = self.value("until"), self.subscription.id

        def pause() -> ActionDone:
            text, values = validated(reason, until=lambda: parse_day(until_text, "until"))
            return self.actions.pause(sub_id, values["until"], text, self.actor)

        return pause
