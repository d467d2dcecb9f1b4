"""Rows for tests, inserted with SQLAlchemy Core on any engine: short, explicit, no magic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_tui.models import tables as t

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def add_customer(connection: Connection, **values: Any) -> int:
    row: dict[str, Any] = {
        "kind": "individual",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "",
        "company_name": "",
        "company_reg_no": "",
        "company_email": "",
        "vat_id": "",
        "billing_group": "",
        "billing_contact": "",
        "storefront": "web",
        "region": "EU",
        "country": "GB",
        "timezone": "Europe/London",
        "registered_at": T0,
        "account_state": "active",
        "lifecycle_status": "active",
        "current_plan": "",
        "has_active_subscription": False,
        "currency": "USD",
        "mrr_minor": 0,
        "ltv_minor": 0,
        "version": 1,
        "updated_at": T0,
    }
    row.update(values)
    result = connection.execute(sa.insert(t.Customer.__table__).values(**row))  # type: ignore[attr-defined]
    return int(result.inserted_primary_key[0])


def add_plan(connection: Connection, code: str = "basic", **values: Any) -> int:
    row: dict[str, Any] = {
        "code": code,
        "name": code.title(),
        "kind": "service",
        "amount_minor": 1900,
        "currency": "USD",
        "cycle": "monthly",
        "usage_metric": "logins",
        "active": True,
    }
    row.update(values)
    result = connection.execute(sa.insert(t.Plan.__table__).values(**row))  # type: ignore[attr-defined]
    return int(result.inserted_primary_key[0])


def add_subscription(connection: Connection, customer_id: int, plan_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "plan_id": plan_id,
        "variant": "",
        "status": "active",
        "started_at": T0,
        "cancel_at_period_end": False,
        "amount_minor": 1900,
        "currency": "USD",
        "cycle": "monthly",
        "payment_method": "card",
        "provider": "stripe",
        "provider_id": "",
        "asset_serial": "",
        "version": 1,
    }
    row.update(values)
    result = connection.execute(sa.insert(t.Subscription.__table__).values(**row))  # type: ignore[attr-defined]
    return int(result.inserted_primary_key[0])


def _insert(connection: Connection, table: Any, row: dict[str, Any]) -> int:
    result = connection.execute(sa.insert(table.__table__).values(**row))
    return int(result.inserted_primary_key[0])


def add_agent(connection: Connection, username: str = "maria", **values: Any) -> int:
    row: dict[str, Any] = {
        "username": username,
        "display_name": username.title(),
        "role": "agent",
        "active": True,
        "readonly": False,
        "timezone": "UTC",
        "created_at": T0,
    }
    return _insert(connection, t.Agent, row | values)


def add_payment(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "amount_minor": 1900,
        "currency": "USD",
        "refunded_minor": 0,
        "status": "succeeded",
        "method": "card",
        "provider": "stripe",
        "created_at": T0,
    }
    return _insert(connection, t.Payment, row | values)


def add_refund(connection: Connection, payment_id: int, amount_minor: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "payment_id": payment_id,
        "amount_minor": amount_minor,
        "currency": "USD",
        "status": "succeeded",
        "reason": "goodwill",
        "created_at": T0,
    }
    return _insert(connection, t.Refund, row | values)


def add_invoice(connection: Connection, customer_id: int, number: str, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "number": number,
        "status": "open",
        "issued_at": T0,
        "total_minor": 10000,
        "currency": "USD",
    }
    return _insert(connection, t.Invoice, row | values)


def add_event(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "occurred_at": T0,
        "kind": "profile",
        "actor_type": "system",
        "summary": "Something happened",
        "details": {},
    }
    return _insert(connection, t.ActivityEvent, row | values)


def add_invoice_line(connection: Connection, invoice_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "invoice_id": invoice_id,
        "description": "Premium plan, one month",
        "quantity": 1,
        "unit_amount_minor": 10000,
        "amount_minor": 10000,
    }
    return _insert(connection, t.InvoiceLine, row | values)


def add_address(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "kind": "billing",
        "is_default": True,
        "line1": "12 Analytical Row",
        "city": "London",
        "postal_code": "N1 9GU",
        "country": "GB",
        "valid_from": T0,
    }
    return _insert(connection, t.Address, row | values)


# ----------------------------------------------- support workflow and merging (issue 5)


def add_order(connection: Connection, customer_id: int, number: str, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "number": number,
        "placed_at": T0,
        "status": "paid",
        "items": [],
        "total_minor": 30000,
        "currency": "USD",
    }
    return _insert(connection, t.Order, row | values)


def add_credit(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "amount_minor": 500,
        "currency": "USD",
        "reason": "goodwill",
        "created_at": T0,
    }
    return _insert(connection, t.Credit, row | values)


def add_note(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "type": "phone",
        "summary": "Called about the invoice",
        "body": "",
        "created_at": T0,
    }
    return _insert(connection, t.Note, row | values)


def add_tag(connection: Connection, customer_id: int, name: str, **values: Any) -> int:
    """Tag the customer with `name` (the tag is created if new); returns the tag's id."""
    tag = t.Tag.__table__  # type: ignore[attr-defined]
    tag_id = connection.execute(sa.select(tag.c.id).where(tag.c.name == name)).scalar()
    if tag_id is None:
        tag_id = _insert(connection, t.Tag, {"name": name})
    row: dict[str, Any] = {"customer_id": customer_id, "tag_id": tag_id, "added_at": T0}
    connection.execute(sa.insert(t.CustomerTag.__table__).values(**(row | values)))  # type: ignore[attr-defined]
    return int(tag_id)


