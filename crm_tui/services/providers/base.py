"""What the money services need from a payment provider, and how a provider fails.

Every call that moves money or changes a subscription takes an idempotency key,
stored locally (as an intent) before the call: the same key sent twice acts
once, and a pending intent is settled after a crash or a timeout by asking the
provider again with the same key (`find_refund` for refunds).

Ids passed in are the provider's own (Stripe `ch_`/`pi_`/`sub_`/`cus_`, PayPal
capture/subscription/payer ids); plan codes are the provider's plan ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class FailureKind(StrEnum):
    DECLINED = "declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    ALREADY_REFUNDED = "already_refunded"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    UNREACHABLE = "unreachable"  # the outcome is unknown: the intent stays pending
    NOT_CONFIGURED = "not_configured"
    NOT_SUPPORTED = "not_supported"  # this provider cannot do this (say what to do instead)
    INVALID = "invalid"


# The retry policy every provider shares: a request that may pass on a second try (a
# timeout, a reset or dropped connection, a 5xx, a 429 asking for a short wait) is
# sent again with the same idempotency key, at most ATTEMPTS times in all; then the
# agent is told plainly. A longer Retry-After is said, not slept through.
ATTEMPTS = 3
BACKOFF = (0.3, 1.0)  # seconds before the 2nd and the 3rd try
RETRY_AFTER_MAX = 3.0


def retry_wait(
    attempt: int, *, transient: bool, rate_limited: bool, retry_after: str | None
) -> float | None:
    """Seconds to wait before trying again after failed `attempt` (1, 2, ...); None: don't."""
    if attempt >= ATTEMPTS:
        return None
    if rate_limited:
        try:
            seconds = float(retry_after) if retry_after else BACKOFF[attempt - 1]
        except ValueError:
            return None
        return seconds if 0 <= seconds <= RETRY_AFTER_MAX else None
    return BACKOFF[min(attempt, len(BACKOFF)) - 1] if transient else None


class ProviderError(Exception):
    """The provider refused (or could not be asked). `message` is for the agent."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def outcome_unknown(self) -> bool:
        """True when the money may have moved: the call may have reached the provider."""
        return self.kind == FailureKind.UNREACHABLE


@dataclass(frozen=True)
class ProviderRefund:
    id: str  # the provider's refund id
    amount_minor: int
    currency: str
    status: str  # RefundStatus: succeeded, pending, failed


@dataclass(frozen=True)
class ProviderCharge:
    """The outcome of collecting a payment again (retry)."""

    id: str  # the provider's id of the new (or retried) charge
    amount_minor: int
    currency: str
    status: str  # PaymentStatus: succeeded, failed, pending
    failure_reason: str = ""  # for the agent, when status is failed


@dataclass(frozen=True)
class ProviderCredit:
    id: str
    amount_minor: int  # positive: credit granted to the customer
    currency: str


@dataclass(frozen=True)
class ProviderSubscription:
    """A subscription as the provider holds it after a change.

    `None` means "the provider did not say": the local value is kept.
    """

    id: str
    status: str  # SubscriptionStatus value
    plan_code: str | None = None
    amount_minor: int | None = None
    current_period_end: datetime | None = None
    trial_end: datetime | None = None
    cancel_at_period_end: bool | None = None
    paused_until: datetime | None = None
    ended_at: datetime | None = None
    # Set when the customer must approve the change at the provider first (PayPal revise).
    approval_url: str = ""


@dataclass(frozen=True)
class ProrationPreview:
    """What a plan change will charge (positive) or credit (negative) now."""

    amount_due_minor: int
    currency: str
    lines: tuple[str, ...] = field(default_factory=tuple)


class PaymentProvider(Protocol):
    name: str  # Provider: stripe, paypal, manual

    def refund(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        """Refund `amount_minor` of the payment; the same key refunds once."""
        ...

    def find_refund(self, payment_id: str, idempotency_key: str) -> ProviderRefund | None:
        """The refund made with this key, if the provider has one (settles an intent)."""
        ...

    def retry_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderCharge:
        """Collect a failed payment again. A decline is a ProviderCharge with status failed."""
        ...

    def apply_credit(
        self,
        customer_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderCredit:
        """Grant account credit, used up by the customer's next invoices."""
        ...

    def payment_method_link(self, customer_id: str, *, return_url: str) -> str:
        """A link where the customer updates their payment method (Stripe billing portal)."""
        ...

    def pause(
        self, subscription_id: str, *, until: datetime | None, idempotency_key: str
    ) -> ProviderSubscription:
        """Stop collecting payments, until a date or (None) until resumed."""
        ...

    def resume(self, subscription_id: str, *, idempotency_key: str) -> ProviderSubscription: ...

    def cancel(
        self, subscription_id: str, *, at_period_end: bool, reason: str, idempotency_key: str
    ) -> ProviderSubscription: ...

    def preview_plan_change(self, subscription_id: str, plan_code: str) -> ProrationPreview: ...

    def change_plan(
        self, subscription_id: str, plan_code: str, *, idempotency_key: str
    ) -> ProviderSubscription: ...

    def extend_trial(
        self, subscription_id: str, trial_end: datetime, *, idempotency_key: str
    ) -> ProviderSubscription: ...


class UnconfiguredProvider:
    """A provider with no credentials here: every call says so, nothing moves."""

    def __init__(self, name: str, hint: str) -> None:
        self.name = name
        self.hint = hint

    def _refuse(self) -> ProviderError:
        return ProviderError(
            FailureKind.NOT_CONFIGURED, f"{self.name.capitalize()} is not configured: {self.hint}"
        )

    def __getattr__(self, name: str) -> object:
        # Every operation of the protocol refuses the same way.
        if name.startswith("_"):
            raise AttributeError(name)

        def refuse(*args: object, **kwargs: object) -> object:
            raise self._refuse()

        return refuse
