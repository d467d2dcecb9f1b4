"""Segments: New, Loyal, At-risk, High-value, Churned and Business, kept in SQL.

Membership is stored in `customer_segment` (one row per customer and segment, its
`computed_at` the moment the customer entered it) so that a live count, a
directory filter and a profile badge are each one indexed read. The rules:

- **New**: registered in the last `new_days` days (30).
- **Loyal**: subscribed for `loyal_months` months (6) or more with no failed
  payment in that time: a live subscription now (active, trial, grace, paused),
  a subscription that was running at the cut-off (started on or before it and
  live now or ended after it: an upgrade keeps a customer loyal), and no payment
  that failed since the cut-off. The cut-off is the same day and time
  `loyal_months` calendar months ago (clamped to the end of a shorter month).
- **At-risk**, any of:
  a payment that failed in the last `at_risk_failed_payment_days` days (60);
  a live subscription set to cancel at its period's end (`cancel_at_period_end`);
  usage down by `at_risk_usage_drop_percent` (50) or more: on a live subscription,
  for one metric, the last complete month's quantity is at most half (100 - 50 %)
  the average of the `at_risk_usage_months` (3) months before it, all of which
  were reported and not all zero. The current month is not compared: it is not
  over.
- **High-value**: the top `high_value_percent` (10) by lifetime value
  (`customer.ltv_minor`) of all customers. The rank is k = floor(n × 10 / 100)
  of n customers (20 → 2; fewer than 10 → nobody); the threshold is the k-th
  highest LTV, and every customer with an LTV at or above it (and above zero) is
  a member. Ties at the threshold are all in, so the segment can hold more
  than k. LTVs are compared as minor units, whatever their currency (as the
  directory's LTV sort and filter do).
- **Churned**: no live subscription, and a subscription cancelled (status
  `cancelled`) whose end (`ended_at`, else `cancelled_at`) lies in the last
  `churned_days` days (90). Expired contracts are not cancellations.
- **Business**: `customer.kind` is business.

Keeping current:

- `recompute_all(now)` computes every rule with set-based SQL (INSERT … SELECT
  into a temporary table), then applies the difference to `customer_segment`
  (DELETE … WHERE NOT EXISTS, INSERT … SELECT … ON CONFLICT DO NOTHING) in one
  transaction: readers see the old segments or the new ones, never a mix, and a
  run that changes little writes little. Computing is the long part (seconds at
  a million customers), so it is kept out of the way of other writers: on
  SQLite it reads one snapshot without the write lock and takes the lock only to
  apply, computing again under it if another connection committed meanwhile; on
  PostgreSQL it runs in REPEATABLE READ, locking the segment rows only to apply.
  New and Churned move with the clock alone, so it is meant to run at start-up
  and now and then (`recompute_if_stale`; benchmarks/segments_recompute.py says
  what it costs). The thresholds in force are stored in `segment.rule`, with
  the time of the run.
- `refresh_customer(connection, customer_id, now)` recomputes one customer, in
  the caller's transaction. `customer_summary.refresh_summary`, which every
  service that changes subscriptions or payments calls, calls it last. It uses
  the thresholds stored by the last `recompute_all`, and does nothing until one
  has run (segments not computed yet stay empty rather than half-filled).
- High-value's threshold belongs to everyone: one customer's LTV moving can move
  it and so move others in or out. `refresh_customer` keeps the rank k of the
  last full run (the customer count does not change when a payment does) and the
  threshold it led to. A customer outside the segment whose LTV stays under the
  threshold cannot move it: nothing more is done. Otherwise the segment row is
  locked (PostgreSQL: FOR UPDATE, so two such refreshes take turns), the k-th
  highest LTV is read again (one walk of the LTV index), and only the customers
  whose LTV lies between the old and the new threshold are moved in or out (a
  range of the same index), then the new threshold is stored. New customers
  change n, and so k, at the next `recompute_all`.
"""

from __future__ import annotations

