"""A customer's profile, read as plain read models (see models/read.py).

This issue builds the Overview the directory opens on `enter` and the JSON of
`crm-tui customers show`; the profile issue adds the other tabs and the writes.
Queries are SQLAlchemy Core on the SQLModel tables' metadata: a profile is a
handful of small indexed reads, and no ORM object leaves this module.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.read import AddressView, CustomerProfile, SubscriptionView
from crm_tui.services.actor import Actor

_TABLES = tables.SQLModel.metadata.tables
_customer = _TABLES["customer"]
_address = _TABLES["address"]
_tag = _TABLES["tag"]
_customer_tag = _TABLES["customer_tag"]
_subscription = _TABLES["subscription"]
_plan = _TABLES["plan"]
_external_id = _TABLES["external_id"]
_payment = _TABLES["payment"]
_agent = _TABLES["agent"]
_merged = _TABLES["merged_customer"]


class CustomerNotFound(LookupError):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"no customer with id {customer_id}")
        self.customer_id = customer_id


class ProfileService:
    """Read a customer's story. Thread-safe: each call uses its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def profile(self, customer_id: int, actor: Actor) -> CustomerProfile:
        """The customer's Overview; a merged-away id leads to the customer it was merged into."""
        with self.engine.connect() as connection:
            customer = self._customer_row(connection, customer_id)
            return _profile(
                customer,
                assigned_agent=self._agent_name(connection, customer.assigned_agent_id),
                tags=self._tags(connection, customer.id),
                addresses=self._addresses(connection, customer.id),
                subscriptions=self._subscriptions(connection, customer.id),
                external_ids=self._external_ids(connection, customer.id),
                payments_count=self._payments_count(connection, customer.id),
            )

    # ------------------------------------------------------------------ the reads

    @staticmethod
    def _customer_row(connection: Connection, customer_id: int) -> Any:
        row = connection.execute(sa.select(_customer).where(_customer.c.id == customer_id)).first()
        if row is None:
            survivor = connection.execute(
                sa.select(_merged.c.survivor_id).where(_merged.c.old_customer_id == customer_id)
            ).scalar()
            if survivor is not None:
                row = connection.execute(
                    sa.select(_customer).where(_customer.c.id == survivor)
                ).first()
        if row is None:
            raise CustomerNotFound(customer_id)
        return row

    @staticmethod
    def _agent_name(connection: Connection, agent_id: int | None) -> str:
        if agent_id is None:
            return ""
        name = connection.execute(
            sa.select(_agent.c.display_name).where(_agent.c.id == agent_id)
        ).scalar()
        return str(name or "")

    @staticmethod
    def _tags(connection: Connection, customer_id: int) -> tuple[str, ...]:
        query = (
            sa.select(_tag.c.name)
            .join(_customer_tag, _customer_tag.c.tag_id == _tag.c.id)
            .where(_customer_tag.c.customer_id == customer_id)
            .order_by(_tag.c.name)
        )
        return tuple(connection.execute(query).scalars())

    @staticmethod
    def _addresses(connection: Connection, customer_id: int) -> tuple[AddressView, ...]:
        query = (
            sa.select(_address)
            .where(_address.c.customer_id == customer_id)
            .order_by(_address.c.valid_to.is_not(None), _address.c.is_default.desc(), _address.c.id)
        )
        return tuple(
            AddressView(
                kind=row.kind,
                is_default=bool(row.is_default),
                line1=row.line1,
                line2=row.line2,
                city=row.city,
                state=row.state,
                postal_code=row.postal_code,
                country=row.country,
                current=row.valid_to is None,
            )
            for row in connection.execute(query)
        )

    @staticmethod
    def _subscriptions(connection: Connection, customer_id: int) -> tuple[SubscriptionView, ...]:
        query = (
            sa.select(_subscription, _plan.c.name.label("plan_name"))
            .join(_plan, _plan.c.id == _subscription.c.plan_id)
            .where(_subscription.c.customer_id == customer_id)
            .order_by(_subscription.c.started_at.desc(), _subscription.c.id.desc())
        )
        return tuple(
            SubscriptionView(
                id=row.id,
                plan=row.plan_name,
                status=row.status,
                amount_minor=row.amount_minor,
                currency=row.currency,
                cycle=row.cycle,
                started_at=row.started_at,
                renews_at=row.current_period_end,
                provider=row.provider,
                provider_id=row.provider_id,
            )
            for row in connection.execute(query)
        )

    @staticmethod
    def _external_ids(connection: Connection, customer_id: int) -> tuple[tuple[str, str], ...]:
        query = (
            sa.select(_external_id.c.provider, _external_id.c.external_id)
            .where(_external_id.c.customer_id == customer_id)
            .order_by(_external_id.c.provider, _external_id.c.external_id)
        )
        return tuple((row.provider, row.external_id) for row in connection.execute(query))

    @staticmethod
    def _payments_count(connection: Connection, customer_id: int) -> int:
        query = sa.select(sa.func.count()).where(_payment.c.customer_id == customer_id)
        return int(connection.execute(query).scalar_one())


def _profile(customer: Any, **parts: Any) -> CustomerProfile:
    return CustomerProfile(
        id=customer.id,
        kind=customer.kind,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        company_name=customer.company_name,
        company_reg_no=customer.company_reg_no,
        vat_id=customer.vat_id,
        payment_terms=customer.payment_terms,
        billing_group=customer.billing_group,
        billing_contact=customer.billing_contact,
        storefront=customer.storefront,
        region=customer.region,
        country=customer.country,
        registered_at=customer.registered_at,
        account_state=customer.account_state,
        lifecycle_status=customer.lifecycle_status,
        current_plan=customer.current_plan,
        currency=customer.currency,
        mrr_minor=customer.mrr_minor,
        ltv_minor=customer.ltv_minor,
        **parts,
    )
