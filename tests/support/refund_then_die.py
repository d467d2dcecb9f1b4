"""A process that refunds at Stripe and is killed before it can record the refund.

Run by tests/unit/test_refund_crash.py: `python refund_then_die.py DB_URL API_BASE
API_KEY PAYMENT_ID AMOUNT`. The Stripe call goes through; the moment its answer
is back, the process sends itself SIGKILL — no exception handler, no `finally`,
no commit: exactly a crash between the provider call and the local commit.
"""

from __future__ import annotations

import os
import signal
import sys

from crm_tui.services.actor import Actor
from crm_tui.services.database import create_db_engine
from crm_tui.services.providers.stripe import StripeProvider
from crm_tui.services.refunds import RefundService


class DiesAfterRefund(StripeProvider):
    def refund(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().refund(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def main() -> None:
    db_url, api_base, api_key, payment_id, amount = sys.argv[1:6]
    provider = DiesAfterRefund(api_key, api_base=api_base, timeout=10)
    service = RefundService(create_db_engine(db_url), {"stripe": provider})
    service.refund(int(payment_id), int(amount), "Refund cut short by a crash", Actor.system())


if __name__ == "__main__":
    main()
