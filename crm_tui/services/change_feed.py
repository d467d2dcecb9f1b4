"""What other agents changed, as it happens: the signal an open screen reads again on.

Every change to a customer writes an activity event (the services' rule), so the
feed watches those:

- PostgreSQL: LISTEN on `crm_changes`, which a trigger on `activity_event` NOTIFYs
  at each commit with the customers' ids (migration 0005). Nothing is polled; a
  dropped connection is opened again, and the first answer after it is
  "everything" (what was missed meanwhile is unknown).
- SQLite: `PRAGMA data_version`, which changes when another connection commits, is
  read on a connection of the feed's own every POLL seconds — it costs no disk
  read. When it moves, the events written since the last look name the customers.

`wait(timeout)` returns the changes seen within `timeout` (gathered for a short
moment, so a burst of commits is one refresh), or None. It runs in a worker thread
of the app; `close()` releases its connection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables

CHANNEL = "crm_changes"
POLL = 0.25  # seconds between two looks at SQLite's data_version
GATHER = 0.2  # seconds to let a burst of commits arrive before answering
MAX_IDS = 100  # more changed customers than this: "everything"

_event = tables.SQLModel.metadata.tables["activity_event"]


@dataclass(frozen=True)
class Changes:
    customer_ids: frozenset[int]
    everything: bool = False  # a bulk action, or a gap in what the feed saw

    def touches(self, customer_id: int) -> bool:
        return self.everything or customer_id in self.customer_ids

    def touches_any(self, customer_ids: Any) -> bool:
        return self.everything or not self.customer_ids.isdisjoint(customer_ids)

    @staticmethod
    def merge(parts: list[Changes]) -> Changes | None:
        if not parts:
            return None
        ids = frozenset().union(*(part.customer_ids for part in parts))
        everything = any(part.everything for part in parts) or len(ids) > MAX_IDS
        return Changes(frozenset() if everything else ids, everything)


def change_feed(engine: Engine) -> ChangeFeed:
    if engine.dialect.name == "postgresql":
        return ListeningFeed(engine)
    return PollingFeed(engine)


class ChangeFeed:
    def wait(self, timeout: float) -> Changes | None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PollingFeed(ChangeFeed):
    """SQLite: data_version on a connection of its own, then the new events' customers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection = engine.connect()
        self.version = self._data_version()
        self.last_event = self._last_event()

    def wait(self, timeout: float) -> Changes | None:
        deadline = time.monotonic() + timeout
        while True:
            version = self._data_version()
            if version != self.version:
                time.sleep(GATHER)
                self.version = self._data_version()
                return self._new_events()
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    def _data_version(self) -> int:
        return int(self.connection.exec_driver_sql("PRAGMA data_version").scalar() or 0)

    def _last_event(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.max(_event.c.id))).scalar() or 0)

    def _new_events(self) -> Changes | None:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(_event.c.id, _event.c.customer_id)
                .where(_event.c.id > self.last_event)
                .order_by(_event.c.id)
                .limit(MAX_IDS * 10)
            ).all()
        if not rows:
            return None  # a commit that changed no customer (an audit entry, a search)
        self.last_event = rows[-1].id
        if len(rows) == MAX_IDS * 10:
            self.last_event = self._last_event()
            return Changes(frozenset(), everything=True)
        return Changes.merge([Changes(frozenset(row.customer_id for row in rows))])

    def close(self) -> None:
        self.connection.close()


class ListeningFeed(ChangeFeed):
    """PostgreSQL: LISTEN on a connection of its own (autocommit: a notification is
    delivered between transactions only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Any = None
        self.missed = False  # the connection dropped: what happened meanwhile is unknown
        self._connect()

    def _connect(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        self.connection = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
        self.connection.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> Changes | None:
        import psycopg

        try:
            if self.connection is None or self.connection.closed:
                self._connect()
                self.missed = True
            parts = self._gather(timeout)
        except psycopg.Error:
            self._drop()
            time.sleep(min(timeout, 1.0))
            return None
        if self.missed:
            self.missed = False
            parts.append(Changes(frozenset(), everything=True))
        return Changes.merge(parts)

    def _gather(self, timeout: float) -> list[Changes]:
        parts: list[Changes] = []
        for notify in self.connection.notifies(timeout=timeout, stop_after=1):
            parts.append(_parse(notify.payload))
        if parts:  # a burst: take what else arrives in a moment
            for notify in self.connection.notifies(timeout=GATHER):
                parts.append(_parse(notify.payload))
        return parts

    def _drop(self) -> None:
        try:
            if self.connection is not None:
                self.connection.close()
        except Exception:  # already gone
            pass
        self.connection = None

    def close(self) -> None:
        self._drop()


def _parse(payload: str) -> Changes:
    if payload == "*":
        return Changes(frozenset(), everything=True)
    ids = frozenset(int(part) for part in payload.split(",") if part.strip().isdigit())
    return Changes(ids)
