"""SQLModel tables for the whole domain of DESIGN.md.

Conventions:
- Money is an integer count of minor units (`*_minor`) beside an ISO 4217 code.
- Datetimes are timezone-aware and stored in UTC (SQLModel's UTCDateTime refuses naive
  ones); the UI converts them to the agent's timezone.
- Enumerations are stored as their string values (see `enums.py`).
- `customer` carries a few summary columns (lifecycle status, current plan, MRR,
  lifetime value) kept up to date by the service layer: the directory sorts and
  filters a million customers on them through indexes, which a join cannot do.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm_tui.models.enums import (
    AccountState,
    ActorType,
    CustomerKind,
    LifecycleStatus,
)


def _nocase_text() -> sa.types.TypeEngine[str]:
    """Text compared case-insensitively on SQLite (where `LIKE 'x%'` then uses the index)."""
    return sa.String().with_variant(sa.String(collation="NOCASE"), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON()


# --------------------------------------------------------------------------- people


class Agent(SQLModel, table=True):
    """A person who uses the tool; identified by their operating-system login."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True)
    display_name: str
    role: str = Field(default="agent")  # AgentRole
    active: bool = Field(default=True)
    readonly: bool = Field(default=False)
    timezone: str = Field(default="UTC")
    created_at: datetime


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=CustomerKind.INDIVIDUAL.value)  # CustomerKind
    name: str = Field(sa_type=_nocase_text())
    email: str = Field(sa_type=_nocase_text())
    phone: str = Field(default="")
    # Business customers
    company_name: str = Field(default="", sa_type=_nocase_text())
    company_reg_no: str = Field(default="")
    company_email: str = Field(default="")
    vat_id: str = Field(default="")
    payment_terms: str | None = Field(default=None)  # PaymentTerms
    billing_group: str = Field(default="")
    billing_contact: str = Field(default="")
    # Where they came from
    storefront: str = Field(default="")
    region: str = Field(default="")
    country: str = Field(default="")  # ISO 3166-1 alpha-2
    timezone: str = Field(default="UTC")
    registered_at: datetime
    # Set by agents
    account_state: str = Field(default=AccountState.ACTIVE.value)  # AccountState
    assigned_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    # Summary, maintained by services.customer_summary
    lifecycle_status: str = Field(default=LifecycleStatus.INACTIVE.value)
    current_plan: str = Field(default="")
    has_active_subscription: bool = Field(default=False)
    currency: str = Field(default="USD")
    mrr_minor: int = Field(default=0)
    ltv_minor: int = Field(default=0)
    # Optimistic concurrency: every write bumps `version`; a stale save is refused.
    version: int = Field(default=1)
    updated_at: datetime
    updated_by_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    # Erased under a deletion request: personal fields are anonymised.
    erased_at: datetime | None = Field(default=None)


class AccountStateChange(SQLModel, table=True):
    __tablename__ = "account_state_change"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    from_state: str
    to_state: str
    reason: str
    changed_at: datetime
    agent_id: int | None = Field(default=None, foreign_key="agent.id")


class Address(SQLModel, table=True):
    """A postal address. Edits add a new row and close the old one, so history is kept."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    kind: str  # AddressKind
    is_default: bool = Field(default=False)
    line1: str
    line2: str = Field(default="")
    city: str = Field(default="")
    state: str = Field(default="")
    postal_code: str = Field(default="")
    country: str = Field(default="")
    valid_from: datetime
    valid_to: datetime | None = Field(default=None)  # set when replaced


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, sa_type=_nocase_text())


class CustomerTag(SQLModel, table=True):
    __tablename__ = "customer_tag"
    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    tag_id: int = Field(foreign_key="tag.id", primary_key=True, index=True)
    added_at: datetime
    added_by_agent_id: int | None = Field(default=None, foreign_key="agent.id")


class Consent(SQLModel, table=True):
    """One row per change: the newest row per purpose is the current consent."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    purpose: str  # ConsentPurpose
    granted: bool
    source: str = Field(default="")  # e.g. "signup form", "agent", "email link"
    recorded_at: datetime


class Preference(SQLModel, table=True):
    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    contract_length_months: int | None = Field(default=None)
    payment_method: str = Field(default="")  # PaymentMethod
    billing_frequency: str = Field(default="")  # BillingCycle
    communication: str = Field(default="email")  # email, phone, post, none


