"""A crash between the provider call and the local commit, and the same refund twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.database import create_db_engine
from crm_tui.services.providers.stripe import StripeProvider
from crm_tui.services.refunds import RefundDone, RefundService
from crm_tui.services.stripe_sync import StripeSync
from tests.support.localstripe_server import LocalStripe

HELPER = Path(__file__).parents[1] / "support" / "refund_then_die.py"
ROOT = Path(__file__).parents[2]
_T = tables.SQLModel.metadata.tables


def _paid_customer(localstripe: LocalStripe, engine: Engine) -> tuple[StripeProvider, int, str]:
    localstripe.plan("basic", 1000)
    customer = localstripe.customer("Dana Doe", "dana@example.com")
    localstripe.subscribe(customer, "basic")
    provider = StripeProvider(localstripe.api_key, api_base=localstripe.url, timeout=5)
    StripeSync(engine, provider).run()
    with engine.connect() as connection:
        payment = connection.execute(sa.select(_T["payment"])).one()
    return provider, payment.id, payment.provider_id


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(sa.select(sa.func.count()).select_from(_T[table])).scalar_one()
        )


def test_killed_after_the_refund_reconciles_to_exactly_one(
    localstripe: LocalStripe, db_url: str
) -> None:
    engine = create_db_engine(db_url)
    _, payment_id, charge_id = _paid_customer(localstripe, engine)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [
            sys.executable,
            str(HELPER),
            db_url,
            localstripe.url,
            localstripe.api_key,
            str(payment_id),
            "400",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    # Stripe refunded; here only the intent was stored, still pending.
    assert localstripe.get("charge", charge_id)["amount_refunded"] == 400
    assert _count(engine, "refund") == 0
    with engine.connect() as connection:
        (intent,) = connection.execute(sa.select(_T["provider_intent"])).all()
    assert intent.status == "pending"

    # "Restart": the command line settles it with Stripe, by the key stored before the call.
    env |= {"CRM_STRIPE_API_KEY": localstripe.api_key, "CRM_STRIPE_API_BASE": localstripe.url}
    reconcile = subprocess.run(
        [sys.executable, "-m", "crm_tui", "reconcile", "--database-url", db_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reconcile.returncode == 0, reconcile.stderr
    assert "refunded at the provider; recorded" in reconcile.stdout
    assert localstripe.get("charge", charge_id)["amount_refunded"] == 400
    assert _count(engine, "refund") == 1
    with engine.connect() as connection:
        payment = connection.execute(
            sa.select(_T["payment"]).where(_T["payment"].c.id == payment_id)
        ).one()
    assert (payment.refunded_minor, payment.status) == (400, "partially_refunded")
    # A second reconcile finds nothing left to do.
    again = subprocess.run(
        [sys.executable, "-m", "crm_tui", "reconcile", "--database-url", db_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "0 pending action(s)" in again.stdout
    engine.dispose()


def test_the_same_refund_sent_twice_at_once_refunds_once(
    localstripe: LocalStripe, engine: Engine
) -> None:
    provider, payment_id, charge_id = _paid_customer(localstripe, engine)
    service = RefundService(engine, {"stripe": provider})
    outcomes: list[object] = []

    def refund() -> None:
        try:
            outcomes.append(service.refund(payment_id, 1000, "Double click", Actor.system()))
        except InvalidInput as refused:
            outcomes.append(refused)
        except Exception as error:  # pragma: no cover - shown in the assertion
            outcomes.append(error)

    threads = [threading.Thread(target=refund) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    done = [o for o in outcomes if isinstance(o, RefundDone)]
    refused = [o for o in outcomes if isinstance(o, InvalidInput)]
    assert (len(done), len(refused)) == (1, 1), outcomes
    assert localstripe.get("charge", charge_id)["amount_refunded"] == 1000
    assert _count(engine, "refund") == 1


@pytest.fixture(autouse=True)
def _no_stripe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_STRIPE_API_KEY", "CRM_STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)
