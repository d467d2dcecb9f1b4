"""Faults between the app and Stripe (issue 7): timeouts, 5xx, 429 with Retry-After,
connection resets before and after the change, slow answers. Each is retried a
bounded number of times with the SAME idempotency key, then said plainly; and in
every case the store ends matching Stripe: one refund, recorded once, or none."""

from __future__ import annotations

import pytest

from crm_tui.services.providers.base import RETRY_AFTER_MAX
from crm_tui.services.providers.stripe import ATTEMPTS, StripeProvider
from crm_tui.services.refunds import RefundFailed, RefundPending, RefundService
from tests.support.localstripe_server import LocalStripe
from tests.unit.stripe_world import AGENT, World


@pytest.fixture(autouse=True)
def _no_real_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(StripeProvider, "sleep", lambda self, seconds: waits.append(seconds))
    return waits


def _refund_requests(stripe: LocalStripe) -> int:
    return sum(1 for request in stripe.requests if request == ("POST", "/v1/refunds"))


def _stripe_refunded(state: World, charge: str) -> int:
    return int(state.stripe.get("charge", charge)["amount_refunded"])


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [("500", 1), ("429", 1), ("reset", 1), ("drop", 1), ("slow", 3)],
)
def test_one_fault_is_retried_and_the_refund_happens_once(
    world: World,
    fault: str,
    retry_after: int,
) -> None:
    payment = world.payment(world.ann)
    # A client that gives up after 1 s: the "slow" answer (3 s) is a timeout.
    provider = StripeProvider(world.stripe.api_key, api_base=world.stripe.url, timeout=1)
    world.stripe.fail_next("/v1/refunds", fault, retry_after=retry_after)
    done = RefundService(world.engine, {"stripe": provider}).refund(
        payment.id, 300, "Goodwill after the outage", AGENT
    )
    assert done.amount_minor == 300
    assert _refund_requests(world.stripe) == 2  # the fault, then the retry with the same key
    assert _stripe_refunded(world, payment.provider_id) == 300  # once, even after "drop"/"slow"
    (row,) = world.local("payment", id=payment.id)
    assert row.refunded_minor == 300
    assert len(world.local("refund", payment_id=payment.id)) == 1


@pytest.mark.parametrize("fault", ["500", "reset"])
def test_a_fault_that_lasts_is_said_then_settles_to_nothing(world: World, fault: str) -> None:
    payment = world.payment(world.ann)
    for _ in range(ATTEMPTS):
        world.stripe.fail_next("/v1/refunds", fault)
    # Stripe might have refunded before failing: not known, so pending, never repeated.
    with pytest.raises(RefundPending) as pending:
        world.refunds().refund(payment.id, 300, "Goodwill after the outage", AGENT)
    assert "never paid twice" in pending.value.message
    assert _refund_requests(world.stripe) == ATTEMPTS  # bounded
    assert _stripe_refunded(world, payment.provider_id) == 0
    world.refunds().reconcile(AGENT)  # Stripe has no refund with our key: nothing happened
    assert world.local("payment", id=payment.id)[0].refunded_minor == 0
    assert world.local("refund", payment_id=payment.id) == []
    assert world.local("provider_intent")[-1].status == "failed"


def test_a_lasting_timeout_after_the_change_stays_pending_then_settles_once(
    world: World,
) -> None:
    payment = world.payment(world.ann)
    provider = StripeProvider(world.stripe.api_key, api_base=world.stripe.url, timeout=1)
    for _ in range(ATTEMPTS):
        world.stripe.fail_next("/v1/refunds", "slow", retry_after=3)
    with pytest.raises(RefundPending):
        RefundService(world.engine, {"stripe": provider}).refund(
            payment.id, 300, "Goodwill after the outage", AGENT
        )
    # Stripe refunded on the first try; the repeats were answered from its record.
    assert _stripe_refunded(world, payment.provider_id) == 300
    world.refunds().reconcile(AGENT)
    assert world.local("payment", id=payment.id)[0].refunded_minor == 300
    assert len(world.local("refund", payment_id=payment.id)) == 1


def test_retry_after_is_honoured_when_short_and_said_when_long(
    world: World,
    _no_real_waits: list[float],
) -> None:
    payment = world.payment(world.ann)
    world.stripe.fail_next("/v1/refunds", "429", retry_after=2)
    world.refunds().refund(payment.id, 100, "Goodwill", AGENT)
    assert _no_real_waits == [2.0]  # waited what Stripe asked
    world.stripe.fail_next("/v1/refunds", "429", retry_after=60)
    with pytest.raises(RefundFailed, match="try again in 60 s"):
        world.refunds().refund(payment.id, 100, "Goodwill", AGENT)
    assert _no_real_waits == [2.0]  # a minute is the agent's call, not a frozen dialog
    assert RETRY_AFTER_MAX < 60