class ExternalId(SQLModel, table=True):
    """A customer's id at a provider (Stripe `cus_...`, PayPal payer id)."""

    __tablename__ = "external_id"
    __table_args__ = (sa.UniqueConstraint("provider", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    provider: str  # Provider
    external_id: str


class MergedCustomer(SQLModel, table=True):
    """A customer merged away into a survivor; searches for the old id find the survivor."""

    __tablename__ = "merged_customer"
    old_customer_id: int = Field(primary_key=True)
    survivor_id: int = Field(foreign_key="customer.id", index=True)
    merged_at: datetime
    agent_id: int | None = Field(default=None, foreign_key="agent.id")


# ----------------------------------------------------------------- plans and billing


class Plan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    kind: str = Field(default="service")  # PlanKind
    amount_minor: int
    currency: str
    cycle: str  # BillingCycle
    usage_metric: str = Field(default="logins")  # logins, api_calls, seats, devices
    asset_cost_minor: int | None = Field(default=None)  # hardware plans
    active: bool = Field(default=True)


class Subscription(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    variant: str = Field(default="")
    status: str  # SubscriptionStatus
    started_at: datetime
    trial_end: datetime | None = Field(default=None)
    current_period_end: datetime | None = Field(default=None)  # renewal / next payment
    cancel_at_period_end: bool = Field(default=False)
    cancelled_at: datetime | None = Field(default=None)
    ended_at: datetime | None = Field(default=None)
    paused_until: datetime | None = Field(default=None)
    amount_minor: int
    currency: str
    cycle: str  # BillingCycle
    payment_method: str = Field(default="")
    contract_end: date | None = Field(default=None)
    provider: str = Field(default="manual")
    provider_id: str = Field(default="", index=True)
    asset_serial: str = Field(default="")
    asset_cost_minor: int | None = Field(default=None)
    version: int = Field(default=1)


class Usage(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("subscription_id", "period_start", "metric"),)
    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    period_start: date  # first day of the month
    metric: str
    quantity: int


class Order(SQLModel, table=True):
    __tablename__ = "customer_order"  # "order" is an SQL keyword
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    number: str = Field(unique=True)
    placed_at: datetime
    status: str  # OrderStatus
    items: list[dict[str, Any]] = Field(default_factory=list, sa_type=_json())
    total_minor: int
    currency: str


class Invoice(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    subscription_id: int | None = Field(default=None, foreign_key="subscription.id")
    order_id: int | None = Field(default=None, foreign_key="customer_order.id")
    number: str = Field(unique=True)
    status: str  # InvoiceStatus
    issued_at: datetime
    due_at: datetime | None = Field(default=None)
    total_minor: int
    currency: str
    provider: str = Field(default="manual")
    provider_id: str = Field(default="")


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_line"
    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    description: str
    quantity: int = Field(default=1)
    unit_amount_minor: int
    amount_minor: int


class Payment(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_payment_customer_created", "customer_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    subscription_id: int | None = Field(default=None, foreign_key="subscription.id")
    order_id: int | None = Field(default=None, foreign_key="customer_order.id")
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    amount_minor: int
    currency: str
    refunded_minor: int = Field(default=0)
    status: str  # PaymentStatus
    method: str  # PaymentMethod
    provider: str  # Provider
    provider_id: str = Field(default="", index=True)
    failure_reason: str = Field(default="")
    description: str = Field(default="")
    affiliate: str = Field(default="")
    commission_minor: int = Field(default=0)
    created_at: datetime


class Refund(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    amount_minor: int
    currency: str
    status: str  # RefundStatus
    reason: str
    provider_id: str = Field(default="")
    created_at: datetime
    agent_id: int | None = Field(default=None, foreign_key="agent.id")


class Credit(SQLModel, table=True):
    """Account credit: positive when granted, negative when consumed."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    amount_minor: int
    currency: str
    reason: str
    created_at: datetime
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    provider_id: str = Field(default="")


class ProviderIntent(SQLModel, table=True):
    """A money-moving provider call, stored with its idempotency key before it is made."""

    __tablename__ = "provider_intent"
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    provider: str
    action: str  # refund, retry, credit, pause, cancel, change_plan, ...
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    status: str = Field(default="pending", index=True)  # IntentStatus
    result: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    error: str = Field(default="")
    created_at: datetime
    settled_at: datetime | None = Field(default=None)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")


class SyncState(SQLModel, table=True):
    """Where the last `crm-tui sync PROVIDER` got to: incremental runs start there."""

    __tablename__ = "sync_state"
    provider: str = Field(primary_key=True)
    cursor: int = Field(default=0)  # the provider's clock (Stripe: event `created`, seconds)
    last_run_at: datetime


# ------------------------------------------------------------- history and support


class ActivityEvent(SQLModel, table=True):
    __tablename__ = "activity_event"
    __table_args__ = (sa.Index("ix_activity_customer_occurred", "customer_id", "occurred_at"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    occurred_at: datetime
    kind: str  # ActivityKind
    actor_type: str = Field(default=ActorType.SYSTEM.value)  # ActorType
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    summary: str
    details: dict[str, Any] = Field(default_factory=dict, sa_type=_json())


class Note(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    type: str  # NoteType
    summary: str
    body: str = Field(default="")
    follow_up_on: date | None = Field(default=None, index=True)
    created_at: datetime
    agent_id: int | None = Field(default=None, foreign_key="agent.id")


class Ticket(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    subject: str
    status: str  # TicketStatus
    opened_at: datetime
    closed_at: datetime | None = Field(default=None)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")


class Escalation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    reason: str
    status: str = Field(default="open", index=True)  # EscalationStatus
    raised_at: datetime
    raised_by_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    resolved_at: datetime | None = Field(default=None)
    resolved_by_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    resolution: str = Field(default="")


class EmailMessage(SQLModel, table=True):
    """An email sent (or to be sent) to a customer: resends, links, campaigns."""

    __tablename__ = "email_message"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    campaign_id: str = Field(default="", index=True)
    template: str = Field(default="")
    to_address: str
    subject: str
    body: str
    status: str = Field(default="queued")  # EmailStatus
    error: str = Field(default="")
    created_at: datetime
    sent_at: datetime | None = Field(default=None)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")


# ------------------------------------------------------------ segments and queues


class Segment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)  # new, loyal, at_risk, high_value, churned, business
    name: str
    rule: dict[str, Any] = Field(default_factory=dict, sa_type=_json())


class CustomerSegment(SQLModel, table=True):
    __tablename__ = "customer_segment"
    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    segment_id: int = Field(foreign_key="segment.id", primary_key=True, index=True)
    computed_at: datetime


class SavedQueue(SQLModel, table=True):
    __tablename__ = "saved_queue"
    __table_args__ = (sa.UniqueConstraint("owner_agent_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str
    owner_agent_id: int | None = Field(default=None, foreign_key="agent.id")  # None: built in
    search: str = Field(default="")
    filters: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    sort_column: str = Field(default="name")
    sort_descending: bool = Field(default=False)
    created_at: datetime


# ------------------------------------------------------- governance and privacy


class ApprovalRequest(SQLModel, table=True):
    """A two-person approval: large refunds, deletions, merges, bulk cancellations."""

    __tablename__ = "approval_request"
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # refund, deletion, merge, bulk_cancel
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    reason: str
    status: str = Field(default="pending", index=True)  # RequestStatus
    requested_by_agent_id: int = Field(foreign_key="agent.id")
    requested_at: datetime
    expires_at: datetime
    decided_by_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    decided_at: datetime | None = Field(default=None)
    decision_reason: str = Field(default="")


class DeletionRequest(SQLModel, table=True):
    __tablename__ = "deletion_request"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    approval_id: int | None = Field(default=None, foreign_key="approval_request.id")
    status: str = Field(default="pending")  # RequestStatus
    requested_at: datetime
    executed_at: datetime | None = Field(default=None)
    delete_at_provider: bool = Field(default=False)


class AuditEntry(SQLModel, table=True):
    """Append-only and hash-chained: each entry's hash covers the previous one's."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: datetime
    agent_username: str = Field(index=True)
    action: str
    customer_id: int | None = Field(default=None, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    before: dict[str, Any] | None = Field(default=None, sa_type=_json())
    after: dict[str, Any] | None = Field(default=None, sa_type=_json())
    # The chain covers a salted digest of details/before/after, not the content
    # itself: erasing a customer blanks the content (and salt) and the chain holds.
    content_salt: str = Field(default="", sa_column_kwargs={"server_default": ""})
    content_digest: str = Field(default="", sa_column_kwargs={"server_default": ""})
    redacted: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    prev_hash: str
    hash: str


# The indexes the directory pages, sorts and prefix-searches on. Each sortable
# column is indexed together with `id`, the tie-breaker of keyset paging.
DIRECTORY_SORT_INDEXES = {
    "name": ("name", "id"),
    "email": ("email", "id"),
    "status": ("lifecycle_status", "id"),
    "plan": ("current_plan", "id"),
    "mrr": ("mrr_minor", "id"),
    "since": ("registered_at", "id"),
    "storefront": ("storefront", "id"),
    "ltv": ("ltv_minor", "id"),
}

for _key, _columns in DIRECTORY_SORT_INDEXES.items():
    sa.Index(f"ix_customer_sort_{_key}", *(Customer.__table__.c[c] for c in _columns))  # type: ignore[attr-defined]
# Prefix search on company names, and the directory's filter choices (distinct values).
for _column in ("company_name", "region", "billing_group"):
    sa.Index(f"ix_customer_{_column}", Customer.__table__.c[_column])  # type: ignore[attr-defined]
