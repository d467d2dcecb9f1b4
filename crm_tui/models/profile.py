"""Read models of a customer's profile: the five tabs, as plain frozen dataclasses.

Services build these (services/profile.py); screens and `customers show --json`
read them. `as_json` is the one place a view becomes JSON, so the command line
returns exactly what the screen shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from crm_tui.models.support import TicketView


def address_line(address: Any) -> str:
    """Any address-shaped value (a view, a form's input, a row) on one line."""
    parts = (
        address.line1,
        address.line2,
        address.city,
        address.state,
        address.postal_code,
        address.country,
    )
    return ", ".join(part for part in parts if part)


def _iso(moment: datetime | date | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def parse_details(text: str | None) -> tuple[tuple[str, str], ...]:
    """An event's stored details as (key, value) pairs; text that is not a JSON object
    is kept whole under "details" (nothing stored is hidden)."""
    if not text:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        return (("details", text),)
    if isinstance(value, dict):
        return tuple((str(key), _detail_value(item)) for key, item in value.items())
    return () if value in (None, "") else (("details", _detail_value(value)),)


def _detail_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class StateChangeView:
    """One change of the account state: when, who, why."""

    changed_at: datetime
    from_state: str
    to_state: str
    reason: str
    by: str  # the agent's name, or "system"

    def as_json(self) -> dict[str, Any]:
        return {
            "changed_at": _iso(self.changed_at),
            "from": self.from_state,
            "to": self.to_state,
            "reason": self.reason,
            "by": self.by,
        }


@dataclass(frozen=True)
class PendingActionView:
    """A provider action whose outcome is not known yet (a timeout, a crash).

    It is settled by `crm-tui reconcile` (also run when the app opens a database);
    until then the same payment or subscription cannot be acted on again."""

    action: str  # refund, retry, credit, pause, cancel, change_plan, ...
    provider: str
    started_at: datetime
    by: str
    what: str  # e.g. "$5.00 of payment #12", "subscription #3"

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "provider": self.provider,
            "started_at": _iso(self.started_at),
            "by": self.by,
            "what": self.what,
        }


@dataclass(frozen=True)
class UsageMonth:
    month: date  # first day of the month
    quantity: int


@dataclass(frozen=True)
class UsageView:
    """The current plan's metric per month, oldest first."""

    metric: str  # logins, api_calls, seats, devices
    months: tuple[UsageMonth, ...]

    @property
    def trend(self) -> str:
        """'up', 'down' or 'flat': the last month against the average of those before."""
        if len(self.months) < 2:
            return "flat"
        earlier = [m.quantity for m in self.months[:-1]]
        average = sum(earlier) / len(earlier)
        last = self.months[-1].quantity
        if last > average * 1.1:
            return "up"
        if last < average * 0.9:
            return "down"
        return "flat"

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "trend": self.trend,
            "months": [{"month": _iso(m.month), "quantity": m.quantity} for m in self.months],
        }


@dataclass(frozen=True)
class PreferencesView:
    contract_length_months: int | None
    payment_method: str
    billing_frequency: str
    communication: str

    def as_json(self) -> dict[str, Any]:
        return {
            "contract_length_months": self.contract_length_months,
            "payment_method": self.payment_method,
            "billing_frequency": self.billing_frequency,
            "communication": self.communication,
        }


@dataclass(frozen=True)
class MoneyFacts:
    """The Overview's figures, each in the customer's currency (minor units)."""

    currency: str
    lifetime_value_minor: int  # collected minus refunded
    total_payments: int  # payments that collected money
    collected_minor: int
    refunded_minor: int
    monthly_income_minor: int  # MRR of the active subscriptions
    average_subscription_minor: int  # monthly value, averaged over the subscriptions
    active_subscriptions: int
    ended_subscriptions: int
    outstanding_minor: int  # open invoices not yet paid
    credit_minor: int  # account credit available

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "lifetime_value_minor": self.lifetime_value_minor,
            "total_payments": self.total_payments,
            "collected_minor": self.collected_minor,
            "refunded_minor": self.refunded_minor,
            "monthly_income_minor": self.monthly_income_minor,
            "average_subscription_minor": self.average_subscription_minor,
            "active_subscriptions": self.active_subscriptions,
            "ended_subscriptions": self.ended_subscriptions,
            "outstanding_minor": self.outstanding_minor,
            "credit_minor": self.credit_minor,
        }


