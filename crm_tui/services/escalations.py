"""Escalations: an agent flags a customer for manager review (`!`), a manager resolves it.

Rules:
- A customer has at most one open escalation raised here: a second one is refused
  with `AlreadyEscalated`, naming who raised the open one, when, and why. The
  check and the insert run with the customer's row locked, so two agents
  pressing `!` at once leave one escalation, never two. (A merge of two escalated
  duplicates can leave the survivor with two open ones: both reasons stay for
  the manager, see services/merge.py.)
- Raising one needs a reason; resolving one needs a resolution text. Resolving
  is the manager's review (Permission.RESOLVE_ESCALATION): an agent whose role
  is `agent` is refused with `NotAllowed`; managers, admins and the system resolve.
- Read-only or inactive agents are refused; every write leaves an activity event
  (kind `support`) with its actor, in the same transaction. Escalating does not
  bump the customer's `version`.
- The "escalated" queue is `open_escalations`: oldest first (the longest wait on
  top), with the customer's name, the reason, who raised it and how long ago.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.formatting import format_moment
from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, EscalationStatus
from crm_tui.models.support import EscalationView
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput, validate_reason
from crm_tui.services.database import as_utc
from crm_tui.services.intents import record_activity
from crm_tui.services.permissions import Permission, authorize, require_writer
from crm_tui.services.profile import customer_row
from crm_tui.services.tickets import agent_label, agent_names, lock_customer

_TABLES = tables.SQLModel.metadata.tables
_customer = _TABLES["customer"]
_escalation = _TABLES["escalation"]
_agent = _TABLES["agent"]

OPEN_LIMIT = 1_000  # the escalated queue is a manager's worklist, not a report


class AlreadyEscalated(InvalidInput):
    """The customer has an open escalation: nothing was written."""

    def __init__(self, existing: EscalationView) -> None:
        when = f"{format_moment(existing.raised_at.astimezone(UTC))} UTC"
        super().__init__(
            {
                "escalation": f"already escalated by {existing.raised_by} on {when}: "
                f"{existing.reason}"
            }
        )
        self.existing = existing


_COLUMNS = (
    _escalation,
    _customer.c.name.label("customer_name"),
    _customer.c.company_name.label("customer_company"),
)


class EscalationService:
    """Thread-safe: each call has its own connection or transaction."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.now = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------- writes

    def escalate(self, customer_id: int, reason: str, actor: Actor) -> EscalationView:
        """Flag the customer (a merged-away id: its survivor) for manager review."""
        clean = validate_reason(reason)
        with self.engine.begin() as connection:
            require_writer(connection, actor, "escalate a customer")
            customer = lock_customer(connection, customer_id)
            existing = self._open_row(connection, customer.id)
            if existing is not None:
                raise AlreadyEscalated(self._view(connection, existing))
            now = self.now()
            key = connection.execute(
                sa.insert(_escalation).values(
                    customer_id=customer.id,
                    reason=clean,
                    status=EscalationStatus.OPEN.value,
                    raised_at=now,
                    raised_by_agent_id=actor.agent_id,
                    resolution="",
                )
            ).inserted_primary_key
            assert key is not None
            escalation_id = int(key[0])
            record_activity(
                connection,
                customer.id,
                ActivityKind.SUPPORT,
                actor,
                f"Escalated for manager review: {clean}",
                {"escalation_id": escalation_id, "reason": clean},
                now,
            )
            return self._by_id(connection, escalation_id)

    def resolve(self, escalation_id: int, resolution: str, actor: Actor) -> EscalationView:
        """Close an open escalation with what the review decided (managers and admins)."""
        clean = validate_reason(resolution, field="resolution")
        with self.engine.begin() as connection:
            authorize(connection, actor, Permission.RESOLVE_ESCALATION, "resolve an escalation")
            now = self.now()
            # Conditional on it being open: of two managers resolving it, one does.
            changed = connection.execute(
                sa.update(_escalation)
                .where(
                    _escalation.c.id == escalation_id,
                    _escalation.c.status == EscalationStatus.OPEN.value,
                )
                .values(
                    status=EscalationStatus.RESOLVED.value,
                    resolved_at=now,
                    resolved_by_agent_id=actor.agent_id,
                    resolution=clean,
                )
            ).rowcount
            view = self._by_id(connection, escalation_id)
            if changed != 1:
                when = format_moment(view.resolved_at.astimezone(UTC)) if view.resolved_at else ""
                raise InvalidInput(
                    {
                        "escalation": f"escalation #{escalation_id} was already resolved by "
                        f"{view.resolved_by} on {when} UTC"
                    }
                )
            record_activity(
                connection,
                view.customer_id,
                ActivityKind.SUPPORT,
                actor,
                f"Escalation resolved: {clean}",
                {"escalation_id": escalation_id, "reason": view.reason, "resolution": clean},
                now,
            )
            return view

    # -------------------------------------------------------------------- reads

    def open_escalations(self, actor: Actor, *, limit: int = OPEN_LIMIT) -> list[EscalationView]:
        """The escalated queue: every open escalation, the longest waiting first."""
        with self.engine.connect() as connection:
            rows = list(
                connection.execute(
                    self._select()
                    .where(_escalation.c.status == EscalationStatus.OPEN.value)
                    .order_by(_escalation.c.raised_at, _escalation.c.id)
                    .limit(limit)
                )
            )
            return self._views(connection, rows)

    def open_for(self, customer_id: int, actor: Actor) -> EscalationView | None:
        """The customer's open escalation (the oldest, if a merge left two), or None."""
        with self.engine.connect() as connection:
            customer = customer_row(connection, customer_id)
            row = self._open_row(connection, customer.id)
            return None if row is None else self._view(connection, row)

    def for_customer(self, customer_id: int, actor: Actor) -> tuple[EscalationView, ...]:
        """Every escalation of the customer, open and resolved, newest first."""
        with self.engine.connect() as connection:
            customer = customer_row(connection, customer_id)
            rows = list(
                connection.execute(
                    self._select()
                    .where(_escalation.c.customer_id == customer.id)
                    .order_by(_escalation.c.raised_at.desc(), _escalation.c.id.desc())
                )
            )
            return tuple(self._views(connection, rows))

    # ----------------------------------------------------------------- plumbing

    @staticmethod
    def _select() -> sa.Select[Any]:
        return sa.select(*_COLUMNS).join(_customer, _customer.c.id == _escalation.c.customer_id)

    def _open_row(self, connection: Connection, customer_id: int) -> Any:
        return connection.execute(
            self._select()
            .where(
                _escalation.c.customer_id == customer_id,
                _escalation.c.status == EscalationStatus.OPEN.value,
            )
            .order_by(_escalation.c.raised_at, _escalation.c.id)
            .limit(1)
        ).first()

    def _by_id(self, connection: Connection, escalation_id: int) -> EscalationView:
        row = connection.execute(self._select().where(_escalation.c.id == escalation_id)).first()
        if row is None:
            raise InvalidInput({"escalation": f"there is no escalation #{escalation_id}"})
        return self._view(connection, row)

    def _view(self, connection: Connection, row: Any) -> EscalationView:
        return self._views(connection, [row])[0]

    def _views(self, connection: Connection, rows: list[Any]) -> list[EscalationView]:
        names = agent_names(
            connection,
            [r.raised_by_agent_id for r in rows] + [r.resolved_by_agent_id for r in rows],
        )
        now = self.now()
        views = []
        for row in rows:
            raised = as_utc(row.raised_at)
            resolved = as_utc(row.resolved_at) if row.resolved_at is not None else None
            views.append(
                EscalationView(
                    id=row.id,
                    customer_id=row.customer_id,
                    customer_name=row.customer_name,
                    company_name=row.customer_company,
                    reason=row.reason,
                    status=row.status,
                    raised_at=raised,
                    raised_by=agent_label(names, row.raised_by_agent_id),
                    age=(resolved or now) - raised,
                    resolved_at=resolved,
                    resolved_by=(agent_label(names, row.resolved_by_agent_id) if resolved else ""),
                    resolution=row.resolution or "",
                )
            )
        return views


__all__ = ["AlreadyEscalated", "EscalationService"]
