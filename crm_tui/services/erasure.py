"""Erasure (the right to be forgotten): a customer's personal data removed for good.

Run only through an approved deletion request (services/approvals.py); this module
is the part that changes the data, in the caller's transaction, all or nothing:

- removed or anonymised: the customer's name, email, phone, company details and
  billing contact; every address line (the country stays: tax records need it);
  note texts, ticket subjects, escalation reasons, email messages, account-state
  and refund/credit reasons, approval reasons, and the free text of the activity
  history (summaries and details); the search index follows by its triggers, so
  the old name, email or phone find nothing;
- kept, because the law requires financial records: payments, refunds, credits,
  invoices, orders and subscriptions, with their amounts, currencies and dates,
  and the provider ids that tie them to the provider's own records;
- kept, because they name nobody: the customer's row and id (they stay countable
  in analytics, as "Erased customer #id"), tags, segments, consent history;
- the audit trail: every entry about the customer is redacted (its content
  blanked, its chain intact), and so is every search whose text matches the
  person (`audit.redact_searches`). The erasure's own entry names who asked, who
  approved, and which searches were redacted; it holds no personal data.

On SQLite the transaction runs with `secure_delete` on, so the old values are
overwritten on disk rather than left in free pages.

A customer with provider actions still pending (a refund nobody has confirmed) is
refused: reconcile first, so nothing the provider did is left unrecorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, IntentStatus
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.intents import insert_event
from crm_tui.services.tickets import lock_customer

_T = tables.SQLModel.metadata.tables
_customer = _T["customer"]
ERASED = "[erased]"


class ErasureRefused(InvalidInput):
    """The customer cannot be erased now; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__({"customer": message})
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ErasureReport:
    customer_id: int
    rows_anonymised: dict[str, int]
    audit_entries_redacted: int
    searches_redacted: int
    audit_seq: int


# What each table's personal columns become. Rows are kept: the financial ones
# must be, and the others keep the history's shape (how many notes, when).
_ANONYMISE: dict[str, dict[str, Any]] = {
    "address": {"line1": ERASED, "line2": "", "city": "", "state": "", "postal_code": ""},
    "note": {"summary": ERASED, "body": ""},
    "ticket": {"subject": ERASED},
    "escalation": {"reason": ERASED, "resolution": ""},
    "email_message": {"to_address": "", "subject": ERASED, "body": "", "error": ""},
    "activity_event": {"summary": ERASED, "details": {}},
    "account_state_change": {"reason": ERASED},
    "credit": {"reason": ERASED},
    "approval_request": {"reason": ERASED, "decision_reason": ""},
    "provider_intent": {"payload": {}, "result": {}, "error": ""},
}


def erase_customer(
    connection: Connection,
    customer_id: int,
    actor: Actor,
    when: datetime,
    *,
    details: dict[str, Any] | None = None,
) -> ErasureReport:
    """Erase the customer (see the module docstring); `details` go on the audit entry
    (request id, requester, approver: ids and logins, no personal data)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA secure_delete = ON")
    row = lock_customer(connection, customer_id)
    _refuse_if_not_erasable(connection, row)
    identifiers = _identifiers(connection, row)
    counts = {"customer": _anonymise_customer(connection, row, when)}
    for name, values in _ANONYMISE.items():
        counts[name] = _anonymise(connection, name, row.id, values)
    counts["refund"] = _anonymise_refund_reasons(connection, row.id)
    redacted = audit.redact_customer(connection, row.id)
    searches = audit.redact_searches(connection, identifiers)
    _record_erasure_event(connection, row.id, actor, when)
    entry = audit.append(
        connection,
        actor,
        audit.ERASE_ACTION,
        customer_id=row.id,
        details={
            **(details or {}),
            "rows_anonymised": counts,
            "audit_entries_redacted": redacted,
            "redacted_searches": searches,
        },
        at=when,
    )
    return ErasureReport(row.id, counts, redacted, len(searches), entry.seq)


def _refuse_if_not_erasable(connection: Connection, row: Any) -> None:
    if row.erased_at is not None:
        raise ErasureRefused(f"customer #{row.id} was already erased")
    intents = _T["provider_intent"]
    pending = connection.execute(
        sa.select(sa.func.count())
        .select_from(intents)
        .where(intents.c.customer_id == row.id, intents.c.status == IntentStatus.PENDING.value)
    ).scalar()
    if pending:
        raise ErasureRefused(
            f"customer #{row.id} has {pending} provider action(s) still pending: "
            "settle them first (crm-tui reconcile), then approve again"
        )


def _identifiers(connection: Connection, row: Any) -> list[str]:
    """What could have been typed to find this person (for the searches to redact)."""
    address = _T["address"]
    lines = connection.execute(
        sa.select(address.c.line1, address.c.postal_code).where(address.c.customer_id == row.id)
    ).all()
    values = [
        row.name,
        row.email,
        row.phone,
        row.company_name,
        row.company_email,
        row.billing_contact,
        row.vat_id,
        row.company_reg_no,
    ]
    values.extend(value for line in lines for value in line)
    return [value for value in values if value]


def _anonymise_customer(connection: Connection, row: Any, when: datetime) -> int:
    connection.execute(
        sa.update(_customer)
        .where(_customer.c.id == row.id)
        .values(
            name=f"Erased customer #{row.id}",
            email="",
            phone="",
            company_name="",
            company_reg_no="",
            company_email="",
            vat_id="",
            billing_contact="",
            erased_at=when,
            updated_at=when,
            version=_customer.c.version + 1,
        )
    )
    return 1


def _anonymise(connection: Connection, table_name: str, customer_id: int, values: Any) -> int:
    table = _T[table_name]
    result = connection.execute(
        sa.update(table).where(table.c.customer_id == customer_id).values(**values)
    )
    return int(result.rowcount or 0)


def _anonymise_refund_reasons(connection: Connection, customer_id: int) -> int:
    """Refunds hang off payments: their amounts and dates stay, the typed reason goes."""
    refund, payment = _T["refund"], _T["payment"]
    payments = sa.select(payment.c.id).where(payment.c.customer_id == customer_id)
    result = connection.execute(
        sa.update(refund).where(refund.c.payment_id.in_(payments)).values(reason=ERASED)
    )
    return int(result.rowcount or 0)


def _record_erasure_event(
    connection: Connection, customer_id: int, actor: Actor, when: Any
) -> None:
    """The one event the history keeps: that the person was erased, by whom, when.

    Inserted directly: `record_activity` would write a `customer.profile` entry
    beside the erasure's own."""
    summary = f"Personal data erased (right to erasure), by {actor.label}"
    insert_event(connection, customer_id, ActivityKind.PROFILE, actor, summary, {}, when)


def delete_at_providers(engine: Engine, customer_id: int, providers: Mapping[str, Any]) -> str:
    """After an erasure, where the config says so: delete the customer at the payment
    providers that can (Stripe). PayPal payers are PayPal's own accounts, which a
    merchant cannot delete: said, not attempted. Raises the provider's error (the
    approval then stays open to run again); what was done, in a line."""
    external = _T["external_id"]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(external.c.provider, external.c.external_id).where(
                external.c.customer_id == customer_id
            )
        ).all()
    done: list[str] = []
    for provider_name, external_id in rows:
        delete = getattr(providers.get(provider_name), "delete_customer", None)
        if delete is None:
            done.append(f"{provider_name}: nothing a merchant can delete")
            continue
        done.append(f"{provider_name}: {delete(external_id)}")
    return "; ".join(done) or "no provider holds this customer"
