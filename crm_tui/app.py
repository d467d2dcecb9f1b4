"""CrmApp: wires the services into the screens; global keys, the command palette, themes.

Start-up draws the directory at once and opens the database in a thread worker
(connect, migrate, seed the demo on first use), reporting each step, so the first
frame never waits on the disk and the agent always sees what is happening.
"""

from __future__ import annotations

import contextlib
import gc
import select
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from rich.theme import ThemeStackError
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.filter import Monochrome, NoColor
from textual.message import Message
from textual.worker import get_current_worker

from crm_tui.config import ConfigError, Settings, save_theme
from crm_tui.screens.directory import DirectoryScreen
from crm_tui.screens.help import HelpScreen
from crm_tui.screens.palette import CustomerCommands
from crm_tui.services.actor import Actor, os_login
from crm_tui.services.database import DatabaseError
from crm_tui.services.workspace import Workspace, open_workspace
from crm_tui.themes import (
    DEFAULT_THEME,
    STYLESHEET,
    THEMES,
    rich_status_theme,
    status_fallbacks,
)
from crm_tui.time_zones import ZoneMode

TERMINAL_CHECK_SECONDS = 2.0  # how soon a hung-up terminal is noticed
SEGMENTS_FIRST_CHECK = 3.0  # seconds after the database opens
SEGMENTS_CHECK = timedelta(minutes=15)  # then this often...
SEGMENTS_MAX_AGE = timedelta(hours=1)  # ...recomputing when the last run is older


class WorkspaceOpened(Message):
    def __init__(self, workspace: Workspace, actor: Actor) -> None:
        super().__init__()
        self.workspace = workspace
        self.actor = actor  # with its agent id, once registered


class WorkspaceFailed(Message):
    def __init__(
        self,
        reason: str,
        hint: str = "Check --database-url / CRM_DATABASE_URL, then restart.",
        title: str = "Cannot open the database",
    ) -> None:
        super().__init__()
        self.reason, self.hint, self.title = reason, hint, title


class DataChanged(Message):
    """Another agent (or this app's own worker) changed customers: open screens read again."""

    def __init__(self, changes: Any) -> None:
        super().__init__()
        self.changes = changes  # services.change_feed.Changes


