"""`l` on the profile: email the customer a link where they update their payment method.

The dialog states the customer, the address the email goes to, and the provider
the link comes from (the Stripe billing portal). Nothing moves and the service
records no reason, so the agent only confirms (focus starts on Cancel). The
outcome: sent (the email shows in Activity at once), the provider's refusal where
it cannot make a link (PayPal, payments by hand), or why email cannot be sent
(no [smtp] configured, the mail server refused) — said in the dialog.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from crm_tui.models.profile import CustomerProfile
from crm_tui.screens.account_dialog import AccountActionDialog, customer_line
from crm_tui.services.account_actions import PAYMENT_LINK_SUBJECT, AccountActions, ActionDone
from crm_tui.services.actor import Actor
from crm_tui.services.email_channel import EmailChannel, EmailFailed, EmailNotConfigured
from crm_tui.text import safe_text

SUBJECT = PAYMENT_LINK_SUBJECT


def recipient(profile: CustomerProfile) -> str:
    """The address the email goes to (EmailChannel's rule: email, else company email)."""
    return (profile.email or profile.company_email or "").strip()


class PaymentLinkDialog(AccountActionDialog):
    TITLE_TEXT = "Send a payment-method link"
    ACTION_LABEL = "Send link"

    def __init__(
        self,
        actions: AccountActions,
        actor: Actor,
        profile: CustomerProfile,
        channel: EmailChannel,
        *,
        return_url: str = "",
    ) -> None:
        super().__init__(actions, actor, profile)
        self.channel, self.return_url = channel, return_url
        self.held: tuple[str, str] | None = None  # (provider, the customer's id there)

    def statement(self) -> Text:
        lines = [customer_line(self.profile)]
        to = recipient(self.profile)
        if to:
            lines.append(f"To: {safe_text(to)} (the customer's email address on file)")
        else:
            lines.append("To: nobody: the customer has no email address on file (e adds one).")
        if self.held is None:
            lines.append("Link from: looking up the customer's provider account…")
        elif self.held[0] == "stripe":
            stripe_id = safe_text(self.held[1])
            lines.append(f"Link from: the Stripe billing portal, for Stripe customer {stripe_id}.")
        else:
            lines.append(f"Link from: {self.held[0]} (the customer has no Stripe account).")
        lines.append(
            f"Emails the customer '{SUBJECT}' with a link, valid for a short time, where "
            "they change the card they pay with; the email is recorded in Activity. "
            "Nothing is charged."
        )
        if self.return_url:
            lines.append(
                f"After the change, the portal sends them to {safe_text(self.return_url)}."
            )
        return Text("\n".join(lines))

    def fields(self) -> ComposeResult:
        # Only a confirmation: no money moves and the service takes no reason, so one
        # typed here would be recorded nowhere.
        yield Static(self.statement(), id="action-statement")

    def on_mount(self) -> None:
        super().on_mount()
        self._find_provider()

    @work(thread=True, exclusive=True, group="link-provider", exit_on_error=False)
    def _find_provider(self) -> None:
        try:
            held = self.actions.billing_provider(self.profile.id)
        except Exception as error:
            self.app.call_from_thread(self.show_banner, f"Could not read the provider: {error}")
            return
        self.app.call_from_thread(self._show_provider, held)

    def _show_provider(self, held: tuple[str, str]) -> None:
        self.held = held
        self.provider = held[0]
        self.update_statement()

    def save(self) -> None:
        self.run_save(self.prepare(""), self._done)
        self.show_banner(f"Working… ({self.provider})")

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        customer_id, channel, return_url = self.profile.id, self.channel, self.return_url

        def send() -> ActionDone:
            return self.actions.send_payment_method_link(
                customer_id, channel, self.actor, return_url=return_url
            )

        return send

    def handle_error(self, error: Exception) -> str | None:
        # Runs in the save worker's thread.
        if isinstance(error, EmailNotConfigured):
            return f"{error.message.rstrip('. ')}. Nothing was sent."
        if isinstance(error, EmailFailed):  # recorded as failed, in Activity
            return (
                f"Not sent: {error.message.rstrip('. ')}. The failed attempt is in Activity; "
                "Send link tries again with a new link."
            )
        return super().handle_error(error)

    def refusal_text(self, message: str) -> str:
        return f"No link sent ({self.provider}): {message.rstrip('. ')}. Nothing was emailed."
