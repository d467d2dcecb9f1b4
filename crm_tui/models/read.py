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
