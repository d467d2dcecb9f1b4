"""A customer's whole story in five tabs, opened from the directory with `enter`.

`1`–`5` or `[`/`]` switch tabs, `escape` goes back to the directory exactly as it
was (it stays on the screen stack underneath). The profile is read in a thread
worker, in one call (ProfileService.profile); every edit dialog saves through
CustomerEditService and the profile is read again afterwards, so what is shown
is always what is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from sqlalchemy.engine import Engine
from textual import on, work
from textual._styles_cache import StylesCache
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Static, TabbedContent, TabPane

from crm_tui.models.enums import SubscriptionStatus
from crm_tui.models.profile import CustomerProfile, InvoiceView, PaymentView, SubscriptionDetail
from crm_tui.screens.account_dialog import SubscriptionPicker
from crm_tui.screens.account_state_form import AccountStateForm
from crm_tui.screens.addresses_dialog import AddressesDialog
from crm_tui.screens.affiliate_dialog import AffiliateDialog
from crm_tui.screens.cancel_dialog import CancelDialog
from crm_tui.screens.credit_dialog import CreditDialog
from crm_tui.screens.details_form import DetailsForm
from crm_tui.screens.invoice_dialog import InvoiceDialog
from crm_tui.screens.link_dialog import PaymentLinkDialog
from crm_tui.screens.mark_paid_dialog import MarkPaidDialog
from crm_tui.screens.note_form import NoteForm
from crm_tui.screens.pause_dialog import PauseDialog
from crm_tui.screens.plan_dialog import PlanChangeDialog
from crm_tui.screens.profile_tabs import (
    ACTIVITY_COLUMNS,
    ACTIVITY_FILTERS,
    NOTE_COLUMNS,
    PAYMENT_COLUMNS,
    PAYMENT_FILTERS,
    activity_records,
    counts_line,
    note_records,
    overview_renderable,
    payment_records,
    subscriptions_renderable,
)
from crm_tui.screens.refund_dialog import RefundDialog
from crm_tui.screens.refused_keys import RefusedKeys, read_only_reason
from crm_tui.screens.resume_dialog import ResumeDialog
from crm_tui.screens.retry_dialog import RetryPaymentDialog
from crm_tui.screens.tags_dialog import TagsDialog
from crm_tui.screens.trial_dialog import ExtendTrialDialog
from crm_tui.services.account_actions import ENDED, PAUSABLE, AccountActions
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import CustomerEditService
from crm_tui.services.profile import CustomerNotFound, ProfileService
from crm_tui.services.refunds import RefundService
from crm_tui.text import safe_text
from crm_tui.time_zones import Clock, ZoneMode, clock_for
from crm_tui.widgets.record_list import ListRecord, RecordList

TABS = ("overview", "subscriptions", "payments", "activity", "notes")
TAB_TITLES = ("Overview", "Subscriptions", "Payments", "Activity", "Notes")


class KeyScroll(VerticalScroll):
    """A scrolling pane that also answers the list keys (`j`/`k`, `g`/`G`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]


# What changes the customer: greyed out, and explained, in a read-only session.
CHANGE_ACTIONS = frozenset(
    {
        "edit_details", "addresses", "add_note", "tags", "account_state", "refund",
        "retry_payment", "apply_credit", "pause", "resume", "cancel_subscription",
        "change_plan", "extend_trial", "mark_paid", "affiliate", "payment_link",
        "open_ticket", "escalate", "request_erasure", "consent",
    }
)  # fmt: skip


