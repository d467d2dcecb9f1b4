"""`crm-tui segments recompute|counts`: computes with the thresholds in force and
prints one line per segment (or JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from crm_tui import cli
from tests.factories import add_customer


def test_recompute_then_counts(
    engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    with engine.begin() as c:
        add_customer(c, name="Fresh", email="f@example.com", registered_at=now - timedelta(days=3))
        add_customer(c, name="Firm", email="b@example.com", kind="business")
    assert cli.main(["segments", "counts", "--json", "--database-url", db_url]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["computed_at"] is None and set(before["counts"].values()) == {0}

    assert cli.main(["segments", "recompute", "--database-url", db_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["New", "1"] and out[-1].split() == ["Business", "1"]

    assert cli.main(["segments", "counts", "--json", "--database-url", db_url]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["counts"]["new"] == 1 and after["counts"]["business"] == 1
    assert after["computed_at"] is not None
