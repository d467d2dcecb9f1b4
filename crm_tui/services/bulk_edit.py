"""Bulk edits of marked customers: add a tag, assign to an agent (issue 5).

The marked customers arrive as one SQL selection of ids (`DirectoryService.
marked_ids`): "every match of this search" is never a list in Python. Both edits:

- **preview** first: how many are marked, how many would change, how many already
  are as asked, and a few names as examples. Nothing is written.
- **apply** in ONE transaction. The selection is first copied into a temporary
  table inside the database (INSERT … SELECT), so the search runs once and the
  set cannot drift while we work; then the edit runs over it in chunks of ids,
  set-based (INSERT … SELECT / UPDATE … WHERE id IN), which is what lets the
  progress bar move and a stop be heard between chunks. A stop, or any error,
  rolls the whole transaction back: nothing is half-applied.
- **records** one activity event per customer that changed (written by the same
  set-based statement, in the same transaction) and one audit entry for the
  whole action (services/audit.py).

Customers who already have the tag, or are already assigned to that agent, are
left alone and get no event: the action is safe to run twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import ActivityKind, ActorType
from crm_tui.services import audit
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput, validate_tag
from crm_tui.services.sql_inserts import insert_ignoring_duplicates
from crm_tui.services.tickets import require_writer

_T = tables.SQLModel.metadata.tables
_customer, _agent = _T["customer"], _T["agent"]
_tag, _customer_tag, _event = _T["tag"], _T["customer_tag"], _T["activity_event"]

CHUNK = 5_000  # ids per statement: a stop is heard within one chunk
EXAMPLES = 3
UNASSIGN_WORDS = frozenset({"-", "none", "nobody", "unassign"})

Progress = Callable[[int, int], None]  # done, total
StopCheck = Callable[[], bool]

# The marked ids, copied once per apply (a temporary table: each connection has
# its own, and it is gone with the connection).
_target = sa.Table(
    "crm_bulk_target",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    prefixes=["TEMPORARY"],
)


class BulkStopped(Exception):
    """The agent stopped the action: the transaction was rolled back."""


@dataclass(frozen=True)
class BulkPreview:
    marked: int
    changing: int
    examples: tuple[str, ...]  # names of some who would change
    unchanged_note: str  # "12 already have the tag"
    caution: str = ""  # "40 of them move from another agent"

    def lines(self, what: str) -> list[str]:
        if self.changing == 0:
            return [f"{self.marked:,} marked: nothing to change ({self.unchanged_note})."]
        lines = [f"{self.changing:,} of {self.marked:,} marked will be {what}."]
        if self.caution:
            lines.append(self.caution)
        if self.marked > self.changing:
            lines.append(f"Left as they are: {self.unchanged_note}.")
        if self.examples:
            more = "…" if self.changing > len(self.examples) else ""
            lines.append("For example: " + ", ".join(self.examples) + more)
        lines.append("One transaction: stopping part-way changes nothing.")
        return lines


@dataclass(frozen=True)
class BulkReport:
    changed: int
    marked: int
    seconds: float
    audit_seq: int

    def summary(self, what: str) -> str:
        same = self.marked - self.changed
        tail = f" ({same:,} already were)" if same else ""
        return f"{self.changed:,} customers {what}{tail}. Audit entry #{self.audit_seq}."


@dataclass(frozen=True)
class Assignee:
    agent_id: int | None  # None: unassign
    name: str  # "Maria Lopez", or "nobody"


class BulkEditService:
    """Thread-safe: every call opens its own connection or transaction."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.now = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ tag

    def tag_preview(self, selection: sa.Select[Any], tag: str) -> BulkPreview:
        name = validate_tag(tag)
        marked = selection.subquery()
        with self.engine.connect() as connection:
            tag_id = _existing_tag_id(connection, name)
            missing = ~_has_tag(_customer.c.id, tag_id) if tag_id is not None else sa.true()
            changing = _customers_in(marked).where(missing)
            preview = _preview(connection, marked, changing)
        return BulkPreview(
            preview.marked,
            preview.changing,
            preview.examples,
            f"{preview.marked - preview.changing:,} already tagged {name}",
        )

    def add_tag(
        self,
        selection: sa.Select[Any],
        tag: str,
        actor: Actor,
        *,
        should_stop: StopCheck = lambda: False,
        progress: Progress = lambda _done, _total: None,
        describe: str = "",
    ) -> BulkReport:
        """Tag every selected customer who lacks the tag; all or nothing."""
        name = validate_tag(tag)
        started = self.now()
        with self.engine.begin() as connection:
            require_writer(connection, actor, "tag customers")
            tag_id = _tag_id(connection, name)
            marked = _fill_target(connection, selection)
            # Those who have the tag already leave the target once, here: the chunks
            # then insert without asking again (see services/sql_inserts.py for why
            # asking per chunk gets slower with every chunk on PostgreSQL).
            connection.execute(sa.delete(_target).where(_has_tag(_target.c.id, tag_id)))
            lacking = _target_count(connection)
            changed = 0
            for low, high in _chunks(connection, lacking, should_stop, progress):
                chunk = sa.select(_target.c.id).where(_target.c.id > low, _target.c.id <= high)
                _record_events(connection, chunk, actor, f"Tagged {name}", {"tag": name}, started)
                # A concurrent tagging of the same customer is skipped, not an error.
                changed += insert_ignoring_duplicates(
                    connection,
                    _customer_tag,
                    ["customer_id", "tag_id", "added_at", "added_by_agent_id"],
                    sa.select(
                        chunk.subquery().c.id,
                        sa.literal(tag_id),
                        sa.literal(started, _customer_tag.c.added_at.type),
                        sa.literal(actor.agent_id, sa.Integer),
                    ),
                )
            entry = audit.append(
                connection,
                actor,
                "customers.bulk_tag",
                details={"tag": name, "marked": marked, "tagged": changed, "selection": describe},
                at=started,
            )
            _drop_target(connection)
        return BulkReport(changed, marked, (self.now() - started).total_seconds(), entry.seq)

    # --------------------------------------------------------------- assign

    def find_assignee(self, text: str) -> Assignee:
        """An active agent by login or display name (any case); "-"/"none" unassigns."""
        wanted = " ".join(text.split()).lower()
        if not wanted:
            raise InvalidInput({"agent": "type an agent's login or name, or - to unassign"})
        if wanted in UNASSIGN_WORDS:
            return Assignee(None, "nobody")
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(_agent.c.id, _agent.c.display_name, _agent.c.active).where(
                    sa.or_(
                        sa.func.lower(_agent.c.username) == wanted,
                        sa.func.lower(_agent.c.display_name) == wanted,
                    )
                )
            ).all()
        if not rows:
            raise InvalidInput({"agent": f"no agent called {text.strip()!r}"})
        if len(rows) > 1:
            raise InvalidInput({"agent": f"{text.strip()!r} names several agents: use the login"})
        if not rows[0].active:
            raise InvalidInput({"agent": f"{rows[0].display_name}'s account is inactive"})
        return Assignee(int(rows[0].id), rows[0].display_name)

    def assign_preview(self, selection: sa.Select[Any], agent: str) -> BulkPreview:
        assignee = self.find_assignee(agent)
        marked = selection.subquery()
        with self.engine.connect() as connection:
            changing = _customers_in(marked).where(_not_assigned_to(assignee.agent_id))
            preview = _preview(connection, marked, changing)
            reassigned = _count(
                connection,
                changing.where(_customer.c.assigned_agent_id.is_not(None)),
            )
        note = f"{preview.marked - preview.changing:,} already assigned to {assignee.name}"
        caution = ""
        if reassigned:
            who = "another agent" if assignee.agent_id is not None else "their agent"
            caution = f"{reassigned:,} of them are taken from {who}."
        return BulkPreview(preview.marked, preview.changing, preview.examples, note, caution)

    def assign(
        self,
        selection: sa.Select[Any],
        agent: str,
        actor: Actor,
        *,
        should_stop: StopCheck = lambda: False,
        progress: Progress = lambda _done, _total: None,
        describe: str = "",
    ) -> BulkReport:
        """Assign every selected customer to the agent (or to nobody); all or nothing."""
        assignee = self.find_assignee(agent)
        started = self.now()
        summary = f"Assigned to {assignee.name}" if assignee.agent_id is not None else "Unassigned"
        with self.engine.begin() as connection:
            require_writer(connection, actor, "assign customers")
            marked = _fill_target(connection, selection)
            changed = 0
            for low, high in _chunks(connection, marked, should_stop, progress):
                in_chunk = sa.select(_target.c.id).where(_target.c.id > low, _target.c.id <= high)
                moving = (
                    sa.select(_customer.c.id)
                    .where(_customer.c.id.in_(in_chunk))
                    .where(_not_assigned_to(assignee.agent_id))
                )
                _record_events(
                    connection,
                    moving,
                    actor,
                    summary,
                    {"assigned_agent_id": assignee.agent_id},
                    started,
                )
                changed += int(
                    connection.execute(
                        sa.update(_customer)
                        .where(_customer.c.id.in_(in_chunk))
                        .where(_not_assigned_to(assignee.agent_id))
                        .values(assigned_agent_id=assignee.agent_id)
                    ).rowcount
                    or 0
                )
            entry = audit.append(
                connection,
                actor,
                "customers.bulk_assign",
                details={
                    "agent_id": assignee.agent_id,
                    "agent": assignee.name,
                    "marked": marked,
                    "assigned": changed,
                    "selection": describe,
                },
                at=started,
            )
            _drop_target(connection)
        return BulkReport(changed, marked, (self.now() - started).total_seconds(), entry.seq)


