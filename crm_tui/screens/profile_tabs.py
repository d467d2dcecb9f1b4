"""What each tab of the profile shows, built from the read model: pure functions.

Renderables are Rich `Table`s of `Text` (never markup strings), records are plain
`ListRecord`s for the RecordList widget. Times are shown by a `Clock` (the agent's
zone, the customer's or UTC: `z` switches), and the screen says which.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from crm_tui.formatting import format_money
from crm_tui.models.profile import (
    ActivityView,
    CustomerProfile,
    NoteView,
    PaymentView,
    SubscriptionDetail,
)
from crm_tui.text import safe_text
from crm_tui.themes import status_style
from crm_tui.time_zones import UTC_CLOCK, Clock
from crm_tui.widgets.record_list import ListColumn, ListRecord

TERMS_LABELS = {"net7": "Net 7", "net14": "Net 14", "net30": "Net 30"}
PAYMENT_FILTERS = ("all", "succeeded", "failed", "refunded", "partially_refunded", "pending")
ACTIVITY_FILTERS = ("all", "subscription", "payment", "profile", "support", "campaign")
_TREND_ARROWS = {"up": "↑ up", "down": "↓ down", "flat": "→ flat"}


def _fields(title: str | Text, rows: Iterable[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.title = title
    table.title_justify = "left"
    table.title_style = "bold underline"
    table.add_column(style="bold", no_wrap=True, min_width=16)
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(Text(label), Text(safe_text(value)))
    return table


# ------------------------------------------------------------------- overview


def at_a_glance(profile: CustomerProfile, clock: Clock = UTC_CLOCK) -> Text:
    """Two lines an agent reads before anything else: state, plan and money."""
    m = profile.money
    renewal = f" · renews {clock.day(profile.next_renewal)}" if profile.next_renewal else ""
    state = profile.account_state
    second = (
        f"LTV {format_money(m.lifetime_value_minor, m.currency)} · "
        f"MRR {format_money(m.monthly_income_minor, m.currency)} · "
        f"outstanding {format_money(m.outstanding_minor, m.currency)} · "
        f"credit {format_money(m.credit_minor, m.currency)}"
    )
    glance = Text.assemble(
        "account ",
        (state, "") if state == "active" else (state.upper(), status_style("blocked")),
        " · ",
        (profile.lifecycle_status, status_style(profile.lifecycle_status)),
        safe_text(f" customer · {profile.current_plan or 'no plan'}{renewal}"),
        style="bold",
    )
    if state != "active":  # stands out without colour too (NO_COLOR, monochrome)
        glance.stylize("reverse", len("account "), len("account ") + len(state))
    glance.append("\n" + second)
    if profile.segments:
        glance.append("\n" + " ".join(f"[{safe_text(name)}]" for name in profile.segments))
    if profile.erased_at is not None:
        glance.append(
            f"\nERASED {clock.stamp(profile.erased_at)}: personal data removed "
            "(right to erasure); financial records kept",
            style="bold",
        )
    # In the theme's status colours (a fixed red or yellow is unreadable on crm-light).
    alert, waiting = f"bold {status_style('failed')}", f"bold {status_style('pending')}"
    if profile.escalation:
        glance.append(f"\nESCALATED {safe_text(profile.escalation)}", style=alert)
    for request in profile.pending_requests:
        glance.append(f"\nAWAITING APPROVAL {safe_text(request)}", style=waiting)
    for pending in profile.pending_actions:
        # An unknown outcome at a provider: say so first, the agent must not act twice.
        glance.append(
            f"\nPENDING {pending.action.replace('_', ' ')} at {pending.provider}: "
            f"{safe_text(pending.what)}, started {clock.stamp(pending.started_at)} by "
            f"{safe_text(pending.by)} — settles with crm-tui reconcile",
            style=waiting,
        )
    return glance


def overview_renderable(profile: CustomerProfile, clock: Clock = UTC_CLOCK) -> RenderableType:
    parts: list[RenderableType] = [at_a_glance(profile, clock), _fields("Who", _who(profile))]
    if profile.kind == "business":
        parts.append(_fields("Business", _business(profile)))
    parts += [
        _fields("Account", _account(profile, clock)),
        _fields("Money", _money(profile)),
        _fields("Usage", _usage(profile)),
        _fields("Addresses", _addresses(profile)),
        _fields("Preferences", _preferences(profile)),
    ]
    if profile.tickets:
        parts.append(_fields("Tickets", _tickets(profile, clock)))
    if profile.status_history:
        parts.append(_status_history(profile, clock))
    if profile.requests:
        requests = Text("\n".join(safe_text(line) for line in profile.requests))
        parts.append(Group(Text("Requests", style="bold underline"), requests))
    parts.append(_fields("Consent", [(k, safe_text(v)) for k, v in profile.consent]))
    if profile.viewers:
        parts.append(_fields("Viewed by", _viewers(profile, clock)))
    spaced: list[RenderableType] = []
    for part in parts:
        spaced += [part, Text("")]
    return Group(*spaced[:-1])


def _viewers(p: CustomerProfile, clock: Clock) -> list[tuple[str, str]]:
    """Who looked at this customer last (from the audit trail), newest first."""
    return [(login, clock.stamp(at)) for login, at in p.viewers]


def _tickets(p: CustomerProfile, clock: Clock) -> list[tuple[str, str]]:
    return [
        (
            f"#{t.id} {t.status}",
            f"{clock.day(t.opened_at)} · {t.subject} (by {t.opened_by})",
        )
        for t in p.tickets
    ]


def _who(p: CustomerProfile) -> list[tuple[str, str]]:
    return [
        ("Customer", f"#{p.id} · {p.kind}"),
        ("Name", p.name),
        ("Email", p.email),
        ("Phone", p.phone or "—"),
        ("Country", p.country or "—"),
        ("Tags", ", ".join(p.tags) or "—"),
        ("Assigned agent", p.assigned_agent or "—"),
    ]


def _business(p: CustomerProfile) -> list[tuple[str, str]]:
    return [
        ("Company", p.company_name or "—"),
        ("Registration no.", p.company_reg_no or "—"),
        ("VAT id", p.vat_id or "—"),
        ("Payment terms", TERMS_LABELS.get(p.payment_terms or "", p.payment_terms or "—")),
        ("Billing group", p.billing_group or "—"),
        ("Billing contact", p.billing_contact or "—"),
        ("Company email", p.company_email or "—"),
    ]


def _account(p: CustomerProfile, clock: Clock) -> list[tuple[str, str]]:
    rows = [
        ("Account state", p.account_state),
        ("Status", p.lifecycle_status),
        ("Registered", clock.day(p.registered_at)),
        ("Channel", " · ".join(x for x in (p.storefront, p.region) if x) or "—"),
        ("Current plan", p.current_plan or "—"),
        ("Next renewal", clock.day(p.next_renewal) or "—"),
    ]
    rows += [(f"{_provider_name(provider)} id", value) for provider, value in p.external_ids]
    rows.append(("Last change", f"{clock.stamp(p.updated_at)} by {p.updated_by}"))
    return rows


def _money(p: CustomerProfile) -> list[tuple[str, str]]:
    m = p.money

    def money(minor: int) -> str:
        return format_money(minor, m.currency)

    return [
        ("Lifetime value", money(m.lifetime_value_minor)),
        (
            "Total payments",
            f"{m.total_payments:,} · {money(m.collected_minor)} collected, "
            f"{money(m.refunded_minor)} refunded",
        ),
        ("Monthly income", money(m.monthly_income_minor)),
        ("Avg subscription", f"{money(m.average_subscription_minor)}/month"),
        ("Subscriptions", f"{m.active_subscriptions} active, {m.ended_subscriptions} ended"),
        ("Outstanding", money(m.outstanding_minor)),
        ("Account credit", money(m.credit_minor)),
    ]


def _usage(p: CustomerProfile) -> list[tuple[str, str]]:
    usage = p.usage
    if usage is None or not usage.months:
        return [("Usage", "no usage recorded for the current plan")]
    months = "  ".join(f"{m.month:%b} {m.quantity:,}" for m in usage.months)
    return [(usage.metric.replace("_", " "), months), ("Trend", _TREND_ARROWS[usage.trend])]


def _addresses(p: CustomerProfile) -> list[tuple[str, str]]:
    if not p.addresses:
        return [("Addresses", "none yet (a to add one)")]
    rows = []
    for address in p.addresses:
        if address.current:
            label = f"{address.kind.capitalize()}{' (default)' if address.is_default else ''}"
        else:
            label = f"Earlier {address.kind}"
        rows.append((label, address.one_line()))
    return rows


def _preferences(p: CustomerProfile) -> list[tuple[str, str]]:
    prefs = p.preferences
    if prefs is None:
        return [("Preferences", "none recorded")]
    contract = f"{prefs.contract_length_months} months" if prefs.contract_length_months else "—"
    return [
        ("Contract length", contract),
        ("Payment method", prefs.payment_method or "—"),
        ("Billing frequency", prefs.billing_frequency or "—"),
        ("Communication", prefs.communication or "—"),
    ]


def _status_history(p: CustomerProfile, clock: Clock) -> Table:
    table = Table(box=None, padding=(0, 1), title="Status history", title_justify="left")
    table.title_style = "bold underline"
    for header in ("When", "Change", "By", "Why"):
        table.add_column(header, overflow="fold")
    for change in p.status_history:
        table.add_row(
            Text(clock.stamp(change.changed_at)),
            Text(f"{change.from_state} → {change.to_state}"),
            Text(safe_text(change.by)),
            Text(safe_text(change.reason)),
        )
    return table


# -------------------------------------------------------------- subscriptions


def subscriptions_renderable(profile: CustomerProfile, clock: Clock = UTC_CLOCK) -> RenderableType:
    parts: list[RenderableType] = []
    if not profile.subscriptions:
        parts.append(Text("No subscriptions."))
    for sub in profile.subscriptions:
        parts += [_fields(_subscription_title(sub), _subscription_rows(sub, clock)), Text("")]
    parts.append(_orders(profile, clock))
    return Group(*parts)


PROVIDER_NAMES = {"paypal": "PayPal", "stripe": "Stripe"}


def _provider_name(provider: str) -> str:
    """A provider as its owner writes it (PayPal, not Paypal)."""
    return PROVIDER_NAMES.get(provider, provider.capitalize())


# Subscription statuses drawn in another status's colour; the others in their own.
_SUBSCRIPTION_COLOURS = {"grace": "past-due", "expired": "cancelled"}


def _subscription_title(sub: SubscriptionDetail) -> Text:
    variant = f" ({sub.variant})" if sub.variant else ""
    ending = " · cancels at period end" if sub.cancel_at_period_end and not sub.ended_at else ""
    colour = status_style(_SUBSCRIPTION_COLOURS.get(sub.status, sub.status))
    return Text.assemble(safe_text(f"{sub.plan}{variant} · "), (sub.status, colour), ending)


def _subscription_rows(sub: SubscriptionDetail, clock: Clock) -> list[tuple[str, str]]:
    rows = [
        ("Amount", f"{format_money(sub.amount_minor, sub.currency)} / {sub.cycle}"),
        ("Started", clock.day(sub.started_at)),
    ]
    if sub.trial_end:
        rows.append(("Trial ends", clock.day(sub.trial_end)))
    if sub.paused_until:
        rows.append(("Paused until", clock.day(sub.paused_until)))
    if sub.ended_at:
        rows.append(("Ended", clock.day(sub.ended_at)))
    elif sub.cancel_at_period_end:
        rows.append(("Cancels on", f"{clock.day(sub.renews_at) or '—'} (not renewed)"))
    elif sub.renews_at:
        rows.append(("Renews / next payment", clock.day(sub.renews_at)))
    rows += [
        ("Payment method", sub.payment_method or "—"),
        ("Contract end", clock.day(sub.contract_end) or "—"),
        ("Provider", f"{sub.provider} · {sub.provider_id or '—'}"),
    ]
    if sub.asset_cost_minor:
        recovered = sub.cost_recovery or 0.0
        rows += [
            ("Asset serial", sub.asset_serial or "—"),
            (
                "Cost recovery",
                f"{format_money(sub.collected_minor, sub.currency)} of "
                f"{format_money(sub.asset_cost_minor, sub.currency)} ({recovered:.0%})",
            ),
        ]
    return rows


def _orders(profile: CustomerProfile, clock: Clock) -> RenderableType:
    if not profile.orders:
        return Text("No orders.")
    table = Table(box=None, padding=(0, 1), title="Orders", title_justify="left", expand=True)
    table.title_style = "bold underline"
    table.add_column("Date", no_wrap=True)
    table.add_column("Order", no_wrap=True)
    table.add_column("Items", overflow="fold", ratio=1)
    table.add_column("Status", no_wrap=True)
    table.add_column("Total", justify="right", no_wrap=True)
    for order in profile.orders:
        table.add_row(
            Text(clock.day(order.placed_at)),
            Text(safe_text(order.number)),
            Text(safe_text(", ".join(order.items))),
            Text(order.status),
            Text(format_money(order.total_minor, order.currency)),
        )
    return table


# -------------------------------------------------------------------- payments

PAYMENT_COLUMNS = (
    ListColumn("Date", 10),
    ListColumn("Amount", 11, "right"),
    ListColumn("Status", 18),
    ListColumn("Description", 12, flexible=True),
    ListColumn("Method", 13),
    ListColumn("Provider", 8),
    ListColumn("Invoice", 11),
)
# A payment's line in its status colour (RecordList's record-list--status-* classes).
_PAYMENT_STYLES = {
    "failed": "status-failed",
    "pending": "status-pending",
    "refunded": "status-refunded",
    "partially_refunded": "status-refunded",
}


def payment_records(
    payments: Iterable[PaymentView], status: str = "all", clock: Clock = UTC_CLOCK
) -> list[ListRecord]:
    records = []
    for payment in payments:
        if status != "all" and payment.status != status:
            continue
        status_text = payment.status.replace("_", " ")
        if payment.failure_reason:
            status_text += f": {payment.failure_reason}"
        records.append(
            ListRecord(
                key=payment.id,
                cells=(
                    clock.day(payment.created_at),
                    format_money(payment.amount_minor, payment.currency),
                    status_text,
                    payment.description or "—",
                    payment.method,
                    payment.provider,
                    payment.invoice_number or "—",
                ),
                style=_PAYMENT_STYLES.get(payment.status, ""),
                sub_lines=tuple(
                    f"↳ refund {format_money(r.amount_minor, r.currency)} on "
                    f"{clock.day(r.created_at)} ({r.status}) by {r.by}: {r.reason}"
                    for r in payment.refunds
                ),
            )
        )
    return records


# -------------------------------------------------------------------- activity

ACTIVITY_COLUMNS = (
    ListColumn("When", 18),
    ListColumn("Kind", 12),
    ListColumn("Summary", 20, flexible=True),
    ListColumn("By", 24),
)


def _event_details(event: ActivityView, clock: Clock) -> tuple[str, ...]:
    return (
        f"by {event.actor} ({event.actor_type}) at {clock.stamp(event.occurred_at)}",
        *(f"{key}: {value}" for key, value in event.details),
    )


def activity_records(
    events: Iterable[ActivityView], kind: str = "all", clock: Clock = UTC_CLOCK
) -> list[ListRecord]:
    return [
        ListRecord(
            key=event.id,
            cells=(clock.moment(event.occurred_at), event.kind, event.summary, event.actor),
            style="muted" if event.actor_type == "system" else "",
            detail_source=partial(_event_details, event, clock),
        )
        for event in events
        if kind == "all" or event.kind == kind
    ]


# ----------------------------------------------------------------------- notes

NOTE_COLUMNS = (
    ListColumn("Date", 10),
    ListColumn("Type", 8),
    ListColumn("Summary", 20, flexible=True),
    ListColumn("Follow-up", 10),
    ListColumn("By", 18),
)


def note_records(notes: Iterable[NoteView], clock: Clock = UTC_CLOCK) -> list[ListRecord]:
    return [
        ListRecord(
            key=note.id,
            cells=(
                clock.day(note.created_at),
                note.type,
                note.summary,
                note.follow_up_on.isoformat() if note.follow_up_on else "—",
                note.by,
            ),
            detail_lines=tuple(note.body.splitlines()) or ("(no text beyond the summary)",),
        )
        for note in notes
    ]


def counts_line(label: str, shown: int, total: int, current: str, key: str) -> Text:
    """'Payments: 12 of 40 · filter: failed (f to change)'."""
    filtered = f"{shown:,} of {total:,}" if shown != total else f"{total:,}"
    return Text(f"{label}: {filtered} · filter: {current.replace('_', ' ')} ({key} to change)")