@dataclass(frozen=True)
class SubscriptionDetail:
    id: int
    plan: str
    plan_kind: str  # service, hardware, bundle
    variant: str
    status: str
    started_at: datetime
    renews_at: datetime | None  # renewal or next payment
    trial_end: datetime | None
    ended_at: datetime | None
    paused_until: datetime | None
    amount_minor: int
    currency: str
    cycle: str
    payment_method: str
    contract_end: date | None
    provider: str
    provider_id: str
    asset_serial: str
    asset_cost_minor: int | None
    collected_minor: int  # net of refunds, for cost recovery
    cancel_at_period_end: bool = False  # live until renews_at, then ends

    @property
    def cost_recovery(self) -> float | None:
        """Share of the asset's cost collected so far (hardware plans)."""
        if not self.asset_cost_minor:
            return None
        return self.collected_minor / self.asset_cost_minor

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan,
            "plan_kind": self.plan_kind,
            "variant": self.variant,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "renews_at": _iso(self.renews_at),
            "trial_end": _iso(self.trial_end),
            "ended_at": _iso(self.ended_at),
            "paused_until": _iso(self.paused_until),
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "cycle": self.cycle,
            "payment_method": self.payment_method,
            "contract_end": _iso(self.contract_end),
            "provider": self.provider,
            "provider_id": self.provider_id,
            "asset_serial": self.asset_serial,
            "asset_cost_minor": self.asset_cost_minor,
            "collected_minor": self.collected_minor,
        }


@dataclass(frozen=True)
class OrderView:
    id: int
    number: str
    placed_at: datetime
    status: str
    items: tuple[str, ...]  # "2 × Room sensor"
    total_minor: int
    currency: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "placed_at": _iso(self.placed_at),
            "status": self.status,
            "items": list(self.items),
            "total_minor": self.total_minor,
            "currency": self.currency,
        }


@dataclass(frozen=True)
class RefundView:
    id: int
    amount_minor: int
    currency: str
    status: str
    reason: str
    created_at: datetime
    by: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "status": self.status,
            "reason": self.reason,
            "created_at": _iso(self.created_at),
            "by": self.by,
        }


@dataclass(frozen=True, slots=True)
class PaymentView:
    id: int
    created_at: datetime
    amount_minor: int
    currency: str
    refunded_minor: int
    status: str
    method: str
    provider: str
    provider_id: str
    description: str
    failure_reason: str
    subscription_id: int | None
    invoice_id: int | None
    invoice_number: str
    refunds: tuple[RefundView, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "refunded_minor": self.refunded_minor,
            "status": self.status,
            "method": self.method,
            "provider": self.provider,
            "provider_id": self.provider_id,
            "description": self.description,
            "failure_reason": self.failure_reason,
            "invoice": self.invoice_number or None,
            "refunds": [refund.as_json() for refund in self.refunds],
        }


@dataclass(frozen=True)
class InvoiceLineView:
    description: str
    quantity: int
    unit_amount_minor: int
    amount_minor: int


@dataclass(frozen=True)
class InvoiceView:
    id: int
    number: str
    status: str
    issued_at: datetime
    due_at: datetime | None
    total_minor: int
    currency: str
    lines: tuple[InvoiceLineView, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "status": self.status,
            "issued_at": _iso(self.issued_at),
            "due_at": _iso(self.due_at),
            "total_minor": self.total_minor,
            "currency": self.currency,
            "lines": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_amount_minor": line.unit_amount_minor,
                    "amount_minor": line.amount_minor,
                }
                for line in self.lines
            ],
        }


@dataclass(frozen=True, slots=True)
class ActivityView:
    id: int
    occurred_at: datetime
    kind: str  # subscription, payment, profile, support, campaign
    actor_type: str  # agent, system, customer
    actor: str  # the agent's name, "system" or "customer (self-service)"
    summary: str
    # The details as stored (JSON text), parsed only when shown: a long history has
    # thousands of events and an agent expands a few.
    details_json: str = "{}"

    @property
    def details(self) -> tuple[tuple[str, str], ...]:
        """(key, value) pairs, for the expanded view."""
        return parse_details(self.details_json)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "occurred_at": _iso(self.occurred_at),
            "kind": self.kind,
            "actor_type": self.actor_type,
            "actor": self.actor,
            "summary": self.summary,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class NoteView:
    id: int
    created_at: datetime
    type: str  # email, phone, meeting, other
    summary: str
    body: str
    follow_up_on: date | None
    by: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "type": self.type,
            "summary": self.summary,
            "body": self.body,
            "follow_up_on": _iso(self.follow_up_on),
            "by": self.by,
        }


