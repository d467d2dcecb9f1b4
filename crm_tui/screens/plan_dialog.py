"""`m` on the profile: move a subscription to another plan.

The agent chooses from the plans it can move to (active, same currency); the
dialog then asks for the price of the change (the provider's preview, or our own
estimate where the provider gives none, and says which) and states what is
charged or credited now and the new price per cycle, before the agent confirms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import Select, Static

from crm_tui.models.profile import CustomerProfile, SubscriptionDetail
from crm_tui.screens.account_dialog import (
    AccountActionDialog,
    customer_line,
    stated_money,
    subscription_line,
    validated,
)
from crm_tui.screens.form import FormField
from crm_tui.services.account_actions import AccountActions, ActionDone, PlanChangePreview
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.intents import ActionFailed
from crm_tui.text import safe_text


def preview_text(sub: SubscriptionDetail, preview: PlanChangePreview) -> Text:
    due, currency = preview.amount_due_minor, preview.currency
    if due > 0:
        now = f"Charged now: {stated_money(due, currency)} (the rest of this period)."
    elif due < 0:
        now = f"Credited now: {stated_money(-due, currency)} (the rest of this period)."
    else:
        now = "Nothing is charged or credited now."
    source = (
        f"That is {sub.provider}'s preview."
        if preview.from_provider
        else "That is an estimate by crm-tui: the provider gives no preview."
    )
    lines = [
        f"New price: {stated_money(preview.amount_minor, preview.currency)} {preview.cycle} "
        f"({safe_text(preview.plan_name)}), from now on.",
        now,
        source,
        *(f"  {safe_text(line)}" for line in preview.lines[:3]),
    ]
    return Text("\n".join(lines))


class PlanChangeDialog(AccountActionDialog):
    TITLE_TEXT = "Change the plan"
    ACTION_LABEL = "Change plan"
    DEFAULT_CSS = """
    PlanChangeDialog #plan-preview { height: auto; margin-bottom: 1; }
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
        self.preview: PlanChangePreview | None = None
        self.preview_error = ""

    def statement(self) -> Text:
        return Text("\n".join([customer_line(self.profile), subscription_line(self.subscription)]))

    def inputs(self) -> ComposeResult:
        plans: Select[str] = Select([], prompt="loading the plans…", allow_blank=True)
        yield FormField("plan", "New plan", plans, hint="enter opens the list")
        yield Static(Text("Choose a plan to see what the change costs."), id="plan-preview")

    def on_mount(self) -> None:
        super().on_mount()
        self._load_plans()

    @property
    def plans(self) -> Select[str]:
        control = self.query_one("#field-plan", FormField).control
        assert isinstance(control, Select)
        return control

    def _show_preview(self, text: Text | str) -> None:
        self.query_one("#plan-preview", Static).update(text)

    @work(thread=True, exclusive=True, group="plan-choices", exit_on_error=False)
    def _load_plans(self) -> None:
        try:
            rows = self.actions.plan_choices(self.subscription.id)
        except Exception as error:
            message = Text(f"Could not read the plans: {error}")
            self.app.call_from_thread(self._show_preview, message)
            return
        options = [
            (
                Text(
                    f"{safe_text(row.name)} · {stated_money(row.amount_minor, row.currency)} "
                    f"{row.cycle}"
                ),
                str(row.code),
            )
            for row in rows
        ]
        self.app.call_from_thread(self._fill_plans, options)

    def _fill_plans(self, options: list[tuple[Any, str]]) -> None:
        self.plans.set_options(options)
        if options:
            self.plans.prompt = "choose a plan"
        else:
            self.plans.prompt = "no other plan"
            currency = self.subscription.currency
            self._show_preview(Text(f"There is no other active plan in {currency} to move to."))

    @on(Select.Changed, "#field-plan Select")
    def _plan_chosen(self, event: Select.Changed) -> None:
        self.preview, self.preview_error = None, ""
        if event.value is Select.NULL or event.value is None:
            self._show_preview(Text("Choose a plan to see what the change costs."))
            return
        self._show_preview(Text(f"Asking {self.provider} what the change costs…"))
        self._load_preview(str(event.value))

    @work(thread=True, exclusive=True, group="plan-preview", exit_on_error=False)
    def _load_preview(self, plan_code: str) -> None:
        try:
            preview = self.actions.preview_plan_change(self.subscription.id, plan_code)
        except (ActionFailed, InvalidInput) as refusal:
            message = refusal.message if isinstance(refusal, ActionFailed) else str(refusal)
            self.app.call_from_thread(self._preview_failed, plan_code, message)
            return
        except Exception as error:
            self.app.call_from_thread(self._preview_failed, plan_code, str(error))
            return
        self.app.call_from_thread(self._preview_ready, preview)

    def _preview_ready(self, preview: PlanChangePreview) -> None:
        if self.value("plan") != preview.plan_code:
            return  # the agent chose another plan meanwhile
        self.preview = preview
        self._show_preview(preview_text(self.subscription, preview))

    def _preview_failed(self, plan_code: str, message: str) -> None:
        if self.value("plan") != plan_code:
            return
        self.preview_error = message
        self._show_preview(Text(f"No price for this change: {safe_text(message)}"))

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        code = self.value("plan")
        if not code:
            raise InvalidInput({"plan": "choose the new plan"})
        if self.preview is None or self.preview.plan_code != code:
            why = (
                f"no price for this change ({self.preview_error})"
                if self.preview_error
                else ("wait for the price of this change")
            )
            raise InvalidInput({"plan": why})
        sub_id = self.subscription.id

        def change() -> ActionDone:
            text, _ = validated(reason)
            return self.actions.change_plan(sub_id, code, text, self.actor)

        return change
