"""Analytics: the figures team leads read behind the queues, computed in SQL.

`compute_analytics` answers every figure of the analytics screen and of
`crm-tui analytics --json` for the customers the directory's search and filters
select, with aggregates (GROUP BY month, currency, customer...) that the database
runs: nothing per customer comes back to Python. At a million customers on SQLite
that is a few scans of indexes (migration 0006 adds the ones the lifetime values
and the customer counts read): see benchmarks/analytics.py.

Two kinds of figure (each one's exact definition is in `DEFINITIONS`, which the
help screen and the JSON output show):

- *now*: total, active and inactive customers, MRR, lifetime values and their
  distribution, segment sizes. They describe the selected customers as stored
  today; the date range does not change them.
- *over the range*: acquisition per month, growth, churn rate and payment failure
  rate. The range is a pair of inclusive UTC dates; without an end it ends
  `today`, without a start it begins with the first customer's registration.

Money is never added across currencies: every amount is an integer count of minor
units beside its ISO code, one entry per currency.

Which customers: every `customer` row the directory's search and filters match.
A merged-away customer has no row (merge.py deletes it after moving its
subscriptions and payments to the survivor, who counts them). An erased customer
keeps their row, subscriptions and payments (erasure.py: financial records stay)
and is counted like any other: the figures name nobody.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_tui.models import tables
from crm_tui.models.enums import CYCLE_MONTHS, LIVE_SUBSCRIPTION_STATUSES, PaymentStatus
from crm_tui.services.customer_summary import BILLING_STATUSES, COLLECTED_STATUSES
from crm_tui.services.database import temporary_storage_on_disk
from crm_tui.services.directory import (
    DirectoryFilters,
    DirectoryQuery,
    DirectoryService,
    SearchTerms,
)
from crm_tui.services.segments import SEGMENTS

_tables = tables.SQLModel.metadata.tables
# Aliased: the directory's selection is a SELECT from `customer` too, and the two
# must not be read as one table (correlated) when one sits inside the other.
_customer = _tables["customer"].alias("analytics_customer")
_sub, _payment = _tables["subscription"], _tables["payment"]
_segment, _member = _tables["segment"], _tables["customer_segment"]

_LIVE = sorted(status.value for status in LIVE_SUBSCRIPTION_STATUSES)
_BILLING = sorted(status.value for status in BILLING_STATUSES)
_COLLECTED = sorted(status.value for status in COLLECTED_STATUSES)

# Lower edges of the lifetime-value buckets, in minor units, on a 1-2-5 scale:
# scale-free, so one series fits cents and yen alike (1.00, 2.00, 5.00, 10.00 ...
# US dollars; 100, 200, 500 ... yen). The first bucket also holds anything below
# 100 (a payment refunded in full nets 0); the last has no upper edge.
LTV_BUCKET_EDGES: tuple[int, ...] = (
    0,
    *(step * 10**power for power in range(2, 11) for step in (1, 2, 5)),
)


# ------------------------------------------------------------------ definitions


@dataclass(frozen=True)
class Definition:
    key: str  # the figure's key in `Analytics.as_json()`
    title: str
    text: str


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "customers",
        "Customers counted",
        "Every customer the directory's search and filters select. Merged-away "
        "customers are not counted on their own: their subscriptions and payments "
        "moved to the customer they were merged into. Erased customers are counted: "
        "their subscriptions and payments are kept as financial records.",
    ),
    Definition(
        "total_customers",
        "Total customers",
        "How many customers are selected, today; the date range does not change it.",
    ),
    Definition(
        "active_customers",
        "Active customers",
        "Selected customers with at least one subscription whose status is active, "
        "trial or grace (a payment is overdue but the service goes on). A paused, "
        "cancelled or expired subscription does not count. Today; the same rule as the "
        "directory's 'active subscription' filter.",
    ),
    Definition(
        "inactive_customers",
        "Inactive customers",
        "Total customers minus active customers: those with no subscription, or only "
        "paused, cancelled or expired ones. Today.",
    ),
    Definition(
        "acquisition",
        "Customer acquisition per month",
        "New customers per calendar month (UTC): how many selected customers registered "
        "in each month of the range. The first and last months count only the days "
        "inside the range; a month without registrations counts 0.",
    ),
    Definition(
        "growth",
        "Customer growth",
        "Customers at the end of each month of the range: the selected customers "
        "registered before the month ended (the last month: before the range ended), "
        "including those registered before the range began.",
    ),
    Definition(
        "lifetime_value",
        "Average lifetime value",
        "Per currency: what the customers who paid in that currency paid in it, net, "
        "divided by how many they are (rounded half up to a minor unit). A customer's "
        "net is every collected payment (succeeded, refunded or partially refunded) less "
        "what was refunded of it; pending and failed payments count nothing. All time: "
        "the date range does not change it. Customers who never paid are not in the "
        "average. Currencies are never added together.",
    ),
    Definition(
        "lifetime_value_distribution",
        "Lifetime-value distribution",
        "Per currency, how many customers have a net paid (as in the average lifetime "
        "value) in each bucket. Buckets run on a 1-2-5 scale of minor units (below 1.00, "
        "1.00-2.00, 2.00-5.00, 5.00-10.00, ... in dollars; below 100, 100-200, ... in "
        "yen); a bucket holds its lower edge, not its upper one. Only the buckets from "
        "the lowest to the highest one holding customers are listed.",
    ),
    Definition(
        "churn_rate",
        "Churn rate",
        "Of the selected customers who had a subscription running at the start of the "
        "range, the share who had none running at its end. A subscription runs from its "
        "start until it ends: one in a live status (active, trial, grace, paused) has "
        "not ended; a cancelled or expired one ended at its end time (else its "
        "cancellation time). Customers who joined during the range are not in it. "
        "Without a start date nobody was subscribed yet, so there is no rate (null).",
    ),
    Definition(
        "payment_failure_rate",
        "Payment failure rate",
        "Of the selected customers' payment attempts made in the range and settled "
        "(succeeded, failed, refunded or partially refunded; not pending), the share "
        "that failed. A retried payment that then succeeded counts once, by its final "
        "status. No attempts: no rate (null).",
    ),
    Definition(
        "mrr",
        "Monthly recurring revenue",
        "Per currency, the sum over the selected customers' subscriptions that bill now "
        "(status active or grace; trials do not bill yet, paused ones do not bill) of "
        "the subscription's amount normalised to a month: a quarterly amount divided by "
        "3, a yearly one by 12, each rounded half up to a minor unit. Today.",
    ),
    Definition(
        "segments",
        "Segment sizes",
        "How many selected customers are in each segment (New, Loyal, At-risk, "
        "High-value, Churned, Business) as its last computation left it: the rules are "
        "in the help of segments; all zero until segments were first computed.",
    ),
)
DEFINITION_BY_KEY: dict[str, Definition] = {d.key: d for d in DEFINITIONS}


# ---------------------------------------------------------------- read models


@dataclass(frozen=True)
class MonthCount:
    month: date  # the first day of the calendar month
    customers: int


@dataclass(frozen=True)
class CurrencyAmount:
    currency: str
    amount_minor: int


@dataclass(frozen=True)
class LifetimeValue:
    """Average lifetime value in one currency."""

    currency: str
    customers: int  # who paid in this currency
    total_minor: int  # their net paid, together
    average_minor: int  # total ÷ customers, rounded half up


@dataclass(frozen=True)
class LtvBucket:
    currency: str
    low_minor: int  # included
    high_minor: int | None  # excluded; None: no upper edge
    customers: int


@dataclass(frozen=True)
class Rate:
    """`count` of `out_of`; `value` is None when `out_of` is 0."""

    count: int
    out_of: int

    @property
    def value(self) -> float | None:
        return self.count / self.out_of if self.out_of else None


@dataclass(frozen=True)
class SegmentSize:
    code: str
    name: str
    customers: int


@dataclass(frozen=True)
class Analytics:
    start: date | None  # as asked: None, from the first registration
    end: date  # as asked, or today
    total_customers: int
    active_customers: int
    inactive_customers: int
    acquisition: tuple[MonthCount, ...]
    growth: tuple[MonthCount, ...]
    lifetime_value: tuple[LifetimeValue, ...]  # one per currency, by code
    lifetime_value_distribution: tuple[LtvBucket, ...]  # by currency, then bucket
    churn: Rate
    payment_failures: Rate
    mrr: tuple[CurrencyAmount, ...]  # one per currency, by code
    segments: tuple[SegmentSize, ...]  # every segment, in display order
    # Seconds each group of figures took to compute (for the benchmark and logs).
    timings: Mapping[str, float] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict[str, Any]:
        """Every figure beside its definition, and the range (dates in ISO form)."""
        figures: dict[str, Any] = {
            "total_customers": self.total_customers,
            "active_customers": self.active_customers,
            "inactive_customers": self.inactive_customers,
            "acquisition": [_month_json(m) for m in self.acquisition],
            "growth": [_month_json(m) for m in self.growth],
            "lifetime_value": [vars(v) for v in self.lifetime_value],
            "lifetime_value_distribution": [vars(b) for b in self.lifetime_value_distribution],
            "churn_rate": _rate_json(self.churn),
            "payment_failure_rate": _rate_json(self.payment_failures),
            "mrr": [vars(m) for m in self.mrr],
            "segments": [vars(s) for s in self.segments],
        }
        return {
            "range": {"from": _iso(self.start), "to": self.end.isoformat()},
            "customers": DEFINITION_BY_KEY["customers"].text,
            "figures": {
                key: {
                    "title": DEFINITION_BY_KEY[key].title,
                    "value": value,
                    "definition": DEFINITION_BY_KEY[key].text,
                }
                for key, value in figures.items()
            },
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _month_json(month: MonthCount) -> dict[str, Any]:
    return {"month": month.month.strftime("%Y-%m"), "customers": month.customers}


def _rate_json(rate: Rate) -> dict[str, Any]:
    return {"value": rate.value, "count": rate.count, "out_of": rate.out_of}


# ---------------------------------------------------------------------- entry


def compute_analytics(
    engine: Engine,
    *,
    start: date | None,
    end: date | None,
    filters: DirectoryFilters | None = None,
    search: str = "",
    today: date,
) -> Analytics:
    """Every figure for the customers the directory's `search` and `filters` select,
    over the inclusive UTC dates `start`–`end` (see the module for what each means).
    Two read snapshots, opened together: the lifetime values (half the work at a
    million customers) on a connection of their own, in parallel with the rest, which
    halves the wait on two cores. A write committed between the two openings could
    make them differ by that write: these are statistics, not a ledger."""
    end = end or today
    if start is not None and start > end:
        raise ValueError(f"the range starts ({start}) after it ends ({end})")
    period = _Period(start, end)
    matches = _selection(engine, DirectoryQuery(search=search, filters=filters or _NO_FILTERS))
    clock = _Stopwatch()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics") as pool:
        lifetime = pool.submit(_lifetime_values_apart, engine, matches, clock)
        with _snapshot(engine) as connection:
            selected = clock.time("selection", lambda: _materialise(connection, matches))
            figures = _the_rest(connection, selected, period, clock)
        values, buckets = lifetime.result()
    total, active, acquisition, growth, churn, failures, mrr, segments = figures
    return Analytics(
        start=start,
        end=end,
        total_customers=total,
        active_customers=active,
        inactive_customers=total - active,
        acquisition=acquisition,
        growth=growth,
        lifetime_value=values,
        lifetime_value_distribution=buckets,
        churn=churn,
        payment_failures=failures,
        mrr=mrr,
        segments=segments,
        timings=clock.seconds,
    )


def _lifetime_values_apart(
    engine: Engine, matches: _Selection, clock: _Stopwatch
) -> tuple[tuple[LifetimeValue, ...], tuple[LtvBucket, ...]]:
    """The lifetime values on a snapshot of their own (see compute_analytics)."""
    with _snapshot(engine) as connection:
        selected = _materialise(connection, matches)
        return clock.time("lifetime_value", lambda: _lifetime_values(connection, selected))


def _the_rest(
    connection: Connection, selected: _Selection, period: _Period, clock: _Stopwatch
) -> tuple[Any, ...]:
    """Every figure but the lifetime values, in one snapshot."""
    total, active = clock.time("customers", lambda: _customer_counts(connection, selected))
    acquisition, growth = clock.time(
        "acquisition", lambda: _acquisition(connection, selected, period)
    )
    churn = clock.time("churn", lambda: _churn(connection, selected, period))
    failures = clock.time(
        "payment_failures", lambda: _payment_failures(connection, selected, period)
    )
    mrr = clock.time("mrr", lambda: _mrr(connection, selected))
    segments = clock.time("segments", lambda: _segment_sizes(connection, selected))
    return total, active, acquisition, growth, churn, failures, mrr, segments


_NO_FILTERS = DirectoryFilters()
# The selected customers' ids as a SELECT, or None for every customer (no clause).
_Selection = sa.Select[Any] | None
_T = TypeVar("_T")


def _selection(engine: Engine, query: DirectoryQuery) -> _Selection:
    """The directory's own matching (search index, filters, named sets), as a SELECT
    of ids that the figures' queries take as `customer_id IN (...)`."""
    if not SearchTerms.parse(query.search).text and not query.filters.active:
        return None  # everyone: an IN over the whole table would only cost time
    return DirectoryService(engine).marked_ids(query, set())