def add_external_id(
    connection: Connection, customer_id: int, provider: str, external_id: str
) -> int:
    row = {"customer_id": customer_id, "provider": provider, "external_id": external_id}
    return _insert(connection, t.ExternalId, row)


def add_ticket(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "subject": "Cannot log in",
        "status": "open",
        "opened_at": T0,
    }
    return _insert(connection, t.Ticket, row | values)


def add_escalation(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "reason": "Threatens a chargeback",
        "status": "open",
        "raised_at": T0,
        "resolution": "",
    }
    return _insert(connection, t.Escalation, row | values)


def add_email(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "to_address": "ada@example.com",
        "subject": "Your invoice",
        "body": "Hello",
        "status": "sent",
        "created_at": T0,
        "sent_at": T0,
    }
    return _insert(connection, t.EmailMessage, row | values)


def add_intent(connection: Connection, customer_id: int, key: str, **values: Any) -> int:
    row: dict[str, Any] = {
        "idempotency_key": key,
        "customer_id": customer_id,
        "provider": "stripe",
        "action": "refund",
        "payload": {},
        "status": "succeeded",
        "result": {},
        "error": "",
        "created_at": T0,
    }
    return _insert(connection, t.ProviderIntent, row | values)


def add_consent(
    connection: Connection, customer_id: int, purpose: str, granted: bool, **values: Any
) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "purpose": purpose,
        "granted": granted,
        "source": "signup form",
        "recorded_at": T0,
    }
    return _insert(connection, t.Consent, row | values)


def add_preference(connection: Connection, customer_id: int, **values: Any) -> None:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "payment_method": "card",
        "billing_frequency": "monthly",
        "communication": "email",
    }
    connection.execute(sa.insert(t.Preference.__table__).values(**(row | values)))  # type: ignore[attr-defined]


def add_segment_member(connection: Connection, customer_id: int, code: str) -> int:
    """Put the customer in the segment `code` (created if new); returns the segment's id."""
    segment = t.Segment.__table__  # type: ignore[attr-defined]
    segment_id = connection.execute(sa.select(segment.c.id).where(segment.c.code == code)).scalar()
    if segment_id is None:
        segment_id = _insert(
            connection, t.Segment, {"code": code, "name": code.title(), "rule": {}}
        )
    connection.execute(
        sa.insert(t.CustomerSegment.__table__).values(  # type: ignore[attr-defined]
            customer_id=customer_id, segment_id=segment_id, computed_at=T0
        )
    )
    return int(segment_id)


def add_state_change(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "from_state": "active",
        "to_state": "blocked",
        "reason": "Suspected fraud",
        "changed_at": T0,
    }
    return _insert(connection, t.AccountStateChange, row | values)


def add_approval(connection: Connection, customer_id: int, agent_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "kind": "refund",
        "customer_id": customer_id,
        "payload": {},
        "reason": "Large refund",
        "status": "approved",
        "requested_by_agent_id": agent_id,
        "requested_at": T0,
        "expires_at": T0,
    }
    return _insert(connection, t.ApprovalRequest, row | values)


def add_deletion_request(connection: Connection, customer_id: int, **values: Any) -> int:
    row: dict[str, Any] = {"customer_id": customer_id, "status": "rejected", "requested_at": T0}
    return _insert(connection, t.DeletionRequest, row | values)


# ------------------------------------------------------------------- segments (issue 5)


def add_usage(
    connection: Connection,
    subscription_id: int,
    period_start: Any,  # a date: the first day of the month
    quantity: int,
    metric: str = "logins",
) -> int:
    """One month's usage of a subscription."""
    row: dict[str, Any] = {
        "subscription_id": subscription_id,
        "period_start": period_start,
        "metric": metric,
        "quantity": quantity,
    }
    return _insert(connection, t.Usage, row)