@dataclass(frozen=True)
class AddressDetail:
    id: int
    kind: str  # billing, shipping
    is_default: bool
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str
    valid_from: datetime
    valid_to: datetime | None  # set: replaced, kept as history

    @property
    def current(self) -> bool:
        return self.valid_to is None

    def one_line(self) -> str:
        return address_line(self)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "default": self.is_default,
            "current": self.current,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "state": self.state,
            "postal_code": self.postal_code,
            "country": self.country,
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
        }


@dataclass(frozen=True)
class CustomerProfile:
    """A customer's whole story: what the five tabs of the profile screen show."""

    id: int
    kind: str  # CustomerKind
    name: str
    email: str
    phone: str
    company_name: str
    company_reg_no: str
    company_email: str
    vat_id: str
    payment_terms: str | None
    billing_group: str
    billing_contact: str
    storefront: str
    region: str
    country: str
    timezone: str
    registered_at: datetime
    account_state: str  # AccountState
    lifecycle_status: str  # LifecycleStatus
    current_plan: str
    next_renewal: datetime | None
    currency: str
    mrr_minor: int
    ltv_minor: int
    assigned_agent: str
    tags: tuple[str, ...]
    addresses: tuple[AddressDetail, ...]  # current first (default billing first), then history
    status_history: tuple[StateChangeView, ...]  # newest first
    usage: UsageView | None
    preferences: PreferencesView | None
    money: MoneyFacts
    subscriptions: tuple[SubscriptionDetail, ...]  # newest first
    orders: tuple[OrderView, ...]
    payments: tuple[PaymentView, ...]  # newest first
    activity: tuple[ActivityView, ...]  # newest first
    notes: tuple[NoteView, ...]  # newest first
    external_ids: tuple[tuple[str, str], ...]  # (provider, id)
    # Optimistic concurrency: an edit states the version it was made on.
    version: int
    updated_at: datetime
    updated_by: str
    pending_actions: tuple[PendingActionView, ...] = ()  # oldest first
    escalation: str = ""  # the open escalation, said in one line ("" when none)
    segments: tuple[str, ...] = ()  # segment names, for the badge
    tickets: tuple[TicketView, ...] = ()  # newest first
    viewers: tuple[tuple[str, datetime], ...] = ()  # who viewed it last (login, when), newest first
    # Two-person approvals asked about this customer, one line each, newest first.
    requests: tuple[str, ...] = ()
    pending_requests: tuple[str, ...] = ()  # those still waiting for a manager
    # Consent per purpose: (purpose, "granted 2026-03-01 (signup form)", "refused …", "not asked").
    consent: tuple[tuple[str, str], ...] = ()
    erased_at: datetime | None = None  # personal data erased (right to erasure)

    @property
    def payments_count(self) -> int:
        return len(self.payments)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.kind,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "company": self.company_name,
            "company_id": self.company_reg_no,
            "company_email": self.company_email,
            "vat_id": self.vat_id,
            "payment_terms": self.payment_terms,
            "billing_group": self.billing_group,
            "billing_contact": self.billing_contact,
            "storefront": self.storefront,
            "region": self.region,
            "country": self.country,
            "timezone": self.timezone,
            "registered_at": _iso(self.registered_at),
            "account_state": self.account_state,
            "status_history": [change.as_json() for change in self.status_history],
            "status": self.lifecycle_status,
            "plan": self.current_plan,
            "next_renewal": _iso(self.next_renewal),
            "currency": self.currency,
            "mrr_minor": self.mrr_minor,
            "lifetime_value_minor": self.ltv_minor,
            "money": self.money.as_json(),
            "usage": self.usage.as_json() if self.usage else None,
            "preferences": self.preferences.as_json() if self.preferences else None,
            "assigned_agent": self.assigned_agent,
            "tags": list(self.tags),
            "addresses": [address.as_json() for address in self.addresses],
            "subscriptions": [sub.as_json() for sub in self.subscriptions],
            "orders": [order.as_json() for order in self.orders],
            "payments": [payment.as_json() for payment in self.payments],
            "payments_count": self.payments_count,
            "activity": [event.as_json() for event in self.activity],
            "notes": [note.as_json() for note in self.notes],
            "external_ids": [{"provider": p, "id": i} for p, i in self.external_ids],
            "version": self.version,
            "updated_at": _iso(self.updated_at),
            "updated_by": self.updated_by,
            "pending_actions": [action.as_json() for action in self.pending_actions],
            "escalation": self.escalation,
            "segments": list(self.segments),
            "tickets": [ticket.as_json() for ticket in self.tickets],
        }
