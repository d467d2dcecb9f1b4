"""What every provider sync shares: the report, the write-only-what-differs upsert,
and the cursor an incremental run starts from (the `sync_state` table).

`crm-tui sync stripe` and `crm-tui sync paypal` read differently (Stripe lists
and events; PayPal transaction reports), but store the same way, so that a
second run of either changes nothing and says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables

_state = tables.SQLModel.metadata.tables["sync_state"]

Progress = Callable[[str, int, int | None], None]  # stage, done, total (None: unknown)


def no_progress(stage: str, done: int, total: int | None) -> None:
    """A Progress that shows nothing."""


@dataclass
class SyncReport:
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    skipped: list[str] = field(default_factory=list)  # objects that could not be read
    customers_seen: int = 0
    incremental: bool = False

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def change_count(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values())

    def lines(self) -> list[str]:
        kinds = sorted(set(self.created) | set(self.updated))
        out = [
            f"{kind}: {self.created.get(kind, 0)} new, {self.updated.get(kind, 0)} updated"
            for kind in kinds
            if self.created.get(kind) or self.updated.get(kind)
        ]
        mode = "incremental" if self.incremental else "full"
        out.append(
            f"{self.customers_seen} customers read ({mode})"
            + ("" if self.changed else "; nothing changed")
        )
        out.extend(f"skipped: {reason}" for reason in self.skipped)
        return out


def upsert(
    connection: Connection,
    table: sa.Table,
    key: dict[str, Any],
    values: dict[str, Any],
    kind: str,
    report: SyncReport,
    keep: tuple[str, ...] = (),
) -> int:
    """Insert, or update the columns that differ; count what changed. `keep`: columns
    set only on insert (a refund made here keeps its agent's reason and time)."""
    where = [table.c[name] == value for name, value in key.items()]
    row = connection.execute(sa.select(table).where(*where)).first()
    if row is None:
        inserted = connection.execute(sa.insert(table).values({**values, **key}))
        report.created[kind] += 1
        return inserted_id(inserted)
    mapping = row._mapping
    changes = {
        name: value
        for name, value in values.items()
        if name not in keep and not _same(mapping[name], value)
    }
    if changes:
        connection.execute(sa.update(table).where(table.c.id == row.id).values(**changes))
        report.updated[kind] += 1
    return int(row.id)


def _same(stored: Any, new: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(new, datetime):
        stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        return stored == new
    return bool(stored == new)


def inserted_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def read_cursor(engine: Engine, provider: str) -> int:
    """Where the last run of this provider's sync got to (0: never ran)."""
    with engine.connect() as connection:
        value = connection.execute(
            sa.select(_state.c.cursor).where(_state.c.provider == provider)
        ).scalar()
    return int(value or 0)


def save_cursor(engine: Engine, provider: str, cursor: int, now: datetime) -> None:
    with engine.begin() as connection:
        changed = connection.execute(
            sa.update(_state)
            .where(_state.c.provider == provider)
            .values(cursor=cursor, last_run_at=now)
        ).rowcount
        if not changed:
            connection.execute(
                sa.insert(_state).values(provider=provider, cursor=cursor, last_run_at=now)
            )
