"""Segments in the running app: computed soon after start-up, counted in the queue
picker, opened as a queue, shown as a badge on the profile."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm_tui import app as app_module
from crm_tui.models import tables as t
from crm_tui.screens.queue_picker import QueuePicker
from crm_tui.services.database import create_db_engine
from tests.ui.conftest import make_app, open_profile, screen_text, until, wait_for_rows

T = t.SQLModel.metadata.tables


def _business_ids(url: str) -> list[int]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as c:
            query = sa.select(T["customer"].c.id).where(T["customer"].c.kind == "business")
            return sorted(c.execute(query).scalars())
    finally:
        engine.dispose()


async def test_segments_are_computed_counted_opened_and_badged(
    directory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "SEGMENTS_FIRST_CHECK", 0.01)
    business = _business_ids(directory_url)
    assert len(business) == 25  # every tenth of 240, and Ada
    app = make_app(directory_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await until(pilot, lambda: _computed(directory_url))
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, QueuePicker))
        picker = app.screen
        assert isinstance(picker, QueuePicker)
        await pilot.press(*"business")
        await until(pilot, lambda: "Business" in picker.counts)
        assert str(picker.counts["Business"]) == "25"
        await pilot.press("enter")
        await wait_for_rows(pilot)
        assert sorted(row.id for row in app.directory.table.rows) == business
        await open_profile(pilot, business[0])
        assert "[Business]" in screen_text(app)


def _computed(url: str) -> bool:
    engine = create_db_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(sa.select(sa.func.count()).select_from(T["customer_segment"]))
            return int(rows.scalar_one()) > 0
    finally:
        engine.dispose()