# ---------------------------------------------------------------- helpers


def _customers_in(marked: sa.Subquery) -> sa.Select[Any]:
    # Joined to `customer`: a marked id merged away since marking is not counted.
    return sa.select(_customer.c.id, _customer.c.name).where(
        _customer.c.id.in_(sa.select(marked.c.id))
    )


def _has_tag(customer_id: Any, tag_id: int | None) -> sa.Exists:
    return sa.exists().where(
        _customer_tag.c.customer_id == customer_id, _customer_tag.c.tag_id == tag_id
    )


def _not_assigned_to(agent_id: int | None) -> sa.ColumnElement[bool]:
    if agent_id is None:
        return _customer.c.assigned_agent_id.is_not(None)
    return sa.or_(
        _customer.c.assigned_agent_id.is_(None), _customer.c.assigned_agent_id != agent_id
    )


def _count(connection: Connection, select: sa.Select[Any]) -> int:
    counted = sa.select(sa.func.count()).select_from(select.subquery())
    return int(connection.execute(counted).scalar_one())


@dataclass(frozen=True)
class _Counts:
    marked: int
    changing: int
    examples: tuple[str, ...]


def _preview(connection: Connection, marked: sa.Subquery, changing: sa.Select[Any]) -> _Counts:
    examples = connection.execute(
        changing.order_by(_customer.c.id).limit(EXAMPLES).with_only_columns(_customer.c.name)
    ).scalars()
    return _Counts(
        _count(connection, _customers_in(marked)),
        _count(connection, changing),
        tuple(str(name) for name in examples),
    )