# The selected customers, written once per call: each figure's query then probes its
# key, where an `IN (the directory's SELECT)` would run the search and filters again
# in each of the seven (a quarter of a second each for a region and "active
# subscription" at a million customers).
_selected = sa.Table(
    "crm_analytics_selected",
    sa.MetaData(),
    sa.Column("customer_id", sa.Integer, primary_key=True, autoincrement=False),
    prefixes=["TEMPORARY"],
)


def _materialise(connection: Connection, matches: _Selection) -> _Selection:
    """The matches in a temporary table of the snapshot's transaction (its rollback
    drops it), as a SELECT of that table."""
    if matches is None:
        return None
    _selected.create(connection)
    ids = matches.subquery()
    distinct = sa.select(ids.c.id).distinct()  # a search may name a customer twice
    connection.execute(sa.insert(_selected).from_select(["customer_id"], distinct))
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ANALYZE {_selected.name}")  # else it guesses its size
    return sa.select(_selected.c.customer_id)


def _only(column: sa.ColumnElement[int], selected: _Selection) -> sa.ColumnElement[bool]:
    return sa.true() if selected is None else column.in_(selected)


class _Stopwatch:
    """Seconds per group of figures, as `Analytics.timings` reports them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, group: str, compute: Callable[[], _T]) -> _T:
        started = time.perf_counter()
        answer = compute()
        self.seconds[group] = time.perf_counter() - started
        return answer


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One connection reading one state of the data for the figures it computes, in a
    transaction that is rolled back: the temporary table of the selection goes with
    it, so the pooled connection comes back as it was."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ").begin()
            if (connection.dialect.server_version_info or (0,)) >= (11,):
                # Compiling these plans costs more than running them (as in segments.py).
                connection.exec_driver_sql("SET LOCAL jit = off")
            try:
                yield connection
            finally:
                connection.rollback()
            return
        with temporary_storage_on_disk(connection):  # its sorts: a third faster on disk
            # pysqlite opens no transaction for a SELECT: each would read its own state.
            connection.exec_driver_sql("BEGIN")
            try:
                yield connection
            finally:
                connection.rollback()


# ---------------------------------------------------------------------- range


@dataclass(frozen=True)
class _Period:
    start: date | None
    end: date

    @property
    def opens(self) -> datetime | None:
        return datetime.combine(self.start, datetime.min.time(), UTC) if self.start else None

    @property
    def closes(self) -> datetime:
        """The first moment after the range."""
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time(), UTC)

    def holds(self, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[bool]:
        clause = column < self.closes
        return clause if self.opens is None else sa.and_(column >= self.opens, clause)


def _months(first: date, last: date) -> list[date]:
    """The first days of the months from `first`'s to `last`'s, inclusive."""
    months: list[date] = []
    index = first.year * 12 + first.month - 1
    while (month := date(index // 12, index % 12 + 1, 1)) <= last:
        months.append(month)
        index += 1
    return months


def _month_key(connection: Connection, column: sa.ColumnElement[datetime]) -> Any:
    """'YYYY-MM' of a stored UTC time, in SQL."""
    if connection.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    # SQLite holds 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (UTCDateTime converts before it
    # stores): the first seven characters are the month, cheaper than strftime's parse.
    return sa.func.substr(column, 1, 7)


# ------------------------------------------------------------------- customers


def _customer_counts(connection: Connection, selected: _Selection) -> tuple[int, int]:
    """(total, active). Active reads the summary column customer_summary keeps."""
    row = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(
                sa.func.sum(sa.case((_customer.c.has_active_subscription, 1), else_=0)), 0
            ),
        ).where(_only(_customer.c.id, selected))
    ).one()
    return int(row[0]), int(row[1])


def _acquisition(
    connection: Connection, selected: _Selection, period: _Period
) -> tuple[tuple[MonthCount, ...], tuple[MonthCount, ...]]:
    """(new customers per month, customers at each month's end)."""
    registered = _customer.c.registered_at
    month = _month_key(connection, registered).label("month")
    per_month = {
        str(key): int(count)
        for key, count in connection.execute(
            sa.select(month, sa.func.count())
            .where(period.holds(registered), _only(_customer.c.id, selected))
            .group_by(month)
        )
    }
    before = 0
    if period.opens is not None:
        before = int(
            connection.execute(
                sa.select(sa.func.count()).where(
                    registered < period.opens, _only(_customer.c.id, selected)
                )
            ).scalar_one()
        )
    first = period.start or _first_month(per_month)
    if first is None:  # no start, and nobody registered by the end
        return (), ()
    acquisition = tuple(
        MonthCount(m, per_month.get(m.strftime("%Y-%m"), 0)) for m in _months(first, period.end)
    )
    growth: list[MonthCount] = []
    for month_count in acquisition:
        before += month_count.customers
        growth.append(MonthCount(month_count.month, before))
    return acquisition, tuple(growth)


def _first_month(per_month: Mapping[str, int]) -> date | None:
    if not per_month:
        return None
    year, month = min(per_month).split("-")
    return date(int(year), int(month), 1)


# ------------------------------------------------------------------------ money


def _lifetime_values(
    connection: Connection, selected: _Selection
) -> tuple[tuple[LifetimeValue, ...], tuple[LtvBucket, ...]]:
    """Average and distribution, from one pass: each customer's net per currency,
    counted and summed per (currency, bucket)."""
    net = sa.func.sum(_payment.c.amount_minor - _payment.c.refunded_minor).label("net")
    nets = (
        sa.select(_payment.c.customer_id, _payment.c.currency, net)
        .where(_payment.c.status.in_(_COLLECTED), _only(_payment.c.customer_id, selected))
        .group_by(_payment.c.customer_id, _payment.c.currency)
        .subquery()
    )
    bucket = _bucket_index(nets.c.net).label("bucket")
    rows = connection.execute(
        sa.select(nets.c.currency, bucket, sa.func.count(), sa.func.sum(nets.c.net)).group_by(
            nets.c.currency, bucket
        )
    ).all()
    counts: dict[str, dict[int, int]] = {}
    totals: dict[str, int] = {}
    for currency, index, customers, total in rows:
        counts.setdefault(str(currency), {})[int(index)] = int(customers)
        totals[str(currency)] = totals.get(str(currency), 0) + int(total)
    values = tuple(
        _average(currency, sum(counts[currency].values()), totals[currency])
        for currency in sorted(counts)
    )
    buckets = tuple(
        bucket for currency in sorted(counts) for bucket in _buckets(currency, counts[currency])
    )
    return values, buckets


def _bucket_index(net: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    """The index in LTV_BUCKET_EDGES of the bucket holding `net`."""
    edges = LTV_BUCKET_EDGES
    whens = [(net < _constant(edges[i + 1]), _constant(i)) for i in range(len(edges) - 1)]
    return sa.case(*whens, else_=_constant(len(edges) - 1))


def _constant(number: int) -> sa.ColumnElement[int]:
    """An integer written into the SQL, not bound: PostgreSQL would bind 5,000,000,000
    as a 32-bit integer, and must see the same expression in SELECT and GROUP BY."""
    return sa.literal_column(str(int(number)), sa.BigInteger)


def _average(currency: str, customers: int, total: int) -> LifetimeValue:
    average = (2 * total + customers) // (2 * customers)  # half up, as monthly_amount
    return LifetimeValue(currency, customers, total, average)


def _buckets(currency: str, counts: Mapping[int, int]) -> list[LtvBucket]:
    """From the lowest to the highest bucket holding customers, empty ones between."""
    edges = LTV_BUCKET_EDGES
    return [
        LtvBucket(
            currency,
            edges[index],
            edges[index + 1] if index + 1 < len(edges) else None,
            counts.get(index, 0),
        )
        for index in range(min(counts), max(counts) + 1)
    ]


def _monthly_amount(amount: sa.ColumnElement[int], cycle: sa.ColumnElement[str]) -> Any:
    """customer_summary.monthly_amount in SQL: per subscription, rounded half up."""
    wide = sa.cast(amount, sa.BigInteger)  # amount × 2 must not overflow a 32-bit integer
    whens = [
        (cycle == str(name), (wide * 2 + months) // (2 * months))
        for name, months in CYCLE_MONTHS.items()
    ]
    return sa.case(*whens, else_=None)


def _mrr(connection: Connection, selected: _Selection) -> tuple[CurrencyAmount, ...]:
    monthly = sa.func.sum(_monthly_amount(_sub.c.amount_minor, _sub.c.cycle))
    rows = connection.execute(
        sa.select(_sub.c.currency, monthly)
        .where(_sub.c.status.in_(_BILLING), _only(_sub.c.customer_id, selected))
        .group_by(_sub.c.currency)
        .order_by(_sub.c.currency)
    )
    return tuple(CurrencyAmount(str(currency), int(amount or 0)) for currency, amount in rows)


# ------------------------------------------------------------------------ rates


def _ended_at(sub: sa.FromClause) -> sa.ColumnElement[datetime]:
    """When a subscription ended; NULL while it runs (any live status)."""
    return sa.case(
        (sub.c.status.in_(_LIVE), sa.null()),
        else_=sa.func.coalesce(sub.c.ended_at, sub.c.cancelled_at, sub.c.started_at),
    )


def _running_at(sub: sa.FromClause, moment: datetime) -> sa.ColumnElement[bool]:
    """Started at or before `moment` and not ended by then."""
    ended, at = _ended_at(sub), _moment(moment)
    return sa.and_(sub.c.started_at <= at, sa.or_(ended.is_(None), ended > at))


def _running_until(sub: sa.FromClause, moment: datetime) -> sa.ColumnElement[bool]:
    """Started before `moment` (the first moment after a range) and not ended before it."""
    ended, at = _ended_at(sub), _moment(moment)
    return sa.and_(sub.c.started_at < at, sa.or_(ended.is_(None), ended >= at))


def _moment(value: datetime) -> sa.ColumnElement[datetime]:
    """A bound time stored as the columns store it (SQLite compares them as text)."""
    return sa.literal(value, _sub.c.started_at.type)


def _churn(connection: Connection, selected: _Selection, period: _Period) -> Rate:
    """The customers with a subscription running at the start, each then probed (by
    the customer_id index) for one still running at the close: any of theirs, so
    that one started during the range (a plan change) keeps them. Cheaper than
    grouping every subscription by customer, which reads them all."""
    if period.opens is None:
        return Rate(0, 0)
    subscribed = (
        sa.select(_sub.c.customer_id)
        .where(_running_at(_sub, period.opens), _only(_sub.c.customer_id, selected))
        .distinct()
        .subquery()
    )
    later = _sub.alias("later")
    stayed = sa.exists().where(
        later.c.customer_id == subscribed.c.customer_id, _running_until(later, period.closes)
    )
    row = connection.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((stayed, 0), else_=1)), 0)
        ).select_from(subscribed)
    ).one()
    return Rate(count=int(row[1]), out_of=int(row[0]))


def _payment_failures(connection: Connection, selected: _Selection, period: _Period) -> Rate:
    failed = sa.case((_payment.c.status == PaymentStatus.FAILED.value, 1), else_=0)
    row = connection.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(failed), 0)).where(
            _payment.c.status != PaymentStatus.PENDING.value,
            period.holds(_payment.c.created_at),
            _only(_payment.c.customer_id, selected),
        )
    ).one()
    return Rate(count=int(row[1]), out_of=int(row[0]))


# --------------------------------------------------------------------- segments


def _segment_sizes(connection: Connection, selected: _Selection) -> tuple[SegmentSize, ...]:
    counts = {
        str(code): int(count)
        for code, count in connection.execute(
            sa.select(_segment.c.code, sa.func.count())
            .join(_member, _member.c.segment_id == _segment.c.id)
            .where(_only(_member.c.customer_id, selected))
            .group_by(_segment.c.code)
        )
    }
    return tuple(SegmentSize(code, name, counts.get(code, 0)) for code, name in SEGMENTS.items())
