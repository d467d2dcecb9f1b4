"""What the profile's account-action dialogs share (issue 4): retry, credit, pause,
resume, cancel, change plan, extend a trial, mark paid, affiliate.

Each dialog states exactly what will happen (the customer by name and #id, the
amount and currency, the provider and its id, when it takes effect), starts with
focus on Cancel and asks for a reason. It runs its AccountActions call in a
thread worker (FormScreen.run_save), and shows the outcome:

- done: the summary is notified and the dialog closes (the profile reads the
  customer again, so the Payments and Activity tabs show it at once);
- refused (InvalidInput beside its field, ActionFailed in the dialog): nothing
  changed, the dialog stays with what the agent typed;
- pending (ActionPending: no answer from the provider): said in the dialog, and the
  action button is disabled — `crm-tui reconcile` settles it, it is never asked twice.

Also here: the small picker shown when a customer has several subscriptions an
action applies to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from crm_tui.formatting import format_date, format_money
from crm_tui.models.profile import CustomerProfile, SubscriptionDetail
from crm_tui.screens.form import FormField, FormFields, FormScreen
from crm_tui.services.account_actions import AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput, validate_reason
from crm_tui.services.directory import parse_amount_minor
from crm_tui.services.intents import ActionFailed, ActionPending
from crm_tui.text import safe_text


def stated_money(minor: int, currency: str) -> str:
    """'$89.00 USD': the symbol alone does not say which dollar."""
    shown = format_money(minor, currency)
    code = currency.upper()
    return shown if code in shown else f"{shown} {code}"


def customer_line(profile: CustomerProfile) -> str:
    return f"Customer: {safe_text(profile.name)} (#{profile.id})"


def subscription_line(sub: SubscriptionDetail) -> str:
    """'Subscription #3: Gold, $89.00 USD monthly · active · stripe sub_123'."""
    at = f"{sub.provider} {safe_text(sub.provider_id)}" if sub.provider_id else sub.provider
    return (
        f"Subscription #{sub.id}: {safe_text(sub.plan)}, "
        f"{stated_money(sub.amount_minor, sub.currency)} {sub.cycle} · {sub.status} · {at}"
    )


def parse_money(text: str, currency: str) -> int:
    """An amount typed by the agent, in the currency's minor units; a clear message
    when it is not one (a decimal yen is one)."""
    if not text.strip():
        raise ValueError("enter an amount, like 25.00")
    return parse_amount_minor(text, currency)


def validated(reason: str, **parsers: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Run every parser and the reason check; refuse with all their messages at once."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, parse in parsers.items():
        try:
            values[key] = parse()
        except InvalidInput as refusal:
            errors.update(refusal.errors)
        except ValueError as error:
            errors[key] = str(error)
    try:
        reason = validate_reason(reason)
    except InvalidInput as refusal:
        errors.update(refusal.errors)
    if errors:
        raise InvalidInput(errors)
    return reason, values


class AccountActionDialog(FormScreen[ActionDone]):
    """Dismisses with the ActionDone, or None (cancelled; a refusal keeps it open)."""

    TITLE_TEXT = "Account action"
    ACTION_LABEL = "Confirm"
    CANCEL_LABEL = "Cancel"  # the button that does nothing: focus starts on it
    SAVE_HINT = "tab to the action, enter · escape cancel"
    DEFAULT_CSS = """
    AccountActionDialog #action-statement { height: auto; margin-bottom: 1; }
    AccountActionDialog FormField TextArea { height: 3; }
    AccountActionDialog #action-buttons { height: auto; align-horizontal: right; }
    AccountActionDialog #action-buttons Button { margin: 0 1; }
    """

    def __init__(self, actions: AccountActions, actor: Actor, profile: CustomerProfile) -> None:
        super().__init__()
        self.actions, self.actor, self.profile = actions, actor, profile
        self.provider = "manual"  # who is asked: named in a refusal
        self.pending = False  # an unknown outcome: never asked twice from here

    # ------------------------------------------------------------ to override

    def statement(self) -> Text:
        """Exactly what will happen, as text (customer values through safe_text)."""
        raise NotImplementedError

    def inputs(self) -> ComposeResult:
        """The dialog's own fields, between the statement and the reason."""
        yield from ()

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        """Read the controls (here, on the event loop); return the service call, which
        runs in a thread and validates everything it was given (`validated`)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        # The buttons stay outside the scrolling fields: always on screen at 80x24.
        with Vertical(id="form-dialog"):
            yield Static(Text(self.TITLE_TEXT), id="form-title")
            yield Static("", id="form-banner")
            with FormFields(id="form-fields"):
                yield from self.fields()
            with Horizontal(id="action-buttons"):
                yield Button(Text(self.CANCEL_LABEL), id="cancel", compact=True)
                yield Button(Text(self.ACTION_LABEL), id="confirm", variant="warning", compact=True)
            yield Static(Text(self.SAVE_HINT), id="form-keys")

    def fields(self) -> ComposeResult:
        yield Static(self.statement(), id="action-statement")
        yield from self.inputs()
        yield FormField("reason", "Reason", TextArea(id="action-reason"))

    def on_mount(self) -> None:
        # Nothing happens unless the agent moves to the action: focus starts on Cancel.
        self.set_focus(self.query_one("#cancel", Button))

    def update_statement(self) -> None:
        self.query_one("#action-statement", Static).update(self.statement())

    # ---------------------------------------------------------------- saving

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_save()

    def save(self) -> None:
        if self.pending:
            return
        try:
            call = self.prepare(self.value("reason"))
        except InvalidInput as refusal:  # something the dialog knows at once
            self.show_errors(refusal.errors)
            return
        self.run_save(call, self._done)
        self.show_banner(f"Working… ({self.provider})")

    def _done(self, done: ActionDone) -> None:
        self.app.notify(done.summary, title=self.TITLE_TEXT, timeout=6, markup=False)
        self.dismiss(done)

    def handle_error(self, error: Exception) -> str | None:
        # Runs in the save worker's thread.
        if isinstance(error, ActionPending):
            self.pending = True
            self.app.call_from_thread(self._disable_confirm)
            return f"Pending: {error.message}"
        if isinstance(error, ActionFailed):
            return self.refusal_text(error.message)
        return None

    def refusal_text(self, message: str) -> str:
        return f"Refused by {self.provider}: {message.rstrip('. ')}. Nothing changed."

    def _disable_confirm(self) -> None:
        confirm = self.query_one("#confirm", Button)
        confirm.disabled = True
        self.set_focus(self.query_one("#cancel", Button))

    def show_errors(self, errors: dict[str, str]) -> None:
        """Field messages beside their fields; a refusal of the whole action (the
        subscription's state, a payment in progress) said plainly in the banner."""
        known = {f.key for f in self.query(FormField) if f.display}
        placed = {key: message for key, message in errors.items() if key in known}
        general = [message for key, message in errors.items() if key not in known]
        super().show_errors(placed)
        parts = []
        if general:
            parts.append("Not done: " + "; ".join(general) + ".")
        if placed:
            noun = "field needs" if len(placed) == 1 else "fields need"
            parts.append(f"Nothing was done: {len(placed)} {noun} attention.")
        self.show_banner(" ".join(parts))


class SubscriptionPicker(ModalScreen[int]):
    """Which subscription? Lists them (plan, status, provider id); enter picks one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Cancel", id="picker.cancel"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
    ]
    DEFAULT_CSS = """
    SubscriptionPicker { align: center middle; }
    SubscriptionPicker > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    SubscriptionPicker #picker-title { text-style: bold; }
    SubscriptionPicker OptionList { height: auto; max-height: 16; }
    SubscriptionPicker #picker-keys { color: $text-muted; }
    """

    def __init__(self, title: str, subscriptions: list[SubscriptionDetail]) -> None:
        super().__init__()
        self.title_text, self.subscriptions = title, subscriptions

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), id="picker-title")
            yield OptionList(
                *(
                    Option(
                        Text(subscription_line(sub), no_wrap=True, overflow="ellipsis"),
                        id=str(sub.id),
                    )
                    for sub in self.subscriptions
                ),
                id="picker-list",
            )
            yield Static(Text("j/k or arrows · enter choose · escape cancel"), id="picker-keys")

    def on_mount(self) -> None:
        options = self.query_one("#picker-list", OptionList)
        options.highlighted = 0
        self.set_focus(options)

    @on(OptionList.OptionSelected, "#picker-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_move(self, step: int) -> None:
        options = self.query_one("#picker-list", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_close(self) -> None:
        self.dismiss(None)


def period_end_text(sub: SubscriptionDetail) -> str:
    return format_date(sub.renews_at) if sub.renews_at else "the end of the current period"
