"""Named sets of customers that a queue or a directory filter can ask for.

A set is a name ("segment:at_risk", "failed_payments:7", "escalated", ...) that
turns into `customer.id IN (subquery)`, so the directory's search, filters,
sort, count and paging apply to it unchanged, through the indexes the
subqueries use, on a million customers. The directory keeps the names in
`DirectoryFilters.sets`; this module is the one place that knows what they mean.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm_tui.models import tables
from crm_tui.models.enums import EscalationStatus, IntentStatus, PaymentStatus, RefundStatus

_T = tables.SQLModel.metadata.tables
_payment, _intent, _refund = (
    _T["payment"],
    _T["provider_intent"],
    _T["refund"],
)
_note, _escalation, _segment, _member = (
    _T["note"],
    _T["escalation"],
    _T["segment"],
    _T["customer_segment"],
)

SEGMENT_NAMES = {
    "new": "New",
    "loyal": "Loyal",
    "at_risk": "At-risk",
    "high_value": "High-value",
    "churned": "Churned",
    "business": "Business",
}


class UnknownSet(ValueError):
    """A set name nobody defined (a typo in a saved queue, say)."""


def label(name: str) -> str:
    """A set's name as the status line shows it."""
    kind, _, argument = name.partition(":")
    if kind == "segment":
        return f"segment: {SEGMENT_NAMES.get(argument, argument)}"
    if kind == "failed_payments":
        return f"failed payments, {argument} days"
    return {
        "pending_refunds": "pending refunds",
        "follow_ups_due": "follow-ups due",
        "escalated": "escalated",
    }.get(kind, name)


def clause(
    name: str, customer_id: sa.ColumnElement[int], now: datetime | None = None
) -> sa.ColumnElement[bool]:
    """`customer_id IN (...)` for the set called `name` (`customer_id`: the customer
    id column of the caller's own FROM, e.g. the directory's)."""
    moment = now or datetime.now(UTC)
    kind, _, argument = name.partition(":")
    build = _BUILDERS.get(kind)
    if build is None:
        raise UnknownSet(f"no such set of customers: {name!r}")
    return customer_id.in_(build(argument, moment))


def validate(name: str) -> str:
    """The name, if it means something; else UnknownSet saying what would."""
    clause(name, sa.literal(0))
    return name


# ------------------------------------------------------------------------ sets


def _in_segment(code: str, now: datetime) -> sa.Select[tuple[int]]:
    if code not in SEGMENT_NAMES:
        raise UnknownSet(f"no segment {code!r}: use one of {', '.join(SEGMENT_NAMES)}")
    return (
        sa.select(_member.c.customer_id)
        .join(_segment, _segment.c.id == _member.c.segment_id)
        .where(_segment.c.code == code)
    )


def _failed_payments(days: str, now: datetime) -> sa.Select[tuple[int]]:
    """A payment failed in the last N days (7: "failed payments this week")."""
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        raise UnknownSet("failed_payments needs a number of days, like failed_payments:7")
    return sa.select(_payment.c.customer_id).where(
        _payment.c.status == PaymentStatus.FAILED.value,
        _payment.c.created_at >= now - timedelta(days=int(days)),
    )


def _pending_refunds(_: str, now: datetime) -> Any:
    """A refund asked for and not yet settled: an intent waiting for the provider,
    or a refund the provider accepted but has not completed."""
    return sa.union(
        sa.select(_intent.c.customer_id).where(
            _intent.c.action == "refund", _intent.c.status == IntentStatus.PENDING.value
        ),
        sa.select(_payment.c.customer_id)
        .join(_refund, _refund.c.payment_id == _payment.c.id)
        .where(_refund.c.status == RefundStatus.PENDING.value),
    )


def _follow_ups_due(_: str, now: datetime) -> sa.Select[tuple[int]]:
    """A note's follow-up date has come, and nobody has written a note since then
    (a newer note is how an agent says the follow-up was done)."""
    later = _note.alias("later")
    today: date = now.date()
    return sa.select(_note.c.customer_id).where(
        _note.c.follow_up_on.is_not(None),
        _note.c.follow_up_on <= today,
        ~sa.exists().where(
            later.c.customer_id == _note.c.customer_id,
            sa.func.date(later.c.created_at) >= _note.c.follow_up_on,
        ),
    )


def _escalated(_: str, now: datetime) -> sa.Select[tuple[int]]:
    return sa.select(_escalation.c.customer_id).where(
        _escalation.c.status == EscalationStatus.OPEN.value
    )


_BUILDERS: dict[str, Callable[[str, datetime], Any]] = {
    "segment": _in_segment,
    "failed_payments": _failed_payments,
    "pending_refunds": _pending_refunds,
    "follow_ups_due": _follow_ups_due,
    "escalated": _escalated,
}
