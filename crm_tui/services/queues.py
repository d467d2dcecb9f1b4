"""Saved queues: a name plus a search, filters and sort.

A support team's day is queues ("failed payments this week", "new business
customers", "VIP at risk"). The built-in ones are defined here, one per segment
and one per support workflow; agents save their own, which are theirs (kept in
`saved_queue` with their agent id) and survive restarts. Opening a queue sets
the directory's query; the directory does the rest (count, paging, marking).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables
from crm_tui.services import membership
from crm_tui.services.actor import Actor
from crm_tui.services.customer_edit import InvalidInput
from crm_tui.services.directory import DirectoryFilters, DirectoryQuery, Sort

_queue = tables.SQLModel.metadata.tables["saved_queue"]

NAME_MAX = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Queue:
    name: str
    query: DirectoryQuery
    id: int | None = None  # None: built in
    description: str = ""

    @property
    def built_in(self) -> bool:
        return self.id is None


def _only(*sets: str, kind: str | None = None) -> DirectoryQuery:
    return DirectoryQuery(filters=DirectoryFilters(sets=sets, kind=kind))


BUILT_IN: tuple[Queue, ...] = (
    Queue("Failed payments this week", _only("failed_payments:7"),
          description="a payment failed in the last 7 days"),
    Queue("Pending refunds", _only("pending_refunds"),
          description="a refund waits for the provider"),
    Queue("Follow-ups due", _only("follow_ups_due"),
          description="a note's follow-up date has come, no note since"),
    Queue("Escalated", _only("escalated"), description="open escalations for managers"),
    Queue("New", _only("segment:new"), description="registered in the last 30 days"),
    Queue("New business customers", _only("segment:new", kind="business"),
          description="registered in the last 30 days, business accounts"),
    Queue("Loyal", _only("segment:loyal"),
          description="subscribed 6+ months, no failed payment in that time"),
    Queue("At-risk", _only("segment:at_risk"),
          description="failed payment in 60 days, set to cancel, or usage halved"),
    Queue("VIP at risk", _only("segment:at_risk", "segment:high_value"),
          description="at-risk and in the top 10% by lifetime value"),
    Queue("High-value", _only("segment:high_value"), description="top 10% by lifetime value"),
    Queue("Churned", _only("segment:churned"), description="cancelled in the last 90 days"),
    Queue("Business", _only("segment:business"), description="business accounts"),
)  # fmt: skip


class QueueService:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.now = clock or (lambda: datetime.now(UTC))

    def queues(self, actor: Actor) -> list[Queue]:
        """The built-in queues, then the agent's own, by name."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(_queue)
                .where(_queue.c.owner_agent_id == actor.agent_id)
                .order_by(_queue.c.name)
            ).all()
        if actor.agent_id is None:
            rows = []  # no agent row: nothing can be theirs
        return [*BUILT_IN, *(_from_row(row) for row in rows)]

    def find(self, name: str, actor: Actor) -> Queue | None:
        """A queue by name, ignoring case (what `:` typed names)."""
        wanted = name.strip().casefold()
        return next((q for q in self.queues(actor) if q.name.casefold() == wanted), None)

    def save(self, name: str, query: DirectoryQuery, actor: Actor) -> Queue:
        """Save the agent's current view under a name; the same name again replaces it."""
        clean = _valid_name(name)
        if any(q.name.casefold() == clean.casefold() for q in BUILT_IN):
            raise InvalidInput({"name": f"“{clean}” is a built-in queue: choose another name"})
        if actor.agent_id is None:
            raise InvalidInput({"name": "queues are saved per agent; you have no agent record"})
        for name_of_set in query.filters.sets:
            try:
                membership.validate(name_of_set)
            except membership.UnknownSet as error:
                raise InvalidInput({"filters": str(error)}) from None
        values = {
            "name": clean,
            "owner_agent_id": actor.agent_id,
            "search": query.search,
            "filters": filters_to_json(query.filters),
            "sort_column": query.sort.column,
            "sort_descending": query.sort.descending,
        }
        with self.engine.begin() as connection:
            existing = connection.execute(
                sa.select(_queue.c.id).where(
                    _queue.c.owner_agent_id == actor.agent_id,
                    sa.func.lower(_queue.c.name) == clean.casefold(),
                )
            ).scalar()
            if existing is None:
                result = connection.execute(
                    sa.insert(_queue).values(**values, created_at=self.now())
                )
                key = result.inserted_primary_key
                assert key is not None
                queue_id = int(key[0])
            else:
                connection.execute(sa.update(_queue).where(_queue.c.id == existing).values(values))
                queue_id = int(existing)
        return Queue(clean, query, queue_id)

    def delete(self, queue_id: int, actor: Actor) -> None:
        with self.engine.begin() as connection:
            gone = connection.execute(
                sa.delete(_queue).where(
                    _queue.c.id == queue_id, _queue.c.owner_agent_id == actor.agent_id
                )
            ).rowcount
        if not gone:
            raise InvalidInput({"queue": "only your own saved queues can be deleted"})


def _valid_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise InvalidInput({"name": "give the queue a name"})
    if len(clean) > NAME_MAX:
        raise InvalidInput({"name": f"at most {NAME_MAX} characters"})
    if _CONTROL.search(clean):
        raise InvalidInput({"name": "control characters are not allowed"})
    return clean


def _from_row(row: Any) -> Queue:
    try:
        sort = Sort(row.sort_column, bool(row.sort_descending))
    except ValueError:
        sort = Sort()  # a column that no longer exists: the default order
    filters = filters_from_json(row.filters or {})
    return Queue(row.name, DirectoryQuery(row.search or "", filters, sort), int(row.id))


# ----------------------------------------------------------- filters as JSON

_DATES = ("registered_from", "registered_to")


def filters_to_json(filters: DirectoryFilters) -> dict[str, Any]:
    """The filters that are set, as plain JSON (tuples → lists, dates → ISO)."""
    out: dict[str, Any] = {}
    for f in fields(DirectoryFilters):
        value = getattr(filters, f.name)
        if value in (None, ()):
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[f.name] = value
    return out


def filters_from_json(data: dict[str, Any]) -> DirectoryFilters:
    """Back from JSON; unknown keys (from a newer or older version) are ignored."""
    known = {f.name: f for f in fields(DirectoryFilters)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        if isinstance(value, list):
            value = tuple(str(v) for v in value)
        elif name in _DATES and isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                continue
        values[name] = value
    return replace(DirectoryFilters(), **values)
