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