import calendar
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import (
    LIVE_SUBSCRIPTION_STATUSES,
    CustomerKind,
    PaymentStatus,
    SubscriptionStatus,
)
from crm_tui.services.sql_inserts import insert_ignoring_duplicates

if TYPE_CHECKING:
    from crm_tui.config import Settings

# The segments, in the order badges and counts list them: code → name.
SEGMENTS: dict[str, str] = {
    "new": "New",
    "loyal": "Loyal",
    "at_risk": "At-risk",
    "high_value": "High-value",
    "churned": "Churned",
    "business": "Business",
}
CODES = tuple(SEGMENTS)

_T = tables.SQLModel.metadata.tables
_customer, _sub, _payment, _usage = _T["customer"], _T["subscription"], _T["payment"], _T["usage"]
_segment, _member = _T["segment"], _T["customer_segment"]

_LIVE = sorted(status.value for status in LIVE_SUBSCRIPTION_STATUSES)
_FAILED = PaymentStatus.FAILED.value
_CANCELLED = SubscriptionStatus.CANCELLED.value

# A temporary table holding one run's answer before it is applied: (slot, customer),
# the slot being the segment's place in CODES (the segment rows may not exist yet).
_fresh = sa.Table(
    "crm_segment_fresh",
    sa.MetaData(),
    sa.Column("slot", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.Integer, primary_key=True),
    prefixes=["TEMPORARY"],
    sqlite_with_rowid=False,
)
_SLOT = {code: slot for slot, code in enumerate(CODES)}


class UnknownSegment(ValueError):
    """A segment code nobody defined."""


# ------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class SegmentRules:
    """The thresholds of the rules ([segments] in config.toml; the defaults of the issue)."""

    new_days: int = 30
    loyal_months: int = 6
    at_risk_failed_payment_days: int = 60
    at_risk_usage_drop_percent: int = 50
    at_risk_usage_months: int = 3
    high_value_percent: int = 10
    churned_days: int = 90

    @classmethod
    def from_settings(cls, settings: Settings) -> SegmentRules:
        """The `segments_*` fields of `crm_tui.config.Settings`."""
        return cls(**{f.name: int(getattr(settings, f"segments_{f.name}")) for f in fields(cls)})

    def stored(self, code: str) -> dict[str, Any]:
        """What `segment.rule` says about the rule of `code`: its own thresholds."""
        return {name: getattr(self, name) for name in _RULE_FIELDS[code]}

    @classmethod
    def from_stored(cls, rules: Mapping[str, Mapping[str, Any]]) -> SegmentRules:
        """The thresholds stored by the last `recompute_all`, read back from `segment.rule`."""
        values: dict[str, Any] = {}
        for rule in rules.values():
            values.update({f.name: int(rule[f.name]) for f in fields(cls) if f.name in rule})
        return cls(**values)


# The thresholds each segment's stored rule carries.
_RULE_FIELDS: dict[str, tuple[str, ...]] = {
    "new": ("new_days",),
    "loyal": ("loyal_months",),
    "at_risk": (
        "at_risk_failed_payment_days",
        "at_risk_usage_drop_percent",
        "at_risk_usage_months",
    ),
    "high_value": ("high_value_percent",),
    "churned": ("churned_days",),
    "business": (),
}


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (31 March - 1 → 28/29 Feb)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _month_start(moment: datetime, months_back: int) -> date:
    index = moment.year * 12 + moment.month - 1 - months_back
    year, month = divmod(index, 12)
    return date(year, month + 1, 1)


def moments(rules: SegmentRules, now: datetime) -> dict[str, Any]:
    """The rules' edges at `now`: the bound parameters of their queries."""
    months = rules.at_risk_usage_months
    return {
        "new_since": now - timedelta(days=rules.new_days),
        "loyal_cutoff": months_before(now, rules.loyal_months),
        "failed_since": now - timedelta(days=rules.at_risk_failed_payment_days),
        # The last complete month (0), and the months before it (1, 2, ...).
        **{f"usage_month_{back}": _month_start(now, 1 + back) for back in range(months + 1)},
        "churned_since": now - timedelta(days=rules.churned_days),
    }


