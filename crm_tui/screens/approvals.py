"""`A` in the directory (managers and admins): the requests waiting for approval.

Oldest first: what is asked (a refund above the limit, an erasure, ...), about whom,
by whom, when, and when it expires; the highlighted request's reason below. `y`
approves and `n` rejects, each with a reason, in a dialog that states exactly what
will happen (an erasure is irreversible); `enter` opens the customer. A request the
manager asked for themselves cannot be decided by them (the service refuses it,
and the dialog says so).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from crm_tui.formatting import format_moment
from crm_tui.models.enums import ApprovalKind, RequestStatus
from crm_tui.screens.account_dialog import AccountActionDialog, validated
from crm_tui.screens.refused_keys import RefusedKeys
from crm_tui.services.account_actions import ActionDone
from crm_tui.services.actor import Actor
from crm_tui.services.approvals import ApprovalService, ApprovalView
from crm_tui.services.permissions import NotAllowed
from crm_tui.text import safe_text

COLUMNS = ("#", "What", "Customer", "Asked by", "Expires")


class ApprovalsScreen(RefusedKeys):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="approvals.back"),
        Binding("y", "decide(True)", "Approve", id="approvals.approve"),
        Binding("n", "decide(False)", "Reject", id="approvals.reject"),
        Binding("enter", "open_customer", "Open customer", id="approvals.open"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="approvals.reload"),
    ]
    DEFAULT_CSS = """
    ApprovalsScreen DataTable { height: 1fr; }
    ApprovalsScreen #approval-detail { height: auto; max-height: 6; padding: 0 1; }
    """

    def __init__(
        self,
        approvals: ApprovalService,
        actor: Actor,
        open_customer: Callable[[int], None],
    ) -> None:
        super().__init__()
        self.approvals, self.actor, self.open_customer = approvals, actor, open_customer
        self.requests: list[ApprovalView] = []

    def compose(self) -> ComposeResult:
        yield Static(Text("crm-tui · approvals · loading…"), id="title-bar")
        table: DataTable[Text] = DataTable(id="approvals-table", cursor_type="row")
        yield table
        yield Static("", id="approval-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.set_focus(table)
        self.action_reload()

    # ------------------------------------------------------------------ loading

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="approvals", exit_on_error=False)
    def _load(self) -> None:
        try:
            requests = self.approvals.pending()
        except Exception as error:  # the screen stays; the agent can retry
            self.app.call_from_thread(
                self.notify,
                f"Could not read the requests: {error}",
                severity="error",
                markup=False,
            )
            return
        self.app.call_from_thread(self._show, requests)

    def _show(self, requests: list[ApprovalView]) -> None:
        self.requests = requests
        table = self.query_one(DataTable)
        table.clear()
        for view in requests:
            # Text, not str: a DataTable reads a str cell as markup, and a customer's
            # name is theirs to choose ("[bold]…" must show as typed).
            table.add_row(
                Text(str(view.id)),
                Text(view.short + (" (approved)" if view.status == RequestStatus.APPROVED else "")),
                Text(f"{safe_text(view.customer_name)[:18]} #{view.customer_id}"),
                Text(safe_text(view.requested_by)[:14]),
                Text(f"{view.expires_at.astimezone(UTC):%m-%d %H:%M}"),
                key=str(view.id),
            )
        waiting = f"{len(requests)} waiting" if requests else "nothing waiting"
        self.query_one("#title-bar", Static).update(
            Text(f"crm-tui · approvals · {waiting}", no_wrap=True)
        )
        self._describe()

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._describe()

    def _describe(self) -> None:
        view = self.current
        text = (
            ""
            if view is None
            else f"{safe_text(view.description)}, asked {_when(view.requested_at)}\n"
            f"Reason: {safe_text(view.reason)}"
        )
        if view is not None and view.requested_by_agent_id == self.actor.agent_id:
            text += "\nYou asked for this one: another manager must decide it."
        self.query_one("#approval-detail", Static).update(Text(text))

    @property
    def current(self) -> ApprovalView | None:
        table = self.query_one(DataTable)
        if not self.requests or table.cursor_row >= len(self.requests):
            return None
        return self.requests[table.cursor_row]

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_open_customer(self) -> None:
        view = self.current
        if view is not None and view.customer_id is not None:
            self.open_customer(view.customer_id)

    def action_decide(self, approve: bool) -> None:
        view = self.current
        if view is None:
            self.notify("Nothing is waiting for approval.", timeout=3)
            return
        dialog = DecisionDialog(self.approvals, self.actor, view, approve)
        self.app.push_screen(dialog, lambda _: self.action_reload())


class DecisionDialog(AccountActionDialog):
    """Approve or reject one request, with a reason; says what approving does."""

    def __init__(
        self, approvals: ApprovalService, actor: Actor, view: ApprovalView, approve: bool
    ) -> None:
        super().__init__(None, actor, None)  # type: ignore[arg-type]  # a request, not a profile
        self.approvals, self.view, self.approve = approvals, view, approve
        # An approved request whose work failed is carried out again, not decided again.
        self.again = view.status == RequestStatus.APPROVED
        verb = "Carry out" if self.again else "Approve" if approve else "Reject"
        self.TITLE_TEXT = f"{verb} request #{view.id}"
        self.ACTION_LABEL = verb

    def fields(self) -> ComposeResult:
        if not self.again:
            yield from super().fields()
            return
        yield Static(self.statement(), id="action-statement")

    def save(self) -> None:
        if not self.again:
            super().save()
            return
        if self.approve:
            self.run_save(self.prepare(""), self._done)
        else:
            self.show_banner("It is approved already: y carries it out.")

    def statement(self) -> Text:
        view = self.view
        if self.again:
            return Text(
                f"Request #{view.id}: {safe_text(view.description)}\n"
                f"Approved by {safe_text(view.decided_by)}; {safe_text(view.outcome)}.\n"
                "Carry it out again now?"
            )
        lines = [
            f"Request #{view.id}: {safe_text(view.description)}",
            f"Customer: {safe_text(view.customer_name)} (#{view.customer_id})",
            f"Asked by {safe_text(view.requested_by)} at {_when(view.requested_at)}: "
            f"{safe_text(view.reason)}",
        ]
        if self.approve:
            lines.append(_what_approving_does(view))
        else:
            lines.append("Rejecting changes nothing; the asker sees it on the profile.")
        return Text("\n".join(lines), style="bold" if self.approve else "")

    def prepare(self, reason: str) -> Callable[[], ActionDone]:
        def decide() -> ActionDone:
            if self.again:
                done = self.approvals.execute(self.view.id, self.actor)
                return ActionDone(None, done.state_line())
            text, _ = validated(reason)
            done = self.approvals.decide(self.view.id, self.approve, text, self.actor)
            return ActionDone(None, done.state_line())

        return decide

    def handle_error(self, error: Exception) -> str | None:
        if isinstance(error, NotAllowed):
            return f"Not allowed: {error.message}"
        return super().handle_error(error)


def _what_approving_does(view: ApprovalView) -> str:
    match view.kind:
        case ApprovalKind.DELETION:
            return (
                "Approving ERASES their personal data now. IRREVERSIBLE. Payments, refunds, "
                "invoices and orders stay, with amounts and dates."
            )
        case ApprovalKind.REFUND:
            return "Approving refunds the money through the provider, now, in your name."
        case _:
            return "Approving carries it out now, in your name."


def _when(moment: datetime) -> str:
    return f"{format_moment(moment.astimezone(UTC))} UTC"
