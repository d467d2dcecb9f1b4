"""The offline provider: money moved by hand (bank transfer, cash) and the demo database.

Nothing leaves the machine. A refund is recorded as done by the agent; its id is
derived from the idempotency key, so the same key always names the same refund
and a retried intent settles to it instead of refunding twice.
"""

from __future__ import annotations

import hashlib

from crm_tui.services.providers.base import ProviderRefund


def offline_refund_id(idempotency_key: str) -> str:
    return "offline_re_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


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
