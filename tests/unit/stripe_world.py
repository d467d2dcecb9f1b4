"""A small business at localstripe, synced into the store: the `world` the Stripe
tests act on (a fixture, shared through tests/unit/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables
from crm_tui.services.account_actions import AccountActions
from crm_tui.services.actor import Actor
from crm_tui.services.providers.offline import OfflineProvider
from crm_tui.services.providers.stripe import StripeProvider
from crm_tui.services.refunds import RefundService
from crm_tui.services.stripe_sync import StripeSync
from tests.support.localstripe_server import LocalStripe

AGENT = Actor.agent("ana", agent_id=None, display_name="Ana")


@dataclass
class World:
    stripe: LocalStripe
    provider: StripeProvider
    engine: Engine
    ann: str  # Stripe customer on basic, paid
    bob: str  # Stripe customer whose card is declined
    cara: str  # Stripe customer in trial

    def local(self, table: str, **where: Any) -> list[Any]:
        t = tables.SQLModel.metadata.tables[table]
        query = sa.select(t).where(*(t.c[name] == value for name, value in where.items()))
        query = query.order_by(next(iter(t.primary_key.columns)))
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def customer_id(self, stripe_id: str) -> int:
        (row,) = self.local("external_id", external_id=stripe_id)
        return int(row.customer_id)

    def subscription(self, stripe_customer: str) -> Any:
        (sub,) = self.local("subscription", customer_id=self.customer_id(stripe_customer))
        return sub

    def payment(self, stripe_customer: str, status: str = "succeeded") -> Any:
        rows = self.local("payment", customer_id=self.customer_id(stripe_customer), status=status)
        return rows[0]

    def actions(self) -> AccountActions:
        return AccountActions(self.engine, {"stripe": self.provider, "manual": OfflineProvider()})

    def refunds(self) -> RefundService:
        return RefundService(self.engine, {"stripe": self.provider})


@pytest.fixture
def world(localstripe: LocalStripe, engine: Engine) -> World:
    localstripe.plan("basic", 1000)
    localstripe.plan("pro", 3000)
    ann = localstripe.customer("Ann Archer", "ann@example.com")
    localstripe.subscribe(ann, "basic")
    bob = localstripe.customer("Bob Brown", "bob@example.com", card="pm_card_chargeCustomerFail")
    localstripe.subscribe(bob, "basic")
    cara = localstripe.customer("Cara Cole", "cara@example.com")
    localstripe.subscribe(cara, "basic", trial_days=14)
    provider = StripeProvider(localstripe.api_key, api_base=localstripe.url, timeout=5)
    StripeSync(engine, provider).run()
    return World(localstripe, provider, engine, ann, bob, cara)
