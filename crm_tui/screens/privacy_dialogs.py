"""The profile's privacy requests: `D` asks for an erasure, `E` exports all their data,
`C` records a consent given or withdrawn.

`D` (right to erasure) says what goes and what stays, that it cannot be undone, and
that a manager other than the agent must approve it; the agent types the customer's
email to confirm (an erased customer has none: nothing to ask for). The request
then waits in the managers' approvals queue; the profile shows its state.

`E` (right of access) writes one zip archive (JSON and a CSV per section) to a path
the agent chooses; an existing file is refused unless "replace" is typed over it.
A read-only agent may export: it is a read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input, Select, Static

from crm_tui.models.enums import ApprovalKind, ConsentPurpose
from crm_tui.models.profile import CustomerProfile
from crm_tui.screens.account_dialog import AccountActionDialog, customer_line, validated
from crm_tui.screens.form import FormField
from crm_tui.services.account_actions import ActionDone
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.permissions import NotAllowed
from crm_tui.text import safe_text


class _PrivacyDialog(AccountActionDialog):
    """What the three share: the database (no provider is called), and a refusal said."""

    def __init__(self, engine: Any, actor: Actor, profile: CustomerProfile) -> None:
        super().__init__(None, actor, profile)  # type: ignore[arg-type]  # no provider call
        self.engine = engine

    def handle_error(self, error: Exception) -> str | None:
        if isinstance(error, NotAllowed):
            return f"Not allowed: {error.message}"
        return super().handle_error(error)


class DeletionRequestDialog(_PrivacyDialog):
    TITLE_TEXT = "Erase personal data (right to erasure)"
    ACTION_LABEL = "Ask a manager to approve"

    def statement(self) -> Text:
        return Text(
            "\n".join(
                [
                    customer_line(self.profile),
                    "IRREVERSIBLE once approved: name, email, phone, addresses, note texts, "
                    "tickets, emails and the free text of the history are erased, and so "
                    "are searches for them in the audit trail.",
                    "Kept, as the law requires: payments, refunds, invoices and orders, "
                    "with amounts and dates.",
                    "A manager other than you must approve it. Type their email to confirm.",
                ]
            ),
            style="bold",
        )

    def inputs(self) -> ComposeResult:
        yield FormField(
            "email",
            "Their email",
            Input(id="confirm-email", select_on_focus=False),
        )

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        typed = self.value("email").strip()
        expected = self.profile.email.strip()
        if not expected or typed.casefold() != expected.casefold():
            raise InvalidInput({"email": "type the customer's email exactly as shown"})
        customer_id = self.profile.id

        def ask() -> ActionDone:
            from crm_tui.services.approvals import ApprovalService

            text, _ = validated(reason)
            request = ApprovalService(self.engine).request(
                ApprovalKind.DELETION, customer_id, {}, text, self.actor
            )
            return ActionDone(
                None,
                f"Erasure requested (request #{request.id}): waiting for a manager's approval",
            )

        return ask


class PrivacyExportDialog(_PrivacyDialog):
    """The archive's path (a default in the home folder) and why it is exported."""

    TITLE_TEXT = "Export all their data (right of access)"
    ACTION_LABEL = "Write the archive"

    def statement(self) -> Text:
        return Text(
            "\n".join(
                [
                    customer_line(self.profile),
                    "Writes one zip archive, readable by you only: customer.json with "
                    "every section, and a CSV per section (profile, addresses, "
                    "subscriptions, orders, invoices, payments, notes, tickets, emails, "
                    "activity, consent, and who accessed their data). An existing file is "
                    "kept: end the path with ' replace' to overwrite it.",
                ]
            )
        )

    def inputs(self) -> ComposeResult:
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        default = Path.home() / f"customer-{self.profile.id}-data-{stamp}.zip"
        yield FormField(
            "path",
            "Archive path",
            Input(str(default), id="export-path", select_on_focus=False),
        )

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        typed = self.value("path").strip()
        replace = typed.endswith(" replace")
        path = Path(typed.removesuffix(" replace").strip()).expanduser()
        if not typed:
            raise InvalidInput({"path": "say where to write the archive"})
        customer_id = self.profile.id

        def export() -> ActionDone:
            from crm_tui.services.privacy_export import write_privacy_export

            text, _ = validated(reason)
            report = write_privacy_export(
                self.engine, customer_id, path, self.actor, replace=replace, reason=text
            )
            return ActionDone(None, safe_text(report.summary()))

        return export

    def handle_error(self, error: Exception) -> str | None:
        from crm_tui.services.private_files import ExportError

        if isinstance(error, ExportError):
            return f"Nothing written: {error}"
        return super().handle_error(error)


class ConsentDialog(_PrivacyDialog):
    """`C`: record a consent the customer gave or withdrew, for one purpose, with
    where it came from (the history keeps every change)."""

    TITLE_TEXT = "Record consent"
    ACTION_LABEL = "Record"

    def statement(self) -> Text:
        now = "; ".join(f"{purpose}: {state}" for purpose, state in self.profile.consent)
        return Text(f"{customer_line(self.profile)}\nNow: {safe_text(now) or 'not asked'}")

    def fields(self) -> ComposeResult:
        yield Static(self.statement(), id="action-statement")
        purposes = [(p.value.replace("_", " "), p.value) for p in ConsentPurpose]
        yield FormField("purpose", "Purpose", Select(purposes, id="consent-purpose"))
        states = [("granted", "granted"), ("withdrawn / refused", "refused")]
        yield FormField("state", "Consent", Select(states, id="consent-state"))
        yield FormField("source", "Source", Input(id="consent-source", select_on_focus=False))

    def save(self) -> None:
        purpose, state, source = self.value("purpose"), self.value("state"), self.value("source")
        errors = {
            key: "choose one"
            for key, value in (("purpose", purpose), ("state", state))
            if not value
        }
        if not source.strip():
            errors["source"] = "say where it came from (e.g. phone call, signed form)"
        if errors:
            self.show_errors(errors)
            return
        customer_id = self.profile.id

        def record() -> ActionDone:
            from crm_tui.services.consent import ConsentService

            ConsentService(self.engine).record(
                customer_id, purpose, state == "granted", source, self.actor
            )
            verb = "granted" if state == "granted" else "withdrawn"
            return ActionDone(None, f"Consent to {purpose.replace('_', ' ')} {verb}")

        self.run_save(record, self._done)
