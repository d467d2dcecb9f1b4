"""`crm-tui sync stripe` against localstripe holding 1,000 customers."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables
from crm_tui.services.providers.stripe import StripeProvider
from crm_tui.services.stripe_sync import StripeSync
from tests.support.localstripe_server import LocalStripe, _subscription_create

_T = tables.SQLModel.metadata.tables
CUSTOMERS = 1_000


def _seed(localstripe: LocalStripe) -> dict[str, int]:
    """1,000 customers at "Stripe": every 10th card is declined, every 7th paid charge is
    partly refunded. Built in the server's own loop (fast: no HTTP per object)."""
    localstripe.plan("basic", 1000)
    localstripe.plan("pro-yearly", 30000, interval="year")

    def build() -> dict[str, int]:
        from localstripe.resources import Customer, PaymentMethod, Refund, store

        counts = {"failed": 0, "refunds": 0}
        for n in range(CUSTOMERS):
            customer = Customer(name=f"Customer {n:04d}", email=f"c{n:04d}@example.com")
            card = "pm_card_chargeCustomerFail" if n % 10 == 0 else "pm_card_visa"
            PaymentMethod._api_attach(card, customer=customer.id)
            pm = next(
                v
                for k, v in reversed(store.items())
                if k.startswith("payment_method:") and v.customer == customer.id
            )
            customer.invoice_settings = {"default_payment_method": pm.id}
            plan = "pro-yearly" if n % 3 == 0 else "basic"
            _subscription_create({"customer": customer.id, "items": [{"plan": plan}]})
            counts["failed"] += n % 10 == 0
            if n % 7 == 0 and n % 10:
                charge = next(
                    v
                    for k, v in store.items()
                    if k.startswith("charge:") and v.customer == customer.id
                )
                Refund(charge=charge.id, amount=100)
                counts["refunds"] += 1
        counts["charges"] = sum(1 for k in store if k.startswith("charge:"))
        return counts

    return dict(localstripe.run(build))


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(_T[table])
        return int(connection.execute(query).scalar_one())


def test_sync_of_a_thousand_customers_then_nothing_then_only_what_is_new(
    localstripe: LocalStripe, engine: Engine
) -> None:
    seeded = _seed(localstripe)
    provider = StripeProvider(localstripe.api_key, api_base=localstripe.url, timeout=30)
    stages: list[str] = []
    report = StripeSync(engine, provider).run(
        progress=lambda stage, done, total: stages.append(stage)
    )
    assert report.created["customers"] == CUSTOMERS
    assert _count(engine, "customer") == CUSTOMERS
    assert _count(engine, "subscription") == CUSTOMERS
    assert _count(engine, "payment") == seeded["charges"]
    assert _count(engine, "refund") == seeded["refunds"]
    assert "customers" in stages  # progress was reported
    with engine.connect() as connection:
        statuses = dict(
            connection.execute(
                sa.select(_T["payment"].c.status, sa.func.count()).group_by(_T["payment"].c.status)
            ).all()
        )
        yearly = connection.execute(
            sa.select(_T["customer"].c.mrr_minor).where(_T["customer"].c.name == "Customer 0003")
        ).scalar_one()
    assert statuses["failed"] == seeded["failed"]
    assert statuses["partially_refunded"] == seeded["refunds"]
    assert yearly == 2500  # $300 a year is $25 a month

    again = StripeSync(engine, provider).run(full=True)
    assert not again.changed, again.lines()

    # Incremental: only what Stripe's events say changed since the last run.
    time.sleep(1.1)
    newcomer = localstripe.customer("Newcomer", "new@example.com")
    localstripe.subscribe(newcomer, "basic")
    incremental = StripeSync(engine, provider).run()
    assert incremental.incremental
    assert incremental.customers_seen == 1
    assert incremental.created["customers"] == 1
    assert _count(engine, "customer") == CUSTOMERS + 1
