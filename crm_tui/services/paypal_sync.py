"""`crm-tui sync paypal`: customers, plans, subscriptions, payments and refunds from
PayPal into the local store.

PayPal has no "list customers" or "list subscriptions" call. What it has is the
transaction search (`/v1/reporting/transactions`, 31 days a request, reaching
back three years), whose lines carry the payer and, for a subscription's
payment, the subscription's id. So a run:

1. reads the transactions of its window: payments (event codes T00xx, money in)
   and merchant refunds (T1107, pointing at the payment they refund);
2. reads each subscription those payments name, and each subscription already
   stored here (a status changes without a payment: suspended, cancelled), and
   each plan they are on;
3. writes, per PayPal payer, in one transaction: the customer (matched by payer
   id), their subscriptions, payments and refunds — each matched by its PayPal
   id and written only where something differs — then the customer's summary
   columns and one activity event when something changed.

A full run reads three years. An incremental run (the default once one has
run) reads from the last run's start, less three hours: PayPal's reports run
up to three hours behind, and an overlap is harmless because nothing is
written twice. PayPal subscriptions have no invoices (PayPal Invoicing is a
separate product), so none are imported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, PaymentStatus
from crm_tui.services.actor import Actor
from crm_tui.services.customer_summary import refresh_summary
from crm_tui.services.intents import record_activity
from crm_tui.services.providers.base import FailureKind, ProviderError
from crm_tui.services.providers.paypal import (
    REFUND_EVENT_CODE,
    REFUND_STATUS,
    SUBSCRIPTION_PREFIX,
    PayPalProvider,
    from_paypal_money,
)
from crm_tui.services.sync_store import (
    Progress,
    SyncReport,
    inserted_id,
    no_progress,
    read_cursor,
    save_cursor,
    upsert,
)

_T = tables.SQLModel.metadata.tables
_customer, _external, _plan, _sub, _payment, _refund = (
    _T["customer"],
    _T["external_id"],
    _T["plan"],
    _T["subscription"],
    _T["payment"],
    _T["refund"],
)

PROVIDER = "paypal"
HISTORY = timedelta(days=3 * 365)  # how far back PayPal's transaction search reaches
REPORT_LAG = timedelta(hours=3)  # PayPal's reports run up to three hours behind
PAYMENT_EVENT_PREFIX = "T00"  # T0000-T0099: payments received
# Transaction status (Success, Pending, Denied, reVersed) → PaymentStatus values.
PAYMENT_STATUS = {"S": "succeeded", "P": "pending", "D": "failed", "V": "refunded"}
# `last_failed_payment.reason_code` of a subscription (PayPal's subscriptions API).
FAILURE_REASONS = {
    "PAYMENT_DENIED": "PayPal denied the payment",
    "INTERNAL_SERVER_ERROR": "PayPal had an error collecting it",
    "PAYEE_ACCOUNT_RESTRICTED": "the business's PayPal account is restricted",
    "PAYER_ACCOUNT_RESTRICTED": "the customer's PayPal account is restricted",
    "PAYER_CANNOT_PAY": "the customer cannot pay this way",
    "SENDING_LIMIT_EXCEEDED": "the customer's sending limit was reached",
    "TRANSACTION_RECEIVING_LIMIT_EXCEEDED": "the business's receiving limit was reached",
    "CURRENCY_MISMATCH": "the currency did not match",
}
CYCLES = {("MONTH", 1): "monthly", ("MONTH", 3): "quarterly", ("YEAR", 1): "yearly"}


@dataclass
class PayerBundle:
    """What this run learnt about one PayPal payer."""

    payer_id: str
    name: str = ""
    email: str = ""
    payments: list[dict[str, Any]] = field(default_factory=list)  # transaction_info
    subscriptions: list[dict[str, Any]] = field(default_factory=list)  # GET answers
    refunds: list[dict[str, Any]] = field(default_factory=list)  # transaction_info

    def currency(self) -> str:
        for info in self.payments:
            code = (info.get("transaction_amount") or {}).get("currency_code")
            if isinstance(code, str) and code:
                return code.upper()
        return "USD"


class PayPalSync:
    def __init__(
        self,
        engine: Engine,
        provider: PayPalProvider,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.paypal = provider
        self.now = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ runs

    def run(self, *, full: bool = False, progress: Progress | None = None) -> SyncReport:
        report = SyncReport()
        tell = progress or no_progress
        started = self.now()
        cursor = read_cursor(self.engine, PROVIDER)
        report.incremental = bool(cursor) and not full
        since = (
            datetime.fromtimestamp(cursor, UTC) - REPORT_LAG
            if report.incremental
            else started - HISTORY
        )
        bundles, refund_lines = self._read_transactions(since, started, tell, report)
        self._read_subscriptions(bundles, tell, report)
        plans = self._store_plans(bundles.values(), report)
        leftovers = self._attach_refunds(bundles, refund_lines)
        ordered = sorted(bundles.values(), key=lambda bundle: bundle.payer_id)
        for done, bundle in enumerate(ordered, start=1):
            self._store_payer(bundle, plans, report)
            report.customers_seen = done
            tell("customers", done, len(ordered))
        self._store_refunds_of_earlier_payments(leftovers, report)
        save_cursor(self.engine, PROVIDER, int(started.timestamp()), self.now())
        return report

    # --------------------------------------------------------------- reading

    def _read_transactions(
        self, since: datetime, until: datetime, tell: Progress, report: SyncReport
    ) -> tuple[dict[str, PayerBundle], list[dict[str, Any]]]:
        """Payments grouped by payer, and the refund lines."""
        bundles: dict[str, PayerBundle] = {}
        refund_lines: list[dict[str, Any]] = []
        for count, item in enumerate(self.paypal.iter_transactions(since, until), start=1):
            if count % 100 == 0:
                tell("transactions", count, None)
            info = item.get("transaction_info") or {}
            code = str(info.get("transaction_event_code") or "")
            if code == REFUND_EVENT_CODE:
                refund_lines.append(info)
            elif code.startswith(PAYMENT_EVENT_PREFIX) and _amount(info)[0] > 0:
                payer = item.get("payer_info") or {}
                payer_id = str(payer.get("account_id") or "")
                if not payer_id:
                    report.skipped.append(f"payment {info.get('transaction_id')}: no payer")
                    continue
                bundle = bundles.setdefault(payer_id, PayerBundle(payer_id))
                bundle.name = bundle.name or _payer_name(payer)
                bundle.email = bundle.email or str(payer.get("email_address") or "")
                bundle.payments.append(info)
        return bundles, refund_lines

    def _read_subscriptions(
        self, bundles: dict[str, PayerBundle], tell: Progress, report: SyncReport
    ) -> None:
        """Every subscription this run's payments name, and every one stored here."""
        wanted = {
            str(info.get("paypal_reference_id"))
            for bundle in bundles.values()
            for info in bundle.payments
            if str(info.get("paypal_reference_id") or "").startswith(SUBSCRIPTION_PREFIX)
        }
        with self.engine.connect() as connection:
            wanted.update(
                connection.execute(
                    sa.select(_sub.c.provider_id).where(
                        _sub.c.provider == PROVIDER,
                        _sub.c.provider_id.startswith(SUBSCRIPTION_PREFIX),
                    )
                ).scalars()
            )
        for done, subscription_id in enumerate(sorted(wanted), start=1):
            tell("subscriptions", done, len(wanted))
            try:
                answer = self.paypal.get_subscription(subscription_id)
            except ProviderError as error:
                report.skipped.append(f"subscription {subscription_id}: {error.message}")
                continue
            subscriber = answer.get("subscriber") or {}
            payer_id = str(subscriber.get("payer_id") or "")
            if not payer_id:
                report.skipped.append(f"subscription {subscription_id}: no subscriber")
                continue
            bundle = bundles.setdefault(payer_id, PayerBundle(payer_id))
            bundle.name = bundle.name or _payer_name({"payer_name": subscriber.get("name")})
            bundle.email = bundle.email or str(subscriber.get("email_address") or "")
            bundle.subscriptions.append(answer)

    def _attach_refunds(
        self, bundles: dict[str, PayerBundle], refund_lines: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Give each refund to the payer of its payment; return those whose payment
        was read by an earlier run (it is in the store, not in this run)."""
        owner = {
            str(info.get("transaction_id")): bundle
            for bundle in bundles.values()
            for info in bundle.payments
        }
        leftovers = []
        for info in refund_lines:
            bundle = owner.get(str(info.get("paypal_reference_id") or ""))
            if bundle is not None:
                bundle.refunds.append(info)
            else:
                leftovers.append(info)
        return leftovers

    # ----------------------------------------------------------------- plans

    def _store_plans(self, bundles: Iterable[PayerBundle], report: SyncReport) -> dict[str, int]:
        """Each plan the subscriptions are on, by PayPal plan id → our plan id."""
        plan_ids = sorted(
            {str(s.get("plan_id")) for b in bundles for s in b.subscriptions if s.get("plan_id")}
        )
        stored: dict[str, int] = {}
        with self.engine.begin() as connection:
            for plan_id in plan_ids:
                try:
                    values = _plan_values(self.paypal.get_plan(plan_id))
                except ProviderError as error:
                    report.skipped.append(f"plan {plan_id}: {error.message}")
                    continue
                if values is None:
                    report.skipped.append(f"plan {plan_id}: no fixed price or billing cycle")
                    continue
                stored[plan_id] = upsert(
                    connection, _plan, {"code": plan_id}, values, "plans", report
                )
        return stored

    # -------------------------------------------------------------- customers

    def _store_payer(self, bundle: PayerBundle, plans: dict[str, int], report: SyncReport) -> None:
        before = report.change_count()
        with self.engine.begin() as connection:
            customer_id = self._customer(connection, bundle, report)
            subs = {}
            for answer in bundle.subscriptions:
                sub_id = self._subscription(connection, customer_id, answer, plans, report)
                if sub_id:
                    subs[str(answer.get("id"))] = sub_id
                    self._failed_payment(connection, customer_id, sub_id, answer, report)
            refunds = defaultdict(list)
            for info in bundle.refunds:
                refunds[str(info.get("paypal_reference_id"))].append(info)
            for info in bundle.payments:
                self._payment(connection, customer_id, info, subs, refunds, report)
            self._finish(connection, customer_id, report.change_count() - before, bundle.payer_id)

    def _store_refunds_of_earlier_payments(
        self, refunds: list[dict[str, Any]], report: SyncReport
    ) -> None:
        """Refunds made since an earlier run read their payment, customer by customer."""
        by_payment: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for info in refunds:
            by_payment[str(info.get("paypal_reference_id") or "")].append(info)
        with self.engine.connect() as connection:
            payments = connection.execute(
                sa.select(_payment).where(
                    _payment.c.provider == PROVIDER,
                    _payment.c.provider_id.in_(sorted(by_payment)),
                )
            ).all()
        by_customer: dict[int, list[Any]] = defaultdict(list)
        for payment in payments:
            by_customer[int(payment.customer_id)].append(payment)
        for info in refunds:
            if str(info.get("paypal_reference_id") or "") not in {p.provider_id for p in payments}:
                report.skipped.append(
                    f"refund {info.get('transaction_id')}: its payment "
                    f"{info.get('paypal_reference_id')} is not in the store — run a full sync"
                )
        for customer_id, rows in sorted(by_customer.items()):
            before = report.change_count()
            with self.engine.begin() as connection:
                for payment in rows:
                    self._refunds_of_stored_payment(
                        connection, payment, by_payment[payment.provider_id], report
                    )
                self._finish(connection, customer_id, report.change_count() - before, "")

    def _refunds_of_stored_payment(
        self, connection: Connection, payment: Any, lines: list[dict[str, Any]], report: SyncReport
    ) -> None:
        try:
            new = [_refund_values(line) for line in lines]
        except ProviderError as error:
            report.skipped.append(f"refunds of payment {payment.provider_id}: {error.message}")
            return
        collected = payment.status
        if collected in (PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED):
            collected = PaymentStatus.SUCCEEDED.value
        columns = _refund_columns(
            connection, payment.provider_id, payment.amount_minor, collected, new
        )
        key = {"provider": PROVIDER, "provider_id": payment.provider_id}
        upsert(connection, _payment, key, columns, "payments", report)
        self._store_refunds(connection, int(payment.id), new, report)

    def _finish(
        self, connection: Connection, customer_id: int, changes: int, payer_id: str
    ) -> None:
        if not changes:
            return
        refresh_summary(connection, customer_id)
        record_activity(
            connection,
            customer_id,
            ActivityKind.PROFILE,
            Actor.system(),
            f"Synced from PayPal ({changes} changes)",
            {"provider": PROVIDER, "paypal_payer": payer_id}
            if payer_id
            else {"provider": PROVIDER},
            self.now(),
        )

    def _customer(self, connection: Connection, bundle: PayerBundle, report: SyncReport) -> int:
        existing = connection.execute(
            sa.select(_external.c.customer_id).where(
                _external.c.provider == PROVIDER, _external.c.external_id == bundle.payer_id
            )
        ).scalar()
        values = {
            "name": (bundle.name or bundle.email or bundle.payer_id)[:200],
            "email": bundle.email[:254],
        }
        if existing is not None:
            current = connection.execute(
                sa.select(_customer.c.name, _customer.c.email, _customer.c.erased_at).where(
                    _customer.c.id == existing
                )
            ).one()
            # An erased customer's personal data never comes back (see stripe_sync.py).
            stored = (current.name, current.email)
            if current.erased_at is None and stored != (values["name"], values["email"]):
                connection.execute(
                    sa.update(_customer)
                    .where(_customer.c.id == existing)
                    .values(**values, version=_customer.c.version + 1, updated_at=self.now())
                )
                report.updated["customers"] += 1
            return int(existing)
        registered = min(
            (
                moment
                for moment in (
                    *(_moment(p.get("transaction_initiation_date")) for p in bundle.payments),
                    *(_moment(s.get("start_time")) for s in bundle.subscriptions),
                )
                if moment is not None
            ),
            default=self.now(),
        )
        customer_id = inserted_id(
            connection.execute(
                sa.insert(_customer).values(
                    **values,
                    phone="",
                    registered_at=registered,
                    updated_at=self.now(),
                    currency=bundle.currency(),
                    storefront="paypal",
                )
            )
        )
        connection.execute(
            sa.insert(_external).values(
                customer_id=customer_id, provider=PROVIDER, external_id=bundle.payer_id
            )
        )
        report.created["customers"] += 1
        return customer_id

    def _subscription(
        self,
        connection: Connection,
        customer_id: int,
        answer: dict[str, Any],
        plans: dict[str, int],
        report: SyncReport,
    ) -> int:
        try:
            ours = self.paypal.subscription(answer)
        except ProviderError as error:
            report.skipped.append(f"subscription {answer.get('id')}: {error.message}")
            return 0
        plan = connection.execute(
            sa.select(_plan).where(_plan.c.id == plans.get(ours.plan_code or ""))
        ).first()
        if plan is None:
            report.skipped.append(f"subscription {ours.id}: unknown plan {ours.plan_code}")
            return 0
        values = {
            "customer_id": customer_id,
            "plan_id": plan.id,
            "status": ours.status,
            "started_at": _moment(answer.get("start_time"))
            or _moment(answer.get("create_time"))
            or self.now(),
            "current_period_end": ours.current_period_end,
            "cancel_at_period_end": False,
            "cancelled_at": ours.ended_at if ours.status == "cancelled" else None,
            "ended_at": ours.ended_at,
            "amount_minor": plan.amount_minor,
            "currency": plan.currency,
            "cycle": plan.cycle,
            "payment_method": "paypal",
            "provider": PROVIDER,
        }
        key = {"provider": PROVIDER, "provider_id": ours.id}
        stored = connection.execute(
            sa.select(_sub).where(*(_sub.c[name] == value for name, value in key.items()))
        ).first()
        if stored is not None:
            # PayPal names no period end once a subscription stops, and reports the
            # end to the second: what is stored (an agent's own moment) stays.
            if values["current_period_end"] is None:
                values.pop("current_period_end")
            for name in ("cancelled_at", "ended_at"):
                if values[name] is None or getattr(stored, name) is not None:
                    values.pop(name)
        return upsert(connection, _sub, key, values, "subscriptions", report)

    def _failed_payment(
        self,
        connection: Connection,
        customer_id: int,
        subscription_id: int,
        answer: dict[str, Any],
        report: SyncReport,
    ) -> None:
        """A subscription's last failed payment (PayPal reports no transaction for a
        payment that failed; the subscription carries it), so an agent can see it and
        retry it — PayPal then collects the subscription's outstanding balance."""
        failed = (answer.get("billing_info") or {}).get("last_failed_payment")
        if not isinstance(failed, dict):
            return
        when = _moment(failed.get("time"))
        try:
            amount, currency = from_paypal_money(failed.get("amount"), "the failed amount")
        except ProviderError as error:
            report.skipped.append(f"failed payment of {answer.get('id')}: {error.message}")
            return
        if when is None:
            return
        code = str(failed.get("reason_code") or "")
        values = {
            "customer_id": customer_id,
            "subscription_id": subscription_id,
            "amount_minor": amount,
            "currency": currency,
            "refunded_minor": 0,
            "status": PaymentStatus.FAILED.value,
            "method": "paypal",
            "provider": PROVIDER,
            "failure_reason": FAILURE_REASONS.get(code, f"PayPal could not collect it ({code})"),
            "created_at": when,
        }
        # PayPal gives a failed payment no id: the subscription and the time name it.
        key = {"provider": PROVIDER, "provider_id": f"{answer.get('id')}@{_stamp(when)}"}
        upsert(connection, _payment, key, values, "payments", report)

    def _payment(
        self,
        connection: Connection,
        customer_id: int,
        info: dict[str, Any],
        subs: dict[str, int],
        refunds: dict[str, list[dict[str, Any]]],
        report: SyncReport,
    ) -> None:
        """A payment and its refunds."""
        transaction_id = str(info.get("transaction_id") or "")
        try:
            amount, currency = _amount(info)
            new_refunds = [_refund_values(r) for r in refunds.get(transaction_id, [])]
        except ProviderError as error:
            report.skipped.append(f"payment {transaction_id}: {error.message}")
            return
        collected = PAYMENT_STATUS.get(str(info.get("transaction_status")), "pending")
        values = {
            "customer_id": customer_id,
            "subscription_id": subs.get(str(info.get("paypal_reference_id") or "")),
            "amount_minor": amount,
            "currency": currency,
            "method": "paypal",
            "provider": PROVIDER,
            "description": str(info.get("transaction_subject") or "")[:300],
            "created_at": _moment(info.get("transaction_initiation_date")) or self.now(),
            **_refund_columns(connection, transaction_id, amount, collected, new_refunds),
        }
        payment_id = upsert(
            connection,
            _payment,
            {"provider": PROVIDER, "provider_id": transaction_id},
            values,
            "payments",
            report,
        )
        self._store_refunds(connection, payment_id, new_refunds, report)

    def _store_refunds(
        self,
        connection: Connection,
        payment_id: int,
        refunds: list[tuple[str, dict[str, Any]]],
        report: SyncReport,
    ) -> None:
        for refund_id, refund_values in refunds:
            upsert(
                connection,
                _refund,
                {"provider_id": refund_id},
                {"payment_id": payment_id, **refund_values},
                "refunds",
                report,
                keep=("reason", "created_at"),  # a refund made here keeps its agent's reason
            )


