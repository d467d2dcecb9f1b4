"""The summary columns a customer row carries for the directory, and how they derive.

The directory sorts and filters a million customers by status, plan, MRR and
lifetime value through indexes, so these are stored on `customer` and recomputed
here whenever subscriptions or payments change. The rules are pure functions of
the customer's subscriptions and payments, shared by the seeder and the services.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_tui.models import tables
from crm_tui.models.enums import (
    CYCLE_MONTHS,
    LIVE_SUBSCRIPTION_STATUSES,
    BillingCycle,
    LifecycleStatus,
    PaymentStatus,
    SubscriptionStatus,
)
from crm_tui.services.segments import refresh_customer

# Statuses in which a subscription bills now and so counts towards MRR.
BILLING_STATUSES = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.GRACE})
# Statuses that make "has an active subscription" true (a paused one does not).
ACTIVE_STATUSES = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIAL, SubscriptionStatus.GRACE}
)
# Payments whose money was collected (some of it may since have been refunded).
COLLECTED_STATUSES = frozenset(
    {PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED}
)


@dataclass(frozen=True)
class SubscriptionFacts:
    status: str
    plan_name: str
    amount_minor: int
    cycle: str
    started_at: datetime


@dataclass(frozen=True)
class PaymentFacts:
    status: str
    amount_minor: int
    refunded_minor: int


@dataclass(frozen=True)
class CustomerSummary:
    lifecycle_status: LifecycleStatus
    current_plan: str
    has_active_subscription: bool
    mrr_minor: int
    ltv_minor: int


def monthly_amount(amount_minor: int, cycle: str) -> int:
    """A cycle's amount normalised to one month, rounded half up to a minor unit."""
    months = CYCLE_MONTHS[BillingCycle(cycle)]
    return (amount_minor * 2 + months) // (2 * months)


def lifetime_value(payments: Iterable[PaymentFacts]) -> int:
    """Total collected minus refunds (DESIGN.md), in minor units."""
    return sum(
        p.amount_minor - p.refunded_minor for p in payments if p.status in COLLECTED_STATUSES
    )


def summarise(
    subscriptions: Iterable[SubscriptionFacts], payments: Iterable[PaymentFacts]
) -> CustomerSummary:
    subs = list(subscriptions)
    live = sorted(
        (s for s in subs if s.status in LIVE_SUBSCRIPTION_STATUSES),
        key=lambda s: s.started_at,
        reverse=True,
    )
    if live:
        lifecycle = LifecycleStatus.ACTIVE
    elif subs:
        lifecycle = LifecycleStatus.CHURNED
    else:
        lifecycle = LifecycleStatus.INACTIVE
    return CustomerSummary(
        lifecycle_status=lifecycle,
        current_plan=live[0].plan_name if live else "",
        has_active_subscription=any(s.status in ACTIVE_STATUSES for s in subs),
        mrr_minor=sum(
            monthly_amount(s.amount_minor, s.cycle) for s in subs if s.status in BILLING_STATUSES
        ),
        ltv_minor=lifetime_value(payments),
    )


def refresh_summary(connection: Connection, customer_id: int) -> CustomerSummary:
    """Recompute and store one customer's summary columns from their rows.

    Called in the transaction of every change to subscriptions or payments. The
    customer's `version` is not bumped: nothing an agent edits has changed. Their
    segments are refreshed too (services/segments.py `refresh_customer`).
    """
    meta = tables.SQLModel.metadata.tables
    sub, plan, pay, cust = meta["subscription"], meta["plan"], meta["payment"], meta["customer"]
    subs = [
        SubscriptionFacts(r.status, r.name, r.amount_minor, r.cycle, r.started_at)
        for r in connection.execute(
            sa.select(sub.c.status, plan.c.name, sub.c.amount_minor, sub.c.cycle, sub.c.started_at)
            .join(plan, plan.c.id == sub.c.plan_id)
            .where(sub.c.customer_id == customer_id)
        )
    ]
    payments = [
        PaymentFacts(r.status, r.amount_minor, r.refunded_minor)
        for r in connection.execute(
            sa.select(pay.c.status, pay.c.amount_minor, pay.c.refunded_minor).where(
                pay.c.customer_id == customer_id
            )
        )
    ]
    summary = summarise(subs, payments)
    connection.execute(
        sa.update(cust)
        .where(cust.c.id == customer_id)
        .values(
            lifecycle_status=summary.lifecycle_status.value,
            current_plan=summary.current_plan,
            has_active_subscription=summary.has_active_subscription,
            mrr_minor=summary.mrr_minor,
            ltv_minor=summary.ltv_minor,
        )
    )
    # The customer's segments follow (a no-op until segments were first computed).
    refresh_customer(connection, customer_id, datetime.now(UTC))
    return summary
