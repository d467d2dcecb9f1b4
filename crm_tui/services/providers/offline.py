"""The offline provider: money moved by hand (bank transfer, cash) and the demo database.

Nothing leaves the machine. Each action is recorded as done by the agent; ids are
derived from the idempotency key, so the same key always names the same refund
or credit and a retried intent settles to it instead of acting twice. The
subscription it answers with is what was asked for: the local store is the only
record of an offline subscription.

`manual` stands for payments collected by hand: a failed one is marked paid (not
retried) and there is no card to update. The demo database uses this provider
under the names stripe and paypal too, where a retry is recorded as collected.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from crm_tui.services.providers.base import (
    FailureKind,
    ProrationPreview,
    ProviderCharge,
    ProviderCredit,
    ProviderError,
    ProviderRefund,
    ProviderSubscription,
)


def offline_id(prefix: str, idempotency_key: str) -> str:
    return f"offline_{prefix}_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def offline_refund_id(idempotency_key: str) -> str:
    return offline_id("re", idempotency_key)


class OfflineProvider:
    def __init__(self, name: str = "manual") -> None:
        self.name = name

    def refund(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        return ProviderRefund(
            offline_refund_id(idempotency_key), amount_minor, currency, "succeeded"
        )

    def find_refund(self, payment_id: str, idempotency_key: str) -> ProviderRefund | None:
        # An offline refund exists as soon as it was asked for: the agent pays it by hand.
        return None

    def retry_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderCharge:
        if self.name == "manual":
            raise ProviderError(
                FailureKind.NOT_SUPPORTED,
                "a manual payment is collected by hand: mark it paid when the money arrives",
            )
        return ProviderCharge(offline_id("ch", idempotency_key), 0, "", "succeeded")

    def apply_credit(
        self,
        customer_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderCredit:
        return ProviderCredit(offline_id("cr", idempotency_key), amount_minor, currency)

    def payment_method_link(self, customer_id: str, *, return_url: str) -> str:
        raise ProviderError(
            FailureKind.NOT_SUPPORTED,
            "this customer pays by hand (no provider account): there is no payment-method "
            "link to send — agree the payment method with them directly",
        )

    def pause(
        self, subscription_id: str, *, until: datetime | None, idempotency_key: str
    ) -> ProviderSubscription:
        return ProviderSubscription(subscription_id, "paused", paused_until=until)

    def resume(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription:
        return ProviderSubscription(subscription_id, "active")

    def cancel(
        self, subscription_id: str, *, at_period_end: bool, reason: str, idempotency_key: str
    ) -> ProviderSubscription:
        if at_period_end:
            return ProviderSubscription(subscription_id, "", cancel_at_period_end=True)
        return ProviderSubscription(subscription_id, "cancelled")

    def preview_plan_change(self, subscription_id: str, plan_code: str) -> ProrationPreview:
        raise ProviderError(FailureKind.NOT_SUPPORTED, "no provider preview offline")

    def change_plan(
        self, subscription_id: str, plan_code: str, *, idempotency_key: str
    ) -> ProviderSubscription:
        return ProviderSubscription(subscription_id, "", plan_code=plan_code)

    def extend_trial(
        self, subscription_id: str, trial_end: datetime, *, idempotency_key: str
    ) -> ProviderSubscription:
        return ProviderSubscription(subscription_id, "trial", trial_end=trial_end)
