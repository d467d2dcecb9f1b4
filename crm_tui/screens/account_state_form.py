"""`b` on the profile: block, deactivate or reactivate an account, with a required reason.

The reason goes into the status history (when, who, why) and the activity log.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import TextArea

from crm_tui.models.enums import AccountState
from crm_tui.models.profile import CustomerProfile
from crm_tui.screens.form import FormField, FormScreen, choice
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import CustomerEditService

_LABELS = {
    AccountState.ACTIVE.value: "Reactivate (active)",
    AccountState.DEACTIVATED.value: "Deactivate",
    AccountState.BLOCKED.value: "Block",
}


class AccountStateForm(FormScreen[int]):
    """Dismisses with the customer's new version, or None."""

    TITLE_TEXT = "Change the account state"

    def __init__(
        self, service: CustomerEditService, actor: Actor, profile: CustomerProfile
    ) -> None:
        super().__init__()
        self.service, self.actor, self.profile = service, actor, profile
        self.TITLE_TEXT = (
            f"Account state (now {profile.account_state}): the reason is kept in its history"
        )

    def fields(self) -> ComposeResult:
        options = [
            (label, state)
            for state, label in _LABELS.items()
            if state != self.profile.account_state
        ]
        yield FormField(
            "state",
            "New state",
            choice(options, options[0][1]),
        )
        yield FormField("reason", "Reason", TextArea(id="reason-text"))

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#field-state", FormField).control)

    def save(self) -> None:
        state, reason, profile = self.value("state"), self.value("reason"), self.profile
        self.run_save(
            lambda: self.service.change_account_state(
                profile.id, profile.version, state, reason, self.actor
            ),
            self.dismiss,
        )
