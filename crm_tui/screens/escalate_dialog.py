"""`!` on the profile: flag the customer for manager review, with a reason.

Managers see it in the Escalated queue; the profile says ESCALATED until a
manager resolves it. A second escalation while one is open is refused, naming
who raised the first, when and why.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from crm_tui.models.profile import CustomerProfile
from crm_tui.screens.account_dialog import AccountActionDialog, customer_line, validated
from crm_tui.services.account_actions import AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.services.escalations import EscalationService
from crm_tui.services.tickets import NotAllowed


class EscalateDialog(AccountActionDialog):
    TITLE_TEXT = "Escalate to a manager"
    ACTION_LABEL = "Escalate"

    def __init__(
        self,
        actions: AccountActions,
        escalations: EscalationService,
        actor: Actor,
        profile: CustomerProfile,
    ) -> None:
        super().__init__(actions, actor, profile)
        self.escalations = escalations

    def statement(self) -> Text:
        return Text(
            "\n".join(
                [
                    customer_line(self.profile),
                    "Flags the customer for manager review: they appear in the Escalated "
                    "queue, and the profile says so until a manager resolves it. Nothing "
                    "changes on the account.",
                ]
            )
        )

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        customer_id = self.profile.id

        def escalate() -> ActionDone:
            text, _ = validated(reason)
            self.escalations.escalate(customer_id, text, self.actor)
            return ActionDone(None, f"Escalated for manager review: {text}")

        return escalate

    def handle_error(self, error: Exception) -> str | None:
        if isinstance(error, NotAllowed):
            return f"Not allowed: {error}"
        return super().handle_error(error)
