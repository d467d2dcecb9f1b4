"""Support tickets: opened on a customer, listed on their profile, closed and reopened.

Rules every write here keeps (as in customer_edit.py):
- Input is validated whole before anything is written; `InvalidInput` carries a
  message per field. A subject is one line of at most 200 characters, with no
  control or invisible characters (it reaches terminals and exports).
- Closing and reopening state a reason; it is kept on the activity event.
- Every write leaves an activity event (kind `support`) with its actor, in the
  same transaction. A ticket is an addition to the customer's history, like a
  note: it does not bump the customer's `version` (an agent's open edit form
  stays valid).
- Only agents (and the system, for scripts) write; an agent whose record is
  read-only or inactive is refused with `NotAllowed` (permissions.py), and
  nothing is written.

This module also holds the small pieces the other support services share
(`lock_customer`, `agent_names`; `NotAllowed` and `require_writer` come from
permissions.py and are re-exported here for the older callers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, TicketStatus
from crm_tui.models.support import TicketView
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput, validate_reason
from crm_tui.services.database import as_utc
from crm_tui.services.intents import record_activity
from crm_tui.services.permissions import NotAllowed, require_writer
from crm_tui.services.profile import CustomerNotFound, customer_row
from crm_tui.services.validation import NAME_MAX, ValidationError, validate_text

_TABLES = tables.SQLModel.metadata.tables
_customer = _TABLES["customer"]
_ticket = _TABLES["ticket"]
_agent = _TABLES["agent"]

SUBJECT_MAX = NAME_MAX  # one line an agent can read in the ticket list
# A ticket in these states can be closed; a closed (or solved) one can be reopened.
CLOSABLE = frozenset({TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.SOLVED})
REOPENABLE = frozenset({TicketStatus.SOLVED, TicketStatus.CLOSED})


# ------------------------------------------------------------- shared pieces


def lock_customers(connection: Connection, customer_ids: Iterable[int]) -> dict[int, Any]:
    """The customers' rows, locked for the rest of the transaction (absent ids left out).

    PostgreSQL: `SELECT … FOR UPDATE`, in id order (two merges never deadlock).
    SQLite has no row locks: a write that changes nothing (`version = version`)
    takes the database's write lock first, so that no other writer slips in
    between what this transaction reads and what it writes."""
    ids = sorted(set(customer_ids))
    if connection.dialect.name == "sqlite":
        connection.execute(
            sa.update(_customer).where(_customer.c.id.in_(ids)).values(version=_customer.c.version)
        )
        query = sa.select(_customer).where(_customer.c.id.in_(ids))
    else:
        query = (
            sa.select(_customer)
            .where(_customer.c.id.in_(ids))
            .order_by(_customer.c.id)
            # FOR NO KEY UPDATE (what an UPDATE takes), not FOR UPDATE: the latter also
            # waits for the key-share locks of rows being inserted that point at the
            # customer (an event, a note), whose transaction may be waiting for us.
            .with_for_update(key_share=True)
        )
    return {row.id: row for row in connection.execute(query)}


def lock_customer(connection: Connection, customer_id: int) -> Any:
    """The customer's row (a merged-away id gives its survivor's), locked.

    If the customer is merged away while we wait for the lock, the survivor is
    locked instead: what is written then lands on the customer that remains."""
    for _attempt in range(3):
        row = customer_row(connection, customer_id)
        locked = lock_customers(connection, [row.id]).get(row.id)
        if locked is not None:
            return locked
    raise CustomerNotFound(customer_id)


def agent_names(connection: Connection, agent_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {agent_id for agent_id in agent_ids if agent_id is not None}
    if not wanted:
        return {}
    rows = connection.execute(
        sa.select(_agent.c.id, _agent.c.display_name).where(_agent.c.id.in_(wanted))
    )
    return {row.id: row.display_name for row in rows}


def agent_label(names: dict[int, str], agent_id: int | None) -> str:
    if agent_id is None:
        return "system"
    return names.get(agent_id, f"agent #{agent_id}")


def validate_subject(text: str) -> str:
    try:
        return validate_text(text, "subject", required=True, max_length=SUBJECT_MAX)
    except ValidationError as error:
        raise InvalidInput({"subject": error.message}) from None


# ------------------------------------------------------------------ service


class TicketService:
    """Tickets of a customer. Thread-safe: each call has its own transaction."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.now = clock or (lambda: datetime.now(UTC))

    def create(self, customer_id: int, subject: str, actor: Actor) -> TicketView:
        """Open a ticket on the customer (a merged-away id: on its survivor)."""
        clean = validate_subject(subject)
        with self.engine.begin() as connection:
            require_writer(connection, actor, "open a ticket")
            customer = lock_customer(connection, customer_id)
            now = self.now()
            key = connection.execute(
                sa.insert(_ticket).values(
                    customer_id=customer.id,
                    subject=clean,
                    status=TicketStatus.OPEN.value,
                    opened_at=now,
                    closed_at=None,
                    agent_id=actor.agent_id,
                )
            ).inserted_primary_key
            assert key is not None
            ticket_id = int(key[0])
            record_activity(
                connection,
                customer.id,
                ActivityKind.SUPPORT,
                actor,
                f"Opened ticket #{ticket_id}: {clean}",
                {"ticket_id": ticket_id, "subject": clean},
                now,
            )
            return self._view(connection, ticket_id)

    def history(self, customer_id: int, actor: Actor) -> tuple[TicketView, ...]:
        """Every ticket of the customer, newest first (a merged-away id: its survivor's)."""
        with self.engine.connect() as connection:
            customer = customer_row(connection, customer_id)
            rows = list(
                connection.execute(
                    sa.select(_ticket)
                    .where(_ticket.c.customer_id == customer.id)
                    .order_by(_ticket.c.opened_at.desc(), _ticket.c.id.desc())
                )
            )
            names = agent_names(connection, (row.agent_id for row in rows))
        return tuple(_ticket_view(row, names) for row in rows)

    def ticket(self, ticket_id: int, actor: Actor) -> TicketView:
        with self.engine.connect() as connection:
            return self._view(connection, ticket_id)

    def close(self, ticket_id: int, reason: str, actor: Actor) -> TicketView:
        """Close an open, pending or solved ticket, saying why."""
        return self._transition(
            ticket_id,
            reason,
            actor,
            allowed=CLOSABLE,
            to=TicketStatus.CLOSED,
            closed=True,
            verb="Closed",
            doing="close a ticket",
        )

    def reopen(self, ticket_id: int, reason: str, actor: Actor) -> TicketView:
        """Reopen a closed or solved ticket, saying why."""
        return self._transition(
            ticket_id,
            reason,
            actor,
            allowed=REOPENABLE,
            to=TicketStatus.OPEN,
            closed=False,
            verb="Reopened",
            doing="reopen a ticket",
        )

    # ------------------------------------------------------------- plumbing

    def _transition(
        self,
        ticket_id: int,
        reason: str,
        actor: Actor,
        *,
        allowed: frozenset[TicketStatus],
        to: TicketStatus,
        closed: bool,
        verb: str,
        doing: str,
    ) -> TicketView:
        clean = validate_reason(reason)
        with self.engine.begin() as connection:
            require_writer(connection, actor, doing)
            now = self.now()
            # Conditional on the status: of two agents closing the same ticket, one does.
            changed = connection.execute(
                sa.update(_ticket)
                .where(
                    _ticket.c.id == ticket_id,
                    _ticket.c.status.in_([status.value for status in allowed]),
                )
                .values(status=to.value, closed_at=now if closed else None)
            ).rowcount
            row = connection.execute(sa.select(_ticket).where(_ticket.c.id == ticket_id)).first()
            if row is None:
                raise InvalidInput({"ticket": f"there is no ticket #{ticket_id}"})
            if changed != 1:
                raise InvalidInput({"ticket": _cannot(row, to)})
            record_activity(
                connection,
                row.customer_id,
                ActivityKind.SUPPORT,
                actor,
                f"{verb} ticket #{row.id}: {clean}",
                {"ticket_id": row.id, "subject": row.subject, "status": to.value, "reason": clean},
                now,
            )
            return self._view(connection, ticket_id)

    @staticmethod
    def _view(connection: Connection, ticket_id: int) -> TicketView:
        row = connection.execute(sa.select(_ticket).where(_ticket.c.id == ticket_id)).first()
        if row is None:
            raise InvalidInput({"ticket": f"there is no ticket #{ticket_id}"})
        return _ticket_view(row, agent_names(connection, [row.agent_id]))


def _cannot(row: Any, to: TicketStatus) -> str:
    if to == TicketStatus.CLOSED:
        if row.status == TicketStatus.CLOSED.value:
            return f"ticket #{row.id} is already closed"
        return f"ticket #{row.id} is {row.status} and cannot be closed"
    return f"ticket #{row.id} is {row.status}: only a closed or solved ticket can be reopened"


def _ticket_view(row: Any, names: dict[int, str]) -> TicketView:
    return TicketView(
        id=row.id,
        customer_id=row.customer_id,
        subject=row.subject,
        status=row.status,
        opened_at=as_utc(row.opened_at),
        closed_at=as_utc(row.closed_at) if row.closed_at is not None else None,
        opened_by=agent_label(names, row.agent_id),
    )


__all__ = [
    "NotAllowed",
    "TicketService",
    "agent_label",
    "agent_names",
    "lock_customer",
    "lock_customers",
    "require_writer",
    "validate_subject",
]
