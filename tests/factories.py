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
