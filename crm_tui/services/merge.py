"""Merging duplicate customers: preview exactly what moves, then merge in one transaction.

`preview(keep_id, merge_id)` reads what the merged-away customer has, kind by
kind, and how overlaps would be settled; `merge(...)` does it, with both
customer rows locked, refused if either changed since the preview.

What moves is found, not listed: every column with a foreign key to
`customer.id` in the SQLAlchemy metadata (`customer_references`), so a table
added later moves too, and a test checks that nothing anywhere still points at
the merged-away id. The merged-away customer's own row is then deleted (the
`customer` table has no column that could mark it merged and hide it from the
directory), and `merged_customer` keeps old id → survivor: the profile
(`profile.customer_row`) and the directory's `#id` search (`_or_id`) follow it.
Earlier merges into the merged-away customer are re-pointed to the survivor, so
chains resolve in one step.

The rules (`MergePreview.conflicts` says which apply, `blockers` why not now):

- Refused: a customer into itself; a customer already merged (either side); an
  erased one; one with a deletion request pending or approved; either one with a
  provider action still pending (a refund, a plan change... waiting for its
  answer: settle it first, `crm-tui reconcile`); both with *different* ids at the
  same payment provider (two Stripe customers: refunds, retries and plan changes
  would reach one account for money held in the other — merge them at the
  provider first); money rows (payments, subscriptions, invoices, credits,
  orders) in a currency other than the survivor's (lifetime value and MRR add
  amounts of one currency).
- The survivor's own details (name, email, company, account state, assigned
  agent, registration date) stay as they are; the merged-away customer's name
  and email are kept in the merge's activity event. A blocked or deactivated
  merged-away customer is named in the conflicts (the survivor's state stays).
- A row that would duplicate one the survivor has under a unique key that holds
  the customer (a tag on both, a segment on both, preferences on both) is
  dropped: the survivor's row stays, once. Found from the tables' primary keys
  and unique constraints, so it applies to tables added later too.
- Addresses: all move, history included. If both have a current default
  billing address, the survivor's stays the default and the other moves as a
  further billing address.
- Consent: every statement moves as history. Where both customers' current
  statements for a purpose differ, a withdrawal is recorded on the survivor at
  the merge: the stricter answer wins, consent is never widened by a merge.
- Escalations: all move; if both have an open one, both stay open for review.
- The survivor's summary columns are recomputed, its version bumped, and one
  activity event (kind `profile`) records the merge, its reason and its counts.

Left as they are: `audit_entry.customer_id` (no foreign key; the audit log is
append-only and hash-chained, so it keeps naming the id it was written for) and
`merged_customer.old_customer_id` (the record of the merged-away id itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import (
    ActivityKind,
    ActorType,
    ApprovalKind,
    EscalationStatus,
    IntentStatus,
    RequestStatus,
)
from crm_tui.models.support import (
    MergeConflict,
    MergeMove,
    MergeParty,
    MergePreview,
    MergeResult,
)
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput, StaleEdit, validate_reason
from crm_tui.services.customer_summary import refresh_summary
from crm_tui.services.database import as_utc
from crm_tui.services.intents import record_activity
from crm_tui.services.permissions import NotAllowed
from crm_tui.services.profile import CustomerNotFound
from crm_tui.services.tickets import agent_names, lock_customers, require_writer

_METADATA = tables.SQLModel.metadata
_TABLES = _METADATA.tables
_customer = _TABLES["customer"]
_merged = _TABLES["merged_customer"]
_address = _TABLES["address"]
_consent = _TABLES["consent"]
_external_id = _TABLES["external_id"]
_intent = _TABLES["provider_intent"]
_deletion = _TABLES["deletion_request"]
_escalation = _TABLES["escalation"]
_tag = _TABLES["tag"]
_customer_tag = _TABLES["customer_tag"]
_segment = _TABLES["segment"]
_customer_segment = _TABLES["customer_segment"]

# How the preview names each kind; a table not named here shows under its own name.
LABELS: dict[str, str] = {
    "subscription": "subscriptions",
    "customer_order": "orders",
    "payment": "payments",
    "invoice": "invoices",
    "credit": "credits",
    "note": "notes",
    "customer_tag": "tags",
    "activity_event": "activity events",
    "external_id": "provider ids",
    "address": "addresses",
    "ticket": "tickets",
    "escalation": "escalations",
    "email_message": "emails",
    "provider_intent": "provider actions",
    "consent": "consent records",
    "preference": "preferences",
    "customer_segment": "segments",
    "account_state_change": "status history",
    "approval_request": "approval requests",
    "deletion_request": "deletion requests",
    "merged_customer": "earlier merged ids",
}
_ORDER = {table: position for position, table in enumerate(LABELS)}
_OPEN_DELETION = (RequestStatus.PENDING.value, RequestStatus.APPROVED.value)


class MergeRefused(InvalidInput):
    """The merge cannot be done (now): nothing was written. `reasons` say why."""

    def __init__(self, reasons: list[str] | tuple[str, ...]) -> None:
        super().__init__({"merge": "; ".join(reasons)})
        self.reasons = tuple(reasons)


# ------------------------------------------------------------ what refers to whom


@dataclass(frozen=True)
class Reference:
    """A column holding a customer id (a foreign key to customer.id)."""

    table: sa.Table
    column: sa.Column[Any]
    # The unique keys (primary key, unique constraints and indexes) that hold the
    # column: moving a row could collide with the survivor's under each of them.
    unique_keys: tuple[tuple[sa.Column[Any], ...], ...] = field(default=())

    @property
    def label(self) -> str:
        return LABELS.get(self.table.name, self.table.name.replace("_", " "))


def customer_references(metadata: sa.MetaData = _METADATA) -> tuple[Reference, ...]:
    """Every column of every table with a foreign key to `customer.id`, in display order."""
    customer_id = metadata.tables["customer"].c.id
    found = []
    for table in metadata.sorted_tables:
        for foreign_key in table.foreign_keys:
            if foreign_key.column is customer_id:
                column = foreign_key.parent
                found.append(Reference(table, column, _unique_keys(table, column)))
    return tuple(sorted(found, key=lambda r: (_ORDER.get(r.table.name, len(_ORDER)), r.table.name)))


def _unique_keys(table: sa.Table, column: sa.Column[Any]) -> tuple[tuple[sa.Column[Any], ...], ...]:
    keys: list[tuple[sa.Column[Any], ...]] = []
    candidates = [tuple(table.primary_key.columns)]
    candidates += [
        tuple(c.columns) for c in table.constraints if isinstance(c, sa.UniqueConstraint)
    ]
    candidates += [tuple(i.columns) for i in table.indexes if i.unique]
    for key in candidates:
        holds_column = any(c is column for c in key)
        seen = any(
            len(k) == len(key) and all(a is b for a, b in zip(k, key, strict=True)) for k in keys
        )
        if holds_column and not seen:
            keys.append(key)
    return tuple(keys)


def _duplicate_clause(reference: Reference, keep_id: int) -> sa.ColumnElement[bool] | None:
    """True for a row whose move to `keep_id` would repeat a row the survivor has."""
    table, column = reference.table, reference.column
    clauses = []
    for key in reference.unique_keys:
        theirs = table.alias("survivor_row")
        same = [theirs.c[column.name] == keep_id]
        same += [theirs.c[c.name] == table.c[c.name] for c in key if c is not column]
        clauses.append(sa.exists(sa.select(sa.literal(1)).select_from(theirs).where(*same)))
    return sa.or_(*clauses) if clauses else None


# ------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    keep: Any
    merge: Any
    moves: list[MergeMove] = field(default_factory=list)
    conflicts: list[MergeConflict] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    survivor_has_default_address: bool = False
    # Consent purposes whose current statements differ: withdrawn at the merge.
    consent_withdrawals: list[str] = field(default_factory=list)


class _Planner:
    """Reads, on one connection, what merging `merge` into `keep` would do."""

    def __init__(self, connection: Connection, keep: Any, merge: Any) -> None:
        self.c = connection
        self.plan = _Plan(keep, merge)
        self.keep_id: int = keep.id
        self.merge_id: int = merge.id

    def read(self) -> _Plan:
        self._customers()
        self._provider_ids()
        self._pending_intents()
        self._currencies()
        self._moves()
        self._addresses()
        self._consents()
        self._escalations()
        return self.plan

    def _customers(self) -> None:
        for row in (self.plan.keep, self.plan.merge):
            if row.erased_at is not None:
                self.plan.blockers.append(
                    f"#{row.id} was erased under a deletion request and cannot be merged"
                )
            open_request = self.c.execute(
                sa.select(_deletion.c.status).where(
                    _deletion.c.customer_id == row.id, _deletion.c.status.in_(_OPEN_DELETION)
                )
            ).first()
            if open_request is not None:
                self.plan.blockers.append(
                    f"#{row.id} has a deletion request {open_request.status}: "
                    "settle it before merging"
                )
        keep, merge = self.plan.keep, self.plan.merge
        if merge.account_state != keep.account_state:
            self.plan.conflicts.append(
                MergeConflict(
                    "account state",
                    f"#{merge.id} is {merge.account_state}; #{keep.id} stays "
                    f"{keep.account_state} (change it after the merge if it should not)",
                )
            )

    def _provider_ids(self) -> None:
        rows = self.c.execute(
            sa.select(
                _external_id.c.customer_id, _external_id.c.provider, _external_id.c.external_id
            )
            .where(_external_id.c.customer_id.in_([self.keep_id, self.merge_id]))
            .order_by(_external_id.c.provider, _external_id.c.external_id)
        )
        by_provider: dict[str, dict[int, list[str]]] = {}
        for row in rows:
            by_provider.setdefault(row.provider, {}).setdefault(row.customer_id, []).append(
                row.external_id
            )
        for provider, owners in by_provider.items():
            if self.keep_id in owners and self.merge_id in owners:
                ours = ", ".join(owners[self.keep_id])
                theirs = ", ".join(owners[self.merge_id])
                self.plan.blockers.append(
                    f"both have a {provider} customer id ({ours} on #{self.keep_id}, "
                    f"{theirs} on #{self.merge_id}): refunds, retries and plan changes would "
                    f"reach one {provider} account for money held in the other; merge them "
                    f"at {provider} first"
                )

    def _pending_intents(self) -> None:
        for customer_id in (self.keep_id, self.merge_id):
            rows = list(
                self.c.execute(
                    sa.select(_intent.c.action, _intent.c.provider)
                    .where(
                        _intent.c.customer_id == customer_id,
                        _intent.c.status == IntentStatus.PENDING.value,
                    )
                    .order_by(_intent.c.created_at, _intent.c.id)
                )
            )
            if rows:
                what = ", ".join(f"{row.action} at {row.provider}" for row in rows)
                self.plan.blockers.append(
                    f"#{customer_id} has {len(rows)} provider action(s) waiting for an answer "
                    f"({what}): settle them first (crm-tui reconcile)"
                )

    def _currencies(self) -> None:
        survivor_currency = self.plan.keep.currency
        for reference in customer_references():
            if "currency" not in reference.table.c:
                continue
            found = self.c.execute(
                sa.select(reference.table.c.currency)
                .where(
                    reference.column == self.merge_id,
                    reference.table.c.currency != survivor_currency,
                )
                .distinct()
                .order_by(reference.table.c.currency)
            ).scalars()
            others = [str(currency) for currency in found]
            if others:
                self.plan.blockers.append(
                    f"#{self.merge_id} has {reference.label} in {', '.join(others)} but "
                    f"#{self.keep_id} is in {survivor_currency}: lifetime value and MRR add "
                    "amounts of one currency"
                )

    def _moves(self) -> None:
        for reference in customer_references():
            table, column = reference.table, reference.column
            total = self._count(table, column == self.merge_id)
            if not total:
                continue
            duplicate = _duplicate_clause(reference, self.keep_id)
            dropped = 0
            if duplicate is not None:
                dropped = self._count(table, sa.and_(column == self.merge_id, duplicate))
            self.plan.moves.append(MergeMove(table.name, reference.label, total - dropped, dropped))
            if dropped:
                self.plan.conflicts.append(self._duplicates_conflict(reference, dropped))

    def _count(self, table: sa.Table, clause: sa.ColumnElement[bool]) -> int:
        return int(
            self.c.execute(sa.select(sa.func.count()).select_from(table).where(clause)).scalar_one()
        )

    def _duplicates_conflict(self, reference: Reference, dropped: int) -> MergeConflict:
        name = reference.table.name
        if name in ("customer_tag", "customer_segment"):
            table, link = (
                (_tag, _customer_tag) if name == "customer_tag" else (_segment, _customer_segment)
            )
            key = link.c.tag_id if name == "customer_tag" else link.c.segment_id
            names = self.c.execute(
                sa.select(table.c.name)
                .join(link, key == table.c.id)
                .where(
                    link.c.customer_id == self.merge_id,
                    key.in_(sa.select(key).where(link.c.customer_id == self.keep_id)),
                )
                .order_by(table.c.name)
            ).scalars()
            return MergeConflict(
                reference.label, f"{reference.label} on both, kept once: {', '.join(names)}"
            )
        if name == "preference":
            return MergeConflict(
                reference.label,
                f"both have preferences: #{self.keep_id}'s are kept, #{self.merge_id}'s dropped",
            )
        return MergeConflict(
            reference.label,
            f"{dropped} of #{self.merge_id}'s {reference.label} repeat #{self.keep_id}'s: "
            f"#{self.keep_id}'s are kept, once",
        )

    def _addresses(self) -> None:
        def has_default(customer_id: int) -> bool:
            return (
                self._count(
                    _address,
                    sa.and_(
                        _address.c.customer_id == customer_id,
                        _address.c.is_default.is_(True),
                        _address.c.valid_to.is_(None),
                    ),
                )
                > 0
            )

        self.plan.survivor_has_default_address = has_default(self.keep_id)
        if self.plan.survivor_has_default_address and has_default(self.merge_id):
            self.plan.conflicts.append(
                MergeConflict(
                    "address",
                    f"both have a default billing address: #{self.keep_id}'s stays the default, "
                    f"#{self.merge_id}'s moves as another billing address",
                )
            )

    def _current_consents(self, customer_id: int) -> dict[str, bool]:
        rows = self.c.execute(
            sa.select(_consent.c.purpose, _consent.c.granted)
            .where(_consent.c.customer_id == customer_id)
            .order_by(_consent.c.recorded_at, _consent.c.id)
        )
        return {row.purpose: bool(row.granted) for row in rows}  # the newest wins

    def _consents(self) -> None:
        ours = self._current_consents(self.keep_id)
        theirs = self._current_consents(self.merge_id)
        for purpose in sorted(set(ours) & set(theirs)):
            if ours[purpose] != theirs[purpose]:
                self.plan.consent_withdrawals.append(purpose)
                self.plan.conflicts.append(
                    MergeConflict(
                        "consent",
                        f"{purpose}: #{self.keep_id} {_granted(ours[purpose])}, #{self.merge_id} "
                        f"{_granted(theirs[purpose])}: recorded as withdrawn (the stricter answer)",
                    )
                )

    def _escalations(self) -> None:
        open_on = {
            int(customer_id)
            for customer_id in self.c.execute(
                sa.select(_escalation.c.customer_id).where(
                    _escalation.c.customer_id.in_([self.keep_id, self.merge_id]),
                    _escalation.c.status == EscalationStatus.OPEN.value,
                )
            ).scalars()
        }
        if open_on == {self.keep_id, self.merge_id}:
            self.plan.conflicts.append(
                MergeConflict(
                    "escalations",
                    "both have an open escalation: both stay open on the survivor for review",
                )
            )


def _granted(value: bool) -> str:
    return "granted" if value else "withdrawn"


def _party(row: Any) -> MergeParty:
    return MergeParty(row.id, row.name, row.email, row.company_name, int(row.version))


# ------------------------------------------------------------------ service


class MergeService:
    """Thread-safe: each call has its own connection or transaction."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] | None = None,
        require_approval: bool = False,
    ) -> None:
        self.engine = engine
        self.now = clock or (lambda: datetime.now(UTC))
        # The app turns this on ([approvals] merges): an agent's merge is then only
        # made with the id of an approved request for exactly these two customers.
        self.require_approval = require_approval

    def preview(self, keep_id: int, merge_id: int, actor: Actor) -> MergePreview:
        """What merging `merge_id` into `keep_id` would do; refused outright (MergeRefused)
        for a customer into itself or an id already merged away."""
        _refuse_self(keep_id, merge_id)
        with self.engine.connect() as connection:
            rows = {
                row.id: row
                for row in connection.execute(
                    sa.select(_customer).where(_customer.c.id.in_([keep_id, merge_id]))
                )
            }
            keep, merge = _both(connection, rows, keep_id, merge_id)
            plan = _Planner(connection, keep, merge).read()
        return MergePreview(
            keep=_party(keep),
            merge=_party(merge),
            moves=tuple(plan.moves),
            conflicts=tuple(plan.conflicts),
            blockers=tuple(plan.blockers),
        )

    def merge(
        self,
        keep_id: int,
        merge_id: int,
        reason: str,
        actor: Actor,
        expected_versions: Mapping[int, int],
        *,
        approval_id: int | None = None,
    ) -> MergeResult:
        """Merge `merge_id` into `keep_id` in one transaction (see the module's rules).

        `expected_versions` maps both ids to the versions the preview showed
        (`MergePreview.versions`): a change since then refuses the merge with
        `StaleEdit`, and nothing is written."""
        _refuse_self(keep_id, merge_id)
        clean = validate_reason(reason)
        missing = [f"#{i}" for i in (keep_id, merge_id) if i not in expected_versions]
        if missing:
            raise InvalidInput(
                {"versions": f"state the version the preview showed for {', '.join(missing)}"}
            )
        with self.engine.begin() as connection:
            require_writer(connection, actor, "merge customers")
            if self.require_approval and actor.type != ActorType.SYSTEM:
                _require_approval(connection, keep_id, merge_id, approval_id)
            rows = lock_customers(connection, [keep_id, merge_id])
            keep, merge = _both(connection, rows, keep_id, merge_id)
            for row in (keep, merge):
                if int(row.version) != int(expected_versions[row.id]):
                    raise _stale(connection, row)
            plan = _Planner(connection, keep, merge).read()
            if plan.blockers:
                raise MergeRefused(plan.blockers)
            now = self.now()
            self._move_everything(connection, plan, now)
            # An older record for this id can only exist if SQLite gave a merged-away
            # id to a new customer (see `test_a_merged_away_id_is_never_given_to_a_new
            # _customer`): the id now means this customer, so its record is replaced.
            connection.execute(sa.delete(_merged).where(_merged.c.old_customer_id == merge_id))
            connection.execute(
                sa.insert(_merged).values(
                    old_customer_id=merge_id,
                    survivor_id=keep_id,
                    merged_at=now,
                    agent_id=actor.agent_id,
                )
            )
            # Nothing refers to it any more: a leftover reference fails here, loudly.
            connection.execute(sa.delete(_customer).where(_customer.c.id == merge_id))
            refresh_summary(connection, keep_id)
            version = int(keep.version) + 1
            connection.execute(
                sa.update(_customer)
                .where(_customer.c.id == keep_id)
                .values(version=version, updated_at=now, updated_by_agent_id=actor.agent_id)
            )
            record_activity(
                connection,
                keep_id,
                ActivityKind.PROFILE,
                actor,
                f"Merged customer #{merge_id} ({merge.name}, {merge.email}) into this one: {clean}",
                {
                    "merged_id": merge_id,
                    "merged_name": merge.name,
                    "merged_email": merge.email,
                    "reason": clean,
                    "moved": {move.label: move.moving for move in plan.moves},
                    "kept_once": {move.label: move.dropped for move in plan.moves if move.dropped},
                    "conflicts": [conflict.message for conflict in plan.conflicts],
                },
                now,
            )
            # Ids and counts only: the trail cannot be edited, so it holds no personal
            # data that an erasure would have to remove (names, emails, the reason).
            audit.append(
                connection,
                actor,
                "customers.merge",
                customer_id=keep_id,
                details={
                    "kept_id": keep_id,
                    "merged_id": merge_id,
                    "moved": {move.label: move.moving for move in plan.moves},
                },
                at=now,
            )
        return MergeResult(
            survivor_id=keep_id,
            merged_id=merge_id,
            moves=tuple(plan.moves),
            conflicts=tuple(plan.conflicts),
            survivor_version=version,
        )

    def _move_everything(self, connection: Connection, plan: _Plan, now: datetime) -> None:
        keep_id, merge_id = plan.keep.id, plan.merge.id
        if plan.survivor_has_default_address:
            connection.execute(
                sa.update(_address)
                .where(_address.c.customer_id == merge_id, _address.c.is_default.is_(True))
                .values(is_default=False)
            )
        for reference in customer_references():
            table, column = reference.table, reference.column
            duplicate = _duplicate_clause(reference, keep_id)
            if duplicate is not None:
                connection.execute(sa.delete(table).where(column == merge_id, duplicate))
            connection.execute(
                sa.update(table).where(column == merge_id).values({column.name: keep_id})
            )
        for purpose in plan.consent_withdrawals:
            connection.execute(
                sa.insert(_consent).values(
                    customer_id=keep_id,
                    purpose=purpose,
                    granted=False,
                    source=f"merge of #{merge_id}: the two records differed",
                    recorded_at=now,
                )
            )


