"""PayPal end to end: `crm-tui sync paypal` and the money and subscription actions,
against the stateful PayPal server of tests/support/paypal_fake.py, over HTTP.

Each test builds a small business at "PayPal", imports it with `PayPalSync`, acts
through the services, and asserts both sides: what PayPal holds and what the
local store holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.cli import main
from crm_tui.models import tables
from crm_tui.services.account_actions import AccountActions, ActionFailed
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.paypal_sync import PayPalSync
from crm_tui.services.providers.paypal import PayPalProvider
from crm_tui.services.refunds import RefundFailed, RefundService
from tests.support.paypal_fake import Payer, PayPalFake

AGENT = Actor.agent("ana", agent_id=None, display_name="Ana")
ANN = Payer("Ann", "Archer", "ann@example.com", "PAYERANN0001")
BEN = Payer("Ben", "Bright", "ben@example.com", "PAYERBEN0002")
CAT = Payer("Cat", "Cole", "cat@example.com", "PAYERCAT0003")


@dataclass
class World:
    paypal: PayPalFake
    provider: PayPalProvider
    engine: Engine
    ann_sub: str  # Ann: active on Basic, paid twice
    ben_capture: str  # Ben: one checkout payment, no subscription
    cat_sub: str  # Cat: on Pro, her last payment failed and is still owed

    def sync(self, *, full: bool = False) -> Any:
        return PayPalSync(self.engine, self.provider).run(full=full)

    def local(self, table: str, **where: Any) -> list[Any]:
        t = tables.SQLModel.metadata.tables[table]
        query = sa.select(t).where(*(t.c[name] == value for name, value in where.items()))
        query = query.order_by(next(iter(t.primary_key.columns)))
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def customer(self, payer: Payer) -> Any:
        (link,) = self.local("external_id", provider="paypal", external_id=payer.payer_id)
        (row,) = self.local("customer", id=link.customer_id)
        return row

    def subscription(self, paypal_id: str) -> Any:
        (row,) = self.local("subscription", provider="paypal", provider_id=paypal_id)
        return row

    def payment(self, paypal_id: str) -> Any:
        (row,) = self.local("payment", provider="paypal", provider_id=paypal_id)
        return row

    def actions(self) -> AccountActions:
        return AccountActions(self.engine, {"paypal": self.provider})

    def refunds(self) -> RefundService:
        return RefundService(self.engine, {"paypal": self.provider})


@pytest.fixture
def world(paypal_fake: PayPalFake, engine: Engine) -> Iterator[World]:
    paypal_fake.add_plan("P-BASIC", "Basic", 1000)
    paypal_fake.add_plan("P-PRO", "Pro", 3000)
    ann_sub = paypal_fake.add_subscription("P-BASIC", subscriber=ANN)
    paypal_fake.pay_subscription(ann_sub, 1000, datetime.now(UTC) - timedelta(days=35))
    paypal_fake.pay_subscription(ann_sub, 1000, datetime.now(UTC) - timedelta(days=5))
    ben_capture = paypal_fake.add_capture(2500, payer=BEN)
    cat_sub = paypal_fake.add_subscription(
        "P-PRO", subscriber=CAT, outstanding_minor=3000, failed_payments_count=1
    )
    paypal_fake.pay_subscription(cat_sub, 3000, datetime.now(UTC) - timedelta(days=33))
    provider = PayPalProvider(paypal_fake.url, paypal_fake.client_id, paypal_fake.client_secret)
    built = World(paypal_fake, provider, engine, ann_sub, ben_capture, cat_sub)
    built.sync()
    yield built
    provider.close()


# ---------------------------------------------------------------------------- sync


def test_sync_imports_customers_plans_subscriptions_and_payments(world: World) -> None:
    ann = world.customer(ANN)
    assert (ann.name, ann.email, ann.currency, ann.current_plan) == (
        "Ann Archer",
        "ann@example.com",
        "USD",
        "Basic",
    )
    assert ann.ltv_minor == 2000
    sub = world.subscription(world.ann_sub)
    assert (sub.status, sub.amount_minor, sub.cycle, sub.payment_method) == (
        "active",
        1000,
        "monthly",
        "paypal",
    )
    payments = world.local("payment", customer_id=ann.id)
    assert [(p.amount_minor, p.status, p.subscription_id) for p in payments] == [
        (1000, "succeeded", sub.id),
        (1000, "succeeded", sub.id),
    ]
    ben = world.customer(BEN)
    assert world.payment(world.ben_capture).customer_id == ben.id
    assert world.local("subscription", customer_id=ben.id) == []
    (plan,) = world.local("plan", code="P-PRO")
    assert (plan.name, plan.amount_minor) == ("Pro", 3000)
    activity = world.local("activity_event", customer_id=ann.id)
    assert [a.summary for a in activity][-1].startswith("Synced from PayPal")


def test_a_failed_subscription_payment_is_imported_with_its_reason(world: World) -> None:
    cat = world.customer(CAT)
    sub = world.subscription(world.cat_sub)
    assert sub.status == "grace"  # active at PayPal, but its last payment failed
    (failed,) = world.local("payment", customer_id=cat.id, status="failed")
    assert (failed.amount_minor, failed.subscription_id) == (3000, sub.id)
    assert failed.failure_reason == "PayPal denied the payment"


def test_second_sync_changes_nothing(world: World) -> None:
    full = world.sync(full=True)
    assert not full.changed, full.lines()
    incremental = world.sync()
    assert incremental.incremental and not incremental.changed, incremental.lines()
    assert incremental.lines()[-1].endswith("nothing changed")


def test_incremental_sync_brings_what_is_new(world: World) -> None:
    new = world.paypal.pay_subscription(world.ann_sub, 1000, datetime.now(UTC) - timedelta(hours=1))
    dee = Payer("Dee", "Dunn", "dee@example.com", "PAYERDEE0004")
    world.paypal.add_capture(4200, payer=dee, created=datetime.now(UTC) - timedelta(minutes=5))
    world.paypal.subscriptions[world.ann_sub].status = "SUSPENDED"  # paused in PayPal itself

    report = world.sync()

    assert report.incremental
    assert (report.created["customers"], report.created["payments"]) == (1, 2)
    assert world.payment(new).customer_id == world.customer(ANN).id
    assert world.customer(dee).name == "Dee Dunn"
    assert world.subscription(world.ann_sub).status == "paused"


def test_the_cli_syncs_with_credentials_from_the_environment(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRM_PAYPAL_CLIENT_ID", world.paypal.client_id)
    monkeypatch.setenv("CRM_PAYPAL_CLIENT_SECRET", world.paypal.client_secret)
    monkeypatch.setenv("CRM_PAYPAL_API_BASE", world.paypal.url)
    monkeypatch.setenv("CRM_DATABASE_URL", str(world.engine.url.render_as_string(False)))

    assert main(["sync", "paypal", "--full"]) == 0

    out = capsys.readouterr().out
    assert "nothing changed" in out
    assert world.paypal.client_secret not in out


# --------------------------------------------------------------------------- refunds


def test_full_and_partial_refund_at_paypal_and_here(world: World) -> None:
    ben = world.payment(world.ben_capture)
    world.refunds().refund(ben.id, 1000, "Charged for a week he did not use", AGENT)
    assert world.paypal.refunded_minor(world.ben_capture) == 1000
    row = world.payment(world.ben_capture)
    assert (row.refunded_minor, row.status) == (1000, "partially_refunded")

    world.refunds().refund(ben.id, 1500, "Closing the account", AGENT)
    assert world.paypal.refunded_minor(world.ben_capture) == 2500
    row = world.payment(world.ben_capture)
    assert (row.refunded_minor, row.status) == (2500, "refunded")
    refunds = world.local("refund", payment_id=ben.id)
    assert sorted(r.amount_minor for r in refunds) == [1000, 1500]
    assert {r.provider_id for r in refunds} == set(world.paypal.refunds)
    assert world.customer(BEN).ltv_minor == 0
    activity = [a.summary for a in world.local("activity_event", customer_id=ben.customer_id)]
    assert any("Refunded" in text for text in activity), activity

    again = world.sync()  # the reports now show both refunds: matched, not doubled
    assert not again.changed, again.lines()
    assert {r.reason for r in world.local("refund", payment_id=ben.id)} == {
        "Charged for a week he did not use",
        "Closing the account",
    }


def test_over_refund_refused_here_and_nothing_moves_at_paypal(world: World) -> None:
    ben = world.payment(world.ben_capture)
    with pytest.raises(InvalidInput):
        world.refunds().refund(ben.id, 2501, "Too much", AGENT)
    assert world.paypal.refunded_minor(world.ben_capture) == 0
    assert world.paypal.posts("/refund") == []


def test_a_refund_made_in_paypal_directly_arrives_with_the_next_sync(world: World) -> None:
    world.provider.refund(world.ben_capture, 500, "USD", reason="", idempotency_key="by-hand-1")

    report = world.sync()

    assert report.created["refunds"] == 1
    row = world.payment(world.ben_capture)
    assert (row.refunded_minor, row.status) == (500, "partially_refunded")


# --------------------------------------------------------------- subscriptions


def test_suspend_activate_cancel_at_paypal_and_here(world: World) -> None:
    sub = world.subscription(world.ann_sub)

    world.actions().pause(sub.id, None, "Travelling for a month", AGENT)
    at_paypal = world.paypal.subscriptions[world.ann_sub]
    assert (at_paypal.status, at_paypal.status_change_note) == ("SUSPENDED", "Paused by support")
    assert world.subscription(world.ann_sub).status == "paused"
    assert world.customer(ANN).mrr_minor == 0

    world.actions().resume(sub.id, "Back home", AGENT)
    assert world.paypal.subscriptions[world.ann_sub].status == "ACTIVE"
    assert world.subscription(world.ann_sub).status == "active"

    world.actions().cancel(sub.id, False, "Moving to a competitor", AGENT)
    assert world.paypal.subscriptions[world.ann_sub].status == "CANCELLED"
    row = world.subscription(world.ann_sub)
    assert row.status == "cancelled" and row.ended_at is not None
    assert world.customer(ANN).lifecycle_status == "churned"
    summaries = [a.summary for a in world.local("activity_event", customer_id=sub.customer_id)]
    assert sum(1 for s in summaries if "Ana" in s or "paus" in s.lower()) >= 1, summaries
    assert not world.sync().changed  # PayPal and the store agree


def test_what_paypal_cannot_do_is_refused_and_nothing_changes(world: World) -> None:
    sub = world.subscription(world.ann_sub)
    until = (datetime.now(UTC) + timedelta(days=10)).date()
    with pytest.raises(ActionFailed, match="on a date"):
        world.actions().pause(sub.id, until, "Travelling", AGENT)
    with pytest.raises(ActionFailed, match="end of the"):
        world.actions().cancel(sub.id, True, "At the end", AGENT)
    assert world.paypal.subscriptions[world.ann_sub].status == "ACTIVE"
    assert world.subscription(world.ann_sub).status == "active"
    assert world.paypal.posts("/v1/billing/subscriptions") == []


def test_retry_collects_the_subscriptions_outstanding_balance(world: World) -> None:
    cat = world.customer(CAT)
    (failed,) = world.local("payment", customer_id=cat.id, status="failed")

    world.actions().retry_payment(failed.id, "Customer topped up their account", AGENT)

    (post,) = world.paypal.posts("/capture")
    assert post.path == f"/v1/billing/subscriptions/{world.cat_sub}/capture"
    assert world.paypal.subscriptions[world.cat_sub].outstanding_minor == 0
    collected = [p for p in world.local("payment", customer_id=cat.id) if p.status == "succeeded"]
    assert sorted(p.amount_minor for p in collected) == [3000, 3000]
    assert world.subscription(world.cat_sub).status == "active"


def test_a_declined_retry_shows_the_reason_and_changes_nothing(world: World) -> None:
    world.paypal.subscriptions[world.cat_sub].decline_issue = "INSTRUMENT_DECLINED"
    cat = world.customer(CAT)
    (failed,) = world.local("payment", customer_id=cat.id, status="failed")
    before = world.local("payment", customer_id=cat.id)

    with pytest.raises(ActionFailed, match="declined: the customer's bank"):
        world.actions().retry_payment(failed.id, "Customer asked", AGENT)

    assert world.local("payment", customer_id=cat.id) == before
    assert world.paypal.subscriptions[world.cat_sub].outstanding_minor == 3000


def test_a_refund_paypal_reports_failed_is_not_recorded_as_paid(world: World) -> None:
    world.paypal.refund_status = "FAILED"
    ben = world.payment(world.ben_capture)

    with pytest.raises(RefundFailed, match="no money was returned"):
        world.refunds().refund(ben.id, 1000, "Wrong size", AGENT)

    assert world.local("refund", payment_id=ben.id) == []
    row = world.payment(world.ben_capture)
    assert (row.refunded_minor, row.status) == (0, "succeeded")
    (intent,) = world.local("provider_intent")
    assert intent.status == "failed"


def test_a_pending_refund_counts_and_the_sync_keeps_it(world: World) -> None:
    world.paypal.refund_status = "PENDING"
    ben = world.payment(world.ben_capture)

    world.refunds().refund(ben.id, 1000, "Wrong size", AGENT)

    (refund,) = world.local("refund", payment_id=ben.id)
    assert refund.status == "pending"
    assert world.payment(world.ben_capture).refunded_minor == 1000
    assert not world.sync().changed
    with pytest.raises(InvalidInput):  # what PayPal holds for the pending one is not refundable
        world.refunds().refund(ben.id, 1501, "And the rest", AGENT)
