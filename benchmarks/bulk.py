"""Bulk tagging and assigning (issue 5): the budget is 100,000 customers tagged in ≤ 5 s.

    .venv/bin/python benchmarks/bulk.py                       # 100,000 customers, SQLite
    .venv/bin/python benchmarks/bulk.py --customers 1000000   # a bigger base, same marks
    .venv/bin/python benchmarks/bulk.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/bulk.py --json

Data: the demo seeder's customers (benchmarks/.data/directory-N.sqlite3, shared with
benchmarks/directory.py; with --postgres, the database `crm_bench_segments_N` of
benchmarks/segments_recompute.py). Each run works on a copy of the SQLite file, or
removes what it wrote from PostgreSQL afterwards.

What is timed, through `BulkEditService` exactly as the `t` and `a` dialogs call it,
with the marks as `ctrl+a` makes them (every match of a query, never a list of ids):

- preview: the dry run of tagging every customer (counts and examples);
- tag all: `add_tag` over every customer of the base (100,000 by default): the
  selection copied into a temporary table, tags and one activity event per
  customer written in chunks of 5,000, one audit entry, one commit;
- tag a search: every match of a common surname (the search runs once, in SQL);
- assign all: `assign` of every customer to one agent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file from a checkout
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from benchmarks.directory import database_path, ensure_database, log, sqlite_url  # noqa: E402
from benchmarks.segments_recompute import ensure_postgres  # noqa: E402

BUDGET_TAG_S = 5.0
SEARCH = "smith"


def _timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def _cleanup_postgres(url: str, tags: list[str]) -> None:
    """Take back what the runs wrote (the tags, their events, the audit entries)."""
    from crm_tui.models import tables

    t = tables.SQLModel.metadata.tables
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tag_ids = sa.select(t["tag"].c.id).where(t["tag"].c.name.in_(tags))
        connection.execute(
            sa.delete(t["customer_tag"]).where(t["customer_tag"].c.tag_id.in_(tag_ids))
        )
        connection.execute(sa.delete(t["tag"]).where(t["tag"].c.name.in_(tags)))
        events = t["activity_event"]
        connection.execute(sa.delete(events).where(events.c.details["bulk"].as_boolean()))
        connection.execute(sa.update(t["customer"]).values(assigned_agent_id=None))
        connection.execute(sa.delete(t["audit_entry"]))
    engine.dispose()


def measure(url: str) -> dict[str, Any]:
    from crm_tui.services.actor import Actor
    from crm_tui.services.agents import register_agent
    from crm_tui.services.bulk_edit import BulkEditService
    from crm_tui.services.database import create_db_engine, upgrade
    from crm_tui.services.directory import DirectoryQuery, DirectoryService

    load_average = os.getloadavg()  # figures move with the machine's load
    engine = create_db_engine(url)
    upgrade(engine)  # a database seeded by an older build
    actor = register_agent(engine, Actor.agent("bench", display_name="Bench Agent"))
    directory = DirectoryService(engine)
    service = BulkEditService(engine)
    everyone = directory.marked_ids(DirectoryQuery(), set())
    matches = directory.marked_ids(DirectoryQuery(search=SEARCH), set())
    stamp = str(int(time.time()))
    tags = [f"bench-all-{stamp}", f"bench-search-{stamp}"]
    try:
        preview_s, preview = _timed(lambda: service.tag_preview(everyone, tags[0]))
        tag_s, tagged = _timed(lambda: service.add_tag(everyone, tags[0], actor))
        search_s, searched = _timed(lambda: service.add_tag(matches, tags[1], actor))
        assign_s, assigned = _timed(lambda: service.assign(everyone, "bench", actor))
    finally:
        if engine.dialect.name == "postgresql":
            _cleanup_postgres(url, tags)
        engine.dispose()
    return {
        "database": engine.dialect.name,
        "load_average": load_average,
        "customers": preview.marked,
        "preview_s": preview_s,
        "tag_all_s": tag_s,
        "tag_all_changed": tagged.changed,
        "tag_search_s": search_s,
        "tag_search_changed": searched.changed,
        "assign_all_s": assign_s,
        "assign_all_changed": assigned.changed,
    }


def render(result: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in result["load_average"])
    tag_rate = result["tag_all_changed"] / max(result["tag_all_s"], 1e-9)
    verdict = "within" if result["tag_all_s"] <= BUDGET_TAG_S else "OVER"
    return "\n".join(
        [
            f"Bulk actions on {result['customers']:,} customers ({result['database']}),"
            f" load average before: {load}",
            f"  preview (dry run, every customer)   {result['preview_s']:7.2f} s",
            f"  tag all                             {result['tag_all_s']:7.2f} s"
            f"  {result['tag_all_changed']:,} tagged, {tag_rate:,.0f}/s"
            f"  (budget ≤ {BUDGET_TAG_S:.0f} s: {verdict})",
            f"  tag every match of {SEARCH!r:<16} {result['tag_search_s']:7.2f} s"
            f"  {result['tag_search_changed']:,} tagged",
            f"  assign all                          {result['assign_all_s']:7.2f} s"
            f"  {result['assign_all_changed']:,} assigned",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.postgres:
        result = measure(ensure_postgres(args.postgres, args.customers))
    else:
        source = database_path(args.customers)
        ensure_database(source, args.customers)
        with tempfile.TemporaryDirectory(prefix="crm-bulk-") as folder:
            copy = Path(folder) / "bulk.sqlite3"
            log(f"copying {source.name} …")
            shutil.copyfile(source, copy)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
            result = measure(sqlite_url(copy))
    print(json.dumps(result) if args.json else render(result))
    return 0 if result["tag_all_s"] <= BUDGET_TAG_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