class StartupProgress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class CrmApp(App[None]):
    TITLE = "crm-tui"
    CSS_PATH = str(STYLESHEET)
    COMMANDS = App.COMMANDS | {CustomerCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("question_mark", "help", "Help", id="app.help"),
    ]

    def __init__(self, settings: Settings, actor: Actor | None = None) -> None:
        super().__init__()
        if self.no_color:
            self._drop_every_colour()
        self.settings = settings
        # Who is running the app: their operating-system login, checked against the
        # agents of the database once it is open (services/agents.py identify).
        self.actor = actor or Actor.agent(os_login())
        self.workspace: Workspace | None = None
        # Tests hand in providers (localstripe, the PayPal fake); otherwise built on first use.
        self._providers: dict[str, Any] | None = None
        self.directory = DirectoryScreen(readonly=settings.readonly)
        # Which clock profiles show times by (`z` on a profile switches; kept for the session).
        self.zone_mode = ZoneMode.AGENT
        for theme in THEMES:
            self.register_theme(theme)
        known = settings.theme in self.available_themes
        self.theme = settings.theme if known else DEFAULT_THEME
        self._use_status_styles()  # (watch_theme does not run if it stays textual-dark)

    def _leave_if_the_terminal_hung_up(self) -> None:
        """An SSH session or tmux server that went away without the hang-up signal
        reaching us (the app started through `su`, say) leaves Textual's input thread
        reading end-of-file in a loop, at ~40% of a core, for ever. The terminal says
        it hung up (POLLHUP): leave, as a hang-up signal would have made us."""
        poll = select.poll()
        poll.register(sys.stdin.fileno(), select.POLLHUP)
        if any(events & select.POLLHUP for _fd, events in poll.poll(0)):
            self.exit(return_code=129)  # 128 + SIGHUP, as a shell reports it

    def _drop_every_colour(self) -> None:
        """NO_COLOR (no-color.org): no colour at all. Textual draws its greys
        (Monochrome) unless the theme is ANSI when the app is made; the NoColor filter
        leaves the terminal's own colours. What colour alone showed is shown by reverse
        video, underline and bold instead (.-no-color in themes/app.tcss)."""
        self._filters = [f for f in self._filters if not isinstance(f, Monochrome)]
        self._filters.append(NoColor())
        self.add_class("-no-color")

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Textual's own themes (textual-light, nord, ...) lack our $status-* colours, and
        # CSS naming an undefined variable does not parse: derive them from the theme.
        return status_fallbacks(self.current_theme)

    def watch_theme(self, theme: str) -> None:
        self._use_status_styles()
        if self.is_running and self.settings.config_path is not None:
            self._save_theme(self.settings.config_path, theme)  # the agent chose it

    def _use_status_styles(self) -> None:
        """The profile's tabs are Rich renderables: they take the status colours as
        named Rich styles of the console (the only Rich theme pushed on it is this)."""
        with contextlib.suppress(ThemeStackError):
            self.console.pop_theme()
        self.console.push_theme(rich_status_theme(self.current_theme))

    @work(thread=True, group="config", exit_on_error=False)
    def _save_theme(self, path: Path, theme: str) -> None:
        try:
            save_theme(path, theme)
        except ConfigError as error:
            self.call_from_thread(
                self.notify, str(error), title="Theme not saved", severity="warning", markup=False
            )

    def on_mount(self) -> None:
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)
        if not self.is_headless and sys.stdin.isatty():
            self.set_interval(TERMINAL_CHECK_SECONDS, self._leave_if_the_terminal_hung_up)
        self.push_screen(self.directory)
        if self.settings.theme not in self.available_themes:
            known = ", ".join(theme.name for theme in THEMES)
            self.notify(
                f"There is no theme {self.settings.theme!r}; using {DEFAULT_THEME}. "
                f"Ours: {known} (ctrl+p → Theme lists Textual's too).",
                title="Theme",
                severity="warning",
                markup=False,
            )
        self._open_workspace()

    @work(thread=True, exclusive=True, group="workspace", exit_on_error=False)
    def _open_workspace(self) -> None:
        worker = get_current_worker()
        try:
            workspace = open_workspace(self.settings, progress=self._report_progress)
        except DatabaseError as error:
            self.post_message(WorkspaceFailed(str(error)))
            return
        if worker.is_cancelled:
            workspace.close()
            return
        from crm_tui.services.agents import AgentRefused, identify

        try:
            actor = identify(
                workspace.engine,
                self.actor.username,
                readonly=self.settings.readonly,
                register_unknown=self.settings.demo,
            )
        except AgentRefused as error:
            workspace.close()
            self.post_message(WorkspaceFailed(str(error), hint="", title="Not an agent here"))
            return
        self.post_message(WorkspaceOpened(workspace, actor))

    def _report_progress(self, text: str) -> None:
        self.post_message(StartupProgress(text))

    def on_startup_progress(self, message: StartupProgress) -> None:
        self.directory.set_notice(message.text)
        self.notify(message.text, title="Database", timeout=6, markup=False)

    def on_workspace_opened(self, message: WorkspaceOpened) -> None:
        self.workspace = message.workspace
        self.actor = message.actor
        self.sub_title = message.workspace.label
        if self.actor.readonly:
            self.sub_title += " · READ-ONLY"
        workspace = message.workspace
        self.directory.readonly = self.actor.readonly
        from crm_tui.services import last_view

        remembered = last_view.load(self.settings.resolved_database_url())
        if remembered is not None:
            self.directory.restore(remembered.query, remembered.queue_name)
        self.directory.attach(workspace.directory, self.actor, workspace.short_label)
        # Everything made so far lives as long as the app: move it out of the garbage
        # collector's sight, so the full collections a profile's thousands of rows
        # trigger do not walk it again each time (a ~100 ms pause at every open).
        gc.freeze()
        self._watch_changes()
        if not self.actor.readonly:
            self._reconcile_pending()
            # New and Churned move with the clock alone: recompute soon after start-up
            # when stale (not during the first search: at a million customers a run
            # takes seconds of the same disk), then every SEGMENTS_CHECK.
            self.set_timer(SEGMENTS_FIRST_CHECK, self._keep_segments_current)
            self.set_interval(SEGMENTS_CHECK.total_seconds(), self._keep_segments_current)

    @work(thread=True, exclusive=True, group="changes", exit_on_error=False)
    def _watch_changes(self) -> None:
        """Team mode: what others change shows on the open screens within a second."""
        assert self.workspace is not None
        from crm_tui.services.change_feed import change_feed

        worker = get_current_worker()
        try:
            feed = change_feed(self.workspace.engine)
        except Exception as error:  # no live refresh; ctrl+r still reads again
            self.call_from_thread(
                self.notify,
                f"Live refresh is off: {error}",
                title="Changes by others",
                severity="warning",
                markup=False,
            )
            return
        try:
            while not worker.is_cancelled:
                changes = feed.wait(timeout=0.5)
                if changes is not None and not worker.is_cancelled:
                    self.post_message(DataChanged(changes))
        finally:
            feed.close()

    def on_data_changed(self, message: DataChanged) -> None:
        """Each open screen decides whether the change is its business (refresh_for)."""
        for screen in self.screen_stack:  # a profile under a dialog too
            refresh = getattr(screen, "refresh_for", None)
            if refresh is not None and screen.is_mounted:
                # NoMatches: the screen is being torn down (the app is closing).
                with contextlib.suppress(NoMatches):
                    refresh(message.changes)

    @work(thread=True, exclusive=True, group="segments", exit_on_error=False)
    def _keep_segments_current(self) -> None:
        assert self.workspace is not None
        from crm_tui.services.segments import SegmentRules, SegmentService

        service = SegmentService(self.workspace.engine, SegmentRules.from_settings(self.settings))
        try:
            service.recompute_if_stale(SEGMENTS_MAX_AGE)
        except Exception as error:  # the app works on with the segments it has
            self.call_from_thread(
                self.notify,
                f"Segments could not be brought up to date: {error}",
                title="Segments",
                severity="warning",
                markup=False,
            )

    @work(thread=True, exclusive=True, group="reconcile", exit_on_error=False)
    def _reconcile_pending(self) -> None:
        """Settle provider actions left pending by a crash or a timeout, in the background."""
        assert self.workspace is not None
        from crm_tui.services.reconcile import pending_count, reconcile_all

        engine = self.workspace.engine
        if not pending_count(engine):
            return
        try:
            lines = reconcile_all(engine, self.providers(), self.actor)
        except Exception as error:  # the app works on; the intents stay pending
            lines = [f"could not settle pending actions: {error}"]
        self.call_from_thread(
            self.notify,
            "\n".join(lines[:6]) + ("\n…" if len(lines) > 6 else ""),
            title="Pending provider actions",
            timeout=12,
            markup=False,
        )

    def on_workspace_failed(self, message: WorkspaceFailed) -> None:
        self.directory.show_failure(f"{message.reason.rstrip('.')}. {message.hint}".strip())
        self.notify(
            message.reason,
            title=message.title,
            severity="error",
            timeout=30,
            markup=False,
        )

    # ---------------------------------------------------------------- app actions

    def open_customer(self, customer_id: int) -> None:
        if self.workspace is None:
            self.notify("The database is still opening.", severity="warning")
            return
        # Imported on first use: the profile's services load SQLModel (~0.7 s), which
        # the directory's first frame must not wait for.
        from crm_tui.screens.profile import ProfileScreen
        from crm_tui.services.account_actions import AccountActions

        engine = self.workspace.engine
        refunds = actions = None
        if not self.actor.readonly:
            providers = self.providers()
            refunds = self.refund_service()
            actions = AccountActions(engine, providers)
        self.push_screen(
            ProfileScreen(
                engine,
                self.actor,
                customer_id,
                refunds=refunds,
                actions=actions,
                agent_zone=self.settings.timezone,
                zone_mode=self.zone_mode,
            )
        )

    def open_analytics(self) -> None:
        """The analytics of the customers the directory's search and filters select."""
        if self.workspace is None:
            self.notify("The database is still opening.", severity="warning")
            return
        from crm_tui.screens.analytics import AnalyticsScreen

        query = self.directory.directory_query
        self.push_screen(AnalyticsScreen(self.workspace.engine, query, query.describe()))

    def open_approvals(self) -> None:
        """The managers' queue of requests waiting for approval."""
        if self.workspace is None:
            self.notify("The database is still opening.", severity="warning")
            return
        from crm_tui.screens.approvals import ApprovalsScreen

        self.push_screen(ApprovalsScreen(self.approval_service(), self.actor, self.open_customer))

    def refund_service(self) -> Any:
        from crm_tui.services.refunds import RefundService

        assert self.workspace is not None
        return RefundService(
            self.workspace.engine,
            self.providers(),
            refund_window_days=self.settings.refund_window_days,
            approval_above=self.settings.approvals_refund_above,
        )

    def approval_service(self) -> Any:
        """Approvals as configured; an approved refund is carried out by the approver."""
        from crm_tui.models.enums import ApprovalKind
        from crm_tui.services.approvals import ApprovalService, ApprovalView

        assert self.workspace is not None

        def refund(view: ApprovalView, actor: Actor) -> str:
            asked = view.payload
            done = self.refund_service().refund(
                int(asked["payment_id"]),
                int(asked["amount_minor"]),
                view.reason,
                actor,
                approval_id=view.id,
            )
            return f"refunded ({done.provider_refund_id})"

        def merge(view: ApprovalView, actor: Actor) -> str:
            from crm_tui.services.merge import MergeService

            asked = view.payload
            versions = {int(key): int(value) for key, value in asked["versions"].items()}
            keep, gone = int(asked["keep_id"]), int(asked["merge_id"])
            MergeService(engine, require_approval=True).merge(
                keep, gone, view.reason, actor, versions, approval_id=view.id
            )
            return f"merged #{gone} into #{keep}"

        def delete_at_providers(view: ApprovalView, actor: Actor) -> str:
            from crm_tui.services.erasure import delete_at_providers

            assert view.customer_id is not None
            return delete_at_providers(engine, view.customer_id, self.providers())

        engine = self.workspace.engine
        runners = {ApprovalKind.REFUND: refund, ApprovalKind.MERGE: merge}
        if self.settings.privacy_delete_at_provider:
            runners[ApprovalKind.DELETION] = delete_at_providers
        return ApprovalService(
            engine,
            expiry=timedelta(hours=self.settings.approvals_expiry_hours),
            runners=runners,
        )

    def merge_approvals(self) -> Any:
        """The approvals a merge goes through, or None where merges need none."""
        return self.approval_service() if self.settings.approvals_merges else None

    def providers(self) -> dict[str, Any]:
        """The payment providers, built once (the Stripe SDK loads on first use)."""
        if self._providers is None:
            from crm_tui.services.providers.registry import providers_for
            from crm_tui.services.secrets import Secrets

            self._providers = dict(providers_for(self.settings, Secrets().get))
        return self._providers

    def new_customer(self) -> None:
        """`N` in the directory: the new-customer form; its profile opens once saved."""
        if self.workspace is None:
            self.notify("The database is still opening.", severity="warning")
            return
        if self.actor.readonly:
            self.notify("Read-only mode: customers cannot be created.", severity="warning")
            return
        from crm_tui.screens.details_form import NewCustomerForm
        from crm_tui.services.customer_edit import CustomerEditService

        form = NewCustomerForm(CustomerEditService(self.workspace.engine), self.actor)
        self.push_screen(form, self._customer_created)

    def _customer_created(self, customer_id: int | None) -> None:
        if customer_id is None:
            return
        self.notify(f"Customer #{customer_id} created.", timeout=4)
        self.directory.action_reload()
        self.open_customer(customer_id)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def on_unmount(self) -> None:
        if self.workspace is not None:
            self._remember_the_view()
            self.workspace.close()

    def _remember_the_view(self) -> None:
        """The search, filters, sort and queue come back on the next start."""
        from crm_tui.services import last_view

        directory = self.directory
        queue = directory.queue
        name = queue.name if queue is not None and queue.query == directory.directory_query else ""
        # A read-only data folder: nothing remembered, nothing broken.
        with contextlib.suppress(OSError):
            last_view.save(
                self.settings.resolved_database_url(),
                last_view.LastView(directory.directory_query, name),
            )
