"""What the money services need from a payment provider, and how a provider fails.

Every call that moves money takes an idempotency key, stored locally (as an
intent) before the call: the same key sent twice moves the money once, and
`find_refund` lets a pending intent be settled after a crash or a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    INVALID = "invalid"


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


class UnconfiguredProvider:
    """A provider with no credentials here: every call says so, nothing moves."""

    def __init__(self, name: str, hint: str) -> None:
        self.name = name
        self.hint = hint

    def _refuse(self) -> ProviderError:
        return ProviderError(
            FailureKind.NOT_CONFIGURED, f"{self.name.capitalize()} is not configured: {self.hint}"
        )

    def refund(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        raise self._refuse()

    def find_refund(self, payment_id: str, idempotency_key: str) -> ProviderRefund | None:
        raise self._refuse()