# ----------------------------------------------------------------- reading lines


def _amount(info: dict[str, Any]) -> tuple[int, str]:
    return from_paypal_money(info.get("transaction_amount"), "the transaction amount")


def _refund_values(info: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    amount, currency = _amount(info)
    refund_id = str(info.get("transaction_id") or "")
    if not refund_id:
        raise ProviderError(FailureKind.INVALID, "PayPal reported a refund without its id")
    return (
        refund_id,
        {
            "amount_minor": abs(amount),  # reported as money going out
            "currency": currency,
            "status": REFUND_STATUS.get(str(info.get("transaction_status")), "pending"),
            "reason": str(info.get("transaction_note") or "")[:400],
            "created_at": _moment(info.get("transaction_initiation_date")) or datetime.now(UTC),
        },
    )


def _refund_columns(
    connection: Connection,
    payment_provider_id: str,
    amount_minor: int,
    collected_status: str,
    new: list[tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """A payment's refunded amount and status, from the refunds stored here (some
    made by agents and not yet in PayPal's lagging reports) and this run's."""
    stored = connection.execute(
        sa.select(_refund.c.provider_id, _refund.c.amount_minor, _refund.c.status)
        .join(_payment, _payment.c.id == _refund.c.payment_id)
        .where(_payment.c.provider == PROVIDER, _payment.c.provider_id == payment_provider_id)
    ).all()
    refunds = {row.provider_id: (row.amount_minor, row.status) for row in stored}
    refunds.update({rid: (v["amount_minor"], v["status"]) for rid, v in new})
    # A pending refund counts, as it does when an agent makes one: PayPal holds the
    # money for it and refuses to refund it twice.
    refunded = sum(amount for amount, status in refunds.values() if status != "failed")
    status = collected_status
    if collected_status == PaymentStatus.SUCCEEDED and refunded:
        status = (
            PaymentStatus.REFUNDED.value
            if refunded >= amount_minor
            else PaymentStatus.PARTIALLY_REFUNDED.value
        )
    return {"refunded_minor": refunded, "status": status}


def _payer_name(payer: dict[str, Any]) -> str:
    name = payer.get("payer_name") or {}
    if not isinstance(name, dict):
        return ""
    joined = " ".join(str(part) for part in (name.get("given_name"), name.get("surname")) if part)
    return joined or str(name.get("alternate_full_name") or "")


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plan_values(plan: dict[str, Any]) -> dict[str, Any] | None:
    """A PayPal plan's regular billing cycle, as our plan row; None if unreadable."""
    for cycle in plan.get("billing_cycles") or []:
        if not isinstance(cycle, dict) or cycle.get("tenure_type") != "REGULAR":
            continue
        frequency = cycle.get("frequency") or {}
        ours = CYCLES.get(
            (str(frequency.get("interval_unit")), int(frequency.get("interval_count") or 1))
        )
        price = (cycle.get("pricing_scheme") or {}).get("fixed_price")
        if ours is None or not price:
            return None
        try:
            amount, currency = from_paypal_money(price, "the plan's price")
        except ProviderError:
            return None
        return {
            "name": str(plan.get("name") or plan.get("id"))[:120],
            "kind": "service",
            "amount_minor": amount,
            "currency": currency,
            "cycle": ours,
            "usage_metric": "logins",
            "active": plan.get("status", "ACTIVE") == "ACTIVE",
        }
    return None
