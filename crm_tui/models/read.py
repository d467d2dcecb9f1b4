"""Plain read models that services hand out: frozen, detached from any session.

Widgets and screens receive these, never ORM objects. No imports of SQLModel here:
the directory's read path stays light (see services/directory.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DirectoryRow:
    """One customer as the directory lists it."""

    id: int
    name: str
    email: str
    status: str  # LifecycleStatus
    plan: str
    mrr_minor: int
    currency: str
    registered_at: datetime
    storefront: str
    ltv_minor: int
    kind: str  # CustomerKind
    company_name: str
    account_state: str  # AccountState
    # The keyset position of this row in the order it was fetched in: (sort value, id).
    sort_key: tuple[Any, int] = (None, 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "type": self.kind,
            "company": self.company_name,
            "status": self.status,
            "account_state": self.account_state,
            "plan": self.plan,
            "currency": self.currency,
            "mrr_minor": self.mrr_minor,
            "lifetime_value_minor": self.ltv_minor,
            "registered_at": self.registered_at.isoformat(),
            "storefront": self.storefront,
        }


@dataclass(frozen=True)
class AddressView:
    kind: str  # AddressKind
    is_default: bool
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str
    current: bool  # False: replaced, kept as history

    def one_line(self) -> str:
        parts = (self.line1, self.line2, self.city, self.state, self.postal_code, self.country)
        return ", ".join(part for part in parts if part)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "default": self.is_default,
            "current": self.current,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "state": self.state,
            "postal_code": self.postal_code,
            "country": self.country,
        }


@dataclass(frozen=True)
class SubscriptionView:
    id: int
    plan: str
    status: str  # SubscriptionStatus
    amount_minor: int
    currency: str
    cycle: str  # BillingCycle
    started_at: datetime
    renews_at: datetime | None
    provider: str
    provider_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan,
            "status": self.status,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "cycle": self.cycle,
            "started_at": self.started_at.isoformat(),
            "renews_at": self.renews_at.isoformat() if self.renews_at else None,
            "provider": self.provider,
            "provider_id": self.provider_id,
        }


@dataclass(frozen=True)
class CustomerProfile:
    """A customer's Overview: who they are, what they pay, their state."""

    id: int
    kind: str  # CustomerKind
    name: str
    email: str
    phone: str
    company_name: str
    company_reg_no: str
    vat_id: str
    payment_terms: str | None
    billing_group: str
    billing_contact: str
    storefront: str
    region: str
    country: str
    registered_at: datetime
    account_state: str  # AccountState
    lifecycle_status: str  # LifecycleStatus
    current_plan: str
    currency: str
    mrr_minor: int
    ltv_minor: int
    assigned_agent: str
    tags: tuple[str, ...]
    addresses: tuple[AddressView, ...]
    subscriptions: tuple[SubscriptionView, ...]
    external_ids: tuple[tuple[str, str], ...]  # (provider, id)
    payments_count: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.kind,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "company": self.company_name,
            "company_id": self.company_reg_no,
            "vat_id": self.vat_id,
            "payment_terms": self.payment_terms,
            "billing_group": self.billing_group,
            "billing_contact": self.billing_contact,
            "storefront": self.storefront,
            "region": self.region,
            "country": self.country,
            "registered_at": self.registered_at.isoformat(),
            "account_state": self.account_state,
            "status": self.lifecycle_status,
            "plan": self.current_plan,
            "currency": self.currency,
            "mrr_minor": self.mrr_minor,
            "lifetime_value_minor": self.ltv_minor,
            "assigned_agent": self.assigned_agent,
            "tags": list(self.tags),
            "addresses": [address.as_json() for address in self.addresses],
            "subscriptions": [sub.as_json() for sub in self.subscriptions],
            "external_ids": [{"provider": p, "id": i} for p, i in self.external_ids],
            "payments_count": self.payments_count,
        }
