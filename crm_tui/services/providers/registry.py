"""Which provider answers for which payments, from the settings.

The demo database moves no real money: every provider is the offline one there.
Stripe and PayPal clients are not built yet (issue 4): until they are, their
payments get a provider that says so, and nothing moves.
"""

from __future__ import annotations

from crm_tui.config import Settings
from crm_tui.services.providers.base import PaymentProvider, UnconfiguredProvider
from crm_tui.services.providers.offline import OfflineProvider

PROVIDER_NAMES = ("stripe", "paypal", "manual")


def providers_for(settings: Settings) -> dict[str, PaymentProvider]:
    if settings.demo:
        return {name: OfflineProvider(name) for name in PROVIDER_NAMES}
    return {
        "manual": OfflineProvider(),
        "stripe": UnconfiguredProvider("stripe", "the Stripe client is not available yet"),
        "paypal": UnconfiguredProvider("paypal", "the PayPal client is not available yet"),
    }
