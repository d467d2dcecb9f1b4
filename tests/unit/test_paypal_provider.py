"""PayPalProvider against the fake PayPal server (tests/support/paypal_fake.py), over HTTP.

Each test seeds state at "PayPal", acts through the provider, and asserts both
what the provider answered and what PayPal now holds.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.services.actor import Actor
from crm_tui.services.providers import paypal as paypal_module
from crm_tui.services.providers.base import ATTEMPTS, FailureKind, ProviderError, ProviderRefund
from crm_tui.services.providers.paypal import (
    PayPalProvider,
    from_paypal_money,
    to_paypal_money,
)
from crm_tui.services.refunds import RefundPending, RefundService
from tests.factories import add_customer, add_payment
from tests.support.paypal_fake import PayPalFake

AGENT = Actor.agent("ana", agent_id=None, display_name="Ana")
KEY = "crm-refund-0b5e0c52-5f8e-4a43-a3b6-8d1f4c7e9a21"


@pytest.fixture
def paypal(paypal_fake: PayPalFake) -> Iterator[PayPalProvider]:
    provider = PayPalProvider(paypal_fake.url, paypal_fake.client_id, paypal_fake.client_secret)
    waits: list[float] = []
    provider.sleep = waits.append  # type: ignore[method-assign]  # the waits, not slept
    provider.waits = waits  # type: ignore[attr-defined]
    yield provider
    provider.close()


def lasting(fault: Callable[[], object]) -> None:
    """A fault on every try of the request (one fault alone is retried away)."""
    for _ in range(ATTEMPTS):
        fault()


def body(request: object) -> dict[str, object]:
    return dict(json.loads(request.body))  # type: ignore[attr-defined]


def refuse(call: object) -> ProviderError:
    """The ProviderError that `call()` raises (and fail if it raises nothing)."""
    with pytest.raises(ProviderError) as caught:
        call()  # type: ignore[operator]
    return caught.value


# -------------------------------------------------------------------- signing in


def test_the_token_is_fetched_once_and_reused(paypal: PayPalProvider, paypal_fake: PayPalFake):
    subscription = paypal_fake.add_subscription()
    paypal.get_subscription(subscription)
    paypal.get_subscription(subscription)

    assert paypal_fake.tokens_issued == 1
    (token_request,) = [r for r in paypal_fake.requests if r.path == "/v1/oauth2/token"]
    assert token_request.headers["authorization"].startswith("Basic ")
    assert token_request.body == b"grant_type=client_credentials"
    assert "paypal-request-id" not in token_request.headers
    api_calls = [r for r in paypal_fake.requests if r.path != "/v1/oauth2/token"]
    assert [r.headers["authorization"] for r in api_calls] == [
        f"Bearer {paypal_fake.issued_tokens[0]}"
    ] * 2


def test_a_revoked_token_is_replaced_once_and_the_refund_made_once(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(2500)
    paypal.get_subscription(paypal_fake.add_subscription())  # signs in
    paypal_fake.expire_tokens()

    refund = paypal.refund(capture, 1000, "USD", reason="late", idempotency_key=KEY)

    assert refund.amount_minor == 1000
    assert paypal_fake.tokens_issued == 2
    assert paypal_fake.unauthorized == 1
    attempts = paypal_fake.posts("/refund")
    assert [r.headers["paypal-request-id"] for r in attempts] == [KEY, KEY]
    assert len(paypal_fake.refunds) == 1


def test_a_token_about_to_expire_is_renewed_before_it_is_used(
    paypal: PayPalProvider, paypal_fake: PayPalFake, monkeypatch: pytest.MonkeyPatch
):
    subscription = paypal_fake.add_subscription()
    paypal.get_subscription(subscription)
    later = paypal_module._clock() + paypal_fake.token_lifetime - 30  # inside the margin
    monkeypatch.setattr(paypal_module, "_clock", lambda: later)

    paypal.get_subscription(subscription)

    assert paypal_fake.tokens_issued == 2
    assert paypal_fake.unauthorized == 0  # renewed before PayPal had to refuse it


def test_wrong_credentials_say_where_to_fix_them(paypal_fake: PayPalFake):
    provider = PayPalProvider(paypal_fake.url, paypal_fake.client_id, "not-the-secret")

    error = refuse(lambda: provider.get_subscription(paypal_fake.add_subscription()))

    assert error.kind == FailureKind.NOT_CONFIGURED
    assert "crm-tui secrets set paypal" in error.message
    assert "not-the-secret" not in error.message
    assert paypal_fake.tokens_issued == 0


def test_credentials_revoked_while_running_are_reported_not_retried_forever(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    subscription = paypal_fake.add_subscription()
    paypal.get_subscription(subscription)
    paypal_fake.client_secret = "rotated-in-the-dashboard"
    paypal_fake.expire_tokens()

    error = refuse(lambda: paypal.get_subscription(subscription))

    assert error.kind == FailureKind.NOT_CONFIGURED
    assert "crm-tui secrets set paypal" in error.message
    assert len([r for r in paypal_fake.requests if r.path == "/v1/oauth2/token"]) == 2


# ----------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("minor", "currency", "value"),
    [
        (8900, "USD", "89.00"),
        (10, "EUR", "0.10"),
        (123456789, "GBP", "1234567.89"),
        (1500, "JPY", "1500"),
        (1500, "HUF", "1500"),
        (30000, "TWD", "300"),
    ],
)
def test_amounts_convert_exactly_both_ways(minor: int, currency: str, value: str):
    sent = to_paypal_money(minor, currency)
    assert sent == {"value": value, "currency_code": currency}
    assert from_paypal_money(sent, "an amount") == (minor, currency)


def test_an_amount_paypal_cannot_express_is_refused_before_sending():
    error = refuse(lambda: to_paypal_money(30050, "TWD"))  # TWD 300.50: PayPal takes whole TWD
    assert error.kind == FailureKind.INVALID
    assert "whole units" in error.message


@pytest.mark.parametrize("garbled", [{"value": "1e3", "currency_code": "USD"}, {"value": "5"}, 5])
def test_a_garbled_amount_is_a_clear_error_not_a_crash(garbled: object):
    error = refuse(lambda: from_paypal_money(garbled, "the refunded amount"))
    assert error.kind == FailureKind.INVALID
    assert error.message.startswith("PayPal answered")


# --------------------------------------------------------------------- refunds


def test_partial_then_full_refund(paypal: PayPalProvider, paypal_fake: PayPalFake):
    capture = paypal_fake.add_capture(2500)

    first = paypal.refund(capture, 1000, "USD", reason="Damaged box", idempotency_key=KEY)

    assert first == ProviderRefund(first.id, 1000, "USD", "succeeded")
    assert first.id in paypal_fake.refunds
    assert paypal_fake.refunded_minor(capture) == 1000
    (request,) = paypal_fake.posts("/refund")
    assert request.path == f"/v2/payments/captures/{capture}/refund"
    assert request.headers["paypal-request-id"] == KEY
    assert body(request) == {
        "amount": {"value": "10.00", "currency_code": "USD"},
        "custom_id": KEY,
        "note_to_payer": "Refund from customer support",  # never the agent's reason
    }

    rest = paypal.refund(capture, 1500, "USD", reason="The rest", idempotency_key=KEY + "-2")

    assert (rest.amount_minor, rest.status) == (1500, "succeeded")
    assert paypal_fake.refunded_minor(capture) == 2500
    assert paypal.call("GET", f"/v2/payments/captures/{capture}", "x")[1]["status"] == "REFUNDED"


def test_a_refund_in_yen_is_sent_in_whole_yen(paypal: PayPalProvider, paypal_fake: PayPalFake):
    capture = paypal_fake.add_capture(1500, "JPY")

    refund = paypal.refund(capture, 500, "JPY", reason="Partial", idempotency_key=KEY)

    assert (refund.amount_minor, refund.currency) == (500, "JPY")
    assert body(paypal_fake.posts("/refund")[0])["amount"] == {
        "value": "500",
        "currency_code": "JPY",
    }


def test_a_pending_refund_is_reported_pending(paypal: PayPalProvider, paypal_fake: PayPalFake):
    capture = paypal_fake.add_capture(2500)
    paypal_fake.refund_status = "PENDING"

    refund = paypal.refund(capture, 2500, "USD", reason="eCheck", idempotency_key=KEY)

    assert refund.status == "pending"


def test_more_than_remains_is_refused_and_nothing_moves(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(2500)
    paypal.refund(capture, 2000, "USD", reason="Most of it", idempotency_key=KEY)

    error = refuse(
        lambda: paypal.refund(capture, 1000, "USD", reason="Too much", idempotency_key=KEY + "x")
    )

    assert error.kind == FailureKind.INVALID
    assert "more than what remains" in error.message
    assert paypal_fake.refunded_minor(capture) == 2000


def test_an_already_fully_refunded_payment(paypal: PayPalProvider, paypal_fake: PayPalFake):
    capture = paypal_fake.add_capture(2500)
    paypal.refund(capture, 2500, "USD", reason="All", idempotency_key=KEY)

    error = refuse(
        lambda: paypal.refund(capture, 100, "USD", reason="Again", idempotency_key=KEY + "x")
    )

    assert error.kind == FailureKind.ALREADY_REFUNDED
    assert error.message == "the payment is already fully refunded at PayPal"
    assert len(paypal_fake.refunds) == 1


def test_the_same_key_twice_refunds_once(paypal: PayPalProvider, paypal_fake: PayPalFake):
    capture = paypal_fake.add_capture(2500)

    first = paypal.refund(capture, 1000, "USD", reason="Once", idempotency_key=KEY)
    second = paypal.refund(capture, 1000, "USD", reason="Once", idempotency_key=KEY)

    assert second == first
    assert len(paypal_fake.refunds) == 1
    assert paypal_fake.refunded_minor(capture) == 1000


def test_a_refund_whose_answer_was_lost_is_found_without_refunding_again(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(2500)
    lasting(lambda: paypal_fake.drop_next(path="/refund"))

    error = refuse(lambda: paypal.refund(capture, 1000, "USD", reason="x", idempotency_key=KEY))

    assert error.kind == FailureKind.UNREACHABLE and error.outcome_unknown
    assert paypal_fake.refunded_minor(capture) == 1000  # the money did move

    found = paypal.find_refund(capture, KEY)

    assert found is not None
    assert (found.amount_minor, found.currency, found.status) == (1000, "USD", "succeeded")
    assert found.id in paypal_fake.refunds
    assert len(paypal_fake.posts("/refund")) == ATTEMPTS  # the tries; find_refund: nothing
    # And a retry with the same key gets the same refund back, not a second one.
    assert paypal.refund(capture, 1000, "USD", reason="x", idempotency_key=KEY).id == found.id
    assert paypal_fake.refunded_minor(capture) == 1000


def test_a_refund_that_never_reached_paypal_is_not_made_by_find_refund(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(2500)
    paypal.refund(capture, 500, "USD", reason="Another agent's", idempotency_key="other-key")
    lasting(lambda: paypal_fake.fail_next(500, path="/refund"))

    error = refuse(lambda: paypal.refund(capture, 1000, "USD", reason="x", idempotency_key=KEY))

    assert error.kind == FailureKind.UNREACHABLE
    assert paypal.find_refund(capture, KEY) is None
    assert paypal_fake.refunded_minor(capture) == 500
    assert len(paypal_fake.posts("/refund")) == 1 + ATTEMPTS  # the other, our tries


def test_find_refund_on_a_payment_outside_an_order_reads_the_reports(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(5000, in_order=False)  # a subscription's payment
    made = paypal.refund(capture, 1200, "USD", reason="x", idempotency_key=KEY)

    found = paypal.find_refund(capture, KEY)

    assert found == ProviderRefund(made.id, 1200, "USD", "succeeded")
    assert paypal.find_refund(capture, "a-key-never-sent") is None  # reports are fresh
    search = [r for r in paypal_fake.requests if r.path == "/v1/reporting/transactions"]
    assert search and all(r.query["transaction_type"] == ["T1107"] for r in search)


def test_find_refund_waits_while_paypal_reports_lag_behind(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    refunded = paypal_fake.add_capture(5000, in_order=False)
    untouched = paypal_fake.add_capture(5000, in_order=False)
    paypal.refund(refunded, 1200, "USD", reason="x", idempotency_key="someone-elses")
    paypal_fake.report_lag = timedelta(hours=3)

    error = refuse(lambda: paypal.find_refund(refunded, KEY))

    assert error.kind == FailureKind.UNREACHABLE  # the intent stays pending
    assert "run crm-tui reconcile again later" in error.message
    # A payment PayPal shows no refund on at all needs no report to answer.
    assert paypal.find_refund(untouched, KEY) is None


def test_find_refund_with_a_garbled_capture_is_a_clear_error(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(2500)
    paypal_fake.answer_next(200, {"id": capture}, path="/v2/payments/captures/")

    error = refuse(lambda: paypal.find_refund(capture, KEY))

    assert error.kind == FailureKind.INVALID
    assert error.message == "PayPal answered without the payment's status"


def test_a_refund_answered_without_its_amount_stays_pending(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(2500)
    paypal_fake.answer_next(201, {"id": "9X", "status": "COMPLETED"}, path="/refund", process=True)

    error = refuse(lambda: paypal.refund(capture, 1000, "USD", reason="x", idempotency_key=KEY))

    # The refund was made: a plain refusal would let the agent refund again.
    assert error.kind == FailureKind.UNREACHABLE
    assert error.message.startswith("PayPal answered without the refunded amount")
    assert paypal.find_refund(capture, KEY) is not None


# ---------------------------------------------------------------- subscriptions


def test_pause_resume_and_cancel(paypal: PayPalProvider, paypal_fake: PayPalFake):
    next_billing = datetime(2031, 3, 1, 10, 0, tzinfo=UTC)
    subscription_id = paypal_fake.add_subscription("P-PRO", next_billing_time=next_billing)
    state = paypal_fake.subscriptions[subscription_id]

    paused = paypal.pause(subscription_id, until=None, idempotency_key="k-pause")

    assert state.status == "SUSPENDED"
    assert (paused.id, paused.status, paused.plan_code) == (subscription_id, "paused", "P-PRO")
    (suspend,) = paypal_fake.posts("/suspend")
    assert suspend.headers["paypal-request-id"] == "k-pause"
    assert body(suspend) == {"reason": "Paused by support"}

    resumed = paypal.resume(subscription_id, idempotency_key="k-resume")

    assert state.status == "ACTIVE"
    assert (resumed.status, resumed.current_period_end) == ("active", next_billing)

    cancelled = paypal.cancel(
        subscription_id, at_period_end=False, reason="Customer left", idempotency_key="k-cancel"
    )

    assert (state.status, state.status_change_note) == ("CANCELLED", "Cancelled by support")
    assert cancelled.status == "cancelled"
    assert cancelled.ended_at == state.status_update_time
    assert cancelled.cancel_at_period_end is False


def test_the_same_pause_key_twice_suspends_once(paypal: PayPalProvider, paypal_fake: PayPalFake):
    subscription_id = paypal_fake.add_subscription()
    paypal.pause(subscription_id, until=None, idempotency_key="k-pause")

    again = paypal.pause(subscription_id, until=None, idempotency_key="k-pause")

    assert again.status == "paused"
    other_key = refuse(lambda: paypal.pause(subscription_id, until=None, idempotency_key="k-2"))
    assert other_key.kind == FailureKind.INVALID
    assert "should be active" in other_key.message


def test_a_change_made_but_not_read_back_is_still_reported(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    subscription_id = paypal_fake.add_subscription()
    paypal_fake.fail_next(503, path=subscription_id, method="GET")

    paused = paypal.pause(subscription_id, until=None, idempotency_key="k-pause")

    assert paypal_fake.subscriptions[subscription_id].status == "SUSPENDED"
    assert (paused.id, paused.status) == (subscription_id, "paused")


def test_what_paypal_cannot_do_is_refused_with_what_to_do_instead(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    subscription_id = paypal_fake.add_subscription()
    when = datetime(2031, 1, 1, tzinfo=UTC)
    refusals = {
        "cancel at period end": lambda: paypal.cancel(
            subscription_id, at_period_end=True, reason="r", idempotency_key="k"
        ),
        "pause until": lambda: paypal.pause(subscription_id, until=when, idempotency_key="k"),
        "preview": lambda: paypal.preview_plan_change(subscription_id, "P-PRO"),
        "trial": lambda: paypal.extend_trial(subscription_id, when, idempotency_key="k"),
        "credit": lambda: paypal.apply_credit(
            "PAYER1", 500, "USD", reason="sorry", idempotency_key="k"
        ),
        "link": lambda: paypal.payment_method_link("PAYER1", return_url=""),
    }
    messages = {}
    for name, call in refusals.items():
        error = refuse(call)
        assert error.kind == FailureKind.NOT_SUPPORTED, name
        messages[name] = error.message

    assert "cancels a subscription at once" in messages["cancel at period end"]
    assert "resume it by hand" in messages["pause until"]
    assert "no proration preview" in messages["preview"]
    assert "cannot change the trial" in messages["trial"]
    assert "PayPal has no account credit" in messages["credit"]
    assert "in their own PayPal account" in messages["link"]
    assert paypal_fake.requests == []  # nothing was sent
    assert paypal_fake.subscriptions[subscription_id].status == "ACTIVE"


def test_change_plan_waits_for_the_customer_to_approve(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    subscription_id = paypal_fake.add_subscription("P-BASIC")

    changed = paypal.change_plan(subscription_id, "P-PRO", idempotency_key="k-plan")

    assert changed.plan_code == "P-BASIC"  # unchanged until the customer approves
    assert changed.status == "active"
    assert changed.approval_url.startswith(
        "https://www.sandbox.paypal.com/webapps/billing/subscriptions/update?ba_token=BA-"
    )
    assert body(paypal_fake.posts("/revise")[0]) == {"plan_id": "P-PRO"}
    paypal_fake.approve_revision(subscription_id)
    assert paypal.get_subscription(subscription_id)["plan_id"] == "P-PRO"


def test_statuses_are_mapped(paypal: PayPalProvider, paypal_fake: PayPalFake):
    expected = {
        "ACTIVE": "active",
        "SUSPENDED": "paused",
        "CANCELLED": "cancelled",
        "EXPIRED": "expired",
        "APPROVAL_PENDING": "trial",
    }
    for paypal_status, ours in expected.items():
        subscription_id = paypal_fake.add_subscription(status=paypal_status)
        mapped = paypal.subscription(paypal.get_subscription(subscription_id))
        assert mapped.status == ours, paypal_status
    failing = paypal_fake.add_subscription(failed_payments_count=2, outstanding_minor=1999)
    assert paypal.subscription(paypal.get_subscription(failing)).status == "grace"


# ----------------------------------------------------------------------- retry


def test_retry_collects_the_outstanding_balance(paypal: PayPalProvider, paypal_fake: PayPalFake):
    subscription_id = paypal_fake.add_subscription(outstanding_minor=1999, failed_payments_count=1)

    charge = paypal.retry_payment(subscription_id, idempotency_key="k-retry")

    assert (charge.amount_minor, charge.currency, charge.status) == (1999, "USD", "succeeded")
    assert charge.failure_reason == ""
    state = paypal_fake.subscriptions[subscription_id]
    assert (state.outstanding_minor, state.failed_payments_count) == (0, 0)
    (capture,) = paypal_fake.posts("/capture")
    assert capture.headers["paypal-request-id"] == "k-retry"
    sent = body(capture)
    assert sent["capture_type"] == "OUTSTANDING_BALANCE"
    assert sent["amount"] == {"value": "19.99", "currency_code": "USD"}
    collected = [t["transaction_info"] for t in paypal_fake.transactions]
    assert [(t["transaction_id"], t["transaction_event_code"]) for t in collected] == [
        (charge.id, "T0002")
    ]


def test_a_declined_retry_is_a_failed_charge_with_the_reason(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    subscription_id = paypal_fake.add_subscription(
        outstanding_minor=1999, decline_issue="INSTRUMENT_DECLINED"
    )

    charge = paypal.retry_payment(subscription_id, idempotency_key="k-retry")

    assert (charge.status, charge.amount_minor, charge.currency) == ("failed", 1999, "USD")
    assert "declined" in charge.failure_reason
    assert "bank or card issuer" in charge.failure_reason
    assert paypal_fake.subscriptions[subscription_id].outstanding_minor == 1999


def test_a_retry_whose_answer_was_lost_collects_once(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    subscription_id = paypal_fake.add_subscription(outstanding_minor=1999)
    lasting(lambda: paypal_fake.drop_next(path="/capture"))

    error = refuse(lambda: paypal.retry_payment(subscription_id, idempotency_key="k-retry"))
    assert error.outcome_unknown
    again = paypal.retry_payment(subscription_id, idempotency_key="k-retry")

    assert (again.status, again.amount_minor) == ("succeeded", 1999)
    assert len(paypal_fake.transactions) == 1  # collected once
    assert paypal_fake.subscriptions[subscription_id].outstanding_minor == 0


def test_a_retry_with_nothing_owed(paypal: PayPalProvider, paypal_fake: PayPalFake):
    subscription_id = paypal_fake.add_subscription(outstanding_minor=0)

    error = refuse(lambda: paypal.retry_payment(subscription_id, idempotency_key="k"))

    assert error.kind == FailureKind.INVALID
    assert "nothing to collect" in error.message
    assert paypal_fake.posts("/capture") == []


def test_a_retry_needs_the_subscription_not_a_payment(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    error = refuse(lambda: paypal.retry_payment("5O190127TN364715T", idempotency_key="k"))

    assert error.kind == FailureKind.NOT_SUPPORTED
    assert "only through its subscription" in error.message
    assert paypal_fake.requests == []


def test_a_subscription_answered_without_its_balance(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    subscription_id = paypal_fake.add_subscription(outstanding_minor=1999)
    paypal_fake.answer_next(200, {"id": subscription_id, "status": "ACTIVE"}, method="GET")

    error = refuse(lambda: paypal.retry_payment(subscription_id, idempotency_key="k"))

    assert error.kind == FailureKind.INVALID
    assert error.message == "PayPal answered without the outstanding balance"
    assert paypal_fake.posts("/capture") == []


# ---------------------------------------------------------------------- failures


def test_not_found(paypal: PayPalProvider, paypal_fake: PayPalFake):
    error = refuse(
        lambda: paypal.refund("3C679366HH908993F", 100, "USD", reason="x", idempotency_key=KEY)
    )

    assert error.kind == FailureKind.NOT_FOUND
    assert error.message == "PayPal has no payment 3C679366HH908993F"


@pytest.mark.parametrize(("retry_after", "wait"), [(2, "try again in 2 s"), (None, "a moment")])
def test_rate_limited(
    paypal: PayPalProvider, paypal_fake: PayPalFake, retry_after: int | None, wait: str
):
    capture = paypal_fake.add_capture(2500)
    lasting(lambda: paypal_fake.rate_limit_next(retry_after=retry_after))

    error = refuse(lambda: paypal.refund(capture, 100, "USD", reason="x", idempotency_key=KEY))

    assert error.kind == FailureKind.RATE_LIMITED
    assert "PayPal is rate limiting requests" in error.message and wait in error.message
    assert paypal_fake.refunds == {}


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_leaves_the_outcome_unknown(
    paypal: PayPalProvider, paypal_fake: PayPalFake, status: int
):
    capture = paypal_fake.add_capture(2500)
    lasting(lambda: paypal_fake.fail_next(status))

    error = refuse(lambda: paypal.refund(capture, 100, "USD", reason="x", idempotency_key=KEY))

    assert error.kind == FailureKind.UNREACHABLE and error.outcome_unknown
    assert f"HTTP {status}" in error.message


def test_a_dropped_connection_leaves_the_outcome_unknown(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    subscription_id = paypal_fake.add_subscription()
    lasting(lambda: paypal_fake.drop_next(path="/cancel"))

    error = refuse(
        lambda: paypal.cancel(subscription_id, at_period_end=False, reason="r", idempotency_key="k")
    )

    assert error.kind == FailureKind.UNREACHABLE
    assert "did not answer" in error.message and "outcome is not known" in error.message
    assert paypal_fake.subscriptions[subscription_id].status == "CANCELLED"


def test_a_slow_answer_times_out_as_unknown(paypal_fake: PayPalFake):
    provider = PayPalProvider(
        paypal_fake.url, paypal_fake.client_id, paypal_fake.client_secret, timeout=0.3
    )
    capture = paypal_fake.add_capture(2500)
    provider.sleep = lambda _seconds: None  # type: ignore[method-assign]
    lasting(lambda: paypal_fake.slow_next(1.0, path="/refund"))

    error = refuse(lambda: provider.refund(capture, 100, "USD", reason="x", idempotency_key=KEY))

    assert error.kind == FailureKind.UNREACHABLE
    assert error.message == "PayPal did not answer in time; the outcome is not known"
    provider.close()


def test_nothing_listening():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = PayPalProvider(f"http://127.0.0.1:{port}", "id", "secret")

    error = refuse(lambda: provider.get_subscription("I-1"))

    assert error.kind == FailureKind.UNREACHABLE
    assert "could not be reached" in error.message


def test_secrets_never_appear_in_messages(paypal: PayPalProvider, paypal_fake: PayPalFake):
    capture = paypal_fake.add_capture(2500)
    subscription_id = paypal_fake.add_subscription(
        outstanding_minor=100, decline_issue="PAYER_CANNOT_PAY"
    )
    messages = [paypal.retry_payment(subscription_id, idempotency_key="k").failure_reason]
    faults = [
        lambda: lasting(lambda: paypal_fake.fail_next(500)),
        lambda: lasting(lambda: paypal_fake.rate_limit_next(retry_after=1)),
        lambda: lasting(lambda: paypal_fake.drop_next()),
        lambda: paypal_fake.answer_next(201, {"id": "X"}),
    ]
    for number, arm in enumerate(faults):
        arm()
        messages.append(
            refuse(
                lambda key=f"k{number}": paypal.refund(
                    capture, 100, "USD", reason="x", idempotency_key=key
                )
            ).message
        )
    messages.append(
        refuse(lambda: paypal.refund(capture, 9999, "USD", reason="x", idempotency_key="k")).message
    )
    original_secret = paypal_fake.client_secret
    paypal_fake.client_secret = "S3cr3t-rotated-in-dashboard"
    paypal_fake.expire_tokens()
    messages.append(refuse(lambda: paypal.get_subscription(subscription_id)).message)

    assert len(messages) == 7 and all(messages)
    secrets = [original_secret, paypal_fake.client_secret, *paypal_fake.issued_tokens]
    for text in [*messages, repr(paypal)]:
        for secret in secrets:
            assert secret not in text


def test_transactions_are_read_31_days_at_a_time_every_page_once(
    paypal: PayPalProvider, paypal_fake: PayPalFake
):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=70)
    offsets = [timedelta(days=d) for d in (1, 10, 31, 40, 40.5, 41, 69)]  # day 31: an edge
    added = [
        paypal_fake.add_transaction(start + offset, 1000 + i, payer_email=f"p{i}@example.com")
        for i, offset in enumerate(offsets)
    ]

    seen = list(paypal.iter_transactions(start, start + timedelta(days=70), page_size=2))

    assert [t["transaction_info"]["transaction_id"] for t in seen] == added
    assert seen[0]["payer_info"]["email_address"] == "p0@example.com"  # fields=all
    searches = [r for r in paypal_fake.requests if r.path == "/v1/reporting/transactions"]
    for search in searches:
        begin = datetime.fromisoformat(search.query["start_date"][0].replace("Z", "+00:00"))
        end = datetime.fromisoformat(search.query["end_date"][0].replace("Z", "+00:00"))
        assert end - begin <= timedelta(days=31)
    assert ["2"] in [r.query["page"] for r in searches]


# ------------------------------------------------- through the refund service


def _paypal_payment(engine: Engine, capture_id: str) -> int:
    with engine.begin() as connection:
        customer = add_customer(connection, ltv_minor=2500, currency="USD")
        return add_payment(
            connection,
            customer,
            provider="paypal",
            provider_id=capture_id,
            amount_minor=2500,
            currency="USD",
        )


def _intents(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT * FROM provider_intent")))


def test_a_lost_refund_answer_is_settled_by_reconcile_once(
    engine: Engine, paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(2500)
    payment = _paypal_payment(engine, capture)
    service = RefundService(engine, {"paypal": paypal})
    lasting(lambda: paypal_fake.drop_next(path="/refund"))

    with pytest.raises(RefundPending):
        service.refund(payment, 1000, "Arrived broken", AGENT)
    report = service.reconcile(AGENT)

    assert report == [f"intent {_intents(engine)[0].id}: refunded at the provider; recorded"]
    (refund_id,) = paypal_fake.refunds
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM refund")).one()
    assert (row.provider_id, row.amount_minor) == (refund_id, 1000)
    assert paypal_fake.refunded_minor(capture) == 1000
    assert len(paypal_fake.posts("/refund")) == ATTEMPTS  # one refund: the tries share a key


def test_a_refund_that_never_reached_paypal_is_closed_by_reconcile(
    engine: Engine, paypal: PayPalProvider, paypal_fake: PayPalFake
):
    capture = paypal_fake.add_capture(2500)
    payment = _paypal_payment(engine, capture)
    service = RefundService(engine, {"paypal": paypal})
    lasting(lambda: paypal_fake.fail_next(503, path="/refund"))

    with pytest.raises(RefundPending):
        service.refund(payment, 1000, "Arrived broken", AGENT)
    report = service.reconcile(AGENT)

    (intent,) = _intents(engine)
    assert report == [f"intent {intent.id}: never reached the provider; closed"]
    assert intent.status == "failed"
    assert paypal_fake.refunds == {}
    assert len(paypal_fake.posts("/refund")) == ATTEMPTS


@pytest.mark.parametrize(
    ("fault", "waited"),
    [
        ("500", [0.3]),
        ("429", [2.0]),
        ("drop", [0.3]),  # PayPal refunded, the answer was lost: the retry replays it
    ],
)
def test_one_fault_is_retried_with_the_same_request_id_and_refunds_once(
    paypal: PayPalProvider, paypal_fake: PayPalFake, fault: str, waited: list[float]
):
    capture = paypal_fake.add_capture(2500)
    {
        "500": lambda: paypal_fake.fail_next(500, path="/refund"),
        "429": lambda: paypal_fake.rate_limit_next(retry_after=2, path="/refund"),
        "drop": lambda: paypal_fake.drop_next(path="/refund"),
    }[fault]()

    made = paypal.refund(capture, 1000, "USD", reason="x", idempotency_key=KEY)

    assert paypal_fake.refunded_minor(capture) == 1000 and made.amount_minor == 1000
    posts = paypal_fake.posts("/refund")
    assert len(posts) == 2 and {p.headers["paypal-request-id"] for p in posts} == {KEY}
    assert paypal.waits == waited  # type: ignore[attr-defined]


def test_a_long_retry_after_is_said_not_slept(paypal: PayPalProvider, paypal_fake: PayPalFake):
    capture = paypal_fake.add_capture(2500)
    paypal_fake.rate_limit_next(retry_after=30, path="/refund")
    error = refuse(lambda: paypal.refund(capture, 100, "USD", reason="x", idempotency_key=KEY))
    assert error.kind == FailureKind.RATE_LIMITED and "try again in 30 s" in error.message
    assert paypal.waits == []  # type: ignore[attr-defined]
    assert len(paypal_fake.posts("/refund")) == 1


def test_a_read_is_retried_too(paypal: PayPalProvider, paypal_fake: PayPalFake):
    subscription_id = paypal_fake.add_subscription()
    paypal_fake.fail_next(503, path=subscription_id, method="GET")
    assert paypal.get_subscription(subscription_id)["id"] == subscription_id
    assert paypal.waits == [0.3]  # type: ignore[attr-defined]
