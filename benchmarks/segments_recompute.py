"""Segments: what `SegmentService.recompute_all` costs on 100,000 and 1,000,000 customers.

    .venv/bin/python benchmarks/segments_recompute.py                     # 100k and 1M, SQLite
    .venv/bin/python benchmarks/segments_recompute.py --customers 100000  # one size
    .venv/bin/python benchmarks/segments_recompute.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/segments_recompute.py --json              # machine-readable

Data: the demo seeder's customers (benchmarks/.data/segments-N.sqlite3, seeded the
first time — a million takes a few minutes — and reused while it holds N
customers; with --postgres, a database `crm_bench_segments_N` on that server), plus
what the seeder leaves out: monthly usage for every live subscription, the last
`USAGE_MONTHS` months before the data's "now" (the seeder's as-of day), flat with
a small wobble, and the last complete month down by two thirds on one in 25, so
that the usage rule has a real table to read.

Figures (the data's "now" is the seeder's as-of day, 2026-11-01):

- first run: `recompute_all` with `customer_segment` emptied first — every
  membership written (the first start of the app on an existing database);
  beside each run, how long of it other writers had to wait (SQLite: the write
  lock, taken only to apply the difference; PostgreSQL: the segment rows);
- steady run: the same again, nothing to change — what a periodic run costs;
- next day: one day later, New and Churned lose and gain a few;
- counts(): the six live counts (p50 of 5);
- segments_of(): one customer's codes, for the profile badge (p50 of 50);
- refresh_customer: one customer, as `refresh_summary` calls it, in its own
  transaction: customers outside High-value (p50 / p95 of 50), and High-value
  members, whose refresh reads the threshold again (p50 / p95 of 50);
- filter count: `SELECT count(*) FROM customer WHERE segment_filter('at_risk')`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file from a checkout
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from benchmarks.directory import (  # noqa: E402
    DATA_DIR,
    ensure_database,
    log,
    median,
    percentile,
    sqlite_url,
)

SIZES = (100_000, 1_000_000)
USAGE_MONTHS = 6  # the last complete month and the five before it
NOW = datetime(2026, 11, 1, tzinfo=UTC)  # demo_seed.DEFAULT_AS_OF


# ------------------------------------------------------------------------ the data


def _month_start(moment: datetime, back: int) -> date:
    index = moment.year * 12 + moment.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def ensure_usage(engine: Engine) -> int:
    """Usage rows for every live subscription, unless the database has them already."""
    from crm_tui.models import tables
    from crm_tui.models.enums import LIVE_SUBSCRIPTION_STATUSES

    meta = tables.SQLModel.metadata.tables
    usage, sub, plan = meta["usage"], meta["subscription"], meta["plan"]
    with engine.connect() as connection:
        present = connection.execute(sa.select(sa.func.count()).select_from(usage)).scalar_one()
    if present > 1000:  # more than the showcase customers' own
        return present
    log("adding usage rows for the live subscriptions …")
    started = time.perf_counter()
    live = sorted(status.value for status in LIVE_SUBSCRIPTION_STATUSES)
    base = 20 + (sub.c.id * 37) % 180
    with engine.begin() as connection:
        for back in range(1, USAGE_MONTHS + 1):
            wobble = (sub.c.id + back) % 7
            quantity = base + wobble
            if back == 1:  # the last complete month: one subscription in 25 falls
                quantity = sa.case((sub.c.id % 25 == 0, base / 3), else_=base + wobble)
            connection.execute(
                sa.insert(usage).from_select(
                    ["subscription_id", "period_start", "metric", "quantity"],
                    sa.select(
                        sub.c.id,
                        sa.literal(_month_start(NOW, back), sa.Date),
                        plan.c.usage_metric,
                        quantity,
                    )
                    .join(plan, plan.c.id == sub.c.plan_id)
                    .where(sub.c.status.in_(live))
                    .where(
                        ~sa.exists().where(
                            usage.c.subscription_id == sub.c.id,
                            usage.c.period_start == _month_start(NOW, back),
                        )
                    ),
                )
            )
        connection.exec_driver_sql("ANALYZE usage")
    with engine.connect() as connection:
        rows = int(connection.execute(sa.select(sa.func.count()).select_from(usage)).scalar_one())
    log(f"  {rows:,} usage rows in {time.perf_counter() - started:.1f} s")
    return rows


def ensure_postgres(server_url: str, customers: int) -> str:
    """A database on the server holding `customers` demo customers; its URL."""
    from crm_tui.services.database import create_db_engine, upgrade
    from crm_tui.services.demo_seed import seed_demo

    name = f"crm_bench_segments_{customers}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).scalar()
        count = None
        if exists:
            engine = create_db_engine(url)
            with contextlib.suppress(sa.exc.DBAPIError), engine.connect() as db:
                count = db.execute(sa.text("SELECT count(*) FROM customer")).scalar()
            engine.dispose()
        if count != customers:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    if count != customers:
        engine = create_db_engine(url)
        upgrade(engine)
        log(f"seeding {customers:,} customers into PostgreSQL database {name} …")
        started = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] >= 10 or done >= total:
                last[0] = time.perf_counter()
                log(f"  seeding {name}: {done:,}/{total:,} customers")

        seed_demo(engine, customers, seed=1, progress=progress)
        log(f"  seeded in {time.perf_counter() - started:.1f} s")
        engine.dispose()
    return url


# ------------------------------------------------------------------- measuring


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def samples(call: Callable[[Any], Any], items: list[Any]) -> list[float]:
    return [timed(lambda item=item: call(item))[0] * 1000 for item in items]


def measure(url: str, customers: int) -> dict[str, Any]:
    from crm_tui.services import segments
    from crm_tui.services.database import create_db_engine
    from crm_tui.services.segments import SegmentService, segment_filter

    engine = create_db_engine(url)
    usage_rows = ensure_usage(engine)
    customer = sa.table("customer", sa.column("id"))
    service = SegmentService(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM customer_segment"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE customer_segment")
    log(f"{engine.dialect.name}, {customers:,} customers: first run …")
    first = service.recompute_all(NOW)
    log(f"  {first.seconds:.2f} s, {first.added:,} memberships written")
    steady = service.recompute_all(NOW)
    next_day = service.recompute_all(NOW + timedelta(days=1))
    counts_ms = samples(lambda _: service.counts(), list(range(5)))

    rng = random.Random(7)
    with engine.connect() as connection:
        top = max(connection.execute(sa.text("SELECT max(id) FROM customer")).scalar_one(), 1)
        high_value = list(
            connection.execute(segments.segment_members("high_value").limit(5000)).scalars()
        )
        in_high_value = set(high_value)
    ordinary = [i for i in (rng.randint(1, top) for _ in range(200)) if i not in in_high_value]
    ordinary = ordinary[:50]
    members = rng.sample(high_value, min(50, len(high_value)))
    badge_ms = samples(service.segments_of, ordinary)

    def refresh(customer_id: int) -> None:
        with engine.begin() as connection:
            segments.refresh_customer(connection, customer_id, NOW + timedelta(days=1))

    refresh_ms = samples(refresh, ordinary)
    refresh_hv_ms = samples(refresh, members)
    with engine.connect() as connection:
        filter_s, at_risk = timed(
            lambda: connection.execute(
                sa.select(sa.func.count())
                .select_from(customer)
                .where(segment_filter("at_risk", customer.c.id))
            ).scalar_one()
        )
    engine.dispose()
    return {
        "engine": make_url(url).get_backend_name(),
        "customers": customers,
        "usage_rows": usage_rows,
        "first_run_s": first.seconds,
        "first_run_locked_s": first.locked_seconds,
        "first_run_written": first.added,
        "steady_run_s": steady.seconds,
        "steady_run_locked_s": steady.locked_seconds,
        "next_day_s": next_day.seconds,
        "next_day_locked_s": next_day.locked_seconds,
        "next_day_added": next_day.added,
        "next_day_removed": next_day.removed,
        "counts": next_day.counts,
        "high_value_threshold_minor": next_day.high_value_threshold_minor,
        "counts_ms_p50": median(counts_ms),
        "segments_of_ms_p50": median(badge_ms),
        "refresh_customer_ms_p50": median(refresh_ms),
        "refresh_customer_ms_p95": percentile(refresh_ms, 0.95),
        "refresh_high_value_ms_p50": median(refresh_hv_ms),
        "refresh_high_value_ms_p95": percentile(refresh_hv_ms, 0.95),
        "filter_count_ms": filter_s * 1000,
        "filter_count": at_risk,
    }


def render(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        counts = ", ".join(f"{code} {count:,}" for code, count in r["counts"].items())
        lines += [
            f"{r['engine']}, {r['customers']:,} customers ({r['usage_rows']:,} usage rows)",
            f"  recompute_all, first run     {r['first_run_s']:8.2f} s"
            f"   locked {r['first_run_locked_s']:.2f} s   ({r['first_run_written']:,} written)",
            f"  recompute_all, steady run    {r['steady_run_s']:8.2f} s"
            f"   locked {r['steady_run_locked_s']:.2f} s   (nothing changed)",
            f"  recompute_all, next day      {r['next_day_s']:8.2f} s"
            f"   locked {r['next_day_locked_s']:.2f} s"
            f"   (+{r['next_day_added']:,} / -{r['next_day_removed']:,})",
            f"  counts()                     {r['counts_ms_p50']:8.1f} ms  p50",
            f"  segments_of()                {r['segments_of_ms_p50']:8.2f} ms  p50",
            f"  refresh_customer             {r['refresh_customer_ms_p50']:8.2f} ms  p50"
            f"   {r['refresh_customer_ms_p95']:.2f} ms p95",
            f"  refresh_customer, High-value {r['refresh_high_value_ms_p50']:8.2f} ms  p50"
            f"   {r['refresh_high_value_ms_p95']:.2f} ms p95",
            f"  count with segment_filter    {r['filter_count_ms']:8.1f} ms"
            f"   (at_risk: {r['filter_count']:,})",
            f"  segments: {counts}",
            f"  High-value from an LTV of {r['high_value_threshold_minor']:,} minor units",
            "",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--customers",
        type=int,
        nargs="+",
        default=list(SIZES),
        metavar="N",
        help="sizes to measure (default 100000 1000000)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="measure on this PostgreSQL server instead (a database per size is made there)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = []
    for customers in args.customers:
        if args.postgres:
            url = ensure_postgres(args.postgres, customers)
        else:
            path = DATA_DIR / f"segments-{customers}.sqlite3"
            ensure_database(path, customers)
            url = sqlite_url(path)
        results.append(measure(url, customers))
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