# The rule queries take their edges as bound parameters (see `moments`), so one
# statement per set of thresholds serves every `now` (and SQLAlchemy's statement
# cache); `only` adds `customer_id = :customer_id`, for refresh_customer.
_ONE: sa.BindParameter[int] = sa.bindparam("customer_id")


def _limit(select: Any, column: sa.ColumnElement[int], only: bool) -> Any:
    return select.where(column == _ONE) if only else select


def _new(rules: SegmentRules, only: bool) -> Any:
    query = sa.select(_customer.c.id).where(_customer.c.registered_at >= sa.bindparam("new_since"))
    return _limit(query, _customer.c.id, only)


def _business(rules: SegmentRules, only: bool) -> Any:
    query = sa.select(_customer.c.id).where(_customer.c.kind == CustomerKind.BUSINESS.value)
    return _limit(query, _customer.c.id, only)


def _loyal(rules: SegmentRules, only: bool) -> Any:
    """A subscription running at the cut-off (live now, or ended after it) while one is
    live now, and no failed payment since. Written from the subscription that ran at
    the cut-off, which few do: the other probes are made for those alone."""
    cutoff: sa.BindParameter[datetime] = sa.bindparam("loyal_cutoff")
    held, live = _sub.alias("held"), _sub.alias("live")
    query = sa.select(held.c.customer_id).where(
        held.c.started_at <= cutoff,
        sa.or_(
            held.c.status.in_(_LIVE),
            sa.and_(
                held.c.ended_at > cutoff,
                sa.exists().where(
                    live.c.customer_id == held.c.customer_id, live.c.status.in_(_LIVE)
                ),
            ),
        ),
        ~sa.exists().where(
            _payment.c.customer_id == held.c.customer_id,
            _payment.c.created_at >= cutoff,
            _payment.c.status == _FAILED,
        ),
    )
    return _limit(query, held.c.customer_id, only)


def _churned(rules: SegmentRules, only: bool) -> Any:
    ended, live = _sub.alias("ended"), _sub.alias("live")
    query = sa.select(ended.c.customer_id).where(
        ended.c.status == _CANCELLED,
        sa.func.coalesce(ended.c.ended_at, ended.c.cancelled_at) >= sa.bindparam("churned_since"),
        ~sa.exists().where(live.c.customer_id == ended.c.customer_id, live.c.status.in_(_LIVE)),
    )
    return _limit(query, ended.c.customer_id, only)


def _at_risk(rules: SegmentRules, only: bool) -> Any:
    failed = sa.select(_payment.c.customer_id.label("customer_id")).where(
        _payment.c.status == _FAILED, _payment.c.created_at >= sa.bindparam("failed_since")
    )
    cancelling = sa.select(_sub.c.customer_id.label("customer_id")).where(
        _sub.c.cancel_at_period_end.is_(True), _sub.c.status.in_(_LIVE)
    )
    return sa.union_all(
        _limit(failed, _payment.c.customer_id, only),
        _limit(cancelling, _sub.c.customer_id, only),
        _usage_drop(rules, only),
    )


def _usage_drop(rules: SegmentRules, only: bool) -> Any:
    """Live subscriptions whose last complete month fell by the drop against the months
    before it (per metric; each of those months reported, not all of them zero).

    One row per month, found by the unique (subscription, month, metric) index: no
    GROUP BY, whose sort costs more than these lookups on SQLite."""
    months = rules.at_risk_usage_months
    latest = _usage.alias("latest")
    query = sa.select(_sub.c.customer_id.label("customer_id")).join(
        latest,
        sa.and_(
            latest.c.subscription_id == _sub.c.id,
            latest.c.period_start == sa.bindparam("usage_month_0", type_=sa.Date),
        ),
    )
    baseline: list[Any] = []
    for back in range(1, months + 1):
        month = _usage.alias(f"month_{back}")
        query = query.join(
            month,
            sa.and_(
                month.c.subscription_id == _sub.c.id,
                month.c.period_start == sa.bindparam(f"usage_month_{back}", type_=sa.Date),
                month.c.metric == latest.c.metric,
            ),
        )
        baseline.append(month.c.quantity)
    total = sum(baseline[1:], baseline[0])
    # latest <= average × (100 - drop) / 100, in integers: no rounding at the edge.
    query = query.where(
        _sub.c.status.in_(_LIVE),
        total > 0,
        100 * months * latest.c.quantity <= (100 - rules.at_risk_usage_drop_percent) * total,
    )
    return _limit(query, _sub.c.customer_id, only)


