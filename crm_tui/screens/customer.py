"""A customer's Overview, opened from the directory with `enter` (`escape` goes back).

The profile issue turns this into five tabs; here it shows who the customer is,
what they pay and their state. Every value is drawn as plain text (safe_text).
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from crm_tui.formatting import format_date, format_money
from crm_tui.models.read import CustomerProfile
from crm_tui.services.actor import Actor
from crm_tui.text import safe_text


def _field_table(rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(Text(label), Text(safe_text(value)))
    return table


def overview_fields(profile: CustomerProfile) -> list[tuple[str, str]]:
    money = profile.currency
    rows = [
        ("Customer", f"#{profile.id} · {profile.kind}"),
        ("Name", profile.name),
        ("Email", profile.email),
        ("Phone", profile.phone or "—"),
    ]
    if profile.kind == "business":
        rows += [
            ("Company", profile.company_name),
            ("Company ID", profile.company_reg_no or "—"),
            ("VAT id", profile.vat_id or "—"),
            ("Payment terms", profile.payment_terms or "—"),
            ("Billing group", profile.billing_group or "—"),
            ("Billing contact", profile.billing_contact or "—"),
        ]
    rows += [
        ("Account", profile.account_state),
        ("Status", profile.lifecycle_status),
        ("Registered", format_date(profile.registered_at)),
        ("Storefront", f"{profile.storefront} · {profile.region} · {profile.country}"),
        ("Plan", profile.current_plan or "—"),
        ("MRR", format_money(profile.mrr_minor, money)),
        ("Lifetime value", format_money(profile.ltv_minor, money)),
        ("Payments", f"{profile.payments_count:,}"),
        ("Assigned agent", profile.assigned_agent or "—"),
        ("Tags", ", ".join(profile.tags) or "—"),
    ]
    for provider, external_id in profile.external_ids:
        rows.append((f"{provider.capitalize()} id", external_id))
    for address in profile.addresses:
        if address.current:
            label = "Billing address" if address.kind == "billing" else "Shipping address"
            rows.append((label, address.one_line()))
    return rows


def subscriptions_table(profile: CustomerProfile) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True)
    for header in ("Plan", "Status", "Amount", "Renews", "Provider id"):
        table.add_column(header, no_wrap=True, overflow="ellipsis")
    for sub in profile.subscriptions:
        table.add_row(
            Text(safe_text(sub.plan)),
            Text(sub.status),
            Text(f"{format_money(sub.amount_minor, sub.currency)}/{sub.cycle}"),
            Text(format_date(sub.renews_at)),
            Text(safe_text(sub.provider_id)),
        )
    return table


class CustomerScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", priority=True, id="customer.back"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="customer.reload"),
    ]
    DEFAULT_CSS = """
    CustomerScreen #overview { padding: 0 1; }
    CustomerScreen #subscriptions { margin-top: 1; }
    """

    def __init__(self, engine: Engine, actor: Actor, customer_id: int) -> None:
        super().__init__()
        self.engine, self.actor, self.customer_id = engine, actor, customer_id

    def compose(self) -> ComposeResult:
        yield Static(Text(f"crm-tui · customer #{self.customer_id}"), id="title-bar")
        with VerticalScroll(id="overview-scroll"):
            yield Static(Text("Loading…"), id="overview")
            yield Static(id="subscriptions")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#overview-scroll").focus()
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        from crm_tui.services.profile import CustomerNotFound, ProfileService

        try:
            profile = ProfileService(self.engine).profile(self.customer_id, self.actor)
        except CustomerNotFound:
            self.app.call_from_thread(
                self._show_message, f"There is no customer #{self.customer_id}."
            )
            return
        except Exception as error:
            self.app.call_from_thread(
                self._show_message, f"Could not read the customer: {error}. Press ctrl+r."
            )
            return
        self.app.call_from_thread(self._show, profile)

    def _show(self, profile: CustomerProfile) -> None:
        title = f"crm-tui · {safe_text(profile.name)} · #{profile.id} · Overview"
        self.query_one("#title-bar", Static).update(Text(title, no_wrap=True))
        self.query_one("#overview", Static).update(_field_table(overview_fields(profile)))
        if profile.subscriptions:
            self.query_one("#subscriptions", Static).update(subscriptions_table(profile))

    def _show_message(self, text: str) -> None:
        self.query_one("#overview", Static).update(Text(safe_text(text)))

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self._load()
