"""Team mode under load, in the suite: 10 agent processes on one PostgreSQL database,
for a short run (benchmarks/load.py runs the full minute and prints the figures).
The checks are the benchmark's: no error, no lost update, every refund once at
localstripe and in the store, the audit chain intact."""

from __future__ import annotations

import pytest

from benchmarks.load import run
from tests.support.localstripe_server import LocalStripe

pytestmark = pytest.mark.postgres


def test_ten_agents_at_once_lose_nothing_and_refund_once(
    postgres_database: str, localstripe: LocalStripe
) -> None:
    from crm_tui.services.database import create_db_engine
    from tests.conftest import _truncate_all

    engine = create_db_engine(postgres_database)
    _truncate_all(engine)
    engine.dispose()
    report = run(postgres_database, localstripe, agents=10, seconds=10)
    print("\n".join(report.lines()))
    assert not report.errors, report.errors[:5]
    assert not report.problems, report.problems[:5]
    assert all(
        report.counts.get(op, 0) > 0 for op in ("search", "profile", "edit", "tag", "refund")
    )