class ProfileScreen(RefusedKeys):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", priority=True, id="profile.back"),
        *(
            Binding(str(n), f"tab({n - 1})", title, show=False, id=f"profile.tab{n}")
            for n, title in enumerate(TAB_TITLES, start=1)
        ),
        Binding("left_square_bracket", "cycle_tab(-1)", "Prev tab", show=False, id="profile.prev"),
        Binding("right_square_bracket", "cycle_tab(1)", "Next tab", show=False, id="profile.next"),
        Binding("e", "edit_details", "Edit", id="profile.edit"),
        Binding("a", "addresses", "Addresses", id="profile.addresses"),
        Binding("n", "add_note", "Note", id="profile.note"),
        Binding("t", "tags", "Tags", id="profile.tag"),
        Binding("b", "account_state", "Block/reactivate", id="profile.block"),
        Binding("f", "cycle_filter", "Filter", id="profile.filter"),
        Binding("r", "refund", "Refund", id="profile.refund"),
        # Account actions (issue 4): in the help (?), not the footer, which must stay
        # readable at 80 columns.
        Binding("y", "retry_payment", "Retry failed payment", show=False, id="profile.retry"),
        Binding("dollar_sign", "apply_credit", "Apply credit", show=False, id="profile.credit"),
        Binding("p", "pause", "Pause subscription", show=False, id="profile.pause"),
        Binding("u", "resume", "Resume subscription", show=False, id="profile.resume"),
        Binding("c", "cancel_subscription", "Cancel subscription", show=False, id="profile.cancel"),
        Binding("m", "change_plan", "Change plan", show=False, id="profile.change_plan"),
        Binding("x", "extend_trial", "Extend trial", show=False, id="profile.extend_trial"),
        Binding("P", "mark_paid", "Mark manual payment paid", show=False, id="profile.mark_paid"),
        Binding("A", "affiliate", "Affiliate and commission", show=False, id="profile.affiliate"),
        Binding(
            "l", "payment_link", "Send payment-method link", show=False, id="profile.payment_link"
        ),
        Binding("T", "open_ticket", "Open a ticket", show=False, id="profile.ticket"),
        Binding(
            "exclamation_mark",
            "escalate",
            "Escalate to a manager",
            show=False,
            id="profile.escalate",
        ),
        Binding(
            "D",
            "request_erasure",
            "Erase personal data (asks a manager)",
            show=False,
            id="profile.erase",
        ),
        Binding("E", "privacy_export", "Export all their data", show=False, id="profile.export"),
        Binding("C", "consent", "Record consent", show=False, id="profile.consent"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="profile.reload"),
        Binding("z", "cycle_zone", "Times: yours, customer's, UTC", show=False, id="profile.zone"),
    ]
    DEFAULT_CSS = """
    ProfileScreen TabbedContent { height: 1fr; }
    ProfileScreen TabbedContent > ContentSwitcher { height: 1fr; }
    ProfileScreen TabPane { height: 1fr; padding: 0; }
    ProfileScreen KeyScroll { height: 1fr; padding: 0 1; }
    ProfileScreen .tab-status { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(
        self,
        engine: Engine,
        actor: Actor,
        customer_id: int,
        *,
        refunds: RefundService | None = None,
        actions: AccountActions | None = None,
        agent_zone: str = "",
        zone_mode: ZoneMode = ZoneMode.AGENT,
    ) -> None:
        super().__init__()
        self.engine, self.actor, self.customer_id = engine, actor, customer_id
        self.agent_zone = agent_zone  # the timezone setting; empty: the machine's
        self.zone_mode = zone_mode
        self.viewed = False  # the first read of this customer is recorded as a view
        # None: read-only, no money moves and no subscription changes from this screen.
        self.refunds = refunds
        self.actions = actions
        self.profile: CustomerProfile | None = None
        self.edits = CustomerEditService(engine)
        self.payment_filter = "all"
        self.activity_filter = "all"
        self.complete = False  # True once the payments and the activity are in

    def compose(self) -> ComposeResult:
        yield Static(Text(f"crm-tui · customer #{self.customer_id} · loading…"), id="title-bar")
        with TabbedContent(id="tabs"):
            with (
                TabPane(f"1 {TAB_TITLES[0]}", id="overview"),
                KeyScroll(id="overview-scroll"),
            ):
                yield Static(Text("Loading…"), id="overview-body")
            with (
                TabPane(f"2 {TAB_TITLES[1]}", id="subscriptions"),
                KeyScroll(id="subscriptions-scroll"),
            ):
                yield Static("", id="subscriptions-body")
            with TabPane(f"3 {TAB_TITLES[2]}", id="payments"):
                yield Static("", id="payments-status", classes="tab-status")
                yield RecordList(PAYMENT_COLUMNS, empty_text="No payments.", id="payments-list")
            with TabPane(f"4 {TAB_TITLES[3]}", id="activity"):
                yield Static("", id="activity-status", classes="tab-status")
                yield RecordList(
                    ACTIVITY_COLUMNS,
                    empty_text="No activity.",
                    expandable=True,
                    id="activity-list",
                )
            with TabPane(f"5 {TAB_TITLES[4]}", id="notes"):
                yield Static("", id="notes-status", classes="tab-status")
                yield RecordList(
                    NOTE_COLUMNS,
                    empty_text="No notes yet: n adds one.",
                    expandable=True,
                    id="notes-list",
                )
        yield Footer()

    def on_mount(self) -> None:
        self.set_focus(self._tab_body("overview"))
        self._load()

    def refusal(self, action: str) -> str | None:
        return read_only_reason(self.actor) if action in CHANGE_ACTIONS else None

    # ------------------------------------------------------------------- loading

    def _load(self) -> None:
        """Read the customer: the Overview first (a few small reads, drawn at once),
        then the long lists (payments, activity) once that frame is out."""
        self.complete = False
        self._load_overview()

    @work(thread=True, exclusive=True, group="profile-load", exit_on_error=False)
    def _load_overview(self) -> None:
        try:
            # The first read is a view for the audit trail; reloads after an action
            # or ctrl+r show the same agent the same customer again.
            profile = ProfileService(self.engine).overview(
                self.customer_id, self.actor, record_view=not self.viewed
            )
            self.viewed = True
        except CustomerNotFound:
            self.app.call_from_thread(
                self._show_message, f"There is no customer #{self.customer_id}."
            )
            return
        except Exception as error:
            self._failed(error)
            return
        self.app.call_from_thread(self.show_overview, profile)

    @work(thread=True, exclusive=True, group="profile-load", exit_on_error=False)
    def _load_history(self, overview: CustomerProfile) -> None:
        try:
            profile = ProfileService(self.engine).history(overview, self.actor)
        except Exception as error:
            self._failed(error)
            return
        # The records are built here, off the event loop: 5,000 events take ~30 ms.
        clock = self.clock_of(profile)
        payments = payment_records(profile.payments, self.payment_filter, clock)
        activity = activity_records(profile.activity, self.activity_filter, clock)
        self.app.call_from_thread(self.show_history, profile, payments, activity)

    def _failed(self, error: Exception) -> None:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        self.app.call_from_thread(
            self._show_message,
            f"Could not read the customer: {reason[0] if reason else error}. "
            "Press ctrl+r to try again.",
        )

    def show_overview(self, profile: CustomerProfile) -> None:
        """Everything but the payments and the activity, which follow."""
        self.profile = profile
        self.customer_id = profile.id  # a merged-away id opened its survivor
        state = "" if profile.account_state == "active" else f" · {profile.account_state.upper()}"
        mode = "READ-ONLY · " if self.actor.readonly else ""
        title = f"crm-tui · {mode}{safe_text(profile.name)} · #{profile.id}{state}"
        self.query_one("#title-bar", Static).update(Text(title, no_wrap=True))
        self._show_timed(profile)
        tags = ", ".join(profile.tags) or "none"
        self.query_one("#notes-status", Static).update(
            Text(safe_text(f"Notes: {len(profile.notes):,} · tags: {tags} (t to change)"))
        )
        for name in ("payments", "activity"):
            if not self.query_one(f"#{name}-list", RecordList).records:  # the first load
                self.query_one(f"#{name}-status", Static).update(Text("Loading…"))
        self.call_after_refresh(self._load_history, profile)

    def clock_of(self, profile: CustomerProfile | None) -> Clock:
        return clock_for(self.zone_mode, self.agent_zone, profile.timezone if profile else "")

    def _show_timed(self, profile: CustomerProfile) -> None:
        """What the overview read shows with times in it, by the current clock."""
        clock = self.clock_of(profile)
        self.query_one("#overview-body", Static).update(overview_renderable(profile, clock))
        subscriptions = subscriptions_renderable(profile, clock)
        self.query_one("#subscriptions-body", Static).update(subscriptions)
        notes = self.query_one("#notes-list", RecordList)
        notes.set_records(note_records(profile.notes, clock), keep_key=_current_key(notes))

    def action_cycle_zone(self) -> None:
        """Times in the agent's zone, then the customer's, then UTC; the next profile
        opens in the same (the app keeps it for this session)."""
        self.zone_mode = self.zone_mode.next()
        setattr(self.app, "zone_mode", self.zone_mode)  # noqa: B010 (screens cannot import the app)
        if self.profile is None:
            return
        self._show_timed(self.profile)
        if self.complete:
            self._show_payments()
            self._show_activity()
        self.notify(f"Times in {self.clock_of(self.profile).label}.", markup=False, timeout=3)

    def show_history(
        self,
        profile: CustomerProfile,
        payments: list[ListRecord],
        activity: list[ListRecord],
    ) -> None:
        if self.profile is None or profile.version != self.profile.version:
            return  # an edit reloaded the customer meanwhile: its own history follows
        self.profile = profile
        self._show_payments(payments)
        self._show_activity(activity)
        self.complete = True

    def _show_payments(self, records: list[ListRecord] | None = None) -> None:
        assert self.profile is not None
        if records is None:
            records = payment_records(
                self.profile.payments, self.payment_filter, self.clock_of(self.profile)
            )
        payments = self.query_one("#payments-list", RecordList)
        payments.set_records(records, keep_key=_current_key(payments))
        payments.set_empty_text(
            "No payments." if self.payment_filter == "all" else "No payments with this status."
        )
        self.query_one("#payments-status", Static).update(
            counts_line(
                "Payments", len(records), len(self.profile.payments), self.payment_filter, "f"
            ).append(self._times_said())
        )

    def _show_activity(self, records: list[ListRecord] | None = None) -> None:
        assert self.profile is not None
        if records is None:
            records = activity_records(
                self.profile.activity, self.activity_filter, self.clock_of(self.profile)
            )
        activity = self.query_one("#activity-list", RecordList)
        activity.set_records(records, keep_key=_current_key(activity))
        self.query_one("#activity-status", Static).update(
            counts_line(
                "Events", len(records), len(self.profile.activity), self.activity_filter, "f"
            ).append(self._times_said())
        )

    def _times_said(self) -> str:
        return f" · times: {self.clock_of(self.profile).label} (z)"

    def _show_message(self, text: str) -> None:
        self.query_one("#overview-body", Static).update(Text(safe_text(text)))

    # ---------------------------------------------------------------------- tabs

    @property
    def active_tab(self) -> str:
        return self.query_one("#tabs", TabbedContent).active or TABS[0]

    def _tab_body(self, tab: str) -> Widget:
        body = {
            "overview": "#overview-scroll",
            "subscriptions": "#subscriptions-scroll",
            "payments": "#payments-list",
            "activity": "#activity-list",
            "notes": "#notes-list",
        }[tab]
        return self.query_one(body)

    def action_tab(self, index: int) -> None:
        tab = TABS[index]
        self.query_one("#tabs", TabbedContent).active = tab
        self.set_focus(self._tab_body(tab))

    def action_cycle_tab(self, step: int) -> None:
        self.action_tab((TABS.index(self.active_tab) + step) % len(TABS))

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id or TABS[0]
        if tab in TABS:
            self.set_focus(self._tab_body(tab))

    def action_cycle_filter(self) -> None:
        if self.profile is None or not self.complete:
            return
        if self.active_tab == "payments":
            self.payment_filter = _next(PAYMENT_FILTERS, self.payment_filter)
            self._show_payments()
        elif self.active_tab == "activity":
            self.activity_filter = _next(ACTIVITY_FILTERS, self.activity_filter)
            self._show_activity()
        else:
            self.notify("f filters the Payments and Activity tabs.", timeout=3)

    @on(RecordList.Selected, "#payments-list")
    def _payment_selected(self, event: RecordList.Selected) -> None:
        if self.profile is None:
            return
        payment = next((p for p in self.profile.payments if p.id == event.record.key), None)
        if payment is None or payment.invoice_id is None:
            self.notify("This payment has no invoice.", timeout=3)
            return
        self._open_invoice(payment.invoice_id)

    @work(thread=True, exclusive=True, group="profile-invoice", exit_on_error=False)
    def _open_invoice(self, invoice_id: int) -> None:
        try:
            invoice = ProfileService(self.engine).invoice(invoice_id, self.actor)
        except Exception as error:
            self.app.call_from_thread(
                self.notify, f"Could not read the invoice: {error}", severity="error", markup=False
            )
            return
        self.app.call_from_thread(self._show_invoice, invoice)

    def _show_invoice(self, invoice: InvoiceView) -> None:
        from crm_tui.services.email_channel import EmailChannel
        from crm_tui.services.secrets import Secrets

        # Sending writes (an email row, an activity event): not in read-only mode.
        settings = getattr(self.app, "settings", None)
        channel = None
        if settings is not None and not self.actor.readonly:
            channel = EmailChannel(self.engine, settings, Secrets())
        dialog = InvoiceDialog(invoice, engine=self.engine, actor=self.actor, channel=channel)
        self.app.push_screen(dialog)

    # --------------------------------------------------------------------- edits

    def _edit(self, dialog: Any) -> None:
        if self.profile is None:
            self.notify("The customer is still loading.", severity="warning", timeout=3)
            return
        self.app.push_screen(dialog(self.profile), self._after_edit)

    def _after_edit(self, result: object) -> None:
        if result is not None and result is not False:
            self.notify("Saved.", timeout=3)
        # Read again even after a cancel: a refused or pending action may have left
        # its trace (a pending refund), and another agent may have changed things.
        self._load()

    def action_edit_details(self) -> None:
        self._edit(lambda p: DetailsForm(self.edits, self.actor, p))

    def action_addresses(self) -> None:
        self._edit(lambda p: AddressesDialog(self.edits, self.actor, p))

    def action_add_note(self) -> None:
        self._edit(lambda p: NoteForm(self.edits, self.actor, p.id))

    def action_tags(self) -> None:
        self._edit(lambda p: TagsDialog(self.edits, self.actor, p.id, p.tags))

    def action_account_state(self) -> None:
        self._edit(lambda p: AccountStateForm(self.edits, self.actor, p))

    def action_refund(self) -> None:
        if self.refunds is None:
            self.notify("Read-only: refunds are not possible here.", severity="warning")
            return
        if self.profile is None or not self.complete:
            self.notify("The payments are still loading.", timeout=3)
            return
        record = self.query_one("#payments-list", RecordList).current
        if self.active_tab != "payments" or record is None:
            self.notify("Choose the payment in the Payments tab (3), then press r.", timeout=4)
            return
        payment = next(p for p in self.profile.payments if p.id == record.key)
        remaining = payment.amount_minor - payment.refunded_minor
        if payment.status not in {"succeeded", "partially_refunded"} or remaining <= 0:
            status = payment.status.replace("_", " ")
            self.notify(
                f"A {status} payment cannot be refunded.",
                severity="warning",
                timeout=4,
                markup=False,
            )
            return
        dialog = RefundDialog(self.refunds, self.actor, self.profile, payment, remaining)
        self.app.push_screen(dialog, self._after_edit)

    # ----------------------------------------------------------- privacy requests

    def action_request_erasure(self) -> None:
        if self.profile is None:
            self.notify("The customer is still loading.", severity="warning", timeout=3)
            return
        if self.actor.readonly:
            self.notify("Read-only: an erasure cannot be requested here.", severity="warning")
            return
        if self.profile.erased_at is not None:
            self.notify("This customer's personal data was already erased.", timeout=4)
            return
        from crm_tui.screens.privacy_dialogs import DeletionRequestDialog

        self.app.push_screen(
            DeletionRequestDialog(self.engine, self.actor, self.profile), self._after_action
        )

    def action_consent(self) -> None:
        if self.profile is None:
            self.notify("The customer is still loading.", severity="warning", timeout=3)
            return
        from crm_tui.screens.privacy_dialogs import ConsentDialog

        self.app.push_screen(
            ConsentDialog(self.engine, self.actor, self.profile), self._after_action
        )

    def action_privacy_export(self) -> None:
        if self.profile is None:
            self.notify("The customer is still loading.", severity="warning", timeout=3)
            return
        from crm_tui.screens.privacy_dialogs import PrivacyExportDialog

        self.app.push_screen(
            PrivacyExportDialog(self.engine, self.actor, self.profile), self._after_action
        )

    # ----------------------------------------------------------- account actions

    def _after_action(self, result: object) -> None:
        # The dialog said the outcome; read again so it shows in Payments and Activity
        # (a refused or pending action may have left its trace too).
        self._load()

    def _ready_for_actions(self) -> AccountActions | None:
        if self.actions is None:
            self.notify("Read-only: account actions are not possible here.", severity="warning")
            return None
        if self.profile is None:
            self.notify("The customer is still loading.", severity="warning", timeout=3)
            return None
        return self.actions

    def _selected_payment(self, key: str) -> PaymentView | None:
        if self.profile is None or not self.complete:
            self.notify("The payments are still loading.", timeout=3)
            return None
        record = self.query_one("#payments-list", RecordList).current
        if self.active_tab != "payments" or record is None:
            self.notify(
                f"Choose the payment in the Payments tab (3), then press {key}.",
                timeout=4,
                markup=False,
            )
            return None
        return next((p for p in self.profile.payments if p.id == record.key), None)

    def _with_subscription(
        self,
        applies: Callable[[SubscriptionDetail], bool],
        none_text: str,
        verb: str,
        then: Callable[[SubscriptionDetail], None],
    ) -> None:
        """Run `then` on the one subscription the action applies to, or on the one the
        agent picks when there are several; say why when there is none."""
        assert self.profile is not None
        candidates = [sub for sub in self.profile.subscriptions if applies(sub)]
        if not candidates:
            self.notify(none_text, severity="warning", timeout=4)
            return
        if len(candidates) == 1:
            then(candidates[0])
            return

        def picked(sub_id: int | None) -> None:
            chosen = next((sub for sub in candidates if sub.id == sub_id), None)
            if chosen is not None:
                then(chosen)

        picker = SubscriptionPicker(f"Which subscription to {verb}?", candidates)
        self.app.push_screen(picker, picked)

    def action_retry_payment(self) -> None:
        actions = self._ready_for_actions()
        payment = self._selected_payment("y") if actions else None
        if actions is None or payment is None or self.profile is None:
            return
        if payment.status != "failed":
            status = payment.status.replace("_", " ")
            self.notify(
                f"Only a failed payment can be retried; this one is {status}.",
                severity="warning",
                timeout=4,
                markup=False,
            )
            return
        if payment.provider == "manual":
            self.notify(
                "A manual payment is collected by hand: press P to mark it paid when the "
                "money arrives.",
                severity="warning",
                timeout=5,
            )
            return
        dialog = RetryPaymentDialog(actions, self.actor, self.profile, payment)
        self.app.push_screen(dialog, self._after_action)

    def action_apply_credit(self) -> None:
        actions = self._ready_for_actions()
        if actions is None or self.profile is None:
            return
        self.app.push_screen(CreditDialog(actions, self.actor, self.profile), self._after_action)

    def action_pause(self) -> None:
        if self._ready_for_actions() is not None:
            self._with_subscription(
                lambda sub: SubscriptionStatus(sub.status) in PAUSABLE,
                "No active subscription to pause.",
                "pause",
                self._open_pause,
            )

    def _open_pause(self, sub: SubscriptionDetail, offer: str = "") -> None:
        assert self.actions is not None and self.profile is not None
        dialog = PauseDialog(self.actions, self.actor, self.profile, sub, offer=offer)
        self.app.push_screen(dialog, self._after_action)

    def action_open_ticket(self) -> None:
        actions = self._ready_for_actions()
        if actions is None or self.profile is None:
            return
        from crm_tui.screens.ticket_dialog import TicketDialog
        from crm_tui.services.tickets import TicketService

        dialog = TicketDialog(actions, TicketService(actions.engine), self.actor, self.profile)
        self.app.push_screen(dialog, self._after_action)

    def action_escalate(self) -> None:
        actions = self._ready_for_actions()
        if actions is None or self.profile is None:
            return
        if self.profile.escalation:
            self.notify(f"Already escalated {self.profile.escalation}", timeout=6, markup=False)
            return
        from crm_tui.screens.escalate_dialog import EscalateDialog
        from crm_tui.services.escalations import EscalationService

        dialog = EscalateDialog(
            actions, EscalationService(actions.engine), self.actor, self.profile
        )
        self.app.push_screen(dialog, self._after_action)

    def action_resume(self) -> None:
        if self._ready_for_actions() is not None:
            self._with_subscription(
                lambda sub: sub.status == SubscriptionStatus.PAUSED.value,
                "No paused subscription to resume.",
                "resume",
                self._open_resume,
            )

    def _open_resume(self, sub: SubscriptionDetail) -> None:
        assert self.actions is not None and self.profile is not None
        dialog = ResumeDialog(self.actions, self.actor, self.profile, sub)
        self.app.push_screen(dialog, self._after_action)

    def action_cancel_subscription(self) -> None:
        if self._ready_for_actions() is not None:
            self._with_subscription(
                lambda sub: SubscriptionStatus(sub.status) not in ENDED,
                "No subscription to cancel: they have all ended.",
                "cancel",
                self._open_cancel,
            )

    def _open_cancel(self, sub: SubscriptionDetail) -> None:
        assert self.actions is not None and self.profile is not None
        dialog = CancelDialog(self.actions, self.actor, self.profile, sub)

        def closed(result: object) -> None:
            # Here, the cancel dialog is gone: an offer's dialog opens over the profile.
            if dialog.chosen_offer is None:
                self._after_action(result)
            else:
                self._retention_offer(dialog.chosen_offer, sub, dialog.credit_minor)

        self.app.push_screen(dialog, closed)

    def _retention_offer(self, kind: str, sub: SubscriptionDetail, credit_minor: int) -> None:
        """The agent chose an offer in the cancel dialog: its own dialog, prefilled."""
        assert self.actions is not None and self.profile is not None
        if kind == "pause":
            self._open_pause(sub, offer=f"Retention: a pause instead of cancelling #{sub.id}.")
            return
        offer = (
            f"Retention: 20% of one {sub.cycle} payment of subscription #{sub.id}, "
            "instead of cancelling."
        )
        dialog = CreditDialog(
            self.actions,
            self.actor,
            self.profile,
            currency=sub.currency,
            amount_minor=credit_minor,
            offer=offer,
        )
        self.app.push_screen(dialog, self._after_action)

    def action_change_plan(self) -> None:
        if self._ready_for_actions() is not None:
            self._with_subscription(
                lambda sub: SubscriptionStatus(sub.status) not in ENDED,
                "No subscription whose plan can change: they have all ended.",
                "move to another plan",
                self._open_plan_change,
            )

    def _open_plan_change(self, sub: SubscriptionDetail) -> None:
        assert self.actions is not None and self.profile is not None
        dialog = PlanChangeDialog(self.actions, self.actor, self.profile, sub)
        self.app.push_screen(dialog, self._after_action)

    def action_extend_trial(self) -> None:
        if self._ready_for_actions() is not None:
            self._with_subscription(
                lambda sub: sub.status == SubscriptionStatus.TRIAL.value,
                "No subscription in trial to extend.",
                "extend the trial of",
                self._open_extend_trial,
            )

    def _open_extend_trial(self, sub: SubscriptionDetail) -> None:
        assert self.actions is not None and self.profile is not None
        dialog = ExtendTrialDialog(self.actions, self.actor, self.profile, sub)
        self.app.push_screen(dialog, self._after_action)

    def action_mark_paid(self) -> None:
        actions = self._ready_for_actions()
        payment = self._selected_payment("P") if actions else None
        if actions is None or payment is None or self.profile is None:
            return
        if payment.provider != "manual":
            self.notify(
                f"A {payment.provider} payment is collected by {payment.provider}: "
                "retry it (y) instead.",
                severity="warning",
                timeout=5,
                markup=False,
            )
            return
        if payment.status not in {"pending", "failed"}:
            self.notify(
                f"This payment is already {payment.status.replace('_', ' ')}.",
                severity="warning",
                timeout=4,
                markup=False,
            )
            return
        dialog = MarkPaidDialog(actions, self.actor, self.profile, payment)
        self.app.push_screen(dialog, self._after_action)

    def action_affiliate(self) -> None:
        actions = self._ready_for_actions()
        payment = self._selected_payment("A") if actions else None
        if actions is None or payment is None or self.profile is None:
            return
        dialog = AffiliateDialog(actions, self.actor, self.profile, payment)
        self.app.push_screen(dialog, self._after_action)

    def action_payment_link(self) -> None:
        actions = self._ready_for_actions()
        if actions is None or self.profile is None:
            return
        from crm_tui.config import Settings
        from crm_tui.services.email_channel import EmailChannel
        from crm_tui.services.secrets import Secrets

        settings = getattr(self.app, "settings", None) or Settings()
        channel = EmailChannel(self.engine, settings, Secrets())
        return_url = settings.billing_portal_return_url
        dialog = PaymentLinkDialog(
            actions, self.actor, self.profile, channel, return_url=return_url
        )
        self.app.push_screen(dialog, self._after_action)

    def action_reload(self) -> None:
        self._load()

    def refresh_for(self, changes: Any) -> None:
        """Another agent changed this customer: read again (tabs, cursors and a dialog
        being filled in stay as they are; a stale save is refused as always)."""
        if self.profile is not None and changes.touches(self.customer_id):
            self._load()

    def action_back(self) -> None:
        self.dismiss()

    def on_unmount(self) -> None:
        release_widget_caches()


def release_widget_caches() -> None:
    """Let the closed screen's widgets be freed.

    Textual's `StylesCache.get_inner_outer` is an `lru_cache` on a method, so it keeps
    up to 1,024 styles caches (and their rendered lines) of removed widgets alive
    (Textualize/textual#6665). Each profile opened added ~12,000 objects that every
    full garbage collection then walked: pauses of up to 0.4 s by the tenth profile.
    """
    cache_clear = getattr(StylesCache.get_inner_outer, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()


def _next(options: tuple[str, ...], current: str) -> str:
    return options[(options.index(current) + 1) % len(options)]


def _current_key(record_list: RecordList) -> Any:
    current = record_list.current
    return current.key if current else None
