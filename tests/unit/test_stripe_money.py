"""Money and subscription actions against a real Stripe-compatible server (localstripe).

Each test builds a small business at "Stripe", imports it with `StripeSync`, acts
through the services, and asserts both sides: what Stripe holds and what the
local store holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_tui.services.account_actions import ActionFailed, ActionPending
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.email_channel import EmailChannel
from crm_tui.services.profile import ProfileService
from crm_tui.services.providers.base import FailureKind, ProviderError
from crm_tui.services.providers.stripe import ATTEMPTS, StripeProvider
from crm_tui.services.refunds import RefundFailed, RefundPending
from crm_tui.services.secrets import Secrets
from crm_tui.services.stripe_sync import StripeSync
from tests.factories import add_customer
from tests.support.smtp_server import SmtpServer
from tests.unit.stripe_world import AGENT, World

# ---------------------------------------------------------------------------- sync


def test_sync_imports_customers_subscriptions_payments(world: World) -> None:
    ann = world.local("customer", id=world.customer_id(world.ann))[0]
    assert (ann.name, ann.email, ann.current_plan, ann.ltv_minor) == (
        "Ann Archer",
        "ann@example.com",
        "basic",
        1000,
    )
    assert world.subscription(world.ann).status == "active"
    assert world.subscription(world.cara).status == "trial"
    failed = world.payment(world.bob, status="failed")
    assert failed.failure_reason == "Your card was declined."
    assert world.payment(world.ann).amount_minor == 1000


def test_second_sync_changes_nothing(world: World) -> None:
    report = StripeSync(world.engine, world.provider).run(full=True)
    assert not report.changed, report.lines()
    assert report.lines()[-1].endswith("nothing changed")


# --------------------------------------------------------------------------- refunds


def test_full_and_partial_refund_at_stripe_and_here(world: World) -> None:
    payment = world.payment(world.ann)
    service = world.refunds()
    service.refund(payment.id, 300, "Charged twice for the same week", AGENT)
    charge = world.stripe.get("charge", payment.provider_id)
    assert charge["amount_refunded"] == 300
    (row,) = world.local("payment", id=payment.id)
    assert (row.refunded_minor, row.status) == (300, "partially_refunded")

    service.refund(payment.id, 700, "Closing the account at the customer's request", AGENT)
    assert world.stripe.get("charge", payment.provider_id)["amount_refunded"] == 1000
    (row,) = world.local("payment", id=payment.id)
    assert (row.refunded_minor, row.status) == (1000, "refunded")
    assert len(world.local("refund", payment_id=payment.id)) == 2
    # The refunds made here come back unchanged through a sync.
    assert not StripeSync(world.engine, world.provider).run(full=True).changed


def test_over_refund_refused_here_and_at_stripe(world: World) -> None:
    payment = world.payment(world.ann)
    with pytest.raises(InvalidInput) as refused:
        world.refunds().refund(payment.id, 1001, "Too much", AGENT)
    assert "at most $10.00" in refused.value.errors["amount"]
    # Money refunded at Stripe behind our back: Stripe itself refuses the excess.
    world.provider.refund(payment.provider_id, 800, "USD", reason="x", idempotency_key="outside")
    with pytest.raises(RefundFailed) as failed:
        world.refunds().refund(payment.id, 1000, "Full refund", AGENT)
    assert "greater than unrefunded amount" in failed.value.message
    (row,) = world.local("payment", id=payment.id)
    assert row.refunded_minor == 0  # nothing recorded that Stripe did not do
    (intent,) = world.local("provider_intent")
    assert intent.status == "failed"


def test_same_refund_key_twice_refunds_once(world: World) -> None:
    payment = world.payment(world.ann)
    first = world.provider.refund(
        payment.provider_id, 400, "USD", reason="dup", idempotency_key="crm-refund-same"
    )
    second = world.provider.refund(
        payment.provider_id, 400, "USD", reason="dup", idempotency_key="crm-refund-same"
    )
    assert first.id == second.id
    assert world.stripe.get("charge", payment.provider_id)["amount_refunded"] == 400


def test_dropped_answer_leaves_intent_pending_then_reconcile_records_once(world: World) -> None:
    payment = world.payment(world.ann)
    for _ in range(ATTEMPTS):  # every try of the request: the answer never comes
        world.stripe.fail_next("/v1/refunds", "drop")
    with pytest.raises(RefundPending):
        world.refunds().refund(payment.id, 500, "Goodwill for the outage", AGENT)
    # Stripe did refund; here it is pending, and a second refund is refused meanwhile.
    assert world.stripe.get("charge", payment.provider_id)["amount_refunded"] == 500
    with pytest.raises(InvalidInput):
        world.refunds().refund(payment.id, 500, "Again", AGENT)
    (pending,) = ProfileService(world.engine).profile(payment.customer_id, AGENT).pending_actions
    assert (pending.action, pending.provider, pending.what) == (
        "refund",
        "stripe",
        f"$5.00 · payment #{payment.id}",
    )
    report = world.refunds().reconcile(AGENT)
    assert report and "recorded" in report[0]
    assert world.stripe.get("charge", payment.provider_id)["amount_refunded"] == 500
    (row,) = world.local("payment", id=payment.id)
    assert row.refunded_minor == 500
    assert len(world.local("refund", payment_id=payment.id)) == 1
    assert not ProfileService(world.engine).profile(payment.customer_id, AGENT).pending_actions


def test_stripe_errors_become_messages(world: World) -> None:
    payment = world.payment(world.ann)
    world.stripe.fail_next("/v1/refunds", "429", retry_after=30)  # too long to wait here
    with pytest.raises(RefundFailed) as limited:
        world.refunds().refund(payment.id, 100, "Goodwill", AGENT)
    assert limited.value.message == "Stripe is rate limiting requests; try again in 30 s"
    with pytest.raises(ProviderError) as missing:
        world.provider.refund("ch_missing", 100, "USD", reason="x", idempotency_key="k1")
    assert missing.value.kind == FailureKind.NOT_FOUND
    wrong_key = StripeProvider("sk_wrong", api_base="http://127.0.0.1:9", timeout=2)
    with pytest.raises(ProviderError) as unreachable:
        wrong_key.refund(payment.provider_id, 100, "USD", reason="x", idempotency_key="k2")
    assert unreachable.value.kind == FailureKind.UNREACHABLE


# ---------------------------------------------------------------- payments, credit


def test_declined_retry_shows_reason_and_changes_nothing(world: World) -> None:
    failed = world.payment(world.bob, status="failed")
    before = len(world.local("payment", customer_id=failed.customer_id))
    with pytest.raises(ActionFailed) as declined:
        world.actions().retry_payment(failed.id, "Customer asked to try again", AGENT)
    assert declined.value.message == "declined: Your card was declined."
    assert len(world.local("payment", customer_id=failed.customer_id)) == before
    events = world.local("activity_event", customer_id=failed.customer_id)
    assert any("declined: Your card was declined." in e.summary for e in events)


def test_retry_after_card_update_collects(world: World) -> None:
    failed = world.payment(world.bob, status="failed")

    def new_card() -> None:
        from localstripe.resources import Customer, PaymentMethod, store

        PaymentMethod._api_attach("pm_card_visa", customer=world.bob)
        pm = [
            v
            for k, v in store.items()
            if k.startswith("payment_method:") and v.customer == world.bob
        ][-1]
        Customer._api_retrieve(world.bob).invoice_settings = {"default_payment_method": pm.id}

    world.stripe.run(new_card)
    done = world.actions().retry_payment(failed.id, "Card updated by phone", AGENT)
    assert "collected" in done.summary
    collected = world.payment(world.bob, status="succeeded")
    assert collected.amount_minor == 1000
    invoice = world.local("invoice", id=collected.invoice_id)[0]
    assert invoice.status == "paid"
    assert world.stripe.get("invoice", invoice.provider_id)["status"] == "paid"


def test_credit_at_stripe_and_here(world: World) -> None:
    customer = world.customer_id(world.ann)
    world.actions().apply_credit(customer, 500, "USD", "Two days of downtime", AGENT)
    assert world.stripe.get("customer", world.ann)["balance"] == -500
    (credit,) = world.local("credit", customer_id=customer)
    assert (credit.amount_minor, credit.currency, credit.provider_id[:6]) == (500, "USD", "cbtxn_")


# ------------------------------------------------------------------- subscriptions


def test_pause_until_and_resume(world: World) -> None:
    sub = world.subscription(world.ann)
    until = (datetime.now(UTC) + timedelta(days=20)).date()
    world.actions().pause(sub.id, until, "Travelling for three weeks", AGENT)
    at_stripe = world.stripe.get("subscription", sub.provider_id)
    assert at_stripe["pause_collection"]["behavior"] == "void"
    assert at_stripe["pause_collection"]["resumes_at"] > 0
    (row,) = world.local("subscription", id=sub.id)
    assert row.status == "paused" and row.paused_until is not None
    customer = world.local("customer", id=sub.customer_id)[0]
    assert customer.mrr_minor == 0

    world.actions().resume(sub.id, "Back home", AGENT)
    assert world.stripe.get("subscription", sub.provider_id)["pause_collection"] is None
    (row,) = world.local("subscription", id=sub.id)
    assert (row.status, row.paused_until) == ("active", None)


def test_cancel_at_period_end_then_now(world: World) -> None:
    sub = world.subscription(world.ann)
    world.actions().cancel(sub.id, True, "Moving to a competitor", AGENT)
    assert world.stripe.get("subscription", sub.provider_id)["cancel_at_period_end"] is True
    (row,) = world.local("subscription", id=sub.id)
    assert (row.status, row.cancel_at_period_end) == ("active", True)

    world.actions().cancel(sub.id, False, "Wants it ended today", AGENT)
    assert world.stripe.get("subscription", sub.provider_id)["status"] == "canceled"
    (row,) = world.local("subscription", id=sub.id)
    assert row.status == "cancelled" and row.ended_at is not None
    assert world.local("customer", id=sub.customer_id)[0].lifecycle_status == "churned"


def test_cancel_refused_while_a_payment_is_in_progress(world: World) -> None:
    sub = world.subscription(world.ann)
    payment = world.payment(world.ann)
    for _ in range(ATTEMPTS):
        world.stripe.fail_next("/v1/refunds", "drop")
    with pytest.raises(RefundPending):
        world.refunds().refund(payment.id, 200, "Partial goodwill", AGENT)
    with pytest.raises(InvalidInput) as refused:
        world.actions().cancel(sub.id, False, "Cancel now", AGENT)
    assert "in progress" in refused.value.errors["subscription"]
    assert world.stripe.get("subscription", sub.provider_id)["status"] == "active"


def test_plan_change_with_proration_preview(world: World) -> None:
    sub = world.subscription(world.ann)
    preview = world.actions().preview_plan_change(sub.id, "pro")
    assert preview.from_provider and (preview.amount_due_minor, preview.currency) == (2000, "USD")
    assert preview.lines == ("pro: $30.00", "Unused time: -$10.00")  # money, not raw cents
    world.actions().change_plan(sub.id, "pro", "Needs more seats", AGENT)
    at_stripe = world.stripe.get("subscription", sub.provider_id)
    assert at_stripe["items"]["data"][0]["plan"]["id"] == "pro"
    (row,) = world.local("subscription", id=sub.id)
    assert row.amount_minor == 3000
    customer = world.local("customer", id=sub.customer_id)[0]
    assert (customer.current_plan, customer.mrr_minor) == ("pro", 3000)


def test_trial_extension(world: World) -> None:
    sub = world.subscription(world.cara)
    before = world.stripe.get("subscription", sub.provider_id)["trial_end"]
    world.actions().extend_trial(sub.id, 7, "Evaluating with their team", AGENT)
    after = world.stripe.get("subscription", sub.provider_id)["trial_end"]
    assert after - before == 7 * 86400
    (row,) = world.local("subscription", id=sub.id)
    assert int(row.trial_end.timestamp()) == after
    assert row.current_period_end >= row.trial_end  # the first payment moves with it
    with pytest.raises(InvalidInput):
        world.actions().extend_trial(world.subscription(world.ann).id, 7, "Not in trial", AGENT)


def test_pending_subscription_action_settles_by_replay(world: World) -> None:
    sub = world.subscription(world.ann)
    for _ in range(ATTEMPTS):
        world.stripe.fail_next(f"/v1/subscriptions/{sub.provider_id}", "drop")
    with pytest.raises(ActionPending):
        world.actions().cancel(sub.id, True, "Leaving at the end of the month", AGENT)
    assert world.local("subscription", id=sub.id)[0].cancel_at_period_end is False
    report = world.actions().reconcile(AGENT)
    assert "done" in report[0]
    assert world.local("subscription", id=sub.id)[0].cancel_at_period_end is True
    updates = [
        r for r in world.stripe.requests if r == ("POST", f"/v1/subscriptions/{sub.provider_id}")
    ]
    # Each try of the call (one change, same key) and the replay: Stripe answered the
    # repeats from its record of the first.
    assert len(updates) == ATTEMPTS + 1


# ------------------------------------------------------------ payment-method link


def test_payment_method_link_reaches_the_customer_by_email(
    world: World, smtp_server: SmtpServer
) -> None:
    customer = world.customer_id(world.bob)
    channel = EmailChannel(world.engine, smtp_server.settings(), Secrets(environ={}))
    done = world.actions().send_payment_method_link(
        customer, channel, AGENT, return_url="https://example.com/account"
    )
    assert done.summary == "Sent a payment-method link to bob@example.com"
    [message] = smtp_server.messages
    assert message["To"] == "bob@example.com"
    assert message["Subject"] == "Update your payment method"
    (session,) = world.stripe.objects("billing_portal.session")
    assert (session.customer, session.return_url) == (world.bob, "https://example.com/account")
    assert session.url in message.get_content()
    events = world.local("activity_event", customer_id=customer)
    assert any("Update your payment method" in e.summary for e in events)


def test_payment_method_link_refused_where_the_provider_cannot(
    world: World, smtp_server: SmtpServer
) -> None:
    with world.engine.begin() as connection:
        manual = add_customer(connection, name="Manu Al", email="manu@example.com")
    channel = EmailChannel(world.engine, smtp_server.settings(), Secrets(environ={}))
    with pytest.raises(ActionFailed) as refused:
        world.actions().send_payment_method_link(manual, channel, AGENT)
    assert "no payment-method link" in refused.value.message
    assert smtp_server.messages == []
