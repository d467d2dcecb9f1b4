"""SIGKILL in the middle of a bulk tag, a merge and an import: after a restart each
is either fully applied or not at all (issue 7). The child process dies inside the
action's transaction (tests/support/die_midway.py); then the same action, run
again, applies completely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.models import tables as t
from crm_tui.services.actor import Actor
from crm_tui.services.audit import AuditLog
from crm_tui.services.bulk_edit import BulkEditService
from crm_tui.services.customer_import import import_customers
from crm_tui.services.directory import DirectoryQuery, DirectoryService
from crm_tui.services.merge import MergeService
from tests.factories import add_agent, add_customer
from tests.unit.test_merge import _add_pair, _counts

HELPER = Path(__file__).parents[1] / "support" / "die_midway.py"
ROOT = Path(__file__).parents[2]
GOOD_CSV = Path(__file__).parents[1] / "data" / "customers_good.csv"
T = t.SQLModel.metadata.tables


def _die_midway(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, str(HELPER), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def _count(engine: Engine, table: str, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as c:
        query = sa.select(sa.func.count()).select_from(T[table]).where(*where)
        return int(c.execute(query).scalar_one())


def test_a_killed_bulk_tag_leaves_no_tag_then_applies_whole(engine: Engine, db_url: str) -> None:
    with engine.begin() as c:
        for n in range(300):
            add_customer(c, name=f"Member {n:03d}", email=f"m{n}@example.com")
    _die_midway("tag", db_url, "member", "renewal")
    assert _count(engine, "customer_tag") == 0
    assert _count(engine, "activity_event") == 0 and _count(engine, "audit_entry") == 0
    selection = DirectoryService(engine).marked_ids(DirectoryQuery(search="member"), set())
    report = BulkEditService(engine).add_tag(selection, "renewal", Actor.system())
    assert report.changed == 300 and _count(engine, "customer_tag") == 300
    assert AuditLog(engine).verify().ok


def test_a_killed_merge_moves_nothing_then_merges_whole(engine: Engine, db_url: str) -> None:
    with engine.begin() as c:
        pair = _add_pair(c, add_agent(c, "maria"))
    keep_before, gone_before = _counts(engine, pair.keep), _counts(engine, pair.dup)
    with engine.connect() as c:
        versions = dict(c.execute(sa.select(T["customer"].c.id, T["customer"].c.version)).all())
    _die_midway(
        "merge", db_url, str(pair.keep), str(pair.dup), str(versions[pair.keep]),
        str(versions[pair.dup]),
    )  # fmt: skip
    assert _counts(engine, pair.keep) == keep_before
    assert _counts(engine, pair.dup) == gone_before  # every row still on the duplicate
    assert _count(engine, "customer", T["customer"].c.id == pair.dup) == 1
    assert (
        _count(engine, "merged_customer", T["merged_customer"].c.old_customer_id == pair.dup) == 0
    )
    MergeService(engine).merge(
        pair.keep,
        pair.dup,
        "Duplicate sign-up",
        Actor.system(),
        {pair.keep: versions[pair.keep], pair.dup: versions[pair.dup]},
    )
    assert set(_counts(engine, pair.dup).values()) == {0}
    assert AuditLog(engine).verify().ok


def test_a_killed_import_imports_nobody_then_imports_all(engine: Engine, db_url: str) -> None:
    _die_midway("import", db_url, str(GOOD_CSV))
    assert _count(engine, "customer") == 0 and _count(engine, "address") == 0
    report = import_customers(engine, GOOD_CSV, Actor.system())
    assert report.imported > 0 and _count(engine, "customer") == report.imported
