"""`T` on the profile: open a support ticket linked to the customer.

The ticket's subject is the only field (one line, at most 200 characters); the
ticket history shows on the Overview, newest first, and the opening is recorded
in Activity with the agent's name.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from crm_tui.models.profile import CustomerProfile
from crm_tui.screens.account_dialog import AccountActionDialog, customer_line
from crm_tui.screens.form import FormField, text_input
from crm_tui.services.account_actions import AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.services.tickets import NotAllowed, TicketService


class TicketDialog(AccountActionDialog):
    TITLE_TEXT = "Open a support ticket"
    ACTION_LABEL = "Open ticket"

    def __init__(
        self,
        actions: AccountActions,
        tickets: TicketService,
        actor: Actor,
        profile: CustomerProfile,
    ) -> None:
        super().__init__(actions, actor, profile)
        self.tickets = tickets

    def statement(self) -> Text:
        open_now = sum(1 for ticket in self.profile.tickets if ticket.is_open)
        return Text(
            "\n".join(
                [
                    customer_line(self.profile),
                    f"Opens a ticket linked to the customer ({open_now} open now). "
                    "It shows in their ticket history and in Activity.",
                ]
            )
        )

    def fields(self) -> ComposeResult:
        # No reason: the subject says what the ticket is about.
        yield Static(self.statement(), id="action-statement")
        yield FormField(
            "subject",
            "Subject",
            text_input("", placeholder="what the customer needs", max_length=200),
            hint="one line, at most 200 characters",
        )

    def save(self) -> None:
        self.run_save(self.prepare(""), self._done)
        self.show_banner("Working…")

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        customer_id, subject = self.profile.id, self.value("subject")

        def open_ticket() -> ActionDone:
            ticket = self.tickets.create(customer_id, subject, self.actor)
            return ActionDone(None, f"Opened ticket #{ticket.id}: {ticket.subject}")

        return open_ticket

    def handle_error(self, error: Exception) -> str | None:
        if isinstance(error, NotAllowed):
            return f"Not allowed: {error}"
        return super().handle_error(error)
