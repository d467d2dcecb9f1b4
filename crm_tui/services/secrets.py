"""Credentials: the `CRM_*` environment variables first, then the OS keyring.

A jump host often has no keyring backend (no desktop session, no Secret Service):
then `set` refuses with a plain message naming the supported fallback, the
`CRM_*` variables. Values never appear in messages, reprs or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any

SERVICE = "crm-tui"

# Secret name → the environment variable that may hold it instead.
VARIABLES = {
    "stripe_api_key": "CRM_STRIPE_API_KEY",
    "paypal_client_id": "CRM_PAYPAL_CLIENT_ID",
    "paypal_client_secret": "CRM_PAYPAL_CLIENT_SECRET",
    "smtp_password": "CRM_SMTP_PASSWORD",
}
# What `crm-tui secrets set PROVIDER` asks for.
GROUPS = {
    "stripe": ("stripe_api_key",),
    "paypal": ("paypal_client_id", "paypal_client_secret"),
    "smtp": ("smtp_password",),
}


class NoKeyring(Exception):
    """No usable keyring here; the message says so and names the fallback."""


def fallback_hint(names: tuple[str, ...] | None = None) -> str:
    variables = ", ".join(VARIABLES[n] for n in (names or tuple(VARIABLES)))
    return (
        "No OS keyring is available on this machine (common on a jump host without a "
        f"desktop session). Set the environment variables instead: {variables} — for "
        "example in a file readable only by you (chmod 600) that your shell profile sources."
    )


class Secrets:
    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        keyring_module: ModuleType | Any | None = None,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._keyring = keyring_module

    def __repr__(self) -> str:  # never the values
        return "Secrets(<hidden>)"

    def _backend(self) -> Any:
        if self._keyring is None:
            import keyring

            self._keyring = keyring
        return self._keyring

    def get(self, name: str) -> str:
        """The secret, or "" when it is set nowhere (or the keyring cannot be read)."""
        variable = VARIABLES[name]
        if self._environ.get(variable):
            return self._environ[variable]
        if not self.keyring_status()[0]:
            return ""
        try:
            return self._backend().get_password(SERVICE, name) or ""
        except Exception:  # a locked or broken keyring: as if unset (doctor explains)
            return ""

    def set(self, name: str, value: str) -> None:
        if name not in VARIABLES:
            raise KeyError(name)
        usable, why = self.keyring_status()
        if not usable:
            raise NoKeyring(f"{why}. {fallback_hint((name,))}")
        try:
            self._backend().set_password(SERVICE, name, value)
        except Exception as error:
            # The error's text is the backend's, never the value.
            raise NoKeyring(
                f"The keyring refused to store {name} ({type(error).__name__}). "
                + fallback_hint((name,))
            ) from None

    def keyring_status(self) -> tuple[bool, str]:
        """(usable, a sentence about the backend) — for `set` and `crm-tui doctor`."""
        try:
            backend = self._backend().get_keyring()
        except Exception as error:
            return False, f"the keyring cannot be loaded ({type(error).__name__})"
        kind = type(backend)
        name = f"{kind.__module__}.{kind.__name__}"
        priority = getattr(backend, "priority", 1)
        if "fail" in kind.__module__ or (isinstance(priority, int | float) and priority <= 0):
            return False, f"no keyring backend ({name})"
        chained = getattr(backend, "backends", None)
        if chained is not None and not list(chained):
            return False, "no keyring backend (an empty chain)"
        return True, f"keyring backend {name}"
