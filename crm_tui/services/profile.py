"""A customer's profile, read as plain read models (see models/profile.py).

One call reads everything the five tabs show, in one connection: a dozen indexed
reads by customer id. Even a long history (1,000 payments, 5,000 activity events)
is a few thousand small rows; the screen draws only what is visible.
Queries are SQLAlchemy Core on the SQLModel tables' metadata: no ORM object
leaves this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.formatting import format_date, format_money
from crm_tui.models import tables
from crm_tui.models.enums import ActorType, ConsentPurpose, InvoiceStatus, RequestStatus
from crm_tui.models.profile import (
    ActivityView,
    AddressDetail,
    CustomerProfile,
    InvoiceLineView,
    InvoiceView,
    MoneyFacts,
    NoteView,
    OrderView,
    PaymentView,
    PendingActionView,
    PreferencesView,
    RefundView,
    StateChangeView,
    SubscriptionDetail,
    UsageMonth,
    UsageView,
)
from crm_tui.models.support import TicketView
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_summary import (
    BILLING_STATUSES,
    COLLECTED_STATUSES,
    LIVE_SUBSCRIPTION_STATUSES,
    monthly_amount,
)
from crm_tui.services.database import as_utc

if TYPE_CHECKING:
    from crm_tui.services.approvals import ApprovalView

_TABLES = tables.SQLModel.metadata.tables
_customer = _TABLES["customer"]
_address = _TABLES["address"]
_tag = _TABLES["tag"]
_customer_tag = _TABLES["customer_tag"]
_subscription = _TABLES["subscription"]
_plan = _TABLES["plan"]
_usage = _TABLES["usage"]
_order = _TABLES["customer_order"]
_invoice = _TABLES["invoice"]
_invoice_line = _TABLES["invoice_line"]
_payment = _TABLES["payment"]
_refund = _TABLES["refund"]
_credit = _TABLES["credit"]
_event = _TABLES["activity_event"]
_note = _TABLES["note"]
_state_change = _TABLES["account_state_change"]
_preference = _TABLES["preference"]
_external_id = _TABLES["external_id"]
_agent = _TABLES["agent"]
_merged = _TABLES["merged_customer"]
_intent = _TABLES["provider_intent"]
_esc, _segment, _member = _TABLES["escalation"], _TABLES["segment"], _TABLES["customer_segment"]
_audit = _TABLES["audit_entry"]
_ticket = _TABLES["ticket"]
TICKETS_SHOWN = 20  # the profile's ticket history; older ones stay in the table
VIEWERS_SHOWN = 5  # "viewed by": the last few people
VIEWS_READ = 200  # recent views read to find them (one index range)
REQUESTS_SHOWN = 5  # approval requests about the customer, newest first

USAGE_MONTHS = 6  # months of usage the Overview shows
CUSTOMER_ACTOR_LABEL = "customer (self-service)"
_UNPAID_INVOICE_STATUSES = (InvoiceStatus.OPEN.value, InvoiceStatus.UNCOLLECTIBLE.value)


class CustomerNotFound(LookupError):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"no customer with id {customer_id}")
        self.customer_id = customer_id


class InvoiceNotFound(LookupError):
    def __init__(self, invoice_id: int) -> None:
        super().__init__(f"no invoice with id {invoice_id}")
        self.invoice_id = invoice_id


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _actor_label(actor_type: str, agent_name: str | None) -> str:
    if actor_type == ActorType.AGENT.value:
        return agent_name or "agent (unknown)"
    if actor_type == ActorType.CUSTOMER.value:
        return CUSTOMER_ACTOR_LABEL
    return "system"


class ProfileService:
    """Read a customer's story. Thread-safe: each call uses its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def profile(self, customer_id: int, actor: Actor) -> CustomerProfile:
        """Everything the profile shows; a merged-away id leads to its survivor.
        The read is recorded in the audit trail first (who viewed this customer)."""
        self.record_view(customer_id, actor)
        with self.engine.connect() as connection:
            reader = _ProfileReader(connection, customer_row(connection, customer_id))
            return reader.with_history(reader.read())

    def overview(
        self, customer_id: int, actor: Actor, *, record_view: bool = True
    ) -> CustomerProfile:
        """The profile without its long lists (payments and activity are empty).

        A few small reads: the screen draws the Overview from this at once, then
        fills the Payments and Activity tabs from `history`. The read is recorded
        in the audit trail first, unless it is the screen reloading what it shows."""
        if record_view:
            self.record_view(customer_id, actor)
        with self.engine.connect() as connection:
            return _ProfileReader(connection, customer_row(connection, customer_id)).read()

    def record_view(self, customer_id: int, actor: Actor) -> None:
        """`customer.view` in the audit trail, in a short transaction of its own: no
        profile is shown without its record (a failure here fails the read)."""
        with self.engine.begin() as connection:
            row = customer_row(connection, customer_id)
            audit.append(connection, actor, "customer.view", customer_id=row.id)

    def history(self, profile: CustomerProfile, actor: Actor) -> CustomerProfile:
        """`profile` (from `overview`) with its payments and activity read in."""
        with self.engine.connect() as connection:
            return _ProfileReader(connection, customer_row(connection, profile.id)).with_history(
                profile
            )

    def invoice(self, invoice_id: int, actor: Actor) -> InvoiceView:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(_invoice).where(_invoice.c.id == invoice_id)).first()
            if row is None:
                raise InvoiceNotFound(invoice_id)
            lines = connection.execute(
                sa.select(_invoice_line)
                .where(_invoice_line.c.invoice_id == invoice_id)
                .order_by(_invoice_line.c.id)
            )
            return InvoiceView(
                id=row.id,
                number=row.number,
                status=row.status,
                issued_at=_aware(row.issued_at),  # type: ignore[arg-type]
                due_at=_aware(row.due_at),
                total_minor=row.total_minor,
                currency=row.currency,
                lines=tuple(
                    InvoiceLineView(
                        line.description, line.quantity, line.unit_amount_minor, line.amount_minor
                    )
                    for line in lines
                ),
            )


