"""What an agent does to an account at the provider: retry, credit, pause, resume,
cancel, change plan, extend a trial — and the local-only money facts (mark a
manual payment paid, affiliate and commission).

Each provider action goes through an intent (services/intents.py): stored with
its idempotency key before the call, completed with the local changes, an
activity event with the agent as actor, and the customer's summary columns in
one transaction. Checks refuse bad requests before anything is stored
(InvalidInput, per field), so a refused action writes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.formatting import format_date, format_money
from crm_tui.models import tables
from crm_tui.models.enums import (
    CYCLE_MONTHS,
    ActivityKind,
    BillingCycle,
    IntentStatus,
    InvoiceStatus,
    PaymentStatus,
    SubscriptionStatus,
)
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput, validate_reason
from crm_tui.services.customer_summary import refresh_summary
from crm_tui.services.database import as_utc
from crm_tui.services.intents import (
    ActionDone,
    ActionFailed,
    ActionKind,
    ActionPending,
    IntentRunner,
    record_activity,
)
from crm_tui.services.providers.base import (
    FailureKind,
    PaymentProvider,
    ProrationPreview,
    ProviderCharge,
    ProviderCredit,
    ProviderError,
    ProviderSubscription,
)

__all__ = ["AccountActions", "ActionDone", "ActionFailed", "ActionPending", "PlanChangePreview"]

_T = tables.SQLModel.metadata.tables
_sub, _plan, _payment, _invoice = _T["subscription"], _T["plan"], _T["payment"], _T["invoice"]
_credit, _intent, _external = _T["credit"], _T["provider_intent"], _T["external_id"]

MAX_TRIAL_EXTENSION_DAYS = 365
MAX_PAUSE_DAYS = 366
PAUSABLE = {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIAL, SubscriptionStatus.GRACE}
ENDED = {SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED}


PAYMENT_LINK_SUBJECT = "Update your payment method"


@dataclass(frozen=True)
class PlanChangePreview:
    plan_code: str
    plan_name: str
    amount_minor: int  # the new plan's price per cycle
    cycle: str
    amount_due_minor: int  # charged now (negative: credited)
    currency: str
    from_provider: bool  # False: our own estimate (the provider gives no preview)
    lines: tuple[str, ...]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


class AccountActions:
    def __init__(
        self,
        engine: Engine,
        providers: Mapping[str, PaymentProvider],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.now = clock or (lambda: datetime.now(UTC))
        self.runner = IntentRunner(engine, providers, self._kinds(), self.now)

    def _kinds(self) -> dict[str, ActionKind]:
        def sub_call(method: str) -> Callable[[PaymentProvider, dict[str, Any], str], Any]:
            def call(provider: PaymentProvider, p: dict[str, Any], key: str) -> Any:
                sid = p["provider_subscription_id"]
                if method == "pause":
                    return provider.pause(sid, until=_moment(p.get("until")), idempotency_key=key)
                if method == "resume":
                    return provider.resume(sid, idempotency_key=key)
                if method == "cancel":
                    return provider.cancel(
                        sid,
                        at_period_end=bool(p["at_period_end"]),
                        reason=p["reason"],
                        idempotency_key=key,
                    )
                if method == "change_plan":
                    return provider.change_plan(sid, p["plan_code"], idempotency_key=key)
                trial_end = _moment(p["trial_end"])
                assert trial_end is not None
                return provider.extend_trial(sid, trial_end, idempotency_key=key)

            return call

        return {
            "retry": ActionKind(
                "retry",
                lambda prov, p, key: prov.retry_payment(p["provider_target"], idempotency_key=key),
                self._apply_retry,
                ActivityKind.PAYMENT,
            ),
            "credit": ActionKind(
                "credit",
                lambda prov, p, key: prov.apply_credit(
                    p["provider_customer_id"],
                    p["amount_minor"],
                    p["currency"],
                    reason=p["reason"],
                    idempotency_key=key,
                ),
                self._apply_credit,
                ActivityKind.PAYMENT,
            ),
            "pause": ActionKind("pause", sub_call("pause"), self._apply_subscription),
            "resume": ActionKind("resume", sub_call("resume"), self._apply_subscription),
            "cancel": ActionKind("cancel", sub_call("cancel"), self._apply_subscription),
            "change_plan": ActionKind(
                "change_plan", sub_call("change_plan"), self._apply_subscription
            ),
            "extend_trial": ActionKind(
                "extend_trial", sub_call("extend_trial"), self._apply_subscription
            ),
        }

    # ---------------------------------------------------------------- payments

    def retry_payment(self, payment_id: int, reason: str, actor: Actor) -> ActionDone:
        """Collect a failed payment again. A decline raises ActionFailed with its reason."""
        reason = validate_reason(reason)
        payment = self._payment(payment_id)
        if payment.status != PaymentStatus.FAILED.value:
            raise InvalidInput({"payment": "only a failed payment can be retried"})
        target = self._retry_target(payment)
        payload = {
            "payment_id": payment_id,
            "provider_target": target,
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "reason": reason,
        }

        def check(connection: Connection) -> None:
            self._refuse_if_pending(
                connection, payment.customer_id, "retry", "payment_id", payment_id
            )

        intent_id, key = self.runner.open(
            "retry", payment.customer_id, payment.provider, payload, actor, check
        )
        charge = self.runner.call(intent_id, "retry", payment.provider, payload, key)
        if isinstance(charge, ProviderCharge) and charge.status == "failed":
            self._record_decline(intent_id, payment, charge, actor)
            raise ActionFailed(f"declined: {charge.failure_reason}")
        return self.runner.complete(intent_id, charge, actor)

    def _retry_target(self, payment: Any) -> str:
        """What the provider collects again: Stripe pays the payment's invoice again;
        PayPal collects its subscription's outstanding balance; otherwise the payment."""
        with self.engine.connect() as connection:
            if payment.invoice_id is not None:
                invoice = connection.execute(
                    sa.select(_invoice).where(_invoice.c.id == payment.invoice_id)
                ).one()
                if invoice.provider == payment.provider and invoice.provider_id:
                    return str(invoice.provider_id)
            if payment.subscription_id is not None and payment.provider == "paypal":
                subscription = connection.execute(
                    sa.select(_sub).where(_sub.c.id == payment.subscription_id)
                ).one()
                if subscription.provider == "paypal" and subscription.provider_id:
                    return str(subscription.provider_id)
        return str(payment.provider_id)

    def _record_decline(
        self, intent_id: int, payment: Any, charge: ProviderCharge, actor: Actor
    ) -> None:
        self.runner.fail(intent_id, charge.failure_reason)
        with self.engine.begin() as connection:
            record_activity(
                connection,
                payment.customer_id,
                ActivityKind.PAYMENT,
                actor,
                f"Retry of {format_money(payment.amount_minor, payment.currency)} declined: "
                f"{charge.failure_reason}",
                {"payment_id": payment.id, "provider": payment.provider, "intent_id": intent_id},
                self.now(),
            )

    def _apply_retry(
        self, connection: Connection, p: dict[str, Any], charge: ProviderCharge, actor: Actor
    ) -> str:
        failed = connection.execute(
            sa.select(_payment).where(_payment.c.id == p["payment_id"])
        ).one()
        status = PaymentStatus.SUCCEEDED if charge.status == "succeeded" else PaymentStatus.PENDING
        values = {
            c: getattr(failed, c)
            for c in (
                "customer_id",
                "subscription_id",
                "order_id",
                "invoice_id",
                "method",
                "provider",
                "description",
                "affiliate",
                "commission_minor",
            )
        }
        connection.execute(
            sa.insert(_payment).values(
                **values,
                amount_minor=charge.amount_minor or failed.amount_minor,
                currency=(charge.currency or failed.currency).upper(),
                refunded_minor=0,
                status=status.value,
                provider_id=charge.id,
                failure_reason="",
                created_at=self.now(),
            )
        )
        if failed.invoice_id is not None and status == PaymentStatus.SUCCEEDED:
            connection.execute(
                sa.update(_invoice)
                .where(_invoice.c.id == failed.invoice_id)
                .values(status=InvoiceStatus.PAID.value)
            )
        if failed.subscription_id is not None and status == PaymentStatus.SUCCEEDED:
            connection.execute(
                sa.update(_sub)
                .where(
                    _sub.c.id == failed.subscription_id,
                    _sub.c.status == SubscriptionStatus.GRACE.value,
                )
                .values(status=SubscriptionStatus.ACTIVE.value)
            )
        refresh_summary(connection, failed.customer_id)
        money = format_money(failed.amount_minor, failed.currency)
        verb = "collected" if status == PaymentStatus.SUCCEEDED else "is processing"
        return f"Retried payment #{failed.id}: {money} {verb} ({p['reason']})"

    def mark_paid(self, payment_id: int, reason: str, actor: Actor) -> ActionDone:
        """A manual payment (bank transfer, cash) has arrived: the agent records it."""
        reason = validate_reason(reason)
        with self.engine.begin() as connection:
            payment = connection.execute(
                sa.select(_payment)
                .where(_payment.c.id == payment_id)
                .with_for_update(key_share=True)
            ).first()
            if payment is None:
                raise InvalidInput({"payment": f"there is no payment #{payment_id}"})
            if payment.provider != "manual":
                raise InvalidInput(
                    {
                        "payment": f"a {payment.provider} payment is collected by "
                        f"{payment.provider}; retry it (y) instead"
                    }
                )
            if payment.status not in (PaymentStatus.PENDING.value, PaymentStatus.FAILED.value):
                raise InvalidInput({"payment": f"this payment is already {payment.status}"})
            connection.execute(
                sa.update(_payment)
                .where(_payment.c.id == payment_id)
                .values(status=PaymentStatus.SUCCEEDED.value, failure_reason="")
            )
            if payment.invoice_id is not None:
                connection.execute(
                    sa.update(_invoice)
                    .where(_invoice.c.id == payment.invoice_id)
                    .values(status=InvoiceStatus.PAID.value)
                )
            refresh_summary(connection, payment.customer_id)
            summary = (
                f"Marked payment #{payment_id} of "
                f"{format_money(payment.amount_minor, payment.currency)} as paid: {reason}"
            )
            record_activity(
                connection,
                payment.customer_id,
                ActivityKind.PAYMENT,
                actor,
                summary,
                {"payment_id": payment_id, "action": "mark_paid"},
                self.now(),
            )
        return ActionDone(None, summary)

    def set_affiliate(
        self, payment_id: int, affiliate: str, commission_minor: int, reason: str, actor: Actor
    ) -> ActionDone:
        reason = validate_reason(reason)
        affiliate = affiliate.strip()
        errors = {}
        if len(affiliate) > 120 or any(ord(ch) < 32 for ch in affiliate):
            errors["affiliate"] = "at most 120 characters, no control characters"
        payment = self._payment(payment_id)
        if commission_minor < 0:
            errors["commission"] = "cannot be negative"
        elif commission_minor > payment.amount_minor:
            sale = format_money(payment.amount_minor, payment.currency)
            errors["commission"] = f"cannot be more than the sale ({sale})"
        elif commission_minor and not affiliate:
            errors["affiliate"] = "a commission needs an affiliate"
        if errors:
            raise InvalidInput(errors)
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(_payment)
                .where(_payment.c.id == payment_id)
                .values(affiliate=affiliate, commission_minor=commission_minor)
            )
            summary = (
                f"Payment #{payment_id}: affiliate {affiliate or '(none)'}, commission "
                f"{format_money(commission_minor, payment.currency)} (was "
                f"{payment.affiliate or '(none)'}, "
                f"{format_money(payment.commission_minor, payment.currency)}): {reason}"
            )
            record_activity(
                connection,
                payment.customer_id,
                ActivityKind.PAYMENT,
                actor,
                summary,
                {"payment_id": payment_id, "action": "affiliate"},
                self.now(),
            )
        return ActionDone(None, summary)

    # ------------------------------------------------------------------ credit

    def credit_provider(self, customer_id: int) -> tuple[str, str]:
        """(provider, the customer's id there) that carries this customer's credit."""
        with self.engine.connect() as connection:
            rows = {
                r.provider: r.external_id
                for r in connection.execute(
                    sa.select(_external).where(_external.c.customer_id == customer_id)
                )
            }
        if "stripe" in rows:
            return "stripe", rows["stripe"]
        return "manual", ""

    def billing_provider(self, customer_id: int) -> tuple[str, str]:
        """(provider, the customer's id there) that bills this customer and holds their
        payment method: Stripe, else PayPal, else manual (pays by hand)."""
        with self.engine.connect() as connection:
            rows = {
                r.provider: r.external_id
                for r in connection.execute(
                    sa.select(_external).where(_external.c.customer_id == customer_id)
                )
            }
        for provider in ("stripe", "paypal"):
            if provider in rows:
                return provider, rows[provider]
        return "manual", ""

    def apply_credit(
        self, customer_id: int, amount_minor: int, currency: str, reason: str, actor: Actor
    ) -> ActionDone:
        reason = validate_reason(reason)
        if amount_minor <= 0:
            raise InvalidInput({"amount": "must be more than zero"})
        if amount_minor > 1_000_000_00:
            raise InvalidInput({"amount": "is larger than any credit an agent may give"})
        provider, external = self.credit_provider(customer_id)
        payload = {
            "customer_id": customer_id,
            "provider_customer_id": external,
            "amount_minor": amount_minor,
            "currency": currency.upper(),
            "reason": reason,
        }
        return self.runner.run("credit", customer_id, provider, payload, actor)

    def _apply_credit(
        self, connection: Connection, p: dict[str, Any], credit: ProviderCredit, actor: Actor
    ) -> str:
        connection.execute(
            sa.insert(_credit).values(
                customer_id=p["customer_id"],
                amount_minor=credit.amount_minor,
                currency=credit.currency,
                reason=p["reason"],
                created_at=self.now(),
                agent_id=actor.agent_id,
                provider_id=credit.id,
            )
        )
        return f"Applied {format_money(credit.amount_minor, credit.currency)} credit: {p['reason']}"

    # ------------------------------------------------------ payment-method link

    def send_payment_method_link(
        self, customer_id: int, channel: Any, actor: Actor, *, return_url: str = ""
    ) -> ActionDone:
        """Email the customer a link where they update their card (Stripe billing portal).

        Nothing moves, so no intent: the link comes from the provider, the email goes
        through `channel` (services.email_channel.EmailChannel), which records it on
        the customer's activity — and a failure there, retryable from the profile."""
        channel.check_configured()  # before the provider makes a link nobody can send
        provider_name, external = self.billing_provider(customer_id)
        provider = self.providers.get(provider_name)
        if provider is None:
            raise ActionFailed(f"no provider '{provider_name}' is set up")
        try:
            link = provider.payment_method_link(external, return_url=return_url)
        except ProviderError as error:
            raise ActionFailed(error.message) from error
        sent = channel.send(
            customer_id,
            PAYMENT_LINK_SUBJECT,
            "Hello,\n\nplease update the card we charge for your subscription here:\n\n"
            f"{link}\n\nThe link is valid for a short time. If it has expired, reply to "
            "this email and we will send a new one.\n",
            actor,
            template="payment_method_link",
            details={"provider": provider_name},
        )
        return ActionDone(None, f"Sent a payment-method link to {sent.to_address}")

    # ----------------------------------------------------------- subscriptions

    def pause(
        self, subscription_id: int, until: date | None, reason: str, actor: Actor
    ) -> ActionDone:
        reason = validate_reason(reason)
        sub = self._subscription(subscription_id)
        if SubscriptionStatus(sub.status) not in PAUSABLE:
            raise InvalidInput({"subscription": f"a {sub.status} subscription cannot be paused"})
        resume_at = None
        if until is not None:
            today = self.now().date()
            if until <= today:
                raise InvalidInput({"until": "must be after today"})
            if until > today + timedelta(days=MAX_PAUSE_DAYS):
                raise InvalidInput({"until": f"at most {MAX_PAUSE_DAYS} days ahead"})
            resume_at = datetime.combine(until, time(0, 0), UTC)
        return self._subscription_action("pause", sub, actor, reason=reason, until=_iso(resume_at))

    def resume(self, subscription_id: int, reason: str, actor: Actor) -> ActionDone:
        reason = validate_reason(reason)
        sub = self._subscription(subscription_id)
        if sub.status != SubscriptionStatus.PAUSED.value:
            raise InvalidInput({"subscription": "only a paused subscription can be resumed"})
        return self._subscription_action("resume", sub, actor, reason=reason)

    def cancel(
        self, subscription_id: int, at_period_end: bool, reason: str, actor: Actor
    ) -> ActionDone:
        reason = validate_reason(reason)
        sub = self._subscription(subscription_id)
        if SubscriptionStatus(sub.status) in ENDED:
            raise InvalidInput({"subscription": f"this subscription is already {sub.status}"})
        if at_period_end and sub.cancel_at_period_end:
            raise InvalidInput({"subscription": "it is already set to end at the period's end"})

        def check(connection: Connection) -> None:
            self._refuse_if_payment_in_progress(connection, sub)

        return self._subscription_action(
            "cancel", sub, actor, check=check, reason=reason, at_period_end=at_period_end
        )

    def plan_choices(self, subscription_id: int) -> list[Any]:
        """Active plans this subscription can move to: same currency, not the current one."""
        sub = self._subscription(subscription_id)
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(_plan)
                    .where(
                        _plan.c.active.is_(True),
                        _plan.c.currency == sub.currency,
                        _plan.c.id != sub.plan_id,
                    )
                    .order_by(_plan.c.amount_minor, _plan.c.code)
                )
            )

    def preview_plan_change(self, subscription_id: int, plan_code: str) -> PlanChangePreview:
        sub = self._subscription(subscription_id)
        plan = self._plan(plan_code, sub)
        provider = self.providers.get(sub.provider)
        lines: tuple[str, ...] = ()
        try:
            if provider is None:
                raise ProviderError(FailureKind.NOT_SUPPORTED, "no provider")
            preview: ProrationPreview = provider.preview_plan_change(sub.provider_id, plan.code)
            due, currency, from_provider, lines = (
                preview.amount_due_minor,
                preview.currency,
                True,
                preview.lines,
            )
        except ProviderError as error:
            if error.kind != FailureKind.NOT_SUPPORTED:
                raise ActionFailed(error.message) from error
            due, currency, from_provider = self._estimate_proration(sub, plan), sub.currency, False
            lines = (error.message,) if provider is not None and sub.provider != "manual" else ()
        return PlanChangePreview(
            plan.code, plan.name, plan.amount_minor, plan.cycle, due, currency, from_provider, lines
        )

    def _estimate_proration(self, sub: Any, plan: Any) -> int:
        """Both prices for the rest of the current period: what the change costs now."""
        end = as_utc(sub.current_period_end) if sub.current_period_end else None
        if end is None:
            return 0
        months = CYCLE_MONTHS[BillingCycle(sub.cycle)]
        period = timedelta(days=30.4375 * months)
        left = max(0.0, min(1.0, (end - self.now()) / period))
        new_monthly = plan.amount_minor / CYCLE_MONTHS[BillingCycle(plan.cycle)]
        old_monthly = sub.amount_minor / months
        return math.floor((new_monthly - old_monthly) * months * left + 0.5)

    def change_plan(
        self, subscription_id: int, plan_code: str, reason: str, actor: Actor
    ) -> ActionDone:
        reason = validate_reason(reason)
        sub = self._subscription(subscription_id)
        if SubscriptionStatus(sub.status) in ENDED:
            raise InvalidInput({"plan": f"a {sub.status} subscription cannot change plan"})
        plan = self._plan(plan_code, sub)
        return self._subscription_action(
            "change_plan", sub, actor, reason=reason, plan_code=plan.code
        )

    def extend_trial(
        self, subscription_id: int, days: int, reason: str, actor: Actor
    ) -> ActionDone:
        reason = validate_reason(reason)
        sub = self._subscription(subscription_id)
        if sub.status != SubscriptionStatus.TRIAL.value:
            raise InvalidInput({"subscription": "only a subscription in trial can be extended"})
        if not 1 <= days <= MAX_TRIAL_EXTENSION_DAYS:
            raise InvalidInput({"days": f"from 1 to {MAX_TRIAL_EXTENSION_DAYS} days"})
        start = as_utc(sub.trial_end) if sub.trial_end else self.now()
        new_end = max(start, self.now()) + timedelta(days=days)
        return self._subscription_action(
            "extend_trial", sub, actor, reason=reason, trial_end=_iso(new_end), days=days
        )

    def _subscription_action(
        self,
        kind: str,
        sub: Any,
        actor: Actor,
        check: Callable[[Connection], None] | None = None,
        **payload: Any,
    ) -> ActionDone:
        def guard(connection: Connection) -> None:
            # Lock the subscription; refuse a second action on it while one is unsettled.
            connection.execute(
                sa.update(_sub).where(_sub.c.id == sub.id).values(version=_sub.c.version + 1)
            )
            self._refuse_if_pending(connection, sub.customer_id, None, "subscription_id", sub.id)
            if check is not None:
                check(connection)

        full = {
            "action": kind,
            "subscription_id": sub.id,
            "provider_subscription_id": sub.provider_id,
            **payload,
        }
        return self.runner.run(kind, sub.customer_id, sub.provider, full, actor, guard)

    def _apply_subscription(
        self, connection: Connection, p: dict[str, Any], answer: ProviderSubscription, actor: Actor
    ) -> str:
        sub = connection.execute(sa.select(_sub).where(_sub.c.id == p["subscription_id"])).one()
        kind = p["action"]
        values: dict[str, Any] = {}
        now = self.now()
        if kind == "pause":
            values = {
                "status": SubscriptionStatus.PAUSED.value,
                "paused_until": _moment(p.get("until")),
            }
            until = _moment(p.get("until"))
            text = f"Paused until {format_date(until)}" if until else "Paused until resumed"
        elif kind == "resume":
            values = {"status": SubscriptionStatus.ACTIVE.value, "paused_until": None}
            text = "Resumed"
        elif kind == "cancel":
            if p["at_period_end"]:
                values = {"cancel_at_period_end": True, "cancelled_at": now}
                end = answer.current_period_end or sub.current_period_end
                text = f"Set to cancel at the period's end ({format_date(end)})"
            else:
                values = {
                    "status": SubscriptionStatus.CANCELLED.value,
                    "cancelled_at": now,
                    "ended_at": answer.ended_at or now,
                }
                text = "Cancelled now"
        elif kind == "change_plan":
            plan = connection.execute(sa.select(_plan).where(_plan.c.code == p["plan_code"])).one()
            if answer.approval_url:
                text = (
                    f"Plan change to {plan.name} awaits the customer's approval at "
                    f"{sub.provider}: {answer.approval_url}"
                )
            else:
                values = {
                    "plan_id": plan.id,
                    "amount_minor": plan.amount_minor,
                    "currency": plan.currency,
                    "cycle": plan.cycle,
                }
                price = format_money(plan.amount_minor, plan.currency)
                text = f"Changed plan to {plan.name} ({price} {plan.cycle})"
        else:  # extend_trial
            values = {"trial_end": answer.trial_end or _moment(p["trial_end"])}
            text = f"Extended the trial by {p['days']} days, to {format_date(values['trial_end'])}"
        # What the provider confirmed wins over what we expected.
        if answer.status and kind != "change_plan":
            values["status"] = answer.status
        if answer.current_period_end is not None:
            values["current_period_end"] = answer.current_period_end
        if kind == "extend_trial":
            # The first payment is due when the trial ends, never before it.
            stored_end = as_utc(sub.current_period_end) if sub.current_period_end else None
            period_end = values.get("current_period_end") or stored_end
            if period_end is None or period_end < values["trial_end"]:
                values["current_period_end"] = values["trial_end"]
        connection.execute(sa.update(_sub).where(_sub.c.id == sub.id).values(**values))
        refresh_summary(connection, sub.customer_id)
        return f"{text} (subscription #{sub.id}): {p['reason']}"

    # ------------------------------------------------------------- reconcile

    def reconcile(self, actor: Actor) -> list[str]:
        return self.runner.reconcile(actor)

    def pending_intents(self, customer_id: int) -> list[Any]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(_intent)
                    .where(
                        _intent.c.customer_id == customer_id,
                        _intent.c.status == IntentStatus.PENDING.value,
                    )
                    .order_by(_intent.c.created_at)
                )
            )

    # ---------------------------------------------------------------- reading

    def _payment(self, payment_id: int) -> Any:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(_payment).where(_payment.c.id == payment_id)).first()
        if row is None:
            raise InvalidInput({"payment": f"there is no payment #{payment_id}"})
        return row

    def _subscription(self, subscription_id: int) -> Any:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(_sub).where(_sub.c.id == subscription_id)).first()
        if row is None:
            raise InvalidInput({"subscription": f"there is no subscription #{subscription_id}"})
        return row

    def _plan(self, plan_code: str, sub: Any) -> Any:
        with self.engine.connect() as connection:
            plan = connection.execute(sa.select(_plan).where(_plan.c.code == plan_code)).first()
        if plan is None or not plan.active:
            raise InvalidInput({"plan": f"there is no active plan {plan_code!r}"})
        if plan.id == sub.plan_id:
            raise InvalidInput({"plan": "the subscription is already on this plan"})
        if plan.currency != sub.currency:
            raise InvalidInput(
                {"plan": f"the plan is in {plan.currency}, the subscription in {sub.currency}"}
            )
        return plan

    def _refuse_if_pending(
        self, connection: Connection, customer_id: int, action: str | None, key: str, value: int
    ) -> None:
        query = sa.select(_intent.c.payload, _intent.c.action).where(
            _intent.c.customer_id == customer_id,
            _intent.c.status == IntentStatus.PENDING.value,
        )
        for payload, kind in connection.execute(query):
            if (payload or {}).get(key) == value and (action is None or kind == action):
                raise InvalidInput(
                    {
                        key.removesuffix("_id"): f"a {kind.replace('_', ' ')} is still pending for "
                        "it; it must settle first (crm-tui reconcile)"
                    }
                )

    def _refuse_if_payment_in_progress(self, connection: Connection, sub: Any) -> None:
        in_progress = connection.execute(
            sa.select(sa.func.count())
            .select_from(_payment)
            .where(
                _payment.c.subscription_id == sub.id,
                _payment.c.status == PaymentStatus.PENDING.value,
            )
        ).scalar_one()
        payment_ids = {
            r.id
            for r in connection.execute(
                sa.select(_payment.c.id).where(_payment.c.subscription_id == sub.id)
            )
        }
        pending_money = any(
            (payload or {}).get("payment_id") in payment_ids
            for (payload,) in connection.execute(
                sa.select(_intent.c.payload).where(
                    _intent.c.customer_id == sub.customer_id,
                    _intent.c.status == IntentStatus.PENDING.value,
                    _intent.c.action.in_(["refund", "retry"]),
                )
            )
        )
        if in_progress or pending_money:
            raise InvalidInput(
                {
                    "subscription": "a payment on this subscription is in progress; it cannot "
                    "be cancelled until the payment settles"
                }
            )
