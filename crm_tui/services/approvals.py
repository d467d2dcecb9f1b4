"""Two-person approvals: what is large or irreversible waits for a second person.

Refunds above the configured amount, deletions (erasure of personal data), merges
and bulk cancellations are asked for (`request`) by one agent and approved or
rejected (`decide`), with a reason, by a manager or admin who is not the one who
asked. Rules:

- Asking needs Permission.REQUEST_APPROVAL, deciding Permission.DECIDE_APPROVAL
  (permissions.py); a decision is made by a person, by name: not by the system,
  and never by the requester ("another manager must approve it").
- One pending request per thing: a second deletion request for the same customer,
  a second refund request for the same payment, is refused naming the first.
- A request expires after the configured time (default 72 hours) if nobody
  decided; an expired request cannot be approved (ask again).
- Deciding locks the request's row, so of two managers deciding at once one does
  and the other is told who did.
- Approving a deletion erases the customer (services/erasure.py) in the same
  transaction as the approval: approved means erased. Kinds that call a provider
  (a refund) or run their own transaction (a merge) are run after the approval
  commits, by a runner the caller hands in; the request is then `executed`, or
  stays `approved` with the error, to be run again (`execute`) — the runner's own
  safety (a refund's intent) makes that safe.
- Every step leaves an activity event on the customer and an audit entry
  (`approval.request`, `approval.approve`, `approval.reject`, `approval.expire`,
  `approval.execute`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.formatting import format_moment, format_money
from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, ActorType, ApprovalKind, RequestStatus
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput, validate_reason
from crm_tui.services.database import as_utc
from crm_tui.services.erasure import erase_customer
from crm_tui.services.intents import record_activity
from crm_tui.services.permissions import NotAllowed, Permission, authorize
from crm_tui.services.tickets import agent_label, agent_names, lock_customer

_T = tables.SQLModel.metadata.tables
_request = _T["approval_request"]
_deletion = _T["deletion_request"]
_customer = _T["customer"]

DEFAULT_EXPIRY = timedelta(hours=72)
# What makes two requests the same thing (besides kind and customer).
_SAME_THING = {
    ApprovalKind.REFUND: ("payment_id",),
    ApprovalKind.DELETION: (),
    ApprovalKind.MERGE: ("keep_id", "merge_id"),
    ApprovalKind.BULK_CANCEL: ("selection",),
}


class ApprovalRefused(InvalidInput):
    """The request cannot be made or decided as asked; nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__({"request": message})
        self.message = message

    def __str__(self) -> str:
        return self.message


class NeedsApproval(Exception):
    """Raised by a service asked to do what needs a second person: ask for it instead."""

    def __init__(self, kind: ApprovalKind, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True)
class ApprovalView:
    id: int
    kind: ApprovalKind
    customer_id: int | None
    customer_name: str
    payload: dict[str, Any]
    reason: str
    status: RequestStatus
    requested_by: str
    requested_by_agent_id: int
    requested_at: datetime
    expires_at: datetime
    decided_by: str = ""
    decided_at: datetime | None = None
    decision_reason: str = ""
    outcome: str = field(default="")

    @property
    def description(self) -> str:
        return describe(self.kind, self.payload, self.customer_id)

    @property
    def short(self) -> str:
        """A few words for a table column ("refund $600.00", "erase personal data")."""
        match self.kind:
            case ApprovalKind.REFUND:
                return _refund_words(self.payload)
            case ApprovalKind.DELETION:
                return "erase personal data"
            case ApprovalKind.MERGE:
                merge, keep = self.payload.get("merge_id", "?"), self.payload.get("keep_id", "?")
                return f"merge #{merge} into #{keep}"
            case _:
                return "cancel subscriptions"

    def state_line(self) -> str:
        """One line for the profile and the queue: what, and where it stands."""
        when = lambda moment: f"{format_moment(moment.astimezone(UTC))} UTC"  # noqa: E731
        head = f"#{self.id} {self.description}: {self.status.value}"
        if self.status == RequestStatus.PENDING:
            return f"{head}, asked by {self.requested_by}, expires {when(self.expires_at)}"
        if self.decided_at is not None and self.decided_by:
            head += f" by {self.decided_by} {when(self.decided_at)}"
        return head + (f" — {self.outcome}" if self.outcome else "")


Runner = Callable[[ApprovalView, Actor], str]