def customer_row(connection: Connection, customer_id: int) -> Any:
    """The customer's row; a merged-away id gives its survivor's."""
    row = connection.execute(sa.select(_customer).where(_customer.c.id == customer_id)).first()
    if row is None:
        survivor = connection.execute(
            sa.select(_merged.c.survivor_id).where(_merged.c.old_customer_id == customer_id)
        ).scalar()
        if survivor is not None:
            row = connection.execute(sa.select(_customer).where(_customer.c.id == survivor)).first()
    if row is None:
        raise CustomerNotFound(customer_id)
    return row


class _ProfileReader:
    """The reads of one profile, on one connection."""

    def __init__(self, connection: Connection, customer: Any) -> None:
        self.connection = connection
        self.customer = customer
        self.id: int = customer.id
        self._agents: dict[int, str] | None = None

    def read(self) -> CustomerProfile:
        c = self.customer
        subscriptions_rows = self._subscription_rows()
        subscriptions = self._subscriptions(subscriptions_rows, self._collected_by_subscription())
        requests = self._requests()
        return CustomerProfile(
            id=c.id,
            kind=c.kind,
            name=c.name,
            email=c.email,
            phone=c.phone,
            company_name=c.company_name,
            company_reg_no=c.company_reg_no,
            company_email=c.company_email,
            vat_id=c.vat_id,
            payment_terms=c.payment_terms,
            billing_group=c.billing_group,
            billing_contact=c.billing_contact,
            storefront=c.storefront,
            region=c.region,
            country=c.country,
            timezone=c.timezone,
            registered_at=_aware(c.registered_at),  # type: ignore[arg-type]
            account_state=c.account_state,
            lifecycle_status=c.lifecycle_status,
            current_plan=c.current_plan,
            next_renewal=_next_renewal(subscriptions),
            currency=c.currency,
            mrr_minor=c.mrr_minor,
            ltv_minor=c.ltv_minor,
            assigned_agent=self._agent_name(c.assigned_agent_id),
            tags=self._tags(),
            addresses=self._addresses(),
            status_history=self._status_history(),
            usage=self._usage(subscriptions_rows),
            preferences=self._preferences(),
            money=self._money(subscriptions),
            subscriptions=subscriptions,
            orders=self._orders(),
            payments=(),
            activity=(),
            notes=self._notes(),
            external_ids=self._external_ids(),
            version=c.version,
            updated_at=_aware(c.updated_at),  # type: ignore[arg-type]
            updated_by=self._agent_name(c.updated_by_agent_id) or "system",
            pending_actions=self._pending_actions(),
            escalation=self._escalation(),
            segments=self._segments(),
            tickets=self._tickets(),
            viewers=self._viewers(),
            requests=tuple(view.state_line() for view in requests),
            pending_requests=tuple(
                view.state_line() for view in requests if view.status == RequestStatus.PENDING
            ),
            consent=self._consent(),
            erased_at=_aware(c.erased_at) if c.erased_at is not None else None,
        )

    def _requests(self) -> list[ApprovalView]:
        from crm_tui.services.approvals import customer_requests  # approvals needs this module

        return customer_requests(self.connection, self.id, REQUESTS_SHOWN)

    def _consent(self) -> tuple[tuple[str, str], ...]:
        """Each purpose's current consent, from the newest row of its history."""
        from crm_tui.services.consent import consent_history

        latest: dict[str, Any] = {}
        for change in consent_history(self.connection, self.id):
            latest.setdefault(change.purpose, change)
        lines = []
        for purpose in ConsentPurpose:
            current = latest.get(purpose.value)
            label = purpose.value.replace("_", " ")
            if current is None:
                lines.append((label, "not asked"))
                continue
            state = "granted" if current.granted else "refused"
            source = f" ({current.source})" if current.source else ""
            lines.append((label, f"{state} {format_date(_aware(current.recorded_at))}{source}"))
        return tuple(lines)

    def _viewers(self) -> tuple[tuple[str, datetime], ...]:
        """Who viewed this customer last, newest first: each person once, at their
        latest view (from the audit trail's recent `customer.view` entries)."""
        rows = self.connection.execute(
            sa.select(_audit.c.agent_username, _audit.c.at)
            .where(_audit.c.customer_id == self.id, _audit.c.action == "customer.view")
            .order_by(_audit.c.seq.desc())
            .limit(VIEWS_READ)
        )
        latest: dict[str, datetime] = {}
        for row in rows:
            latest.setdefault(row.agent_username, _aware(row.at))  # type: ignore[arg-type]
        return tuple(latest.items())[:VIEWERS_SHOWN]

    def _tickets(self) -> tuple[TicketView, ...]:
        rows = self.connection.execute(
            sa.select(_ticket)
            .where(_ticket.c.customer_id == self.id)
            .order_by(_ticket.c.opened_at.desc(), _ticket.c.id.desc())
            .limit(TICKETS_SHOWN)
        )
        return tuple(
            TicketView(
                id=row.id,
                customer_id=row.customer_id,
                subject=row.subject,
                status=row.status,
                opened_at=_aware(row.opened_at),  # type: ignore[arg-type]
                closed_at=_aware(row.closed_at),
                opened_by=self._agent_name(row.agent_id) or "system",
            )
            for row in rows
        )

    def _escalation(self) -> str:
        row = self.connection.execute(
            sa.select(_esc)
            .where(_esc.c.customer_id == self.id, _esc.c.status == "open")
            .order_by(_esc.c.raised_at)
            .limit(1)
        ).first()
        if row is None:
            return ""
        by = self._agent_name(row.raised_by_agent_id) or "system"
        when = _aware(row.raised_at)
        return f"by {by} on {when:%Y-%m-%d %H:%M} UTC: {row.reason}"

    def _segments(self) -> tuple[str, ...]:
        rows = self.connection.execute(
            sa.select(_segment.c.name)
            .join(_member, _member.c.segment_id == _segment.c.id)
            .where(_member.c.customer_id == self.id)
            .order_by(_segment.c.id)
        )
        return tuple(rows.scalars())

    def _pending_actions(self) -> tuple[PendingActionView, ...]:
        rows = self.connection.execute(
            sa.select(_intent)
            .where(_intent.c.customer_id == self.id, _intent.c.status == "pending")
            .order_by(_intent.c.created_at, _intent.c.id)
        )
        return tuple(
            PendingActionView(
                action=row.action,
                provider=row.provider,
                started_at=_aware(row.created_at),  # type: ignore[arg-type]
                by=self._agent_name(row.agent_id) or "system",
                what=_pending_what(row.payload or {}),
            )
            for row in rows
        )

    def with_history(self, profile: CustomerProfile) -> CustomerProfile:
        return replace(profile, payments=self._payments(), activity=self._activity())

    # ------------------------------------------------------------------ people

    def _agent_name(self, agent_id: int | None) -> str:
        if agent_id is None:
            return ""
        if self._agents is None:
            rows = self.connection.execute(sa.select(_agent.c.id, _agent.c.display_name))
            self._agents = {row.id: row.display_name for row in rows}
        return self._agents.get(agent_id, f"agent #{agent_id}")

    def _tags(self) -> tuple[str, ...]:
        query = (
            sa.select(_tag.c.name)
            .join(_customer_tag, _customer_tag.c.tag_id == _tag.c.id)
            .where(_customer_tag.c.customer_id == self.id)
            .order_by(_tag.c.name)
        )
        return tuple(self.connection.execute(query).scalars())

    def _addresses(self) -> tuple[AddressDetail, ...]:
        query = (
            sa.select(_address)
            .where(_address.c.customer_id == self.id)
            .order_by(
                _address.c.valid_to.is_not(None),
                _address.c.is_default.desc(),
                _address.c.kind,
                _address.c.valid_to.desc(),
                _address.c.id,
            )
        )
        return tuple(
            AddressDetail(
                id=row.id,
                kind=row.kind,
                is_default=bool(row.is_default),
                line1=row.line1,
                line2=row.line2,
                city=row.city,
                state=row.state,
                postal_code=row.postal_code,
                country=row.country,
                valid_from=_aware(row.valid_from),  # type: ignore[arg-type]
                valid_to=_aware(row.valid_to),
            )
            for row in self.connection.execute(query)
        )

    def _status_history(self) -> tuple[StateChangeView, ...]:
        query = (
            sa.select(_state_change)
            .where(_state_change.c.customer_id == self.id)
            .order_by(_state_change.c.changed_at.desc(), _state_change.c.id.desc())
        )
        return tuple(
            StateChangeView(
                changed_at=_aware(row.changed_at),  # type: ignore[arg-type]
                from_state=row.from_state,
                to_state=row.to_state,
                reason=row.reason,
                by=self._agent_name(row.agent_id) or "system",
            )
            for row in self.connection.execute(query)
        )

    def _preferences(self) -> PreferencesView | None:
        row = self.connection.execute(
            sa.select(_preference).where(_preference.c.customer_id == self.id)
        ).first()
        if row is None:
            return None
        return PreferencesView(
            row.contract_length_months, row.payment_method, row.billing_frequency, row.communication
        )

    def _external_ids(self) -> tuple[tuple[str, str], ...]:
        query = (
            sa.select(_external_id.c.provider, _external_id.c.external_id)
            .where(_external_id.c.customer_id == self.id)
            .order_by(_external_id.c.provider, _external_id.c.external_id)
        )
        return tuple((row.provider, row.external_id) for row in self.connection.execute(query))

    # ----------------------------------------------------------- subscriptions

    def _subscription_rows(self) -> list[Any]:
        query = (
            sa.select(
                _subscription,
                _plan.c.name.label("plan_name"),
                _plan.c.kind.label("plan_kind"),
                _plan.c.usage_metric,
            )
            .join(_plan, _plan.c.id == _subscription.c.plan_id)
            .where(_subscription.c.customer_id == self.id)
            .order_by(_subscription.c.started_at.desc(), _subscription.c.id.desc())
        )
        return list(self.connection.execute(query))

    def _collected_by_subscription(self) -> dict[int, int]:
        """Collected minus refunded, per subscription: cost recovery of hardware plans."""
        query = (
            sa.select(
                _payment.c.subscription_id,
                sa.func.sum(_payment.c.amount_minor - _payment.c.refunded_minor),
            )
            .where(
                _payment.c.customer_id == self.id,
                _payment.c.subscription_id.is_not(None),
                _payment.c.status.in_([status.value for status in COLLECTED_STATUSES]),
            )
            .group_by(_payment.c.subscription_id)
        )
        return {int(row[0]): int(row[1]) for row in self.connection.execute(query)}

    @staticmethod
    def _subscriptions(
        rows: list[Any], collected: dict[int, int]
    ) -> tuple[SubscriptionDetail, ...]:
        return tuple(
            SubscriptionDetail(
                id=row.id,
                plan=row.plan_name,
                plan_kind=row.plan_kind,
                variant=row.variant,
                status=row.status,
                started_at=_aware(row.started_at),  # type: ignore[arg-type]
                renews_at=_aware(row.current_period_end),
                trial_end=_aware(row.trial_end),
                ended_at=_aware(row.ended_at),
                paused_until=_aware(row.paused_until),
                amount_minor=row.amount_minor,
                currency=row.currency,
                cycle=row.cycle,
                payment_method=row.payment_method,
                contract_end=row.contract_end,
                provider=row.provider,
                provider_id=row.provider_id,
                asset_serial=row.asset_serial,
                asset_cost_minor=row.asset_cost_minor,
                collected_minor=collected.get(row.id, 0),
                cancel_at_period_end=bool(row.cancel_at_period_end),
            )
            for row in rows
        )

    def _usage(self, subscription_rows: list[Any]) -> UsageView | None:
        """The current plan's metric: the newest live subscription's usage."""
        live = [row for row in subscription_rows if row.status in LIVE_SUBSCRIPTION_STATUSES]
        if not live:
            return None
        current = live[0]
        query = (
            sa.select(_usage.c.period_start, _usage.c.quantity)
            .where(_usage.c.subscription_id == current.id, _usage.c.metric == current.usage_metric)
            .order_by(_usage.c.period_start.desc())
            .limit(USAGE_MONTHS)
        )
        months = [
            UsageMonth(row.period_start, row.quantity) for row in self.connection.execute(query)
        ]
        return UsageView(current.usage_metric, tuple(reversed(months)))

    def _orders(self) -> tuple[OrderView, ...]:
        query = (
            sa.select(_order)
            .where(_order.c.customer_id == self.id)
            .order_by(_order.c.placed_at.desc(), _order.c.id.desc())
        )
        return tuple(
            OrderView(
                id=row.id,
                number=row.number,
                placed_at=_aware(row.placed_at),  # type: ignore[arg-type]
                status=row.status,
                items=tuple(_order_item(item) for item in row.items or ()),
                total_minor=row.total_minor,
                currency=row.currency,
            )
            for row in self.connection.execute(query)
        )

    # ---------------------------------------------------------------- payments

    def _payments(self) -> tuple[PaymentView, ...]:
        refunds: dict[int, list[RefundView]] = defaultdict(list)
        refund_query = (
            sa.select(_refund)
            .join(_payment, _payment.c.id == _refund.c.payment_id)
            .where(_payment.c.customer_id == self.id)
            .order_by(_refund.c.created_at, _refund.c.id)
        )
        for row in self.connection.execute(refund_query):
            refunds[row.payment_id].append(
                RefundView(
                    id=row.id,
                    amount_minor=row.amount_minor,
                    currency=row.currency,
                    status=row.status,
                    reason=row.reason,
                    created_at=_aware(row.created_at),  # type: ignore[arg-type]
                    by=self._agent_name(row.agent_id) or "system",
                )
            )
        query = (
            sa.select(_payment, _invoice.c.number.label("invoice_number"))
            .outerjoin(_invoice, _invoice.c.id == _payment.c.invoice_id)
            .where(_payment.c.customer_id == self.id)
            .order_by(_payment.c.created_at.desc(), _payment.c.id.desc())
        )
        return tuple(
            PaymentView(
                id=row.id,
                created_at=_aware(row.created_at),  # type: ignore[arg-type]
                amount_minor=row.amount_minor,
                currency=row.currency,
                refunded_minor=row.refunded_minor,
                status=row.status,
                method=row.method,
                provider=row.provider,
                provider_id=row.provider_id,
                description=row.description,
                failure_reason=row.failure_reason,
                subscription_id=row.subscription_id,
                invoice_id=row.invoice_id,
                invoice_number=row.invoice_number or "",
                refunds=tuple(refunds.get(row.id, ())),
            )
            for row in self.connection.execute(query)
        )

    def _money(self, subscriptions: tuple[SubscriptionDetail, ...]) -> MoneyFacts:
        currency = self.customer.currency
        totals = self.connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(_payment.c.amount_minor), 0),
                sa.func.coalesce(sa.func.sum(_payment.c.refunded_minor), 0),
            ).where(
                _payment.c.customer_id == self.id,
                _payment.c.currency == currency,
                _payment.c.status.in_([status.value for status in COLLECTED_STATUSES]),
            )
        ).one()
        count, gross, refunded = (int(value) for value in totals)
        live = [s for s in subscriptions if s.status in LIVE_SUBSCRIPTION_STATUSES]
        monthly = [monthly_amount(s.amount_minor, s.cycle) for s in subscriptions]
        return MoneyFacts(
            currency=currency,
            lifetime_value_minor=gross - refunded,
            total_payments=count,
            collected_minor=gross,
            refunded_minor=refunded,
            monthly_income_minor=sum(
                monthly_amount(s.amount_minor, s.cycle)
                for s in subscriptions
                if s.status in BILLING_STATUSES
            ),
            average_subscription_minor=(sum(monthly) + len(monthly) // 2) // len(monthly)
            if monthly
            else 0,
            active_subscriptions=len(live),
            ended_subscriptions=len(subscriptions) - len(live),
            outstanding_minor=self._outstanding(),
            credit_minor=int(
                self.connection.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(_credit.c.amount_minor), 0)).where(
                        _credit.c.customer_id == self.id
                    )
                ).scalar_one()
            ),
        )

    def _outstanding(self) -> int:
        """Unpaid invoices: open or uncollectible, less what was collected against them."""
        paid = (
            sa.select(sa.func.coalesce(sa.func.sum(_payment.c.amount_minor), 0))
            .where(
                _payment.c.invoice_id == _invoice.c.id,
                _payment.c.status.in_([s.value for s in COLLECTED_STATUSES]),
            )
            .scalar_subquery()
        )
        query = sa.select(sa.func.coalesce(sa.func.sum(_invoice.c.total_minor - paid), 0)).where(
            _invoice.c.customer_id == self.id, _invoice.c.status.in_(_UNPAID_INVOICE_STATUSES)
        )
        return max(0, int(self.connection.execute(query).scalar_one()))

    # ------------------------------------------------------- activity and notes

    def _activity(self) -> tuple[ActivityView, ...]:
        # Details come as their JSON text, parsed when an event is expanded.
        query = (
            sa.select(
                _event.c.id,
                _event.c.occurred_at,
                _event.c.kind,
                _event.c.actor_type,
                _event.c.agent_id,
                _event.c.summary,
                sa.cast(_event.c.details, sa.Text).label("details_json"),
            )
            .where(_event.c.customer_id == self.id)
            .order_by(_event.c.occurred_at.desc(), _event.c.id.desc())
        )
        labels: dict[tuple[str, int | None], str] = {}
        events = []
        for row in self.connection.execute(query):
            label_key = (row.actor_type, row.agent_id)
            label = labels.get(label_key)
            if label is None:
                label = labels[label_key] = _actor_label(
                    row.actor_type, self._agent_name(row.agent_id)
                )
            events.append(
                ActivityView(
                    row.id,
                    _aware(row.occurred_at),  # type: ignore[arg-type]
                    row.kind,
                    row.actor_type,
                    label,
                    row.summary,
                    row.details_json or "{}",
                )
            )
        return tuple(events)

    def _notes(self) -> tuple[NoteView, ...]:
        query = (
            sa.select(_note)
            .where(_note.c.customer_id == self.id)
            .order_by(_note.c.created_at.desc(), _note.c.id.desc())
        )
        return tuple(
            NoteView(
                id=row.id,
                created_at=_aware(row.created_at),  # type: ignore[arg-type]
                type=row.type,
                summary=row.summary,
                body=row.body,
                follow_up_on=row.follow_up_on,
                by=self._agent_name(row.agent_id) or "system",
            )
            for row in self.connection.execute(query)
        )


def _next_renewal(subscriptions: Iterable[SubscriptionDetail]) -> datetime | None:
    # A subscription set to cancel at its period's end is not renewed.
    dates = [
        s.renews_at
        for s in subscriptions
        if s.status in BILLING_STATUSES and s.renews_at and not s.cancel_at_period_end
    ]
    return min(dates) if dates else None


def _order_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    quantity = item.get("quantity", 1)
    description = item.get("description") or item.get("sku") or "item"
    return f"{quantity} × {description}"


def _pending_what(payload: dict[str, Any]) -> str:
    """What a pending intent is about, from what was stored with it."""
    parts = []
    if "amount_minor" in payload and "currency" in payload:
        parts.append(format_money(int(payload["amount_minor"]), str(payload["currency"])))
    if "payment_id" in payload:
        parts.append(f"payment #{payload['payment_id']}")
    if "subscription_id" in payload:
        parts.append(f"subscription #{payload['subscription_id']}")
    return " · ".join(parts) or "—"