def _existing_tag_id(connection: Connection, name: str) -> int | None:
    found = connection.execute(
        sa.select(_tag.c.id).where(sa.func.lower(_tag.c.name) == name)
    ).scalar()
    return None if found is None else int(found)


def _tag_id(connection: Connection, name: str) -> int:
    existing = _existing_tag_id(connection, name)
    if existing is not None:
        return existing
    key = connection.execute(sa.insert(_tag).values(name=name)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _fill_target(connection: Connection, selection: sa.Select[Any]) -> int:
    """Copy the selection (existing customers only) into the temporary table."""
    _target.drop(connection, checkfirst=True)  # a pooled connection's leftover
    _target.create(connection)
    marked = selection.subquery()
    connection.execute(
        sa.insert(_target).from_select(
            ["id"], sa.select(_customer.c.id).where(_customer.c.id.in_(sa.select(marked.c.id)))
        )
    )
    return _target_count(connection)


def _target_count(connection: Connection) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(_target)).scalar_one())


def _drop_target(connection: Connection) -> None:
    _target.drop(connection, checkfirst=True)


def _chunks(
    connection: Connection, total: int, should_stop: StopCheck, progress: Progress
) -> Iterator[tuple[int, int]]:
    """(low, high] id ranges of at most CHUNK targets; raises BulkStopped when asked.

    The progress is reported after each chunk is done (the caller's loop body has
    run when the next value is asked for)."""
    low, done = 0, 0
    progress(0, total)
    while done < total:
        if should_stop():
            raise BulkStopped(f"Stopped after {done:,} of {total:,}: nothing was changed.")
        window = (
            sa.select(_target.c.id)
            .where(_target.c.id > low)
            .order_by(_target.c.id)
            .limit(CHUNK)
            .subquery()
        )
        high, size = connection.execute(
            sa.select(sa.func.max(window.c.id), sa.func.count()).select_from(window)
        ).one()
        if not size:
            break
        yield low, int(high)
        low, done = int(high), done + int(size)
        progress(done, total)
    if should_stop():
        raise BulkStopped(f"Stopped after {done:,} of {total:,}: nothing was changed.")


def _record_events(
    connection: Connection,
    customers: sa.Select[Any],
    actor: Actor,
    summary: str,
    details: dict[str, Any],
    when: datetime,
) -> None:
    """One activity event per customer in `customers`, in one statement."""
    ids = customers.subquery()
    connection.execute(
        sa.insert(_event).from_select(
            ["customer_id", "occurred_at", "kind", "actor_type", "agent_id", "summary", "details"],
            sa.select(
                next(iter(ids.c)),
                sa.literal(when, _event.c.occurred_at.type),
                sa.literal(ActivityKind.PROFILE.value),
                sa.literal((actor.type or ActorType.SYSTEM).value),
                sa.literal(actor.agent_id, sa.Integer),
                sa.literal(summary[:400]),
                sa.literal({**details, "bulk": True}, _event.c.details.type),
            ),
        )
    )