def describe(kind: ApprovalKind, payload: Mapping[str, Any], customer_id: int | None) -> str:
    """What the request is for, in words (a payload missing fields reads '?', never fails)."""
    match kind:
        case ApprovalKind.REFUND:
            return f"{_refund_words(payload)} of payment #{payload.get('payment_id', '?')}"
        case ApprovalKind.DELETION:
            return f"erase customer #{customer_id}'s personal data"
        case ApprovalKind.MERGE:
            merge, keep = payload.get("merge_id", "?"), payload.get("keep_id", "?")
            return f"merge customer #{merge} into #{keep}"
        case _:
            return f"cancel {payload.get('count', '?')} subscriptions"


def _refund_words(payload: Mapping[str, Any]) -> str:
    amount, currency = payload.get("amount_minor"), payload.get("currency")
    if not isinstance(amount, int) or not isinstance(currency, str):
        return "refund"
    return f"refund {format_money(amount, currency)}"


class ApprovalService:
    def __init__(
        self,
        engine: Engine,
        *,
        expiry: timedelta = DEFAULT_EXPIRY,
        runners: Mapping[ApprovalKind, Runner] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.expiry = expiry
        self.runners = dict(runners or {})
        self.now = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ reading

    def get(self, request_id: int) -> ApprovalView:
        with self.engine.connect() as connection:
            return self._view(connection, self._row(connection, request_id))

    def pending(self) -> list[ApprovalView]:
        """The managers' queue, oldest first: every request waiting for a decision, and
        every approved one not carried out yet (its runner failed: run it again)."""
        self.expire_overdue()
        waiting = [RequestStatus.PENDING.value, RequestStatus.APPROVED.value]
        with self.engine.connect() as connection:
            rows = connection.execute(
                _with_customer()
                .where(_request.c.status.in_(waiting))
                .order_by(_request.c.requested_at, _request.c.id)
            ).all()
            return self._views(connection, rows)

    # ------------------------------------------------------------------ writing

    def request(
        self,
        kind: ApprovalKind,
        customer_id: int,
        payload: Mapping[str, Any],
        reason: str,
        actor: Actor,
    ) -> ApprovalView:
        """Ask for a manager's approval; the request's id and state come back."""
        clean = validate_reason(reason)
        self.expire_overdue()
        now = self.now()
        with self.engine.begin() as connection:
            authorize(connection, actor, Permission.REQUEST_APPROVAL, f"ask for a {kind} approval")
            if actor.type != ActorType.AGENT or actor.agent_id is None:
                raise NotAllowed("an approval is asked for by an agent, by name")
            customer = lock_customer(connection, customer_id)
            if customer.erased_at is not None:
                raise ApprovalRefused(f"customer #{customer.id} was erased")
            self._refuse_duplicate(connection, kind, customer.id, payload)
            request_id = self._insert(connection, kind, customer.id, payload, clean, actor, now)
            view = self._view(connection, self._row(connection, request_id))
            self._note(
                connection, view, actor, "request", f"Asked for approval: {view.description}"
            )
            return view

    def decide(self, request_id: int, approve: bool, reason: str, actor: Actor) -> ApprovalView:
        """Approve (and carry out) or reject a request, by a manager other than the asker."""
        clean = validate_reason(reason)
        self.expire_overdue()
        now = self.now()
        with self.engine.begin() as connection:
            authorize(connection, actor, Permission.DECIDE_APPROVAL, "approve or reject requests")
            row = self._locked(connection, request_id)
            self._refuse_undecidable(connection, row, actor)
            status = RequestStatus.APPROVED if approve else RequestStatus.REJECTED
            connection.execute(
                sa.update(_request)
                .where(_request.c.id == row.id)
                .values(
                    status=status.value,
                    decided_by_agent_id=actor.agent_id,
                    decided_at=now,
                    decision_reason=clean,
                )
            )
            view = self._view(connection, self._row(connection, row.id))
            verb = "Approved" if approve else "Rejected"
            self._note(
                connection,
                view,
                actor,
                "approve" if approve else "reject",
                f"{verb}: {view.description} (asked by {view.requested_by})",
            )
            if not approve:
                _set_deletion_status(connection, row.id, RequestStatus.REJECTED, None)
            elif view.kind == ApprovalKind.DELETION:
                self._erase(connection, view, actor, now)
        if approve and view.kind in self.runners:
            return self.execute(row.id, actor)
        return self.get(row.id)

    def execute(self, request_id: int, actor: Actor) -> ApprovalView:
        """Carry out an approved request whose work runs after the approval (a refund)."""
        with self.engine.connect() as connection:
            authorize(connection, actor, Permission.DECIDE_APPROVAL, "carry out approved requests")
            view = self._view(connection, self._row(connection, request_id))
        if view.status != RequestStatus.APPROVED:
            raise ApprovalRefused(f"request #{view.id} is {view.status.value}, not approved")
        runner = self.runners.get(view.kind)
        if runner is None:
            raise ApprovalRefused(f"a {view.kind.value} cannot be carried out from here")
        try:
            outcome = runner(view, actor)
        except Exception as error:
            self._finish(view, actor, RequestStatus.APPROVED, f"not done yet: {error}")
            raise
        return self._finish(view, actor, RequestStatus.EXECUTED, outcome)

    def expire_overdue(self) -> int:
        """Mark the requests nobody decided in time as expired; how many were."""
        now = self.now()
        with self.engine.begin() as connection:
            rows = connection.execute(
                _with_customer().where(
                    _request.c.status == RequestStatus.PENDING.value,
                    _request.c.expires_at < now,
                )
            ).all()
            for view in self._views(connection, rows):
                connection.execute(
                    sa.update(_request)
                    .where(_request.c.id == view.id, _request.c.status == RequestStatus.PENDING)
                    .values(status=RequestStatus.EXPIRED.value)
                )
                _set_deletion_status(connection, view.id, RequestStatus.EXPIRED, None)
                audit.append(
                    connection,
                    Actor.system(),
                    "approval.expire",
                    customer_id=view.customer_id,
                    details={"approval_id": view.id, "kind": view.kind.value},
                    at=now,
                )
            return len(rows)

    # ------------------------------------------------------------------ pieces

    def _insert(
        self,
        connection: Connection,
        kind: ApprovalKind,
        customer_id: int,
        payload: Mapping[str, Any],
        reason: str,
        actor: Actor,
        now: datetime,
    ) -> int:
        inserted = connection.execute(
            sa.insert(_request).values(
                kind=kind.value,
                customer_id=customer_id,
                payload=dict(payload),
                reason=reason,
                status=RequestStatus.PENDING.value,
                requested_by_agent_id=actor.agent_id,
                requested_at=now,
                expires_at=now + self.expiry,
            )
        ).inserted_primary_key
        assert inserted is not None
        if kind == ApprovalKind.DELETION:
            connection.execute(
                sa.insert(_deletion).values(
                    customer_id=customer_id,
                    approval_id=inserted[0],
                    status=RequestStatus.PENDING.value,
                    requested_at=now,
                    delete_at_provider=bool(payload.get("delete_at_provider", False)),
                )
            )
        return int(inserted[0])

    def _refuse_duplicate(
        self,
        connection: Connection,
        kind: ApprovalKind,
        customer_id: int,
        payload: Mapping[str, Any],
    ) -> None:
        rows = connection.execute(
            _with_customer().where(
                _request.c.kind == kind.value,
                _request.c.customer_id == customer_id,
                _request.c.status == RequestStatus.PENDING.value,
            )
        ).all()
        keys = _SAME_THING[kind]
        for view in self._views(connection, rows):
            if all(view.payload.get(key) == payload.get(key) for key in keys):
                raise ApprovalRefused(
                    f"already asked: request #{view.id} ({view.description}) by "
                    f"{view.requested_by} is waiting for a manager"
                )

    def _refuse_undecidable(self, connection: Connection, row: Any, actor: Actor) -> None:
        if actor.type != ActorType.AGENT or actor.agent_id is None:
            raise NotAllowed("a request is approved or rejected by a manager, by name")
        status = RequestStatus(row.status)
        if status != RequestStatus.PENDING:
            names = agent_names(connection, [row.decided_by_agent_id])
            by = agent_label(names, row.decided_by_agent_id)
            raise ApprovalRefused(f"request #{row.id} was already {status.value} by {by}")
        if row.requested_by_agent_id == actor.agent_id:
            raise NotAllowed(
                f"you asked for request #{row.id} yourself: another manager must decide it"
            )

    def _erase(
        self, connection: Connection, view: ApprovalView, actor: Actor, now: datetime
    ) -> None:
        assert view.customer_id is not None
        names = agent_names(connection, [view.requested_by_agent_id])
        erase_customer(
            connection,
            view.customer_id,
            actor,
            now,
            details={
                "approval_id": view.id,
                "requested_by": names.get(view.requested_by_agent_id, ""),
                "approved_by": actor.username,
            },
        )
        # With a runner (deleting at the provider, where configured), the request stays
        # approved until that is done too; `execute` runs it, and again after a failure.
        done = ApprovalKind.DELETION not in self.runners
        status = RequestStatus.EXECUTED if done else RequestStatus.APPROVED
        outcome = "erased" if done else "erased here; the provider's copy is next"
        connection.execute(
            sa.update(_request)
            .where(_request.c.id == view.id)
            .values(status=status.value, payload=view.payload | {"outcome": outcome})
        )
        _set_deletion_status(connection, view.id, RequestStatus.EXECUTED, now)

    def _finish(
        self, view: ApprovalView, actor: Actor, status: RequestStatus, outcome: str
    ) -> ApprovalView:
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(_request)
                .where(_request.c.id == view.id)
                .values(status=status.value, payload=view.payload | {"outcome": outcome[:400]})
            )
            done = self._view(connection, self._row(connection, view.id))
            if status == RequestStatus.EXECUTED:
                self._note(connection, done, actor, "execute", f"Done: {outcome}")
            return done

    def _note(
        self, connection: Connection, view: ApprovalView, actor: Actor, step: str, summary: str
    ) -> None:
        """The step in the customer's history and, as `approval.<step>`, in the trail."""
        assert view.customer_id is not None
        record_activity(
            connection,
            view.customer_id,
            ActivityKind.SUPPORT,
            actor,
            f"{summary} (request #{view.id})",
            {"approval_id": view.id, "kind": view.kind.value},
            self.now(),
            permission=Permission.REQUEST_APPROVAL,
            audit_action=f"approval.{step}",
        )

    @staticmethod
    def _row(connection: Connection, request_id: int) -> Any:
        row = connection.execute(_with_customer().where(_request.c.id == request_id)).first()
        if row is None:
            raise ApprovalRefused(f"there is no request #{request_id}")
        return row

    def _locked(self, connection: Connection, request_id: int) -> Any:
        if connection.dialect.name == "sqlite":  # the write lock, as in tickets.lock_customers
            connection.execute(
                sa.update(_request).where(_request.c.id == request_id).values(id=_request.c.id)
            )
            return self._row(connection, request_id)
        row = connection.execute(
            sa.select(_request).where(_request.c.id == request_id).with_for_update()
        ).first()
        if row is None:
            raise ApprovalRefused(f"there is no request #{request_id}")
        return row

    def _view(self, connection: Connection, row: Any) -> ApprovalView:
        return self._views(connection, [row])[0]

    def _views(self, connection: Connection, rows: Sequence[Any]) -> list[ApprovalView]:
        names = agent_names(
            connection,
            [r.requested_by_agent_id for r in rows] + [r.decided_by_agent_id for r in rows],
        )
        return [_to_view(row, names) for row in rows]


