"""`crm-tui sync stripe`: customers, plans, subscriptions, invoices, payments and
refunds from Stripe into the local store.

- A full run pages through every list (100 per page). Every object is matched by
  its Stripe id and written only where something differs, so a second run
  changes nothing (and says so).
- An incremental run (the default once a full run has finished) reads Stripe's
  events since the last run and syncs only the customers they touch.
- Each customer's rows are written in one transaction, with its summary columns
  and one activity event ("Synced from Stripe: ...") when something changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, PaymentStatus
from crm_tui.services.actor import Actor
from crm_tui.services.customer_summary import refresh_summary
from crm_tui.services.intents import record_activity
from crm_tui.services.providers.stripe import StripeProvider, from_timestamp
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
_customer, _external, _plan, _sub = (
    _T["customer"],
    _T["external_id"],
    _T["plan"],
    _T["subscription"],
)
_invoice, _line, _payment, _refund = (
    _T["invoice"],
    _T["invoice_line"],
    _T["payment"],
    _T["refund"],
)

PROVIDER = "stripe"
CYCLES = {("month", 1): "monthly", ("month", 3): "quarterly", ("year", 1): "yearly"}
INVOICE_STATUSES = {"draft", "open", "paid", "void", "uncollectible"}


@dataclass
class CustomerBundle:
    """Everything Stripe holds about one customer, as plain dicts."""

    customer: dict[str, Any]
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)


class StripeSync:
    def __init__(
        self,
        engine: Engine,
        provider: StripeProvider,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.stripe = provider
        self.now = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ runs

    def run(self, *, full: bool = False, progress: Progress | None = None) -> SyncReport:
        report = SyncReport()
        tell = progress or no_progress
        cursor = read_cursor(self.engine, PROVIDER)
        started = int(self.now().timestamp())
        if cursor and not full:
            report.incremental = True
            bundles = self._changed_since(cursor, tell)
        else:
            bundles = self._everything(tell)
        plans = {p["id"]: p for p in self._list("plans", {}, "plans", tell) if p.get("id")}
        self._store_plans(plans.values(), report)
        for done, bundle in enumerate(bundles, start=1):
            self._store_customer(bundle, plans, report)
            report.customers_seen = done
            tell("customers", done, None)
        save_cursor(self.engine, PROVIDER, max(started - 1, cursor), self.now())
        return report

    def _everything(self, tell: Progress) -> Iterator[CustomerBundle]:
        by_customer: dict[str, CustomerBundle] = {}
        for customer in self._list("customers", {}, "customers", tell):
            by_customer[str(customer.get("id"))] = CustomerBundle(customer)
        for kind, params in (
            ("subscriptions", {"status": "all"}),
            ("invoices", {}),
            ("charges", {}),
        ):
            for obj in self._list(kind, params, kind, tell):
                bundle = by_customer.get(str(obj.get("customer")))
                if bundle is not None:
                    getattr(bundle, kind).append(obj)
        owner = {c["id"]: b for b in by_customer.values() for c in b.charges if c.get("id")}
        for refund in self._list("refunds", {}, "refunds", tell):
            bundle = owner.get(str(refund.get("charge")))
            if bundle is not None:
                bundle.refunds.append(refund)
        yield from by_customer.values()

    def _changed_since(self, cursor: int, tell: Progress) -> Iterator[CustomerBundle]:
        touched: set[str] = set()
        for event in self._list("events", {"created": {"gt": cursor}}, "events", tell):
            obj = (event.get("data") or {}).get("object") or {}
            customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
            if isinstance(customer, str) and customer.startswith("cus_"):
                touched.add(customer)
        for customer_id in sorted(touched):
            yield self._bundle_of(customer_id)

    def _bundle_of(self, customer_id: str) -> CustomerBundle:
        api = self.stripe.api
        bundle = CustomerBundle(self.stripe.call(lambda: api.customers.retrieve(customer_id)))
        bundle.subscriptions = list(
            self._list("subscriptions", {"customer": customer_id, "status": "all"})
        )
        bundle.invoices = list(self._list("invoices", {"customer": customer_id}))
        bundle.charges = list(self._list("charges", {"customer": customer_id}))
        for charge in bundle.charges:
            bundle.refunds.extend(self._list("refunds", {"charge": charge["id"]}))
        return bundle

    def _list(
        self, kind: str, params: dict[str, Any], stage: str = "", tell: Progress | None = None
    ) -> Iterator[dict[str, Any]]:
        service = getattr(self.stripe.api, kind)
        for count, obj in enumerate(
            self.stripe.iterate(lambda after: service.list({**params, "limit": 100, **after})),
            start=1,
        ):
            if tell is not None and count % 100 == 0:
                tell(stage, count, None)
            yield obj

    # ----------------------------------------------------------------- plans

    def _store_plans(self, plans: Iterable[dict[str, Any]], report: SyncReport) -> None:
        with self.engine.begin() as connection:
            for plan in plans:
                values = self._plan_values(plan)
                if values is None:
                    report.skipped.append(f"plan {plan.get('id')}: no amount or interval")
                    continue
                upsert(connection, _plan, {"code": plan["id"]}, values, "plans", report)

    def _plan_values(self, plan: dict[str, Any]) -> dict[str, Any] | None:
        amount = plan.get("amount")
        cycle = CYCLES.get((str(plan.get("interval")), int(plan.get("interval_count") or 1)))
        if not isinstance(amount, int) or cycle is None:
            return None
        product = plan.get("product")
        name = plan.get("nickname") or (product.get("name") if isinstance(product, dict) else "")
        return {
            "name": str(name or plan["id"])[:120],
            "kind": "service",
            "amount_minor": amount,
            "currency": str(plan.get("currency") or "usd").upper(),
            "cycle": cycle,
            "usage_metric": "logins",
            "active": bool(plan.get("active", True)),
        }

    # -------------------------------------------------------------- customers

    def _store_customer(
        self, bundle: CustomerBundle, plans: dict[str, dict[str, Any]], report: SyncReport
    ) -> None:
        stripe_id = str(bundle.customer.get("id") or "")
        if not stripe_id.startswith("cus_") or bundle.customer.get("deleted"):
            return
        before = report.change_count()
        with self.engine.begin() as connection:
            customer_id = self._customer(connection, bundle.customer, report, _currency(bundle))
            subs = {
                s["id"]: self._subscription(connection, customer_id, s, report)
                for s in bundle.subscriptions
                if s.get("id")
            }
            invoices = {
                i["id"]: self._invoice(connection, customer_id, i, subs, report)
                for i in bundle.invoices
                if i.get("id")
            }
            invoice_of_intent = {
                i.get("payment_intent"): invoices[i["id"]] for i in bundle.invoices if i.get("id")
            }
            refunds = defaultdict(list)
            for refund in bundle.refunds:
                refunds[refund.get("charge")].append(refund)
            for charge in bundle.charges:
                if charge.get("id"):
                    invoice_id = invoices.get(charge.get("invoice")) or invoice_of_intent.get(
                        charge.get("payment_intent")
                    )
                    self._charge(
                        connection, customer_id, charge, invoice_id, refunds[charge["id"]], report
                    )
            after = report.change_count()
            if after != before:
                refresh_summary(connection, customer_id)
                record_activity(
                    connection,
                    customer_id,
                    ActivityKind.PROFILE,
                    Actor.system(),
                    f"Synced from Stripe ({after - before} changes)",
                    {"provider": PROVIDER, "stripe_customer": stripe_id},
                    self.now(),
                )

    def _customer(
        self, connection: Connection, data: dict[str, Any], report: SyncReport, currency: str
    ) -> int:
        stripe_id = str(data["id"])
        existing = connection.execute(
            sa.select(_external.c.customer_id).where(
                _external.c.provider == PROVIDER, _external.c.external_id == stripe_id
            )
        ).scalar()
        name = str(data.get("name") or data.get("email") or stripe_id)[:200]
        values = {
            "name": name,
            "email": str(data.get("email") or "")[:254],
            "phone": str(data.get("phone") or "")[:40],
        }
        if existing is not None:
            current = connection.execute(
                sa.select(
                    _customer.c.name, _customer.c.email, _customer.c.phone, _customer.c.erased_at
                ).where(_customer.c.id == existing)
            ).one()
            # An erased customer's personal data never comes back from the provider
            # (their payments still sync: the financial record is kept).
            stored = (current.name, current.email, current.phone)
            if current.erased_at is None and stored != (
                values["name"],
                values["email"],
                values["phone"],
            ):
                connection.execute(
                    sa.update(_customer)
                    .where(_customer.c.id == existing)
                    .values(**values, version=_customer.c.version + 1, updated_at=self.now())
                )
                report.updated["customers"] += 1
            return int(existing)
        registered = from_timestamp(data.get("created")) or self.now()
        customer_id = inserted_id(
            connection.execute(
                sa.insert(_customer).values(
                    **values,
                    registered_at=registered,
                    updated_at=self.now(),
                    currency=currency,
                    storefront="stripe",
                )
            )
        )
        connection.execute(
            sa.insert(_external).values(
                customer_id=customer_id, provider=PROVIDER, external_id=stripe_id
            )
        )
        report.created["customers"] += 1
        return int(customer_id)

    def _subscription(
        self, connection: Connection, customer_id: int, data: dict[str, Any], report: SyncReport
    ) -> int:
        ours = self.stripe.subscription(data)
        plan_id = connection.execute(
            sa.select(_plan.c.id).where(_plan.c.code == (ours.plan_code or ""))
        ).scalar()
        plan = connection.execute(sa.select(_plan).where(_plan.c.id == plan_id)).first()
        if plan is None:
            report.skipped.append(f"subscription {ours.id}: unknown plan {ours.plan_code}")
            return 0
        values = {
            "customer_id": customer_id,
            "plan_id": plan.id,
            "status": ours.status,
            "started_at": from_timestamp(data.get("start_date") or data.get("created"))
            or self.now(),
            "trial_end": ours.trial_end,
            "current_period_end": ours.current_period_end,
            "cancel_at_period_end": bool(ours.cancel_at_period_end),
            "cancelled_at": from_timestamp(data.get("canceled_at")),
            "ended_at": ours.ended_at,
            "paused_until": ours.paused_until,
            "amount_minor": ours.amount_minor
            if ours.amount_minor is not None
            else plan.amount_minor,
            "currency": plan.currency,
            "cycle": plan.cycle,
            "payment_method": "card",
            "provider": PROVIDER,
        }
        return upsert(
            connection,
            _sub,
            {"provider": PROVIDER, "provider_id": ours.id},
            values,
            "subscriptions",
            report,
        )

    def _invoice(
        self,
        connection: Connection,
        customer_id: int,
        data: dict[str, Any],
        subs: dict[str, int],
        report: SyncReport,
    ) -> int:
        status = str(data.get("status") or "open")
        values = {
            "customer_id": customer_id,
            "subscription_id": subs.get(str(data.get("subscription"))) or None,
            "number": str(data.get("number") or data["id"]),
            "status": status if status in INVOICE_STATUSES else "open",
            "issued_at": from_timestamp(data.get("created") or data.get("date")) or self.now(),
            "due_at": from_timestamp(data.get("due_date")),
            "total_minor": int(data.get("total") or 0),
            "currency": str(data.get("currency") or "usd").upper(),
            "provider": PROVIDER,
        }
        invoice_id = upsert(
            connection,
            _invoice,
            {"provider": PROVIDER, "provider_id": data["id"]},
            values,
            "invoices",
            report,
        )
        has_lines = connection.execute(
            sa.select(sa.func.count()).select_from(_line).where(_line.c.invoice_id == invoice_id)
        ).scalar_one()
        if not has_lines:
            for line in (data.get("lines") or {}).get("data") or []:
                amount = int(line.get("amount") or 0)
                quantity = int(line.get("quantity") or 1)
                connection.execute(
                    sa.insert(_line).values(
                        invoice_id=invoice_id,
                        description=str(line.get("description") or "")[:300],
                        quantity=quantity,
                        unit_amount_minor=amount // max(quantity, 1),
                        amount_minor=amount,
                    )
                )
        return invoice_id

    def _charge(
        self,
        connection: Connection,
        customer_id: int,
        data: dict[str, Any],
        invoice_id: int | None,
        refunds: list[dict[str, Any]],
        report: SyncReport,
    ) -> None:
        amount = int(data.get("amount") or 0)
        refunded = int(data.get("amount_refunded") or 0)
        status = {"succeeded": "succeeded", "failed": "failed"}.get(
            str(data.get("status")), "pending"
        )
        if status == "succeeded" and refunded:
            status = (
                PaymentStatus.REFUNDED.value
                if refunded >= amount
                else PaymentStatus.PARTIALLY_REFUNDED.value
            )
        subscription_id = None
        if invoice_id is not None:
            subscription_id = connection.execute(
                sa.select(_invoice.c.subscription_id).where(_invoice.c.id == invoice_id)
            ).scalar()
        values = {
            "customer_id": customer_id,
            "subscription_id": subscription_id,
            "invoice_id": invoice_id,
            "amount_minor": amount,
            "currency": str(data.get("currency") or "usd").upper(),
            "refunded_minor": refunded,
            "status": status,
            "method": "card",
            "provider": PROVIDER,
            "failure_reason": str(data.get("failure_message") or "")[:300],
            "description": str(data.get("description") or "")[:300],
            "created_at": from_timestamp(data.get("created")) or self.now(),
        }
        payment_id = upsert(
            connection,
            _payment,
            {"provider": PROVIDER, "provider_id": data["id"]},
            values,
            "payments",
            report,
        )
        for refund in refunds:
            if not refund.get("id"):
                continue
            refund_values = {
                "payment_id": payment_id,
                "amount_minor": int(refund.get("amount") or 0),
                "currency": str(refund.get("currency") or "usd").upper(),
                "status": {"succeeded": "succeeded", "failed": "failed"}.get(
                    str(refund.get("status")), "pending"
                ),
                "reason": str(
                    (refund.get("metadata") or {}).get("crm_reason") or refund.get("reason") or ""
                )[:400],
                "created_at": from_timestamp(refund.get("created")) or self.now(),
            }
            upsert(
                connection,
                _refund,
                {"provider_id": refund["id"]},
                refund_values,
                "refunds",
                report,
                keep=("reason", "created_at"),
            )


def _currency(bundle: CustomerBundle) -> str:
    """The customer's currency: what they are billed in (Stripe's own field may be unset)."""
    for obj in (*bundle.subscriptions, *bundle.charges):
        item = ((obj.get("items") or {}).get("data") or [{}])[0]
        plan = item.get("plan") or item.get("price") or {}
        code = obj.get("currency") or (plan.get("currency") if isinstance(plan, dict) else None)
        if isinstance(code, str) and code:
            return code.upper()
    return str(bundle.customer.get("currency") or "usd").upper()