def _require_approval(
    connection: Connection, keep_id: int, merge_id: int, approval_id: int | None
) -> None:
    from crm_tui.services.approvals import NeedsApproval  # approvals imports merge's callers

    if approval_id is None:
        raise NeedsApproval(ApprovalKind.MERGE, "a merge needs a manager's approval")
    request = _TABLES["approval_request"]
    row = connection.execute(sa.select(request).where(request.c.id == approval_id)).first()
    asked = dict(row.payload or {}) if row is not None else {}
    if (
        row is None
        or row.kind != ApprovalKind.MERGE.value
        or row.status != RequestStatus.APPROVED.value
        or (asked.get("keep_id"), asked.get("merge_id")) != (keep_id, merge_id)
    ):
        raise NotAllowed(f"request #{approval_id} is not an approval of this merge")


def _refuse_self(keep_id: int, merge_id: int) -> None:
    if keep_id == merge_id:
        raise MergeRefused([f"a customer cannot be merged into itself (#{keep_id} twice)"])


def _both(
    connection: Connection, rows: dict[int, Any], keep_id: int, merge_id: int
) -> tuple[Any, Any]:
    """(keep row, merge row); refused for an id already merged away, unknown ids raise."""
    for customer_id in (keep_id, merge_id):
        if customer_id in rows:
            continue
        survivor = connection.execute(
            sa.select(_merged.c.survivor_id).where(_merged.c.old_customer_id == customer_id)
        ).scalar()
        if survivor is not None:
            raise MergeRefused([f"#{customer_id} was already merged into #{survivor}"])
        raise CustomerNotFound(customer_id)
    return rows[keep_id], rows[merge_id]


def _stale(connection: Connection, row: Any) -> StaleEdit:
    by = agent_names(connection, [row.updated_by_agent_id]).get(row.updated_by_agent_id or -1)
    if by is None:
        by = "system" if row.updated_by_agent_id is None else f"agent #{row.updated_by_agent_id}"
    return StaleEdit(row.id, by, as_utc(row.updated_at))


__all__ = [
    "LABELS",
    "MergeRefused",
    "MergeService",
    "Reference",
    "customer_references",
]