# The rules decided customer by customer (High-value is decided against everyone).
_RULES: dict[str, Callable[[SegmentRules, bool], Any]] = {
    "new": _new,
    "loyal": _loyal,
    "at_risk": _at_risk,
    "churned": _churned,
    "business": _business,
}


@functools.lru_cache(maxsize=16)
def _customer_check(rules: SegmentRules) -> Any:
    """One customer's LTV and, per rule, whether they meet it; built once per set of
    thresholds (building it costs more than running it)."""
    checks = [
        sa.exists(sa.select(sa.literal(1)).select_from(build(rules, True).subquery())).label(code)
        for code, build in _RULES.items()
    ]
    return sa.select(_customer.c.ltv_minor, *checks).where(_customer.c.id == _ONE)


# ------------------------------------------------------------------ high value


def high_value_rank(customers: int, percent: int) -> int:
    """How many customers the top `percent` are: floor(n × percent / 100)."""
    return customers * percent // 100


def _threshold(connection: Connection, rank: int) -> int | None:
    """The rank-th highest LTV (all customers if there are fewer); None: nobody."""
    if rank <= 0:
        return None
    value = connection.execute(
        sa.select(_customer.c.ltv_minor)
        .order_by(_customer.c.ltv_minor.desc())
        .limit(1)
        .offset(rank - 1)
    ).scalar()
    if value is None:
        value = connection.execute(sa.select(sa.func.min(_customer.c.ltv_minor))).scalar()
    return None if value is None else int(value)


def _floor(threshold: int | None) -> int | None:
    """The lowest LTV that is in: the threshold, and never zero or less."""
    return None if threshold is None else max(threshold, 1)


def _high_value_members(threshold: int | None) -> sa.Select[Any]:
    floor = _floor(threshold)
    if floor is None:
        return sa.select(_customer.c.id).where(sa.false())
    return sa.select(_customer.c.id).where(_customer.c.ltv_minor >= floor)


def _ltv_between(low: int | None, high: int | None) -> sa.Select[Any]:
    """Customers with low <= LTV < high (None: unbounded)."""
    query = sa.select(_customer.c.id)
    if low is not None:
        query = query.where(_customer.c.ltv_minor >= low)
    if high is not None:
        query = query.where(_customer.c.ltv_minor < high)
    return query


def _move_boundary(
    connection: Connection, segment_id: int, old: int | None, new: int | None, now: datetime
) -> None:
    """Members of High-value after its threshold moved from `old` to `new`: only the
    customers between the two move (None: nobody was / is in)."""
    old_floor, new_floor = _floor(old), _floor(new)
    if old_floor == new_floor:
        return
    # Raised (or now nobody): those from the old floor up to the new one leave.
    if old_floor is not None and (new_floor is None or new_floor > old_floor):
        connection.execute(
            sa.delete(_member).where(
                _member.c.segment_id == segment_id,
                _member.c.customer_id.in_(_ltv_between(old_floor, new_floor)),
            )
        )
    # Lowered (or nobody was in): those from the new floor up to the old one join.
    if new_floor is not None and (old_floor is None or new_floor < old_floor):
        joining = _ltv_between(new_floor, old_floor).subquery()
        _insert_members(
            connection,
            sa.select(joining.c.id, sa.literal(segment_id), _computed_at(now)).where(sa.true()),
        )


