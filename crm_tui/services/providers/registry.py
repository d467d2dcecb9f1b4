"""Which provider answers for which payments, from the settings and the credentials.

The demo database moves no real money: every provider is the offline one there.
Otherwise Stripe and PayPal are built from their credentials (keyring or CRM_*
variables, read through `secret`); without them, their payments get a provider
that says exactly what is missing, and nothing moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from crm_tui.config import Settings
from crm_tui.services.providers.base import PaymentProvider, UnconfiguredProvider
from crm_tui.services.providers.offline import OfflineProvider

PROVIDER_NAMES = ("stripe", "paypal", "manual")


def _no_secret(name: str) -> str:
    return ""


def providers_for(
    settings: Settings, secret: Callable[[str], str] = _no_secret
) -> dict[str, PaymentProvider]:
    if settings.demo:
        return {name: OfflineProvider(name) for name in PROVIDER_NAMES}
    return {
        "manual": OfflineProvider(),
        "stripe": _stripe(settings, secret),
        "paypal": _paypal(settings, secret),
    }


def _stripe(settings: Settings, secret: Callable[[str], str]) -> PaymentProvider:
    key = secret("stripe_api_key")
    if not key:
        return cast(
            PaymentProvider,
            UnconfiguredProvider(
                "stripe", "no API key (crm-tui secrets set stripe, or CRM_STRIPE_API_KEY)"
            ),
        )
    from crm_tui.services.providers.stripe import StripeProvider  # the SDK loads in ~0.3 s

    return StripeProvider(key, api_base=settings.stripe_api_base)


def _paypal(settings: Settings, secret: Callable[[str], str]) -> PaymentProvider:
    client_id, client_secret = secret("paypal_client_id"), secret("paypal_client_secret")
    if not (client_id and client_secret):
        return cast(
            PaymentProvider,
            UnconfiguredProvider(
                "paypal",
                "no client id and secret (crm-tui secrets set paypal, or "
                "CRM_PAYPAL_CLIENT_ID and CRM_PAYPAL_CLIENT_SECRET)",
            ),
        )
    from crm_tui.services.providers.paypal import PayPalProvider  # httpx: off cold start

    return PayPalProvider(settings.paypal_api_base, client_id, client_secret)
