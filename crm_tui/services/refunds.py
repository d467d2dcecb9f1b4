"""Refunding a payment, safely: never twice, never silently lost.

1. Check: the amount is positive and at most what remains refundable (refunds
   already made *and* refund intents still pending count), a reason is given.
2. Store an intent (`provider_intent`, status pending) with a fresh idempotency
   key, in its own transaction, before anything else happens. The payment's row
   is locked while the remaining amount is checked, so two agents cannot both
   refund the last euro.
3. Call the provider with that key.
4. Success: in one transaction, the refund row, the payment's refunded amount and
   status, the customer's lifetime value, an activity event, and the intent
   marked succeeded. A refusal: the intent is marked failed with the provider's
   reason and nothing else changes. An unknown outcome (timeout, crash): the
   intent stays pending, shown on the profile, and `reconcile` settles it later
   with the provider (`find_refund` by the same key) — never a second refund.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.config import refund_limits
from crm_tui.formatting import format_money
from crm_tui.models import tables
from crm_tui.models.enums import (
    ActivityKind,
    ApprovalKind,
    IntentStatus,
    PaymentStatus,
    RefundStatus,
    RequestStatus,
)
from crm_tui.services.actor import Actor
from crm_tui.services.approvals import ApprovalRefused, NeedsApproval
from crm_tui.services.customer_edit import InvalidInput, validate_reason
from crm_tui.services.customer_summary import COLLECTED_STATUSES
from crm_tui.services.database import as_utc
from crm_tui.services.directory import parse_amount_minor
from crm_tui.services.intents import (
    ActionFailed,
    ActionPending,
    ask_provider,
    fail_intent,
    record_activity,
)
from crm_tui.services.permissions import NotAllowed, Permission, authorize
from crm_tui.services.providers.base import (
    FailureKind,
    PaymentProvider,
    ProviderError,
    ProviderRefund,
)

_TABLES = tables.SQLModel.metadata.tables
_payment = _TABLES["payment"]
_refund = _TABLES["refund"]
_intent = _TABLES["provider_intent"]
_agent = _TABLES["agent"]
_customer = _TABLES["customer"]
_approval = _TABLES["approval_request"]

REFUND_ACTION = "refund"


class RefundFailed(ActionFailed):
    """The provider refused: nothing moved. `message` says why, for the agent."""


class RefundPending(ActionPending):
    """The outcome is unknown (the provider did not answer): the intent stays pending
    and `reconcile` will settle it. Refunding again is refused until then."""


@dataclass(frozen=True)
class RefundDone:
    refund_id: int
    provider_refund_id: str
    amount_minor: int
    currency: str
    payment_status: str


@dataclass(frozen=True)
class Refundable:
    """What an agent may still refund of a payment."""

    payment_id: int
    customer_id: int
    provider: str
    provider_payment_id: str
    amount_minor: int
    currency: str
    refunded_minor: int
    pending_minor: int  # in refund intents not yet settled
    created_at: datetime
    pending_by: str = ""  # who started the pending refund, and when ("Ben Ode at 14:02 UTC")

    @property
    def remaining_minor(self) -> int:
        return max(0, self.amount_minor - self.refunded_minor - self.pending_minor)


class RefundService:
    def __init__(
        self,
        engine: Engine,
        providers: Mapping[str, PaymentProvider],
        *,
        refund_window_days: int = 0,
        approval_above: str = "",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.refund_window_days = refund_window_days
        # A refund above this amount needs a manager's approval: config.toml's text,
        # per currency ("500.00 USD, 75000 JPY"; a bare amount for the others; "" never).
        self.approval_above = approval_above
        self.now = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ reading

    def refundable(self, payment_id: int, actor: Actor) -> Refundable:
        with self.engine.connect() as connection:
            return self._refundable(connection, payment_id)

    # ------------------------------------------------------------------ writing

    def approval_limit(self, currency: str) -> int | None:
        """The largest refund, in `currency`'s minor units, made without an approval
        (None: any amount). `approval_above` is config.toml's text, per currency."""
        limits = refund_limits(self.approval_above)
        text = limits.get(currency.upper(), limits.get("*"))
        return None if text is None else parse_amount_minor(text, currency)

    def refund(
        self,
        payment_id: int,
        amount_minor: int,
        reason: str,
        actor: Actor,
        *,
        approval_id: int | None = None,
    ) -> RefundDone:
        """Refund; above the approval limit only with `approval_id`, the id of an
        approved request for exactly this payment and amount (else NeedsApproval)."""
        reason = validate_reason(reason)
        intent_id, key, payment = self._store_intent(
            payment_id, amount_minor, reason, actor, approval_id
        )
        answer = ask_provider(
            self.providers,
            payment.provider,
            lambda provider: provider.refund(
                payment.provider_payment_id,
                amount_minor,
                payment.currency,
                reason=reason,
                idempotency_key=key,
            ),
            intent_id=intent_id,
            refused=lambda why: self._fail_intent(intent_id, why),
            what="refund",
            never="paid twice",
            pending=RefundPending,
            failed=RefundFailed,
        )
        return self._complete(intent_id, answer, actor)

    def reconcile(self, actor: Actor) -> list[str]:
        """Settle every pending refund intent with its provider; what happened, in lines."""
        with self.engine.connect() as connection:
            pending = list(
                connection.execute(
                    sa.select(_intent).where(
                        _intent.c.action == REFUND_ACTION,
                        _intent.c.status == IntentStatus.PENDING.value,
                    )
                )
            )
        report: list[str] = []
        for intent in pending:
            provider = self.providers.get(intent.provider)
            payload = intent.payload or {}
            try:
                if provider is None:
                    raise ProviderError(
                        FailureKind.NOT_CONFIGURED,
                        f"no provider '{intent.provider}' is set up",
                    )
                found = provider.find_refund(
                    str(payload.get("provider_payment_id", "")), intent.idempotency_key
                )
            except ProviderError as error:
                report.append(f"intent {intent.id}: still pending ({error.message})")
                continue
            if found is None:
                self._fail_intent(intent.id, "the provider has no refund with this key")
                report.append(f"intent {intent.id}: never reached the provider; closed")
            else:
                try:
                    self._complete(intent.id, found, actor)
                except RefundFailed:
                    report.append(f"intent {intent.id}: the refund failed at the provider; closed")
                    continue
                report.append(f"intent {intent.id}: refunded at the provider; recorded")
        return report

    # ----------------------------------------------------------------- plumbing

    def _refundable(
        self, connection: Connection, payment_id: int, *, lock: bool = False
    ) -> Refundable:
        query = sa.select(_payment).where(_payment.c.id == payment_id)
        if lock:
            # FOR NO KEY UPDATE, the lock our UPDATE of the row already took: a FOR
            # UPDATE would also wait for the key-share lock that a refund being
            # recorded (INSERT refund → payment) holds, while that one waits for us
            # (a deadlock the load test found).
            query = query.with_for_update(key_share=True)
        row = connection.execute(query).first()
        if row is None:
            raise InvalidInput({"payment": f"there is no payment #{payment_id}"})
        pending = [
            intent
            for intent in connection.execute(
                sa.select(_intent.c.payload, _intent.c.created_at, _agent.c.display_name)
                .outerjoin(_agent, _agent.c.id == _intent.c.agent_id)
                .where(
                    _intent.c.action == REFUND_ACTION,
                    _intent.c.status == IntentStatus.PENDING.value,
                    _intent.c.customer_id == row.customer_id,
                )
                .order_by(_intent.c.created_at)
            )
            if (intent.payload or {}).get("payment_id") == payment_id
        ]
        pending_minor = sum(int(intent.payload.get("amount_minor", 0)) for intent in pending)
        pending_by = (
            f"{pending[0].display_name or 'the system'} at "
            f"{as_utc(pending[0].created_at):%Y-%m-%d %H:%M} UTC"
            if pending
            else ""
        )
        if row.status not in COLLECTED_STATUSES:
            status = row.status.replace("_", " ")
            raise InvalidInput({"payment": f"a {status} payment cannot be refunded"})
        return Refundable(
            payment_id=row.id,
            customer_id=row.customer_id,
            provider=row.provider,
            provider_payment_id=row.provider_id,
            amount_minor=row.amount_minor,
            currency=row.currency,
            refunded_minor=row.refunded_minor,
            pending_minor=pending_minor,
            created_at=as_utc(row.created_at),
            pending_by=pending_by,
        )

    def _store_intent(
        self,
        payment_id: int,
        amount_minor: int,
        reason: str,
        actor: Actor,
        approval_id: int | None,
    ) -> tuple[int, str, Refundable]:
        key = f"crm-refund-{uuid.uuid4()}"
        with self.engine.begin() as connection:
            # Before the provider is asked: a refused agent moves nothing anywhere.
            authorize(connection, actor, Permission.CHANGE, "refund payments")
            # Take the payment's write lock first (SQLite: the database's), so the
            # remaining amount cannot change between this check and the intent.
            connection.execute(
                sa.update(_payment)
                .where(_payment.c.id == payment_id)
                .values(refunded_minor=_payment.c.refunded_minor)
            )
            payment = self._refundable(connection, payment_id, lock=True)
            self._check_amount(payment, amount_minor)
            self._check_approval(connection, payment, amount_minor, approval_id)
            intent_id = connection.execute(
                sa.insert(_intent).values(
                    idempotency_key=key,
                    customer_id=payment.customer_id,
                    provider=payment.provider,
                    action=REFUND_ACTION,
                    payload={
                        "payment_id": payment.payment_id,
                        "provider_payment_id": payment.provider_payment_id,
                        "amount_minor": amount_minor,
                        "currency": payment.currency,
                        "reason": reason,
                        "approval_id": approval_id,
                    },
                    status=IntentStatus.PENDING.value,
                    result={},
                    error="",
                    created_at=self.now(),
                    agent_id=actor.agent_id,
                )
            ).inserted_primary_key
        assert intent_id is not None
        return int(intent_id[0]), key, payment

    def _check_amount(self, payment: Refundable, amount_minor: int) -> None:
        money = payment.currency
        if amount_minor <= 0:
            raise InvalidInput({"amount": "must be more than zero"})
        if payment.pending_minor:
            raise InvalidInput(
                {
                    "amount": f"already being refunded by {payment.pending_by}: "
                    f"{format_money(payment.pending_minor, money)} is pending for this payment; "
                    "it must settle first (crm-tui reconcile)"
                }
            )
        if amount_minor > payment.remaining_minor:
            raise InvalidInput(
                {
                    "amount": f"at most {format_money(payment.remaining_minor, money)} can be "
                    f"refunded ({format_money(payment.refunded_minor, money)} of "
                    f"{format_money(payment.amount_minor, money)} already was)"
                }
            )
        if self.refund_window_days:
            age = (self.now() - payment.created_at).days
            if age > self.refund_window_days:
                raise InvalidInput(
                    {
                        "amount": f"the refund policy allows {self.refund_window_days} days; "
                        f"this payment is {age} days old"
                    }
                )

    def _check_approval(
        self,
        connection: Connection,
        payment: Refundable,
        amount_minor: int,
        approval_id: int | None,
    ) -> None:
        limit = self.approval_limit(payment.currency)
        if limit is None or amount_minor <= limit:
            return
        if approval_id is None:
            raise NeedsApproval(
                ApprovalKind.REFUND,
                f"a refund above {format_money(limit, payment.currency)} needs a manager's "
                "approval",
            )
        request = connection.execute(
            sa.select(_approval).where(_approval.c.id == approval_id)
        ).first()
        asked = dict(request.payload or {}) if request is not None else {}
        if (
            request is None
            or request.kind != ApprovalKind.REFUND.value
            or request.status != RequestStatus.APPROVED.value
            or asked.get("payment_id") != payment.payment_id
            or asked.get("amount_minor") != amount_minor
        ):
            raise NotAllowed(
                f"request #{approval_id} is not an approval of this refund: nothing was refunded"
            )
        # One approval, one refund: two managers carrying it out at once refund once.
        used = connection.execute(
            sa.select(_intent.c.payload).where(
                _intent.c.customer_id == payment.customer_id,
                _intent.c.action == REFUND_ACTION,
                _intent.c.status != IntentStatus.FAILED.value,
            )
        ).scalars()
        if any((payload or {}).get("approval_id") == approval_id for payload in used):
            raise ApprovalRefused(f"request #{approval_id} was already carried out")

    def _fail_intent(self, intent_id: int, reason: str) -> None:
        fail_intent(self.engine, intent_id, reason, self.now())

    def _complete(self, intent_id: int, answer: ProviderRefund, actor: Actor) -> RefundDone:
        if answer.status == RefundStatus.FAILED:
            # The provider took the request but the refund itself failed (PayPal: FAILED
            # or CANCELLED; Stripe: failed): no money moved, so nothing is recorded as paid.
            why = f"the provider's refund {answer.id} failed; no money was returned"
            self._fail_intent(intent_id, why)
            raise RefundFailed(f"refund failed: {why} — try again, or refund another way")
        with self.engine.begin() as connection:
            intent = connection.execute(
                sa.select(_intent).where(_intent.c.id == intent_id).with_for_update()
            ).one()
            payload: dict[str, Any] = dict(intent.payload or {})
            if intent.status != IntentStatus.PENDING.value:
                raise RefundFailed(f"intent {intent_id} was already settled ({intent.status})")
            payment_id = int(payload["payment_id"])
            amount = answer.amount_minor
            # The payment's row first, before the refund row that points at it: every
            # refund transaction takes its locks on a payment in the same order.
            payment = connection.execute(
                sa.select(_payment)
                .where(_payment.c.id == payment_id)
                .with_for_update(key_share=True)
            ).one()
            refunded = payment.refunded_minor + amount
            status = (
                PaymentStatus.REFUNDED
                if refunded >= payment.amount_minor
                else PaymentStatus.PARTIALLY_REFUNDED
            )
            now = self.now()
            refund_id = connection.execute(
                sa.insert(_refund).values(
                    payment_id=payment_id,
                    amount_minor=amount,
                    currency=answer.currency,
                    status=answer.status,
                    reason=str(payload.get("reason", "")),
                    provider_id=answer.id,
                    created_at=now,
                    agent_id=intent.agent_id,
                )
            ).inserted_primary_key
            assert refund_id is not None
            connection.execute(
                sa.update(_payment)
                .where(_payment.c.id == payment_id)
                .values(refunded_minor=refunded, status=status.value)
            )
            connection.execute(
                sa.update(_customer)
                .where(_customer.c.id == payment.customer_id)
                .values(ltv_minor=_customer.c.ltv_minor - amount)
            )
            money = (
                f"{format_money(amount, answer.currency)} of "
                f"{format_money(payment.amount_minor, payment.currency)}"
            )
            record_activity(
                connection,
                payment.customer_id,
                ActivityKind.PAYMENT,
                actor,
                f"Refunded {money}: {payload.get('reason', '')}",
                {
                    "payment_id": payment_id,
                    "amount_minor": amount,
                    "provider": intent.provider,
                    "provider_refund_id": answer.id,
                    "idempotency_key": intent.idempotency_key,
                },
                now,
            )
            connection.execute(
                sa.update(_intent)
                .where(_intent.c.id == intent_id)
                .values(
                    status=IntentStatus.SUCCEEDED.value,
                    result={"refund_id": answer.id, "status": answer.status},
                    settled_at=now,
                )
            )
        return RefundDone(int(refund_id[0]), answer.id, amount, answer.currency, status.value)