# --------------------------------------------------------------------- writes


def _computed_at(now: datetime) -> sa.BindParameter[datetime]:
    return sa.literal(now, type_=_member.c.computed_at.type)


def _is_member(customer_id: Any, segment_id: Any) -> sa.Exists:
    return sa.exists().where(
        _member.c.customer_id == customer_id, _member.c.segment_id == segment_id
    )


def _insert_members(connection: Connection, rows: sa.Select[Any, Any, Any]) -> int:
    """Memberships (customer_id, segment_id, computed_at), skipping any that exist (a
    concurrent transaction may just have written one)."""
    return insert_ignoring_duplicates(
        connection, _member, ["customer_id", "segment_id", "computed_at"], rows
    )


def _segment_rows(connection: Connection, lock: bool = False) -> dict[str, Any]:
    query = sa.select(_segment.c.id, _segment.c.code, _segment.c.rule).where(
        _segment.c.code.in_(CODES)
    )
    if lock:
        query = query.with_for_update()
    return {row.code: row for row in connection.execute(query)}


def _store_segments(
    connection: Connection, rules: SegmentRules, now: datetime, high_value: dict[str, Any]
) -> dict[str, int]:
    """Create or update the six segment rows with the rules in force; their ids by code.
    Created in display order, so their ids sort as `SEGMENTS` does."""
    existing = _segment_rows(connection, lock=True)
    ids: dict[str, int] = {}
    for code, name in SEGMENTS.items():
        rule = rules.stored(code) | {"computed_at": now.isoformat()}
        if code == "high_value":
            rule |= high_value  # customers, rank, threshold_minor
        row = existing.get(code)
        if row is None:
            result = connection.execute(sa.insert(_segment).values(code=code, name=name, rule=rule))
            ids[code] = int(result.inserted_primary_key[0])  # type: ignore[index]
        else:
            connection.execute(
                sa.update(_segment).where(_segment.c.id == row.id).values(name=name, rule=rule)
            )
            ids[code] = int(row.id)
    return ids


# ------------------------------------------------------------------ one customer


def refresh_customer(
    connection: Connection, customer_id: int, now: datetime
) -> tuple[str, ...] | None:
    """Put one customer in exactly the segments the stored rules give them now, in the
    caller's transaction; returns their codes, or None while segments were never
    computed (no `recompute_all` yet: nothing is written). High-value: see the module."""
    stored = _segment_rows(connection)
    if len(stored) < len(CODES) or any(
        "computed_at" not in (row.rule or {}) for row in stored.values()
    ):
        return None
    rules = SegmentRules.from_stored({code: row.rule for code, row in stored.items()})
    ids = {code: int(row.id) for code, row in stored.items()}
    facts = connection.execute(
        _customer_check(rules), moments(rules, now) | {"customer_id": customer_id}
    ).first()
    if facts is None:  # no such customer (merged away): in no segment
        connection.execute(sa.delete(_member).where(_member.c.customer_id == customer_id))
        return ()
    current = {
        int(segment_id)
        for segment_id in connection.execute(
            sa.select(_member.c.segment_id).where(
                _member.c.customer_id == customer_id,
                _member.c.segment_id.in_([ids[code] for code in _RULES]),
            )
        ).scalars()
    }
    wanted = {ids[code] for code in _RULES if getattr(facts, code)}
    if current - wanted:
        connection.execute(
            sa.delete(_member).where(
                _member.c.customer_id == customer_id,
                _member.c.segment_id.in_(sorted(current - wanted)),
            )
        )
    if wanted - current:
        _insert_members(
            connection,
            sa.select(sa.literal(customer_id), _segment.c.id, _computed_at(now)).where(
                _segment.c.id.in_(sorted(wanted - current))
            ),
        )
    high_value = _refresh_high_value(
        connection, stored["high_value"], customer_id, int(facts.ltv_minor), now
    )
    return tuple(
        code for code in CODES if (code == "high_value" and high_value) or ids[code] in wanted
    )


