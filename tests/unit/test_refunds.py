"""Refunds through intents, on both engines: never twice, never silently lost."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.providers.base import FailureKind, ProviderError, ProviderRefund
from crm_tui.services.providers.offline import OfflineProvider, offline_refund_id
from crm_tui.services.refunds import RefundFailed, RefundPending, RefundService
from tests.factories import add_agent, add_customer, add_payment

AGENT = Actor.agent("ana", agent_id=None, display_name="Ana")


class Ledger:
    """A provider as the refund protocol sees one, keeping what it was asked to do.

    `outage` makes it take the refund and then not answer (a timeout after the money
    moved), `refuse` makes it refuse. Refunds are keyed by idempotency key, as
    Stripe's and PayPal's are: the same key twice refunds once."""

    name = "manual"

    def __init__(self) -> None:
        self.refunds: dict[str, ProviderRefund] = {}
        self.calls = 0
        self.outage = False
        self.refuse: ProviderError | None = None

    def refund(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        *,
        reason: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        self.calls += 1
        if self.refuse is not None:
            raise self.refuse
        refund = self.refunds.setdefault(
            idempotency_key,
            ProviderRefund(f"re_{len(self.refunds) + 1}", amount_minor, currency, "succeeded"),
        )
        if self.outage:
            raise TimeoutError("read timed out")
        return refund

    def find_refund(self, payment_id: str, idempotency_key: str) -> ProviderRefund | None:
        return self.refunds.get(idempotency_key)


def _setup(engine: Engine, **payment: Any) -> tuple[int, int]:
    with engine.begin() as c:
        customer = add_customer(c, ltv_minor=10_000, currency="EUR")
        values = {"amount_minor": 10_000, "currency": "EUR", "provider": "manual"} | payment
        return customer, add_payment(c, customer, provider_id="pay_1", **values)


def _table(engine: Engine, name: str) -> list[Any]:
    with engine.connect() as c:
        return list(c.execute(sa.text(f"SELECT * FROM {name} ORDER BY 1")))


def _snapshot(engine: Engine) -> dict[str, list[Any]]:
    names = ("payment", "refund", "customer", "activity_event")
    return {name: _table(engine, name) for name in names}


def test_full_then_nothing_left(engine: Engine) -> None:
    _, payment = _setup(engine)
    service = RefundService(engine, {"manual": OfflineProvider()})
    done = service.refund(payment, 10_000, "Customer never used the service", AGENT)
    assert done.payment_status == "refunded"
    assert done.provider_refund_id.startswith("offline_re_")
    (row,) = _table(engine, "payment")
    assert (row.refunded_minor, row.status) == (10_000, "refunded")
    (refund,) = _table(engine, "refund")
    assert (refund.amount_minor, refund.reason) == (10_000, "Customer never used the service")
    (event,) = _table(engine, "activity_event")
    assert event.summary == "Refunded €100.00 of €100.00: Customer never used the service"
    (intent,) = _table(engine, "provider_intent")
    assert intent.status == "succeeded" and intent.idempotency_key.startswith("crm-refund-")
    assert refund.provider_id == offline_refund_id(intent.idempotency_key)
    with engine.connect() as c:
        ltv = c.execute(sa.text("SELECT ltv_minor FROM customer")).scalar()
    assert ltv == 0
    with pytest.raises(InvalidInput, match=r"at most €0\.00 can be refunded"):
        service.refund(payment, 1, "again please", AGENT)


def test_partial_refunds_add_up_and_an_over_refund_is_refused(engine: Engine) -> None:
    _, payment = _setup(engine)
    service = RefundService(engine, {"manual": OfflineProvider()})
    assert service.refund(payment, 2_500, "Outage credit", AGENT).payment_status == (
        "partially_refunded"
    )
    before = _snapshot(engine)
    with pytest.raises(InvalidInput) as refused:
        service.refund(payment, 7_501, "More outage credit", AGENT)
    assert "at most €75.00 can be refunded (€25.00 of €100.00 already was)" in str(refused.value)
    assert _snapshot(engine) == before
    assert service.refundable(payment, AGENT).remaining_minor == 7_500


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [(0, "A good reason", "amount"), (-5, "A good reason", "amount"), (100, "", "reason")],
)
def test_bad_input_writes_nothing(engine: Engine, amount: int, reason: str, field: str) -> None:
    _, payment = _setup(engine)
    before = _snapshot(engine) | {"provider_intent": _table(engine, "provider_intent")}
    with pytest.raises(InvalidInput) as refused:
        RefundService(engine, {"manual": OfflineProvider()}).refund(payment, amount, reason, AGENT)
    assert field in refused.value.errors
    assert _snapshot(engine) | {"provider_intent": _table(engine, "provider_intent")} == before


def test_a_failed_payment_cannot_be_refunded(engine: Engine) -> None:
    _, payment = _setup(engine, status="failed")
    with pytest.raises(InvalidInput, match="a failed payment cannot be refunded"):
        RefundService(engine, {"manual": OfflineProvider()}).refund(payment, 1, "Goodwill", AGENT)


def test_a_refusal_changes_nothing_but_the_intent(engine: Engine) -> None:
    _, payment = _setup(engine)
    ledger = Ledger()
    ledger.refuse = ProviderError(FailureKind.ALREADY_REFUNDED, "the charge was already refunded")
    before = _snapshot(engine)
    with pytest.raises(RefundFailed, match="already refunded"):
        RefundService(engine, {"manual": ledger}).refund(payment, 500, "Goodwill", AGENT)
    assert _snapshot(engine) == before
    (intent,) = _table(engine, "provider_intent")
    assert (intent.status, intent.error) == ("failed", "the charge was already refunded")


def test_an_unknown_outcome_stays_pending_and_is_settled_once(engine: Engine) -> None:
    _, payment = _setup(engine)
    ledger = Ledger()
    ledger.outage = True
    service = RefundService(engine, {"manual": ledger})
    with engine.begin() as c:
        ben = Actor.agent("ben", agent_id=add_agent(c, "ben", display_name="Ben Ode"))
    before = _snapshot(engine)
    with pytest.raises(RefundPending, match="never paid twice"):
        service.refund(payment, 4_000, "Double charge", ben)
    assert _snapshot(engine) == before  # nothing recorded as refunded yet …
    (intent,) = _table(engine, "provider_intent")
    assert intent.status == "pending"  # … but nothing lost either
    # A second agent trying again is told who is refunding it, and to wait.
    with pytest.raises(InvalidInput, match=r"already being refunded by Ben Ode at .* UTC"):
        service.refund(payment, 4_000, "Double charge", AGENT)
    assert ledger.calls == 1

    ledger.outage = False
    assert service.reconcile(AGENT) == [f"intent {intent.id}: refunded at the provider; recorded"]
    assert service.reconcile(AGENT) == []  # settled: a second run does nothing
    assert ledger.calls == 1 and len(ledger.refunds) == 1  # the money moved once
    (row,) = _table(engine, "payment")
    assert (row.refunded_minor, row.status) == (4_000, "partially_refunded")
    assert [r.provider_id for r in _table(engine, "refund")] == ["re_1"]


def test_an_intent_that_never_reached_the_provider_is_closed(engine: Engine) -> None:
    _, payment = _setup(engine)
    ledger = Ledger()
    ledger.refuse = ProviderError(FailureKind.UNREACHABLE, "could not connect")
    service = RefundService(engine, {"manual": ledger})
    with pytest.raises(RefundPending):
        service.refund(payment, 1_000, "Goodwill", AGENT)
    ledger.refuse = None
    (intent,) = _table(engine, "provider_intent")
    assert service.reconcile(AGENT) == [f"intent {intent.id}: never reached the provider; closed"]
    assert _table(engine, "refund") == []
    assert service.refund(payment, 1_000, "Goodwill", AGENT).amount_minor == 1_000


def test_refund_window(engine: Engine) -> None:
    _, payment = _setup(engine)  # paid on 2026-01-15
    service = RefundService(engine, {"manual": OfflineProvider()}, refund_window_days=30)
    with pytest.raises(InvalidInput, match="the refund policy allows 30 days"):
        service.refund(payment, 100, "Goodwill", AGENT)


def test_cli_reconcile_closes_an_offline_intent_that_never_completed(
    engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from crm_tui.cli import main

    _, payment = _setup(engine)
    service = RefundService(engine, {"manual": Ledger()})
    ledger = service.providers["manual"]
    assert isinstance(ledger, Ledger)
    ledger.refuse = ProviderError(FailureKind.UNREACHABLE, "could not connect")
    with pytest.raises(RefundPending):
        service.refund(payment, 1_000, "Goodwill", AGENT)  # a crash would leave the same
    assert main(["reconcile", "--database-url", db_url]) == 0
    out = capsys.readouterr().out
    assert "never reached the provider; closed" in out and "1 pending action(s)" in out
    assert [row.status for row in _table(engine, "provider_intent")] == ["failed"]
    assert main(["reconcile", "--database-url", db_url]) == 0
    assert "0 pending action(s) looked at" in capsys.readouterr().out