def customer_requests(connection: Connection, customer_id: int, limit: int) -> list[ApprovalView]:
    """What was asked about the customer, newest first, in the caller's connection."""
    rows = connection.execute(
        _with_customer()
        .where(_request.c.customer_id == customer_id)
        .order_by(_request.c.requested_at.desc(), _request.c.id.desc())
        .limit(limit)
    ).all()
    names = agent_names(
        connection, [r.requested_by_agent_id for r in rows] + [r.decided_by_agent_id for r in rows]
    )
    return [_to_view(row, names) for row in rows]


def _with_customer() -> sa.Select[Any]:
    return sa.select(_request, _customer.c.name.label("customer_name")).outerjoin(
        _customer, _customer.c.id == _request.c.customer_id
    )


def _to_view(row: Any, names: dict[int, str]) -> ApprovalView:
    payload = dict(row.payload or {})
    return ApprovalView(
        id=row.id,
        kind=ApprovalKind(row.kind),
        customer_id=row.customer_id,
        customer_name=getattr(row, "customer_name", "") or "",
        payload=payload,
        reason=row.reason,
        status=RequestStatus(row.status),
        requested_by=agent_label(names, row.requested_by_agent_id),
        requested_by_agent_id=row.requested_by_agent_id,
        requested_at=as_utc(row.requested_at),
        expires_at=as_utc(row.expires_at),
        decided_by=agent_label(names, row.decided_by_agent_id) if row.decided_by_agent_id else "",
        decided_at=as_utc(row.decided_at) if row.decided_at is not None else None,
        decision_reason=row.decision_reason,
        outcome=str(payload.get("outcome", "")),
    )


def _set_deletion_status(
    connection: Connection, approval_id: int, status: RequestStatus, executed_at: datetime | None
) -> None:
    connection.execute(
        sa.update(_deletion)
        .where(_deletion.c.approval_id == approval_id)
        .values(status=status.value, executed_at=executed_at)
    )