def _refresh_high_value(
    connection: Connection, row: Any, customer_id: int, ltv: int, now: datetime
) -> bool:
    """Settle High-value after this customer's LTV may have changed; True: they are in."""
    segment_id = int(row.id)
    member = bool(connection.execute(sa.select(_is_member(customer_id, segment_id))).scalar())
    rule = dict(row.rule or {})
    old = rule.get("threshold_minor")
    if int(rule.get("rank", 0)) <= 0:
        wanted = False
    elif not member and old is not None and ltv < max(old, 1):
        # Out, and still under the threshold: the customers at or above it, and so
        # the threshold and everyone's membership, are as they were.
        return False
    else:
        # This LTV may move the threshold: one refresh at a time (PostgreSQL locks the
        # row until commit), starting from the threshold the previous one stored.
        locked = connection.execute(
            sa.select(_segment.c.rule).where(_segment.c.id == segment_id).with_for_update()
        ).scalar_one()
        rule = dict(locked or {})
        old = rule.get("threshold_minor")
        new = _threshold(connection, int(rule.get("rank", 0)))
        _move_boundary(connection, segment_id, old, new, now)
        if new != old:
            connection.execute(
                sa.update(_segment)
                .where(_segment.c.id == segment_id)
                .values(rule=rule | {"threshold_minor": new})
            )
        floor = _floor(new)
        wanted = floor is not None and ltv >= floor
        # The boundary's move may have settled this customer already.
        member = bool(connection.execute(sa.select(_is_member(customer_id, segment_id))).scalar())
    if wanted and not member:
        _insert_members(
            connection,
            sa.select(sa.literal(customer_id), sa.literal(segment_id), _computed_at(now)),
        )
    elif member and not wanted:
        connection.execute(
            sa.delete(_member).where(
                _member.c.customer_id == customer_id, _member.c.segment_id == segment_id
            )
        )
    return wanted


# --------------------------------------------------------------------- filters


def segment_members(code: str) -> sa.Select[Any]:
    """`SELECT customer_id FROM customer_segment WHERE segment_id = (the segment's id)`:
    an index range of `ix_customer_segment_segment_id`."""
    if code not in SEGMENTS:
        raise UnknownSegment(f"no segment {code!r}: use one of {', '.join(SEGMENTS)}")
    segment_id = sa.select(_segment.c.id).where(_segment.c.code == code).scalar_subquery()
    return sa.select(_member.c.customer_id).where(_member.c.segment_id == segment_id)


def segment_filter(
    code: str, customer_id: sa.ColumnElement[int] | None = None
) -> sa.ColumnElement[bool]:
    """`customer.id IN (members of the segment)`, for a WHERE. `customer_id` is the
    caller's customer id column (the directory's `table("customer", column("id"))`);
    by default the customer table's own."""
    column = _customer.c.id if customer_id is None else customer_id
    return column.in_(segment_members(code))


# --------------------------------------------------------------------- service


@dataclass(frozen=True)
class RecomputeReport:
    counts: dict[str, int]  # members per segment code, after the run
    added: int  # memberships written
    removed: int  # memberships deleted
    computed_at: datetime
    seconds: float  # the whole run
    locked_seconds: float  # of which other writers waited (SQLite) / the segment rows were locked
    high_value_threshold_minor: int | None


