"""Customer CSV export (issue 5): time and peak memory of exporting a million customers.

    .venv/bin/python benchmarks/export_csv.py                      # 1,000,000, then 100,000
    .venv/bin/python benchmarks/export_csv.py --quick              # 100,000 only
    .venv/bin/python benchmarks/export_csv.py --customers 250000   # N, then 100,000
    .venv/bin/python benchmarks/export_csv.py --json

Data: the demo seeder's customers in benchmarks/.data/directory-N.sqlite3, made and
reused by benchmarks/directory.py (`ensure_database`: seeded on first use, about
three minutes for a million). The export writes an activity event per customer
and an audit entry, so each run works on a copy of that file, removed afterwards.

Each export runs in a fresh child process, exactly as the `e` dialog and
`crm-tui export customers` call it: `CustomerExport.write` over every customer
(`marked_ids` of the empty query), to a file in a temporary folder. Figures:

- preview: the dry run (count and the first two rows);
- total, split into: copying the selected ids into the temporary table, writing
  the rows (keyset chunks of 5,000, CSV, fsync), and recording (one activity
  event per customer and one audit entry in one transaction, then the rename);
- rows per second over the total;
- the peak RSS of the exporting child, taken by the parent from the kernel
  (`os.wait4`, that child's own `ru_maxrss`), beside the child's RSS just before
  the export began (Python, SQLAlchemy and the models loaded): the difference is
  what the export itself holds. Run at two sizes, it shows memory flat in the
  number of customers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file from a checkout
    sys.path.insert(0, str(ROOT))

from benchmarks.directory import (  # noqa: E402
    MB,
    database_path,
    emit,
    ensure_database,
    log,
    memory,
    sqlite_url,
)

SMALL = 100_000  # the second size, for flatness


# -------------------------------------------------------------------- the child


def child_export(database: Path, out: Path) -> None:
    """Export every customer of `database` to `out`; report the phases on stdout."""
    from crm_tui.services.actor import Actor
    from crm_tui.services.customer_export import CustomerExport
    from crm_tui.services.database import create_db_engine
    from crm_tui.services.directory import DirectoryQuery, DirectoryService

    engine = create_db_engine(sqlite_url(database))
    everyone = DirectoryService(engine).marked_ids(DirectoryQuery(), set())
    service = CustomerExport(engine)
    baseline_mb = memory()["rss_mb"]

    started = time.perf_counter()
    preview = service.preview(everyone, out)
    preview_s = time.perf_counter() - started

    marks: dict[str, float] = {}

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        marks.setdefault("ids_copied", now)  # the first call: the selection is copied
        if done == total:
            marks["rows_written"] = now

    started = time.perf_counter()
    report = service.write(everyone, out, Actor.system(), progress=progress)
    ended = time.perf_counter()
    emit(
        {
            "customers": preview.customers,
            "rows": report.rows,
            "preview_s": preview_s,
            "total_s": ended - started,
            "select_s": marks["ids_copied"] - started,
            "write_s": marks["rows_written"] - marks["ids_copied"],
            "record_s": ended - marks["rows_written"],
            "file_mb": out.stat().st_size / MB,
            "baseline_rss_mb": baseline_mb,
        }
    )


# ------------------------------------------------------------------- the parent


def _copy_database(source: Path, folder: Path) -> Path:
    copy = folder / "export.sqlite3"
    log(f"copying {source.name} …")
    shutil.copyfile(source, copy)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
    return copy


def _run_child(database: Path, out: Path) -> dict[str, Any]:
    """Run `child_export` in a fresh process; its answer plus its peak RSS."""
    command = [sys.executable, __file__, "--child", str(database), str(out)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    lines = child.stdout.read().splitlines()
    # wait4 rather than wait(): it gives this child's own resource usage.
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"the export child failed with status {child.returncode}")
    answer = next(line for line in lines if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(answer.removeprefix("RESULT "))
    # Linux gives ru_maxrss in KiB, macOS in bytes.
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    result["peak_rss_mb"] = peak / MB
    return result


def measure(customers: int) -> dict[str, Any]:
    source = database_path(customers)
    seed = ensure_database(source, customers)
    with tempfile.TemporaryDirectory(prefix="crm-export-") as folder:
        database = _copy_database(source, Path(folder))
        log(f"exporting {customers:,} customers …")
        result = _run_child(database, Path(folder) / "customers.csv")
    return {**result, "seed_reused": bool(seed.get("reused"))}


def render(results: list[dict[str, Any]]) -> str:
    lines = ["Customer CSV export (SQLite, every customer, one child process per size)"]
    for r in results:
        rate = r["rows"] / max(r["total_s"], 1e-9)
        lines += [
            "",
            f"{r['rows']:,} customers",
            f"  preview (count, first rows)   {r['preview_s']:7.2f} s",
            f"  export, total                 {r['total_s']:7.2f} s   {rate:,.0f} rows/s",
            f"    copy the selected ids       {r['select_s']:7.2f} s",
            f"    write the rows (CSV, fsync) {r['write_s']:7.2f} s",
            f"    record (events, audit)      {r['record_s']:7.2f} s",
            f"  file                          {r['file_mb']:7.1f} MB",
            f"  peak RSS of the child         {r['peak_rss_mb']:7.1f} MB"
            f"   (before the export: {r['baseline_rss_mb']:.1f} MB)",
        ]
    if len(results) > 1:
        peaks = [r["peak_rss_mb"] for r in results]
        sizes = [f"{r['rows']:,}" for r in results]
        lines += [
            "",
            f"peak RSS at {' vs '.join(sizes)} customers: "
            + " vs ".join(f"{p:.1f} MB" for p in peaks)
            + f" (a difference of {max(peaks) - min(peaks):.1f} MB)",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, metavar="N")
    parser.add_argument("--quick", action="store_true", help=f"{SMALL:,} customers only")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--child", nargs=2, metavar=("DB", "OUT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_export(Path(args.child[0]), Path(args.child[1]))
        return 0
    sizes = [SMALL] if args.quick else list(dict.fromkeys([args.customers, SMALL]))
    results = [measure(size) for size in sizes]
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
