"""A customer's consent per purpose (GDPR art. 7), with its whole history.

Consent must be provable: when it was given or withdrawn, and how. So nothing is
ever updated in place: every change adds a row to `consent`, and the newest row
per purpose (by `recorded_at`, then `id`, as merge.py reads it) is the current
answer. A purpose with no row has never been asked: `current` says `None`, which
is not the same as "refused".

Rules every change keeps (as in tickets.py and customer_edit.py):
- Input is checked whole before anything is written (`InvalidInput`, a message
  per field); an unknown or erased customer is refused too. Nothing is written
  on a refusal.
- The consent row, an activity event (kind `profile`: consent is part of the
  customer's profile) and its audit entry are written in ONE transaction.
- The customer may change their own consent (self-service), and so may an active,
  writable agent or the system; a read-only or inactive agent may not. Withdrawing
  must be as easy as giving (art. 7(3)), so a customer is not sent to an agent.
  `intents.record_activity` refuses every customer actor (its last-line permission
  check knows agents only), so a customer's change writes the same event and audit
  entry through `_record_own_change`; agents and the system go through
  `record_activity` and its check.
- An erased customer's consent is not recorded: there is nobody left to contact,
  and a new row would tie fresh data to an anonymised record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, ActorType, ConsentPurpose
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.database import as_utc
from crm_tui.services.intents import SUMMARY_MAX, insert_event, record_activity
from crm_tui.services.profile import customer_row
from crm_tui.services.tickets import lock_customer, require_writer
from crm_tui.services.validation import ValidationError, validate_text

_consent = tables.SQLModel.metadata.tables["consent"]

SOURCE_MAX = 100  # "signup form", "email link", "phone call with the customer"


class CustomerErased(InvalidInput):
    """The customer was erased: their consent can no longer be recorded."""


@dataclass(frozen=True)
class ConsentState:
    """The current answer for one purpose."""

    granted: bool
    source: str
    recorded_at: datetime


@dataclass(frozen=True)
class ConsentChange:
    """One row of the history. `purpose` is the stored value (a `ConsentPurpose`)."""

    id: int
    purpose: str
    granted: bool
    source: str
    recorded_at: datetime


class ConsentService:
    """Thread-safe: every call opens its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def current(self, customer_id: int) -> dict[ConsentPurpose, ConsentState | None]:
        """Every purpose, with its newest answer; `None` where it was never asked."""
        answers: dict[ConsentPurpose, ConsentState | None] = dict.fromkeys(ConsentPurpose)
        # Oldest first: a later row overwrites an earlier one, so the newest wins.
        for change in reversed(self.history(customer_id)):
            if change.purpose in answers:
                answers[ConsentPurpose(change.purpose)] = ConsentState(
                    change.granted, change.source, change.recorded_at
                )
        return answers

    def history(self, customer_id: int) -> list[ConsentChange]:
        """Every change, newest first (a merged-away id: its survivor's)."""
        with self.engine.connect() as connection:
            customer = customer_row(connection, customer_id)
            return consent_history(connection, customer.id)

    def record(
        self,
        customer_id: int,
        purpose: ConsentPurpose | str,
        granted: bool,
        source: str,
        actor: Actor,
        at: datetime | None = None,
    ) -> ConsentChange:
        """Record that the customer granted (or withdrew) consent to `purpose`."""
        chosen, clean_source, when = _checked(purpose, granted, source, at)
        with self.engine.begin() as connection:
            if actor.type != ActorType.CUSTOMER:
                require_writer(connection, actor, "change consent")
            customer = lock_customer(connection, customer_id)
            if customer.erased_at is not None:
                raise CustomerErased(
                    {"customer": f"customer #{customer.id} was erased: consent cannot be recorded"}
                )
            change = _insert(connection, customer.id, chosen, granted, clean_source, when)
            verb = "granted" if granted else "withdrawn"
            summary = f"Consent to {chosen.value.replace('_', ' ')} {verb}"
            summary += f" ({clean_source or 'no source given'})"
            details = {"consent": chosen.value, "granted": granted, "source": clean_source}
            write = _record_own_change if actor.type == ActorType.CUSTOMER else record_activity
            write(connection, customer.id, ActivityKind.PROFILE, actor, summary, details, when)
            return change


def consent_history(connection: Connection, customer_id: int) -> list[ConsentChange]:
    """The customer's consent rows, newest first, on the caller's connection."""
    rows = connection.execute(
        sa.select(_consent)
        .where(_consent.c.customer_id == customer_id)
        .order_by(_consent.c.recorded_at.desc(), _consent.c.id.desc())
    )
    return [_change(row) for row in rows]


def _checked(
    purpose: ConsentPurpose | str, granted: Any, source: str, at: datetime | None
) -> tuple[ConsentPurpose, str, datetime]:
    """The input, checked whole: every problem at once, before anything is read."""
    errors: dict[str, str] = {}
    chosen = None
    try:
        chosen = ConsentPurpose(purpose)
    except ValueError:
        known = ", ".join(p.value for p in ConsentPurpose)
        errors["purpose"] = f"unknown purpose {str(purpose)[:40]!r} (known: {known})"
    if not isinstance(granted, bool):  # a stray "no" string must not read as True
        errors["granted"] = "must be True or False"
    clean_source = ""
    try:
        clean_source = validate_text(source, "source", max_length=SOURCE_MAX)
    except ValidationError as error:
        errors["source"] = error.message
    if at is not None and at.tzinfo is None:
        # A naive time could be any zone's: a consent record must not guess.
        errors["at"] = "give a timezone-aware time"
    if errors or chosen is None:
        raise InvalidInput(errors)
    return chosen, clean_source, as_utc(at) if at else datetime.now(UTC)


def _record_own_change(
    connection: Connection,
    customer_id: int,
    kind: ActivityKind,
    actor: Actor,
    summary: str,
    details: dict[str, Any],
    when: datetime,
) -> None:
    """`record_activity` for the customer themselves: the same event and audit entry,
    without the agent-permission check that refuses every customer (see the module)."""
    insert_event(connection, customer_id, kind, actor, summary, details, when)
    audit.record_change(
        connection, actor, customer_id, kind.value, summary[:SUMMARY_MAX], details, when
    )


def _insert(
    connection: Connection,
    customer_id: int,
    purpose: ConsentPurpose,
    granted: bool,
    source: str,
    when: datetime,
) -> ConsentChange:
    key = connection.execute(
        sa.insert(_consent).values(
            customer_id=customer_id,
            purpose=purpose.value,
            granted=granted,
            source=source,
            recorded_at=when,
        )
    ).inserted_primary_key
    assert key is not None
    return ConsentChange(int(key[0]), purpose.value, granted, source, when)


def _change(row: Any) -> ConsentChange:
    return ConsentChange(
        id=row.id,
        purpose=row.purpose,
        granted=bool(row.granted),
        source=row.source or "",
        recorded_at=as_utc(row.recorded_at),
    )