class SegmentService:
    def __init__(
        self,
        engine: Engine,
        rules: SegmentRules | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.rules = rules or SegmentRules()
        self.now = clock or (lambda: datetime.now(UTC))

    def recompute_all(self, now: datetime | None = None) -> RecomputeReport:
        """Every segment from scratch, applied in one transaction (see the module)."""
        moment = now or self.now()
        started = time.perf_counter()
        attempts = 3
        for attempt in range(attempts):
            try:
                if self.engine.dialect.name == "sqlite":
                    report = self._recompute_sqlite(moment)
                else:
                    report = self._recompute_snapshot(moment)
                break
            except (sa.exc.OperationalError, sa.exc.IntegrityError) as error:
                if attempt == attempts - 1 or not _worth_retrying(error):
                    raise
        return RecomputeReport(**(report | {"seconds": time.perf_counter() - started}))

    def _recompute_snapshot(self, now: datetime) -> dict[str, Any]:
        """PostgreSQL: one REPEATABLE READ transaction, so every rule reads one snapshot
        and a membership a concurrent refresh_customer wrote after it is left alone (a
        clash on the same row is a serialization failure: the run is tried again)."""
        with (
            self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            conn.begin(),
        ):
            if (conn.dialect.server_version_info or (0,)) >= (11,):
                # JIT compiling these plans costs more than running them (~1 s of it).
                conn.exec_driver_sql("SET LOCAL jit = off")
            _fresh.create(conn)
            high_value = self._fill(conn, now)
            conn.exec_driver_sql(f"ANALYZE {_fresh.name}")
            locked = time.perf_counter()  # the segment rows are locked from here on
            report = self._apply(conn, now, high_value)
            _fresh.drop(conn)
        return report | {"locked_seconds": time.perf_counter() - locked}

    def _recompute_sqlite(self, now: datetime) -> dict[str, Any]:
        """SQLite: the rules are computed from one read snapshot without the write lock
        (other connections keep writing meanwhile), then the lock is taken (BEGIN
        IMMEDIATE) and the difference applied. If another connection committed in
        between (`PRAGMA data_version` moved), the rules are computed again under the
        lock: what is applied always matches one state of the data."""
        with self.engine.connect() as conn:
            version = _data_version(conn)
            conn.commit()
            _fresh.create(conn)
            conn.commit()
            try:
                conn.exec_driver_sql("BEGIN")  # one snapshot for every rule
                high_value = self._fill(conn, now)
                conn.commit()
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                locked = time.perf_counter()
                if _data_version(conn) != version:
                    conn.execute(sa.delete(_fresh))
                    high_value = self._fill(conn, now)
                report = self._apply(conn, now, high_value)
                conn.commit()
                report["locked_seconds"] = time.perf_counter() - locked
            finally:
                conn.rollback()
                _fresh.drop(conn)
                conn.commit()
        return report

    def _fill(self, connection: Connection, now: datetime) -> dict[str, Any]:
        """Every rule's members into the temporary table; High-value's rank and threshold.
        A rule may name a customer twice (two subscriptions): the table's key keeps one."""
        rules = self.rules
        edges = moments(rules, now)
        for code, build in _RULES.items():
            answer = build(rules, False).subquery()
            insert_ignoring_duplicates(
                connection,
                _fresh,
                ["slot", "customer_id"],
                sa.select(sa.literal(_SLOT[code]), next(iter(answer.c))).where(sa.true()),
                edges,
            )
        customers = int(
            connection.execute(sa.select(sa.func.count()).select_from(_customer)).scalar_one()
        )
        rank = high_value_rank(customers, rules.high_value_percent)
        threshold = _threshold(connection, rank)
        members = _high_value_members(threshold).subquery()
        connection.execute(
            sa.insert(_fresh).from_select(
                ["slot", "customer_id"],
                sa.select(sa.literal(_SLOT["high_value"]), members.c.id),
            )
        )
        return {"customers": customers, "rank": rank, "threshold_minor": threshold}

    def _apply(
        self, connection: Connection, now: datetime, high_value: dict[str, Any]
    ) -> dict[str, Any]:
        """Make `customer_segment` what the temporary table says, segment by segment."""
        ids = _store_segments(connection, self.rules, now, high_value)
        removed = added = 0
        for code, segment_id in ids.items():
            still_in = sa.exists().where(
                _fresh.c.slot == _SLOT[code], _fresh.c.customer_id == _member.c.customer_id
            )
            removed += int(
                connection.execute(
                    sa.delete(_member).where(_member.c.segment_id == segment_id, ~still_in)
                ).rowcount
                or 0
            )
            # Those already in are skipped by the key (ON CONFLICT DO NOTHING: one index
            # probe each). Not with NOT EXISTS: PostgreSQL plans that anti-join as a
            # nested loop over the table being written when its statistics say it is
            # empty (the first run), which is quadratic.
            added += _insert_members(
                connection,
                sa.select(_fresh.c.customer_id, sa.literal(segment_id), _computed_at(now)).where(
                    _fresh.c.slot == _SLOT[code]
                ),
            )
        by_slot = {
            int(slot): int(count)
            for slot, count in connection.execute(
                sa.select(_fresh.c.slot, sa.func.count()).group_by(_fresh.c.slot)
            )
        }
        return {
            "counts": {code: by_slot.get(_SLOT[code], 0) for code in CODES},
            "added": added,
            "removed": removed,
            "computed_at": now,
            "high_value_threshold_minor": high_value["threshold_minor"],
        }

    def refresh_customer(self, customer_id: int, now: datetime | None = None) -> tuple[str, ...]:
        """`refresh_customer` in a transaction of its own; () while never computed."""
        with self.engine.begin() as connection:
            return refresh_customer(connection, customer_id, now or self.now()) or ()

    def counts(self) -> dict[str, int]:
        """Members per segment code (0 for all while never computed): one count per
        segment over the `segment_id` index."""
        with self.engine.connect() as connection:
            ids = {code: int(row.id) for code, row in _segment_rows(connection).items()}
            return {
                code: int(
                    connection.execute(
                        sa.select(sa.func.count())
                        .select_from(_member)
                        .where(_member.c.segment_id == ids[code])
                    ).scalar_one()
                )
                if code in ids
                else 0
                for code in CODES
            }

    def segments_of(self, customer_id: int) -> tuple[str, ...]:
        """The customer's segment codes, in display order (for the profile's badge)."""
        with self.engine.connect() as connection:
            codes = set(
                connection.execute(
                    sa.select(_segment.c.code)
                    .join(_member, _member.c.segment_id == _segment.c.id)
                    .where(_member.c.customer_id == customer_id)
                ).scalars()
            )
        return tuple(code for code in CODES if code in codes)

    def computed_at(self) -> datetime | None:
        """When the last `recompute_all` ran (None: never)."""
        with self.engine.connect() as connection:
            stored = _segment_rows(connection)
        moments = [
            datetime.fromisoformat(row.rule["computed_at"])
            for row in stored.values()
            if "computed_at" in (row.rule or {})
        ]
        return min(moments) if len(moments) == len(CODES) else None

    def recompute_if_stale(
        self, max_age: timedelta, now: datetime | None = None
    ) -> RecomputeReport | None:
        """`recompute_all` if it never ran, ran more than `max_age` ago, or with other
        thresholds than these: what start-up and a periodic timer call."""
        moment = now or self.now()
        last = self.computed_at()
        if last is not None and moment - last <= max_age and self._rules_in_force():
            return None
        return self.recompute_all(moment)

    def _rules_in_force(self) -> bool:
        with self.engine.connect() as connection:
            stored = _segment_rows(connection)
        return all(
            {k: (row.rule or {}).get(k) for k in self.rules.stored(code)} == self.rules.stored(code)
            for code, row in stored.items()
        )


def _data_version(connection: Connection) -> int:
    """SQLite's count of commits by other connections (PRAGMA data_version)."""
    return int(connection.exec_driver_sql("PRAGMA data_version").scalar_one())


def _worth_retrying(error: sa.exc.DBAPIError) -> bool:
    """A deadlock or serialization failure (PostgreSQL), a busy SQLite file, or the
    segment rows created by another first run at the same moment."""
    original = error.orig
    if isinstance(error, sa.exc.IntegrityError):
        return "segment" in str(original) and "code" in str(original)
    if getattr(original, "sqlstate", None) in {"40P01", "40001"}:
        return True
    return "database is locked" in str(original)
